// The fused batch normalization's CUDA kernels against its CPU kernels: training's values,
// batch statistics and gradients, and inference, in float32, bfloat16 and float16 (float32
// statistics), on every kernel variant (16-byte, 8-byte and single-value accesses with the axis
// last; another axis; several block rows); then models with BatchNormalization trained with
// their steps captured into CUDA graphs, against the same fit run eagerly and on the CPU; batch
// renormalization (an op chain) against the CPU.
// Skipped where no GPU is present.
#include <gtest/gtest.h>

#include <neurona/neurona.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "neurona/core/graph.h"
#include "support/gpu_test.h"
#include "support/raw_allocations.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::random_tensor;

namespace {

class GpuBatchNorm : public nr::testing::GpuTest, public ::testing::WithParamInterface<nr::DType> {
 protected:
  void TearDown() override { nr::set_default_device(nr::Device::cpu()); }
};

struct Case {
  nr::Shape shape;
  int axis;
  bool center, scale;
};

// The kernel variants: channels last with 64 channels (16-byte accesses), 6 (8 or 4 bytes), 3
// and 17 (one value per access); a large batch (many block rows); another axis (the strided
// walk, channels first); rank 2; no offset or no scale.
const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {{8, 9, 7, 64}, -1, true, true},    {{16, 5, 5, 6}, -1, true, true},
      {{32, 7, 3}, -1, true, false},      {{300, 17}, -1, false, true},
      {{64, 28, 28, 32}, -1, true, true}, {{8, 12, 9, 7}, 1, true, true},
      {{6, 5, 33}, 1, false, false},      {{4, 3, 256, 256}, 1, true, true},
  };
  return c;
}

std::string describe(const Case& c) {
  return nr::detail::str("shape ", c.shape, " axis ", c.axis, c.center ? "" : " no offset",
                         c.scale ? "" : " no scale");
}

// y, batch mean, batch variance, dx, doffset, dscale of training; then inference's y and dx.
std::vector<nr::Tensor> run(const Case& c, nr::DType dtype, nr::Device d) {
  const std::int64_t channels = c.shape[c.shape.normalize_axis(c.axis, "test")];
  const nr::Tensor x = nr::cast(random_tensor(c.shape, nr::float32, -1, 3, 1), dtype).to(d);
  const nr::Tensor dy = nr::cast(random_tensor(c.shape, nr::float32, -1, 1, 2), dtype).to(d);
  const nr::Tensor offset =
      c.center ? random_tensor({channels}, nr::float32, -1, 1, 3).to(d) : nr::Tensor();
  const nr::Tensor scale =
      c.scale ? random_tensor({channels}, nr::float32, 0.5, 2, 4).to(d) : nr::Tensor();
  const nr::Tensor mean = random_tensor({channels}, nr::float32, -1, 1, 5).to(d);
  const nr::Tensor variance = random_tensor({channels}, nr::float32, 0.2, 2, 6).to(d);
  std::vector<nr::Tensor> sources{x};
  if (c.center) sources.push_back(offset);
  if (c.scale) sources.push_back(scale);
  std::vector<nr::Tensor> out;
  {
    nr::GradientTape tape;
    for (const nr::Tensor& s : sources) tape.watch(s);
    const nr::BatchNormalizationOutputs o =
        nr::batch_normalization_training(x, c.axis, offset, scale, 1e-3);
    out = {o.y, o.batch_mean, o.batch_variance};
    for (const nr::Tensor& g : tape.gradient(o.y, sources, {.output_gradients = dy})) {
      out.push_back(g);
    }
  }
  {
    nr::GradientTape tape;
    tape.watch(x);
    const nr::Tensor y = nr::batch_normalization(x, mean, variance, c.axis, offset, scale, 1e-3);
    out.push_back(y);
    out.push_back(tape.gradient(y, x, {.output_gradients = dy}));
  }
  for (nr::Tensor& t : out) t = t.to(nr::Device::cpu());
  return out;
}

}  // namespace

