// The ops on bfloat16 and float16 tensors compute in float32 and round once: each op on 16-bit
// inputs must give exactly the float32 op on the same values, rounded to the 16-bit type (a
// convolution with a bias and activation rounds the convolution first, as Keras and cuDNN do). The
// inputs are 16-bit values (so the float32 op sees the same numbers), on shapes that broadcast,
// reduce over inner and outer axes, and convolve with padding and strides.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::random_tensor;

namespace {

using Op = std::function<nr::Tensor(const std::vector<nr::Tensor>&)>;

// op(16-bit inputs) against round(op(float32 copies of the same inputs)), bit for bit.
void expect_rounded_float32(nr::DType half, const std::vector<nr::Tensor>& float_inputs, Op op,
                            const std::string& what) {
  std::vector<nr::Tensor> halves, widened;
  for (const nr::Tensor& t : float_inputs) {
    const nr::Tensor h = nr::is_floating(t.dtype()) ? nr::cast(t, half) : t;
    halves.push_back(h);
    widened.push_back(nr::is_floating(t.dtype()) ? nr::cast(h, nr::DType::float32) : t);
  }
  const nr::Tensor got = op(halves);
  const nr::Tensor ref = op(widened);
  ASSERT_EQ(got.shape(), ref.shape()) << what;
  const nr::DType want = nr::is_floating(ref.dtype()) ? half : ref.dtype();
  ASSERT_EQ(got.dtype(), want) << what;
  const nr::Tensor expected = nr::is_floating(ref.dtype()) ? nr::cast(ref, half) : ref;
  const std::vector<double> g = got.to_vector<double>(), e = expected.to_vector<double>();
  ASSERT_EQ(g.size(), e.size());
  for (std::size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(e[i])) {
      EXPECT_TRUE(std::isnan(g[i])) << what << " element " << i;
    } else {
      ASSERT_EQ(g[i], e[i]) << what << " (" << nr::name(half) << ") element " << i;
    }
  }
}

class HalfOps : public ::testing::TestWithParam<nr::DType> {};

TEST_P(HalfOps, ElementwiseOpsRoundTheFloat32Result) {
  const nr::DType h = GetParam();
  const nr::Tensor a = random_tensor({3, 1, 37}, nr::DType::float32, -3, 3, 1);
  const nr::Tensor b = random_tensor({4, 37}, nr::DType::float32, -3, 3, 2);
  const nr::Tensor pos = random_tensor({5, 7}, nr::DType::float32, 0.1, 4, 3);
  using V = std::vector<nr::Tensor>;
  expect_rounded_float32(
      h, {a, b}, [](const V& v) { return nr::add(v[0], v[1]); }, "add");
  expect_rounded_float32(
      h, {a, b}, [](const V& v) { return nr::multiply(v[0], v[1]); }, "mul");
  expect_rounded_float32(
      h, {a, b}, [](const V& v) { return nr::divide(v[0], v[1]); }, "divide");
  expect_rounded_float32(
      h, {a, b}, [](const V& v) { return nr::maximum(v[0], v[1]); }, "max");
  expect_rounded_float32(
      h, {a, b}, [](const V& v) { return nr::greater(v[0], v[1]); }, "greater");
  expect_rounded_float32(
      h, {a}, [](const V& v) { return nr::relu(v[0]); }, "relu");
  expect_rounded_float32(
      h, {a}, [](const V& v) { return nr::exp(v[0]); }, "exp");
  expect_rounded_float32(
      h, {a}, [](const V& v) { return nr::sigmoid(v[0]); }, "sigmoid");
  expect_rounded_float32(
      h, {a}, [](const V& v) { return nr::gelu(v[0]); }, "gelu");
  expect_rounded_float32(
      h, {a}, [](const V& v) { return nr::leaky_relu(v[0], 0.2); }, "leaky");
  expect_rounded_float32(
      h, {pos}, [](const V& v) { return nr::log(v[0]); }, "log");
  expect_rounded_float32(
      h, {pos}, [](const V& v) { return nr::sqrt(v[0]); }, "sqrt");
  expect_rounded_float32(
      h, {a}, [](const V& v) { return v[0] * 2.5; }, "times a scalar");
}

