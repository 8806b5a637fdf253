// The fused layer normalization's CUDA kernels against its CPU kernels: values, per-row
// statistics and gradients in float32, float64, bfloat16 and float16 (float32 statistics), on
// both kernel variants (16-byte accesses where a row's length allows them, one value at a time
// otherwise), rows short and long, several trailing axes, with and without gamma and beta, and
// the RMS normalization mode; then
// a model with LayerNormalization trained with its steps captured into CUDA graphs, against the
// same fit run eagerly and on the CPU. Skipped where no GPU is present.
#include <gtest/gtest.h>

#include <neurona/neurona.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "neurona/core/graph.h"
#include "neurona/kernels/layer_norm.h"
#include "support/gpu_test.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::random_tensor;

namespace {

class GpuLayerNorm : public nr::testing::GpuTest, public ::testing::WithParamInterface<nr::DType> {
 protected:
  void TearDown() override { nr::set_default_device(nr::Device::cpu()); }
};

struct Case {
  nr::Shape shape;
  int begin;
  bool gamma, beta;
  // RMS normalization (no beta).
  bool rms;
};

// GPT-2's rows (768 features, 16-byte accesses); odd lengths (one value per access); several
// trailing axes; a row longer than a warp covers many times; a row of one value; many rows.
const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {{16, 32, 768}, 2, true, true, false},
      {{5, 7, 33}, 2, true, true, false},
      {{3, 4, 5, 64}, 2, true, false, false},
      {{1000, 17}, 1, false, true, false},
      {{2, 9000}, 1, true, true, false},
      {{64, 128, 8}, 1, false, false, false},
      {{37, 1}, 1, true, true, false},
      {{4096, 24}, 1, true, true, false},
      // RMS normalization: LLaMA-like rows, odd lengths, no scale.
      {{16, 32, 768}, 2, true, false, true},
      {{5, 7, 33}, 2, true, false, true},
      {{1000, 17}, 1, false, false, true},
  };
  return c;
}

std::string describe(const Case& c) {
  return nr::detail::str("shape ", c.shape, " from axis ", c.begin, c.gamma ? "" : " no gamma",
                         c.beta ? "" : " no beta", c.rms ? " rms" : "");
}

// y, the row means and inverse standard deviations, dx, dgamma, dbeta.
std::vector<nr::Tensor> run(const Case& c, nr::DType dtype, nr::Device d) {
  std::vector<std::int64_t> dims;
  for (int a = c.begin; a < c.shape.rank(); ++a) dims.push_back(c.shape[a]);
  const nr::Shape features(std::move(dims));
  const nr::DType stats = dtype == nr::DType::float64 ? nr::DType::float64 : nr::DType::float32;
  const nr::Tensor x = nr::cast(random_tensor(c.shape, nr::float32, -1, 3, 1), dtype).to(d);
  const nr::Tensor dy = nr::cast(random_tensor(c.shape, nr::float32, -1, 1, 2), dtype).to(d);
  const nr::Tensor gamma =
      c.gamma ? nr::cast(random_tensor(features, nr::float32, 0.5, 2, 3), stats).to(d)
              : nr::Tensor();
  const nr::Tensor beta =
      c.beta ? nr::cast(random_tensor(features, nr::float32, -1, 1, 4), stats).to(d) : nr::Tensor();
  nr::kernels::LayerNormStatistics s;
  const nr::Tensor y = nr::kernels::layer_norm_forward(x, c.begin, gamma, beta, 1e-5, &s, c.rms);
  const nr::kernels::LayerNormGradients g = nr::kernels::layer_norm_backward(
      x, dy, s.mean, s.inv_std, c.begin, gamma, {.dbeta = !c.rms}, c.rms);
  std::vector<nr::Tensor> out{y, s.mean, s.inv_std, g.dx, g.dgamma, g.dbeta};
  for (nr::Tensor& t : out) {
    if (t.defined()) t = t.to(nr::Device::cpu());  // dgamma and dbeta: none without gamma, beta
  }
  return out;
}

}  // namespace

