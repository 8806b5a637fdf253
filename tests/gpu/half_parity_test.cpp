// bfloat16 and float16 on a GPU against the CPU: the elementwise kernels, cuBLAS's and
// cuBLASLt's 16-bit GEMMs (float32 accumulation on the tensor cores), cuDNN's 16-bit
// convolutions and the pooling functors, forward and backward; then a mixed_bfloat16 fit.
// Both devices compute in float32 and round once, so they differ only by summation order:
// within a unit in the last place of the 16-bit type, relative to the result's scale.
// Skipped where no GPU is present.
#include <neurona/neurona.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "support/gpu_test.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::random_tensor;

namespace {

class GpuHalf : public nr::testing::GpuTest, public ::testing::WithParamInterface<nr::DType> {};

using Fn = std::function<std::vector<nr::Tensor>(const std::vector<nr::Tensor>&)>;

// Runs `f` on 16-bit copies of `inputs` on the CPU and on the GPU and compares every result.
// `ulps`: how many units of the 16-bit type's last place (relative to each result's largest
// magnitude) the two may differ by.
void expect_parity(nr::DType h, const std::vector<nr::Tensor>& inputs, const Fn& f,
                   const std::string& what, double ulps = 1) {
  auto run = [&](nr::Device d) {
    std::vector<nr::Tensor> in;
    for (const nr::Tensor& t : inputs) {
      in.push_back((nr::is_floating(t.dtype()) ? nr::cast(t, h) : t).to(d));
    }
    std::vector<nr::Tensor> out = f(in);
    for (nr::Tensor& t : out) t = t.to(nr::Device::cpu());
    return out;
  };
  const auto c = run(nr::Device::cpu()), g = run(nr::Device::cuda(0));
  const double ulp = h == nr::DType::bfloat16 ? std::ldexp(1.0, -7) : std::ldexp(1.0, -10);
  for (std::size_t i = 0; i < c.size(); ++i) {
    ASSERT_EQ(g[i].dtype(), c[i].dtype()) << what;
    const std::vector<double> e = c[i].to_vector<double>();
    double scale = 0;
    for (double v : e) scale = std::max(scale, std::abs(v));
    EXPECT_TRUE(nr::testing::all_close(g[i].to_vector<double>(), e, ulps * ulp * scale, ulp))
        << what << " result " << i << " (" << nr::name(h) << ")";
  }
}

TEST_P(GpuHalf, ElementwiseReductionsAndCastsMatchTheCpu) {
  const nr::DType h = GetParam();
  using V = std::vector<nr::Tensor>;
  const nr::Tensor a = random_tensor({64, 1, 33}, nr::float32, -3, 3, 1);
  const nr::Tensor b = random_tensor({5, 33}, nr::float32, -3, 3, 2);
  expect_parity(
      h, {a, b},
      [](const V& v) {
        return V{nr::add(v[0], v[1]), v[0] * v[1]};
      },
      "bin");
  expect_parity(
      h, {a},
      [](const V& v) {
        return V{nr::relu(v[0]), nr::exp(v[0]), nr::sigmoid(v[0]), nr::tanh(v[0])};
      },
      "unary");
  expect_parity(
      h, {a},
      [](const V& v) {
        return V{nr::sum(v[0], {0}),   nr::max(v[0], {2}),          nr::softmax(v[0]),
                 nr::argmax(v[0], -1), nr::cast(v[0], nr::float32), nr::cast(v[0], nr::int32)};
      },
      "reductions and casts");
}

TEST_P(GpuHalf, GemmsAndDenseMatchTheCpu) {
  const nr::DType h = GetParam();
  using V = std::vector<nr::Tensor>;
  const nr::Tensor a = random_tensor({3, 64, 256}, nr::float32, -1, 1, 3);
  const nr::Tensor b = random_tensor({3, 256, 96}, nr::float32, -1, 1, 4);
  expect_parity(
      h, {a, b}, [](const V& v) { return V{nr::matmul(v[0], v[1])}; }, "matmul", 2);
  const nr::Tensor x = random_tensor({128, 200}, nr::float32, -1, 1, 5);
  const nr::Tensor w = random_tensor({200, 64}, nr::float32, -0.2, 0.2, 6);
  const nr::Tensor bias = random_tensor({64}, nr::float32, -1, 1, 7);
  const nr::Tensor r = random_tensor({128, 64}, nr::float32, -1, 1, 8);
  expect_parity(
      h, {x, w, bias, r},
      [](const V& v) {
        nr::GradientTape tape;
        tape.watch(v[1]);
        tape.watch(v[2]);
        const nr::Tensor y = nr::dense(v[0], v[1], v[2], nr::FusedActivation::relu);
        const nr::Tensor loss = nr::sum(nr::cast(y * v[3], nr::float32));
        // The kernel's and the bias's gradients: one cuBLASLt call with BGRADA on the GPU.
        const auto grads = tape.gradient(loss, {v[1], v[2]});
        return V{y, grads[0], grads[1]};
      },
      "dense", 2);
}

TEST_P(GpuHalf, ConvolutionsAndPoolingMatchTheCpu) {
  const nr::DType h = GetParam();
  using V = std::vector<nr::Tensor>;
  const nr::Tensor img = random_tensor({8, 15, 14, 8}, nr::float32, -1, 1, 9);
  const nr::Tensor k = random_tensor({3, 3, 8, 16}, nr::float32, -0.3, 0.3, 10);
  const nr::Tensor bias = random_tensor({16}, nr::float32, -0.5, 0.5, 11);
  for (const auto& options :
       {nr::ConvOptions{}, nr::ConvOptions{.strides = {2, 2}, .padding = nr::Padding::Same}}) {
    const nr::Tensor r = random_tensor(nr::conv2d(img, k, options).shape(), nr::float32, -1, 1, 12);
    expect_parity(
        h, {img, k, bias, r},
        [&](const V& v) {
          nr::GradientTape tape;
          tape.watch(v[0]);
          tape.watch(v[1]);
          tape.watch(v[2]);
          const nr::Tensor y =
              nr::conv2d_bias_activation(v[0], v[1], v[2], nr::FusedActivation::relu, options);
          const nr::Tensor loss = nr::sum(nr::cast(y * v[3], nr::float32));
          V out{y};
          for (const nr::Tensor& g : tape.gradient(loss, {v[0], v[1], v[2]})) out.push_back(g);
          return out;
        },
        "conv2d", 2);
  }
  expect_parity(
      h, {img},
      [](const V& v) {
        nr::GradientTape tape;
        tape.watch(v[0]);
        const nr::Tensor y = nr::max_pool2d(v[0]);
        const nr::Tensor z = nr::avg_pool2d(v[0], {.pool_size = {3, 3}, .strides = {{2, 2}}});
        const nr::Tensor loss =
            nr::sum(nr::cast(y, nr::float32)) + nr::sum(nr::cast(z, nr::float32));
        return V{y, z, tape.gradient(loss, v[0])};
      },
      "pooling");
}

INSTANTIATE_TEST_SUITE_P(Types, GpuHalf, ::testing::Values(nr::DType::bfloat16, nr::DType::float16),
                         [](const auto& param_info) {
                           return std::string(nr::name(param_info.param));
                         });

// A mixed precision CNN trained on the GPU follows the CPU's training (the same data, seeds and
// float32 master weights), by its epoch losses: mixed_bfloat16 with its steps captured into CUDA
// graphs, mixed_float16 with dynamic loss scaling (eager steps).
class GpuMixedPrecision : public nr::testing::GpuTest,
                          public ::testing::WithParamInterface<const char*> {};

TEST_P(GpuMixedPrecision, FitFollowsTheCpu) {
  nr::mixed_precision::set_global_policy(GetParam());
  struct Reset {
    ~Reset() { nr::mixed_precision::set_global_policy(nr::float32); }
  } reset;
  const nr::Tensor x = random_tensor({512, 12, 12, 1}, nr::float32, 0, 1, 13);
  // Label: whether the image is brighter than average.
  const nr::Tensor brightness = nr::sum(nr::reshape(x, {512, 144}), {1});
  const nr::Tensor y =
      nr::cast(nr::greater(brightness, nr::ones_like(brightness) * 72.0), nr::int32);
  auto losses = [&](nr::Device d) {
    nr::set_default_device(d);
    nr::set_seed(3);
    nr::Sequential model({nr::layers::Input({12, 12, 1}),
                          nr::layers::Conv2D(8, 3, {.activation = "relu"}),
                          nr::layers::MaxPooling2D(2), nr::layers::Flatten(),
                          nr::layers::Dense(16, {.activation = "relu"}), nr::layers::Dense(2),
                          nr::layers::Activation("softmax", {.dtype = "float32"})});
    model.compile(
        {.optimizer = nr::optimizers::Adam(0.003), .loss = "sparse_categorical_crossentropy"});
    EXPECT_EQ(model.loss_scale_optimizer() != nullptr, std::string(GetParam()) == "mixed_float16");
    const auto history = model.fit(x.to(d), y.to(d),
                                   {.batch_size = 64, .epochs = 3, .verbose = 0, .shuffle = false});
    nr::set_default_device(nr::Device::cpu());
    return history.history.at("loss");
  };
  const std::vector<double> c = losses(nr::Device::cpu()), g = losses(nr::Device::cuda(0));
  EXPECT_LT(c.back(), c.front());
  EXPECT_TRUE(nr::testing::all_close(g, c, 0.02, 0.03));
}

INSTANTIATE_TEST_SUITE_P(Policies, GpuMixedPrecision,
                         ::testing::Values("mixed_bfloat16", "mixed_float16"),
                         [](const auto& param_info) { return std::string(param_info.param); });

}  // namespace