TEST_P(HalfOps, ReductionsAndSoftmaxRoundTheFloat32Result) {
  const nr::DType h = GetParam();
  const nr::Tensor x = random_tensor({6, 5, 300}, nr::DType::float32, -2, 2, 4);
  using V = std::vector<nr::Tensor>;
  expect_rounded_float32(
      h, {x}, [](const V& v) { return nr::sum(v[0], {2}); }, "sum inner");
  expect_rounded_float32(
      h, {x},
      [](const V& v) {
        return nr::sum(v[0], {0, 1});
      },
      "sum outer");
  expect_rounded_float32(
      h, {x}, [](const V& v) { return nr::mean(v[0]); }, "mean all");
  expect_rounded_float32(
      h, {x}, [](const V& v) { return nr::max(v[0], {1}); }, "max");
  expect_rounded_float32(
      h, {x}, [](const V& v) { return nr::argmax(v[0], -1); }, "argmax");
  expect_rounded_float32(
      h, {x}, [](const V& v) { return nr::softmax(v[0]); }, "softmax");
  expect_rounded_float32(
      h, {x}, [](const V& v) { return nr::log_softmax(v[0], 1); }, "log_sm");
}

TEST_P(HalfOps, MatmulDenseConvAndPoolingRoundTheFloat32Result) {
  const nr::DType h = GetParam();
  using V = std::vector<nr::Tensor>;
  const nr::Tensor a = random_tensor({2, 9, 33}, nr::DType::float32, -1, 1, 5);
  const nr::Tensor b = random_tensor({2, 33, 17}, nr::DType::float32, -1, 1, 6);
  expect_rounded_float32(
      h, {a, b}, [](const V& v) { return nr::matmul(v[0], v[1]); }, "matmul");
  const nr::Tensor x = random_tensor({9, 33}, nr::DType::float32, -1, 1, 7);
  const nr::Tensor k = random_tensor({33, 12}, nr::DType::float32, -1, 1, 8);
  const nr::Tensor bias = random_tensor({12}, nr::DType::float32, -1, 1, 9);
  expect_rounded_float32(
      h, {x, k, bias},
      [](const V& v) { return nr::dense(v[0], v[1], v[2], nr::FusedActivation::relu); }, "dense");
  const nr::Tensor img = random_tensor({2, 9, 8, 3}, nr::DType::float32, -1, 1, 10);
  const nr::Tensor ker = random_tensor({3, 3, 3, 4}, nr::DType::float32, -1, 1, 11);
  const nr::Tensor cb = random_tensor({4}, nr::DType::float32, -1, 1, 12);
  const nr::ConvOptions same{.strides = {2, 1}, .padding = nr::Padding::Same};
  expect_rounded_float32(
      h, {img, ker}, [&](const V& v) { return nr::conv2d(v[0], v[1], same); }, "conv2d");
  {
    // With a bias and an activation, the convolution rounds first, as on a GPU (cuDNN writes
    // the 16-bit convolution before the epilogue) and in Keras (bias_add on the 16-bit
    // output); the bias and relu then round once more.
    const nr::Tensor hi = nr::cast(img, h), hk = nr::cast(ker, h), hb = nr::cast(cb, h);
    const nr::Tensor got = nr::conv2d_bias_activation(hi, hk, hb, nr::FusedActivation::relu, same);
    const nr::Tensor conv =
        nr::cast(nr::conv2d(nr::cast(hi, nr::float32), nr::cast(hk, nr::float32), same), h);
    const nr::Tensor expected =
        nr::cast(nr::relu(nr::cast(conv, nr::float32) + nr::cast(hb, nr::float32)), h);
    ASSERT_EQ(got.dtype(), h);
    EXPECT_EQ(got.to_vector<double>(), expected.to_vector<double>()) << "conv2d_bias_activation";
  }
  expect_rounded_float32(
      h, {img}, [](const V& v) { return nr::max_pool2d(v[0]); }, "max_pool");
  expect_rounded_float32(
      h, {img},
      [](const V& v) {
        return nr::avg_pool2d(v[0], {.pool_size = {3, 2}});
      },
      "avg");
  expect_rounded_float32(
      h, {img}, [](const V& v) { return nr::zero_pad2d(v[0], 1, 0, 2, 1); }, "pad");
  const nr::Tensor idx = nr::testing::make_tensor({2, 0, 2, 4, 2}, {5}, nr::DType::int64);
  const nr::Tensor upd = random_tensor({5, 7}, nr::DType::float32, -1, 1, 16);
  expect_rounded_float32(
      h, {idx, upd}, [&](const V& v) { return nr::scatter_add_rows(v[0], v[1], 6); }, "scatter");
}

