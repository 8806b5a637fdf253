// conv2d (cuDNN), pooling and zero padding on a GPU against the CPU, forward and backward.
// Skipped where no GPU is present.
#include <neurona/neurona.h>

#include <cmath>
#include <functional>
#include <limits>

#include "support/gpu_test.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::random_tensor;

namespace {

class GpuConv : public nr::testing::GpuTest {};

// Output and gradients (w.r.t. every input) of sum(w * f(inputs)) on `device`.
std::vector<nr::Tensor> run_on(nr::Device device,
                               const std::function<nr::Tensor(const std::vector<nr::Tensor>&)>& f,
                               const std::vector<nr::Tensor>& inputs) {
  std::vector<nr::Tensor> in;
  for (const auto& t : inputs) in.push_back(t.to(device));
  nr::GradientTape tape;
  for (const auto& t : in) tape.watch(t);
  const nr::Tensor out = f(in);
  const nr::Tensor w = random_tensor(out.shape(), out.dtype(), 0.5, 1.5, 88).to(device);
  std::vector<nr::Tensor> results = tape.gradient(nr::sum(out * w), in);
  results.insert(results.begin(), out);
  for (auto& t : results) t = t.to(nr::Device::cpu());
  return results;
}

::testing::AssertionResult parity(
    const std::string& name, const std::function<nr::Tensor(const std::vector<nr::Tensor>&)>& f,
    const std::vector<nr::Tensor>& inputs) {
  const auto c = run_on(nr::Device::cpu(), f, inputs);
  const auto g = run_on(nr::Device::cuda(0), f, inputs);
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (c[i].shape() != g[i].shape()) {
      return ::testing::AssertionFailure()
             << name << " result " << i << ": shapes " << c[i].shape() << " vs " << g[i].shape();
    }
    auto r = all_close(g[i].to_vector<double>(), c[i].to_vector<double>(), 1e-4, 1e-4);
    if (!r) return ::testing::AssertionFailure() << name << " result " << i << ": " << r.message();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace

TEST_F(GpuConv, Conv2DForwardAndBackwardMatchCpu) {
  struct Case {
    nr::Shape x, k;
    nr::ConvOptions o;
  };
  using P = nr::Padding;
  const std::vector<Case> cases = {
      {{4, 28, 28, 1}, {3, 3, 1, 32}, {}},
      {{4, 13, 13, 32}, {3, 3, 32, 64}, {}},
      {{2, 9, 9, 3}, {3, 3, 3, 8}, {.padding = P::Same}},
      {{2, 8, 8, 4}, {2, 2, 4, 4}, {.padding = P::Same}},  // asymmetric padding
      {{2, 9, 8, 3}, {3, 3, 3, 5}, {.strides = {2, 2}, .padding = P::Same}},
      {{2, 11, 11, 2}, {3, 3, 2, 3}, {.padding = P::Same, .dilation_rate = {2, 2}}},
      {{2, 6, 6, 4}, {3, 3, 2, 6}, {.padding = P::Same, .groups = 2}},
      {{2, 3, 7, 7}, {3, 3, 3, 4}, {.data_format = nr::DataFormat::ChannelsFirst}},
      {{8, 16, 16, 64}, {3, 3, 64, 64}, {.padding = P::Same}},
  };
  for (const auto& c : cases) {
    EXPECT_TRUE(parity("conv2d " + c.x.str() + " " + c.k.str(),
                       [o = c.o](const auto& in) { return nr::conv2d(in[0], in[1], o); },
                       {random_tensor(c.x, nr::float32, -1, 1, 1),
                        random_tensor(c.k, nr::float32, -0.5, 0.5, 2)}));
  }
}

// Conv2D's one op (cuDNN's cudnnConvolutionBiasActivationForward for relu with a bias; the
// convolution, an in-place bias add and relu otherwise), forward and gradients, against the
// CPU's (oneDNN or im2col).
TEST_F(GpuConv, Conv2DBiasActivationMatchesCpu) {
  using P = nr::Padding;
  struct Case {
    nr::Shape x, k;
    nr::ConvOptions o;
  };
  const std::vector<Case> cases = {
      {{4, 28, 28, 1}, {3, 3, 1, 32}, {}},
      {{4, 13, 13, 32}, {3, 3, 32, 64}, {}},
      {{2, 8, 8, 4}, {2, 2, 4, 4}, {.padding = P::Same}},  // asymmetric padding
      {{2, 3, 7, 7}, {3, 3, 3, 4}, {.data_format = nr::DataFormat::ChannelsFirst}},
  };
  for (const auto& c : cases) {
    for (const auto act : {nr::FusedActivation::relu, nr::FusedActivation::linear}) {
      for (const bool with_bias : {true, false}) {
        const std::string name = "conv2d_bias_activation " + c.x.str() + " " + c.k.str() +
                                 (act == nr::FusedActivation::relu ? " relu" : " linear") +
                                 (with_bias ? " bias" : "");
        std::vector<nr::Tensor> inputs = {random_tensor(c.x, nr::float32, -1, 1, 1),
                                          random_tensor(c.k, nr::float32, -0.5, 0.5, 2)};
        if (with_bias) inputs.push_back(random_tensor({c.k[3]}, nr::float32, -0.5, 0.5, 3));
        EXPECT_TRUE(parity(
            name,
            [o = c.o, act](const auto& in) {
              return nr::conv2d_bias_activation(in[0], in[1], in.size() > 2 ? in[2] : nr::Tensor(),
                                                act, o);
            },
            inputs));
      }
    }
  }
}

TEST_F(GpuConv, FusedReluKeepsNaNAsTheCpu) {
  // The CPU (like TensorFlow) keeps NaN through relu: cuDNN's fused call (float32 with a bias,
  // its activation set to CUDNN_PROPAGATE_NAN) and neurona's epilogue (the rest) must too.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const nr::Device gpu = nr::Device::cuda(0);
  std::vector<double> pixels(4 * 4 * 8, 1.0);
  pixels[0] = nan;  // only the first 3x3 window covers it
  for (nr::DType dt : {nr::float32, nr::DType::bfloat16}) {
    const nr::Tensor x = nr::testing::make_tensor(pixels, {1, 4, 4, 8}, dt);
    const nr::Tensor k = nr::fill({3, 3, 8, 16}, -1.0, {.dtype = dt});
    const nr::Tensor b = nr::fill({16}, 0.5, {.dtype = dt});
    for (const bool with_bias : {true, false}) {
      const nr::Tensor cpu =
          nr::conv2d_bias_activation(x, k, with_bias ? b : nr::Tensor(), nr::FusedActivation::relu);
      const nr::Tensor on_gpu = nr::conv2d_bias_activation(
          x.to(gpu), k.to(gpu), with_bias ? b.to(gpu) : nr::Tensor(), nr::FusedActivation::relu);
      EXPECT_TRUE(std::isnan(cpu.to_vector<double>()[0])) << nr::name(dt);
      EXPECT_TRUE(all_close(on_gpu.to(nr::Device::cpu()), cpu.to_vector<double>(), 0, 0))
          << nr::name(dt) << (with_bias ? " with bias" : " without bias");
    }
  }
}

TEST_F(GpuConv, PoolingAndPaddingForwardAndBackwardMatchCpu) {
  const nr::Tensor x = random_tensor({4, 13, 13, 8}, nr::float32, -2, 2, 3);
  for (nr::Padding p : {nr::Padding::Valid, nr::Padding::Same}) {
    for (std::int64_t s : {1, 2}) {
      const nr::Pool2DOptions o{
          .pool_size = {2, 3}, .strides = std::array<std::int64_t, 2>{s, s}, .padding = p};
      EXPECT_TRUE(
          parity("max_pool2d", [o](const auto& in) { return nr::max_pool2d(in[0], o); }, {x}));
      EXPECT_TRUE(
          parity("avg_pool2d", [o](const auto& in) { return nr::avg_pool2d(in[0], o); }, {x}));
    }
  }
  EXPECT_TRUE(
      parity("zero_pad2d", [](const auto& in) { return nr::zero_pad2d(in[0], 1, 2, 3, 0); }, {x}));
}

TEST_F(GpuConv, Float64ConvolutionOnTheGpuIsAClearError) {
  const nr::Tensor x =
      nr::zeros({1, 4, 4, 1}, {.dtype = nr::float64, .device = nr::Device::cuda(0)});
  const nr::Tensor k =
      nr::zeros({2, 2, 1, 1}, {.dtype = nr::float64, .device = nr::Device::cuda(0)});
  NEURONA_EXPECT_THROW_MSG(nr::conv2d(x, k), nr::NotImplementedError, "conv2d", "float64");
}