TEST_P(GpuBatchNorm, TrainingAndInferenceMatchTheCpu) {
  const nr::DType dtype = GetParam();
  // float32: the sums run in other orders (float32 partial sums on the GPU, float64 on the CPU).
  // 16-bit: both compute in float32 and round once, so the values differ by at most a unit in
  // the last place of the 16-bit type, relative to the result's largest magnitude.
  const double ulp = dtype == nr::DType::bfloat16  ? std::ldexp(1.0, -7)
                     : dtype == nr::DType::float16 ? std::ldexp(1.0, -10)
                                                   : 1e-5;
  for (const Case& c : cases()) {
    const std::vector<nr::Tensor> cpu = run(c, dtype, nr::Device::cpu());
    const std::vector<nr::Tensor> gpu = run(c, dtype, nr::Device::cuda(0));
    ASSERT_EQ(cpu.size(), gpu.size()) << describe(c);
    for (std::size_t i = 0; i < cpu.size(); ++i) {
      ASSERT_EQ(gpu[i].dtype(), cpu[i].dtype()) << describe(c) << " result " << i;
      const std::vector<double> e = cpu[i].to_vector<double>();
      double magnitude = 0;
      for (const double v : e) magnitude = std::max(magnitude, std::abs(v));
      // The float32 results (statistics, weight gradients) are sums over the batch in float32.
      const bool half_result = nr::is_half(cpu[i].dtype());
      const double tolerance = half_result ? 2 * ulp : 1e-5;
      EXPECT_TRUE(all_close(gpu[i].to_vector<double>(), e, tolerance * magnitude, tolerance))
          << describe(c) << " result " << i << " (" << nr::name(dtype) << ")";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Types, GpuBatchNorm,
                         ::testing::Values(nr::DType::float32, nr::DType::bfloat16,
                                           nr::DType::float16),
                         [](const auto& param_info) {
                           return std::string(nr::name(param_info.param));
                         });

namespace {

class GpuBatchNormFit : public nr::testing::GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    determinism_ = nr::config::op_determinism_enabled();
    nr::config::enable_op_determinism(true);
  }
  void TearDown() override {
    nr::config::enable_op_determinism(determinism_);
    nr::config::enable_cuda_graphs(true);
    nr::mixed_precision::set_global_policy(nr::float32);
    nr::set_default_device(nr::Device::cpu());
  }

 private:
  bool determinism_ = false;
};

struct FitRun {
  std::vector<double> loss;
  std::vector<std::vector<double>> weights;  // moving statistics included
  std::int64_t replays = 0;
  std::vector<std::int64_t> raw_allocations;  // cudaMalloc calls per epoch (GPU runs)
};

// cudaMalloc calls (the device allocator's raw allocations) during each epoch.
using nr::testing::RawAllocations;

// A small cnn with BatchNormalization after each convolution and before the classifier, 2
// epochs of 160 random 10x10 images at batch 32, labels from the first pixel.
FitRun train(nr::Device device, bool graphs) {
  nr::config::enable_cuda_graphs(graphs);
  nr::set_default_device(device);
  nr::set_seed(7);
  const nr::Tensor x =
      nr::random_uniform({160, 10, 10, 3}, {.device = nr::Device::cpu(), .seed = 4});
  const std::vector<float> pixels = x.to_vector<float>();
  std::vector<std::int32_t> labels(160);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    labels[i] = std::min(2, static_cast<std::int32_t>(pixels[i * 300] * 3));
  }
  const nr::Tensor y = nr::constant(labels, {160}, nr::Device::cpu());
  nr::Sequential model({nr::layers::Input({10, 10, 3}), nr::layers::Conv2D(8, 3),
                        nr::layers::BatchNormalization(), nr::layers::Activation("relu"),
                        nr::layers::Conv2D(8, 3, {.padding = "same"}),
                        nr::layers::BatchNormalization({.momentum = 0.9, .center = false}),
                        nr::layers::Activation("relu"), nr::layers::GlobalAveragePooling2D(),
                        nr::layers::BatchNormalization({.scale = false}),
                        nr::layers::Dense(3, {.activation = "softmax", .dtype = "float32"})});
  model.compile(
      {.optimizer = nr::optimizers::Adam(1e-2), .loss = "sparse_categorical_crossentropy"});
  FitRun run;
  auto allocations = std::make_shared<RawAllocations>(device);
  const std::int64_t before = nr::detail::graph_replays();
  const auto history =
      model.fit(x.to(device), y.to(device),
                {.batch_size = 32, .epochs = 2, .verbose = 0, .callbacks = {allocations}});
  run.replays = nr::detail::graph_replays() - before;
  run.loss = history.history.at("loss");
  run.raw_allocations = allocations->per_epoch;
  for (const nr::Tensor& w : model.get_weights()) run.weights.push_back(w.to_vector<double>());
  nr::set_default_device(nr::Device::cpu());
  return run;
}

}  // namespace

