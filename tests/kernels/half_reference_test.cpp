// neurona's 16-bit ops against PyTorch's CPU results on the same 16-bit inputs
// (tests/reference/make_torch_half_references.py, PyTorch 1.13). Both compute in float32 and
// round once: casts and exactly rounded ops (add, multiply, relu, max) must agree bit for bit;
// where the float32 results may differ in their last bits (libm's exp, summation order in
// sums, GEMMs and convolutions), by at most one unit in the last place of the 16-bit type.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;

namespace {

const nr::testing::Reference& reference() {
  static const nr::testing::Reference r = nr::testing::load_reference("torch", "half_ops");
  return r;
}

nr::Tensor input(const std::string& name, nr::DType dtype) {
  const auto& e = reference().at(name);
  return nr::testing::make_tensor(e.values, e.shape, dtype);
}

// The distance between `a` and `b` in units of the 16-bit type's last place at b's magnitude
// (1 ulp = 2^(exponent of b - mantissa bits)).
double ulps(double a, double b, int mantissa_bits) {
  if (a == b) return 0;
  const double scale = std::max(std::abs(b), std::ldexp(1.0, -126));
  const double ulp = std::ldexp(1.0, std::ilogb(scale) - mantissa_bits);
  return std::abs(a - b) / ulp;
}

void expect_matches(const nr::Tensor& got, const std::string& name, double max_ulps) {
  const auto& e = reference().at(name);
  ASSERT_EQ(got.shape(), e.shape) << name;
  const std::vector<double> g = got.to_vector<double>();
  const int bits = got.dtype() == nr::DType::bfloat16 ? 7 : 10;
  int off = 0;
  for (std::size_t i = 0; i < g.size(); ++i) {
    const double d = ulps(g[i], e.values[i], bits);
    if (d > max_ulps) {
      ADD_FAILURE() << name << " element " << i << ": " << g[i] << " vs PyTorch " << e.values[i]
                    << " (" << d << " ulps)";
      if (++off > 5) return;
    }
  }
}

TEST(HalfReference, CastsRoundAsPyTorch) {
  const nr::Tensor x = input("cast_in", nr::DType::float32);
  for (auto [tag, dtype] : {std::pair{"bf16", nr::DType::bfloat16}, {"f16", nr::DType::float16}}) {
    const nr::Tensor c = nr::cast(nr::cast(x, dtype), nr::DType::float32);
    const std::vector<double> v = c.to_vector<double>();
    const auto& finite = reference().at(std::string(tag) + "_cast_finite").values;
    const auto& want = reference().at(std::string(tag) + "_cast").values;
    for (std::size_t i = 0; i < v.size(); ++i) {
      EXPECT_EQ(std::isfinite(v[i]), finite[i] != 0) << tag << " element " << i;
      if (finite[i] != 0) {
        EXPECT_EQ(v[i], want[i]) << tag << " element " << i;
      }
    }
  }
}

TEST(HalfReference, ElementwiseAndReductionsMatchPyTorch) {
  for (auto [tag, dtype] : {std::pair{"bf16", nr::DType::bfloat16}, {"f16", nr::DType::float16}}) {
    const std::string t = tag;
    const nr::Tensor a = input(t + "_a", dtype), b = input(t + "_b", dtype);
    expect_matches(nr::add(a, b), t + "_add", 0);
    expect_matches(nr::multiply(a, b), t + "_mul", 0);
    expect_matches(nr::sum(a, {0}), t + "_sum0", 1);
    if (dtype != nr::DType::bfloat16) continue;  // PyTorch 1.13's CPU has no float16 for these
    expect_matches(nr::relu(a), t + "_relu", 0);
    expect_matches(nr::max(a, {2}), t + "_max2", 0);
    expect_matches(nr::exp(a), t + "_exp", 1);
    expect_matches(nr::sigmoid(a), t + "_sigmoid", 1);
    expect_matches(nr::tanh(a), t + "_tanh", 1);
    expect_matches(nr::softmax(a), t + "_softmax", 1);
  }
}

TEST(HalfReference, MatmulConvAndPoolingMatchPyTorch) {
  const nr::DType bf16 = nr::DType::bfloat16;
  expect_matches(nr::matmul(input("bf16_m1", bf16), input("bf16_m2", bf16)), "bf16_matmul", 1);
  const nr::Tensor x = input("bf16_conv_x", bf16);
  expect_matches(nr::conv2d(x, input("bf16_conv_w", bf16), {.padding = nr::Padding::Same}),
                 "bf16_conv_y", 1);
  expect_matches(nr::max_pool2d(x), "bf16_pool_y", 0);
}

}  // namespace