TEST_P(GpuLayerNorm, ForwardAndBackwardMatchTheCpu) {
  const nr::DType dtype = GetParam();
  // float32: the sums run in other orders (float32 on the GPU, float64 on the CPU). 16-bit:
  // both compute in float32 and round once, so the values differ by at most a unit in the last
  // place of the 16-bit type, relative to the result's largest magnitude. float64: orders only.
  const double ulp = dtype == nr::DType::bfloat16  ? std::ldexp(1.0, -7)
                     : dtype == nr::DType::float16 ? std::ldexp(1.0, -10)
                                                   : 0;
  const double wide = dtype == nr::DType::float64 ? 1e-12 : 1e-5;
  const char* names[] = {"y", "mean", "inv_std", "dx", "dgamma", "dbeta"};
  for (const Case& c : cases()) {
    const std::vector<nr::Tensor> cpu = run(c, dtype, nr::Device::cpu());
    const std::vector<nr::Tensor> gpu = run(c, dtype, nr::Device::cuda(0));
    ASSERT_EQ(cpu.size(), gpu.size()) << describe(c);
    for (std::size_t i = 0; i < cpu.size(); ++i) {
      ASSERT_EQ(gpu[i].defined(), cpu[i].defined()) << describe(c) << " " << names[i];
      if (!cpu[i].defined()) continue;
      ASSERT_EQ(gpu[i].dtype(), cpu[i].dtype()) << describe(c) << " " << names[i];
      const std::vector<double> e = cpu[i].to_vector<double>();
      double magnitude = 0;
      for (const double v : e) magnitude = std::max(magnitude, std::abs(v));
      // dgamma and dbeta are sums over every row: float32 sums over many rows.
      const double tolerance = nr::is_half(cpu[i].dtype()) ? 2 * ulp : wide;
      EXPECT_TRUE(all_close(gpu[i].to_vector<double>(), e, tolerance * magnitude, tolerance))
          << describe(c) << " " << names[i] << " (" << nr::name(dtype) << ")";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, GpuLayerNorm,
                         ::testing::Values(nr::DType::float32, nr::DType::float64,
                                           nr::DType::bfloat16, nr::DType::float16),
                         [](const auto& param_info) {
                           return std::string(nr::name(param_info.param));
                         });

namespace {

class GpuLayerNormFit : public nr::testing::GpuTest {
 protected:
  void TearDown() override {
    nr::config::enable_cuda_graphs(true);
    nr::mixed_precision::set_global_policy(nr::float32);
    nr::set_default_device(nr::Device::cpu());
  }
};

struct FitRun {
  std::vector<double> loss;
  std::vector<std::vector<double>> weights;
  std::int64_t replays = 0;
};

// Dense, LayerNormalization over the features, Flatten, LayerNormalization without beta, a
// softmax classifier: 2 epochs of 96 random sequences at batch 32.
FitRun train(nr::Device device, bool graphs) {
  nr::config::enable_cuda_graphs(graphs);
  nr::set_default_device(device);
  nr::set_seed(3);
  const nr::Tensor x = nr::random_uniform({96, 5, 64}, {.device = nr::Device::cpu(), .seed = 4});
  const nr::Tensor y = nr::cast(
      nr::random_uniform({96}, {.maxval = 3, .device = nr::Device::cpu(), .seed = 5}), nr::int32);
  nr::Sequential model({nr::layers::Input({5, 64}), nr::layers::Dense(64),
                        nr::layers::LayerNormalization({.epsilon = 1e-5}), nr::layers::Flatten(),
                        nr::layers::LayerNormalization({.center = false}),
                        nr::layers::Dense(3, {.activation = "softmax", .dtype = "float32"})});
  model.compile(
      {.optimizer = nr::optimizers::Adam(1e-2), .loss = "sparse_categorical_crossentropy"});
  FitRun run;
  const std::int64_t before = nr::detail::graph_replays();
  const auto history =
      model.fit(x.to(device), y.to(device), {.batch_size = 32, .epochs = 2, .verbose = 0});
  run.replays = nr::detail::graph_replays() - before;
  run.loss = history.history.at("loss");
  for (const nr::Tensor& w : model.get_weights()) run.weights.push_back(w.to_vector<double>());
  nr::set_default_device(nr::Device::cpu());
  return run;
}

}  // namespace

TEST_F(GpuLayerNormFit, ReplayedStepsTrainAsEagerOnesAndAsTheCpu) {
  const FitRun eager = train(nr::Device::cuda(0), false);
  const FitRun replayed = train(nr::Device::cuda(0), true);
  const FitRun cpu = train(nr::Device::cpu(), true);
  EXPECT_EQ(eager.replays, 0);
  EXPECT_GT(replayed.replays, 0);
  ASSERT_EQ(replayed.weights.size(), eager.weights.size());
  for (std::size_t i = 0; i < eager.weights.size(); ++i) {
    // The same kernels, no atomics: the same bits.
    EXPECT_EQ(replayed.weights[i], eager.weights[i]) << "weight " << i;
  }
  EXPECT_EQ(replayed.loss, eager.loss);
  // Against the CPU the sums run in other orders: captured_fit_test.cpp's tolerance.
  EXPECT_TRUE(all_close(replayed.loss, cpu.loss, 1e-3, 1e-3));
}

TEST_F(GpuLayerNormFit, MixedBfloat16FollowsTheCpu) {
  nr::mixed_precision::set_global_policy("mixed_bfloat16");
  const FitRun gpu = train(nr::Device::cuda(0), true);
  const FitRun cpu = train(nr::Device::cpu(), true);
  EXPECT_GT(gpu.replays, 0);
  EXPECT_TRUE(all_close(gpu.loss, cpu.loss, 0.02, 0.03));
}