TEST_F(GpuBatchNormFit, ReplayedStepsTrainAsEagerOnesAndAsTheCpu) {
  const FitRun eager = train(nr::Device::cuda(0), false);
  const FitRun replayed = train(nr::Device::cuda(0), true);
  const FitRun cpu = train(nr::Device::cpu(), true);
  EXPECT_EQ(eager.replays, 0);
  EXPECT_GT(replayed.replays, 0);
  ASSERT_EQ(replayed.weights.size(), eager.weights.size());
  for (std::size_t i = 0; i < eager.weights.size(); ++i) {
    // The same kernels, no atomics: the same bits, moving statistics included.
    EXPECT_EQ(replayed.weights[i], eager.weights[i]) << "weight " << i;
  }
  EXPECT_EQ(replayed.loss, eager.loss);
  // Against the CPU the sums run in other orders (and Adam turns a gradient's rounding into a
  // step of up to the learning rate where the gradient is near zero): compare the losses, with
  // captured_fit_test.cpp's tolerance.
  EXPECT_TRUE(all_close(replayed.loss, cpu.loss, 1e-3, 1e-3));
  // The steady state allocates nothing from the device (the partials come from the caching
  // allocator, or the graph's pool).
  ASSERT_EQ(replayed.raw_allocations.size(), 2u);
  EXPECT_EQ(replayed.raw_allocations.back(), 0);
}

TEST_F(GpuBatchNormFit, MixedBfloat16FollowsTheCpu) {
  nr::mixed_precision::set_global_policy("mixed_bfloat16");
  const FitRun gpu = train(nr::Device::cuda(0), true);
  const FitRun cpu = train(nr::Device::cpu(), true);
  EXPECT_GT(gpu.replays, 0);
  EXPECT_TRUE(all_close(gpu.loss, cpu.loss, 0.02, 0.03));
}

namespace {
class GpuBatchNormRenorm : public nr::testing::GpuTest {
 protected:
  void TearDown() override { nr::set_default_device(nr::Device::cpu()); }
};
}  // namespace

// Batch renormalization (an op chain, no kernel of its own) on the GPU as on the CPU: two
// training steps' outputs and gradients (d clipped on half the channels in the first step, on
// none in the second; r on one in the first), then every weight and statistic.
TEST_F(GpuBatchNormRenorm, TrainingStepsMatchTheCpu) {
  const auto run = [](nr::Device device) {
    nr::set_default_device(device);
    auto bn =
        nr::layers::BatchNormalization({.momentum = 0.8,
                                        .renorm = true,
                                        .renorm_clipping = {.rmax = 1.2, .rmin = 0.8, .dmax = 1.0},
                                        .renorm_momentum = 0.5});
    const nr::Tensor x = random_tensor({16, 5, 5, 8}, nr::float32, -1, 3, 1).to(device);
    std::vector<std::vector<double>> out;
    for (int step = 0; step < 2; ++step) {
      nr::GradientTape tape;
      tape.watch(x);
      const nr::Tensor y = bn(x, /*training=*/true);
      const std::vector<nr::Tensor> grads =
          tape.gradient(nr::sum(y * y), {x, bn->gamma().value(), bn->beta().value()});
      out.push_back(y.to_vector<double>());
      for (const nr::Tensor& g : grads) out.push_back(g.to_vector<double>());
    }
    for (const nr::Tensor& w : bn->get_weights()) out.push_back(w.to_vector<double>());
    nr::set_default_device(nr::Device::cpu());
    return out;
  };
  const auto gpu = run(nr::Device::cuda(0));
  const auto cpu = run(nr::Device::cpu());
  ASSERT_EQ(gpu.size(), cpu.size());
  for (std::size_t i = 0; i < gpu.size(); ++i) {
    EXPECT_TRUE(all_close(gpu[i], cpu[i], 1e-4, 1e-4)) << "result " << i;
  }
}