// Gradients through 16-bit ops: the tape's gradients have the dtype of the source (float32
// weights read through a cast get float32 gradients), and every backward op also computes in
// float32 and rounds once, so the gradient of a 16-bit computation is the float32 gradient
// chain with a rounding at each op boundary: close to the float32 gradient in norm. (Average
// pooling, not max: rounding makes ties in a max window, which send a gradient elsewhere.)
TEST_P(HalfOps, GradientsReachFloat32WeightsThroughCasts) {
  const nr::DType h = GetParam();
  // Values the 16-bit type holds, so that both computations start from the same numbers (else
  // a relu that flips sign on a rounded input moves the gradient by far more than rounding).
  auto representable = [&](const nr::Tensor& t) {
    return nr::cast(nr::cast(t, h), nr::DType::float32);
  };
  const nr::Tensor img = representable(random_tensor({4, 8, 8, 2}, nr::DType::float32, -1, 1, 13));
  nr::Variable kernel(representable(random_tensor({3, 3, 2, 4}, nr::DType::float32, -.5, .5, 14)));
  nr::Variable w(representable(random_tensor({36, 5}, nr::DType::float32, -0.3, 0.3, 15)));
  const nr::Tensor labels = nr::testing::make_tensor({0, 3, 4, 1}, {4}, nr::DType::int64);
  auto grads = [&](nr::DType compute) {
    nr::GradientTape tape;
    const nr::Tensor x = nr::cast(img, compute);
    const nr::Tensor y = nr::conv2d_bias_activation(x, nr::cast(kernel, compute), nr::Tensor(),
                                                    nr::FusedActivation::relu);
    const nr::Tensor p = nr::reshape(nr::avg_pool2d(y), {4, 36});
    const nr::Tensor logits = nr::matmul(p, nr::cast(w, compute));
    const nr::Tensor loss = nr::mean(nr::sparse_softmax_cross_entropy(logits, labels));
    EXPECT_EQ(loss.dtype(), nr::DType::float32);
    return tape.gradient(loss, {kernel, w});
  };
  const std::vector<nr::Tensor> g16 = grads(h), g32 = grads(nr::DType::float32);
  for (std::size_t i = 0; i < g16.size(); ++i) {
    EXPECT_EQ(g16[i].dtype(), nr::DType::float32);
    // bfloat16 keeps 8 bits (a relative rounding error of 2^-9 per op), float16 11 bits: a few
    // roundings along the chain stay within 2% and 0.3% of the gradient's norm.
    const std::vector<double> a = g16[i].to_vector<double>(), e = g32[i].to_vector<double>();
    double diff = 0, norm = 0;
    for (std::size_t j = 0; j < e.size(); ++j) {
      diff += (a[j] - e[j]) * (a[j] - e[j]);
      norm += e[j] * e[j];
    }
    EXPECT_GT(norm, 0);
    EXPECT_LT(std::sqrt(diff / norm), h == nr::DType::bfloat16 ? 0.02 : 0.003) << "gradient " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Types, HalfOps, ::testing::Values(nr::DType::bfloat16, nr::DType::float16),
                         [](const auto& param_info) {
                           return std::string(nr::name(param_info.param));
                         });

TEST(HalfOps, LossKernelsAskForFloat32AndOptimizersForFloat32Variables) {
  const nr::Tensor logits = nr::cast(random_tensor({3, 4}), nr::DType::bfloat16);
  const nr::Tensor labels = nr::testing::make_tensor({0, 1, 2}, {3}, nr::DType::int64);
  NEURONA_EXPECT_THROW_MSG(nr::kernels::sparse_softmax_cross_entropy(logits, labels),
                           nr::ValueError, "sparse_softmax_cross_entropy", "bfloat16", "float32");
  // The autograd op widens: the loss is float32.
  EXPECT_EQ(nr::sparse_softmax_cross_entropy(logits, labels).dtype(), nr::DType::float32);
  nr::Variable v(nr::cast(random_tensor({3}), nr::DType::bfloat16), {.name = "v"});
  nr::optimizers::SGD sgd(0.1);
  NEURONA_EXPECT_THROW_MSG(sgd->apply_gradients({random_tensor({3})}, {v}), nr::ValueError, "'v'",
                           "bfloat16", "mixed_bfloat16");
}

}  // namespace
