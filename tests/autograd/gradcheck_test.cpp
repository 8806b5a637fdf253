// Every differentiable op's gradient against central differences in float64, on random
// shapes with broadcasting, and second derivatives through nested tapes.
#include <neurona/neurona.h>

#include "support/gradcheck.h"

namespace nr = neurona;
using nr::testing::check_gradients;
using nr::testing::check_second_derivative;
using nr::testing::Fn;

namespace {

// Random float64 values in [lo, hi), kept at least `gap` away from zero (kinks of relu, abs).
nr::Tensor input(const nr::Shape& shape, double lo = -2, double hi = 2, std::uint32_t seed = 1,
                 double gap = 0.05) {
  std::vector<double> v = nr::testing::uniform_values(shape.numel(), lo, hi, seed);
  for (double& x : v) {
    if (std::abs(x) < gap) x = x < 0 ? -gap - 0.01 : gap + 0.01;
  }
  return nr::constant(v, shape, nr::Device::cpu());
}

struct UnaryCase {
  const char* name;
  Fn f;
  double lo, hi;
};

const std::vector<UnaryCase>& unary_cases() {
  static const std::vector<UnaryCase> cases = {
      {"neg", [](const auto& in) { return nr::neg(in[0]); }, -2, 2},
      {"abs", [](const auto& in) { return nr::abs(in[0]); }, -2, 2},
      {"square", [](const auto& in) { return nr::square(in[0]); }, -2, 2},
      {"exp", [](const auto& in) { return nr::exp(in[0]); }, -2, 2},
      {"log", [](const auto& in) { return nr::log(in[0]); }, 0.2, 3},
      {"sqrt", [](const auto& in) { return nr::sqrt(in[0]); }, 0.2, 3},
      {"erf", [](const auto& in) { return nr::erf(in[0]); }, -2, 2},
      {"sin", [](const auto& in) { return nr::sin(in[0]); }, -4, 4},
      {"cos", [](const auto& in) { return nr::cos(in[0]); }, -4, 4},
      {"floor", [](const auto& in) { return nr::floor(in[0]) + in[0]; }, 0.1, 0.9},
      {"relu", [](const auto& in) { return nr::relu(in[0]); }, -2, 2},
      {"sigmoid", [](const auto& in) { return nr::sigmoid(in[0]); }, -4, 4},
      {"tanh", [](const auto& in) { return nr::tanh(in[0]); }, -2, 2},
      {"elu", [](const auto& in) { return nr::elu(in[0], 0.7); }, -2, 2},
      {"selu", [](const auto& in) { return nr::selu(in[0]); }, -2, 2},
      {"gelu", [](const auto& in) { return nr::gelu(in[0]); }, -3, 3},
      {"gelu_approximate", [](const auto& in) { return nr::gelu_approximate(in[0]); }, -3, 3},
      {"silu", [](const auto& in) { return nr::silu(in[0]); }, -3, 3},
      {"softplus", [](const auto& in) { return nr::softplus(in[0]); }, -3, 3},
      {"softsign", [](const auto& in) { return nr::softsign(in[0]); }, -3, 3},
      {"leaky_relu", [](const auto& in) { return nr::leaky_relu(in[0]); }, -2, 2},
      {"hard_sigmoid", [](const auto& in) { return nr::hard_sigmoid(in[0]); }, -2.5, 2.5},
      {"softmax", [](const auto& in) { return nr::softmax(in[0], -1); }, -2, 2},
      {"softmax axis 0", [](const auto& in) { return nr::softmax(in[0], 0); }, -2, 2},
      {"log_softmax", [](const auto& in) { return nr::log_softmax(in[0], 1); }, -2, 2},
      {"sum all", [](const auto& in) { return nr::sum(in[0]); }, -2, 2},
      {"sum axis", [](const auto& in) { return nr::sum(in[0], {0}, true); }, -2, 2},
      {"mean axes", [](const auto& in) { return nr::mean(in[0], {-1}); }, -2, 2},
      {"max axis", [](const auto& in) { return nr::max(in[0], 1); }, -2, 2},
      {"min all", [](const auto& in) { return nr::min(in[0]); }, -2, 2},
      {"transpose", [](const auto& in) { return nr::transpose(in[0]); }, -2, 2},
      {"reshape", [](const auto& in) { return nr::square(in[0].reshape({-1})); }, -2, 2},
      {"slice", [](const auto& in) { return nr::square(in[0].slice(1, 3)); }, -2, 2},
      {"narrow", [](const auto& in) { return nr::square(nr::narrow(in[0], 1, 1, 2)); }, -2, 2},
      {"broadcast_to",
       [](const auto& in) {
         return nr::square(nr::broadcast_to(in[0], {2, 3, 4}));
       },
       -2, 2},
      {"concat",
       [](const auto& in) {
         return nr::square(nr::concat({in[0], in[0] * 2.0}, 1));
       },
       -2, 2},
      {"gather",
       [](const auto& in) {
         const nr::Tensor idx =
             nr::constant({2, 0, 2, 1}, {.dtype = nr::int32, .device = nr::Device::cpu()});
         return nr::square(nr::gather(in[0], idx));
       },
       -2, 2},
  };
  return cases;
}

}  // namespace

TEST(GradCheck, EveryUnaryOpMatchesCentralDifferences) {
  for (const auto& c : unary_cases()) {
    EXPECT_TRUE(check_gradients(c.name, c.f, {input({3, 4}, c.lo, c.hi, 3)}));
  }
}

TEST(GradCheck, EveryUnaryOpHasSecondDerivatives) {
  for (const auto& c : unary_cases()) {
    EXPECT_TRUE(check_second_derivative(c.name, c.f, input({3, 4}, c.lo, c.hi, 4)));
  }
}

TEST(GradCheck, BinaryOpsWithBroadcastingMatchCentralDifferences) {
  using Bin = nr::Tensor (*)(const nr::Tensor&, const nr::Tensor&);
  const std::vector<std::pair<const char*, Bin>> ops = {
      {"add", nr::add},        {"subtract", nr::subtract}, {"multiply", nr::multiply},
      {"divide", nr::divide},  {"pow", nr::pow},           {"maximum", nr::maximum},
      {"minimum", nr::minimum}};
  const std::vector<std::pair<nr::Shape, nr::Shape>> shapes = {
      {{3, 4}, {3, 4}}, {{3, 4}, {4}}, {{3, 1}, {1, 4}}, {{2, 3, 4}, {3, 1}}, {{}, {5}}};
  for (const auto& [name, op] : ops) {
    for (const auto& [sa, sb] : shapes) {
      // Positive operands keep pow and divide smooth; distinct seeds keep maximum off ties.
      const nr::Tensor a = input(sa, 0.5, 2, 5);
      const nr::Tensor b = input(sb, 0.5, 2, 6);
      EXPECT_TRUE(check_gradients(std::string(name) + " " + sa.str() + " " + sb.str(),
                                  [op = op](const auto& in) { return op(in[0], in[1]); }, {a, b}));
    }
  }
}

TEST(GradCheck, BinaryOpsHaveSecondDerivatives) {
  const nr::Tensor y = input({4}, 0.5, 2, 7);
  const std::vector<std::pair<const char*, Fn>> cases = {
      {"multiply", [y](const auto& in) { return in[0] * in[0] * y; }},
      {"divide", [y](const auto& in) { return y / in[0]; }},
      {"pow", [y](const auto& in) { return nr::pow(in[0], y); }},
      {"pow exponent", [y](const auto& in) { return nr::pow(y, in[0]); }},
      {"subtract", [y](const auto& in) { return nr::square(in[0] - y); }},
  };
  for (const auto& [name, f] : cases) {
    EXPECT_TRUE(check_second_derivative(name, f, input({3, 4}, 0.5, 2, 8)));
  }
}

TEST(GradCheck, WhereRoutesGradientsToTheChosenBranch) {
  const nr::Tensor cond =
      nr::greater(input({3, 4}, -1, 1, 9),
                  nr::constant(0.0, {.dtype = nr::float64, .device = nr::Device::cpu()}));
  EXPECT_TRUE(check_gradients("where",
                              [cond](const auto& in) { return nr::where(cond, in[0], in[1]); },
                              {input({3, 4}, -2, 2, 10), input({4}, -2, 2, 11)}));
}

TEST(GradCheck, MatmulInEveryTransposeAndBatchLayout) {
  struct Case {
    nr::Shape a, b;
    bool ta, tb;
  };
  const std::vector<Case> cases = {{{3, 4}, {4, 5}, false, false},
                                   {{4, 3}, {4, 5}, true, false},
                                   {{3, 4}, {5, 4}, false, true},
                                   {{4, 3}, {5, 4}, true, true},
                                   {{2, 3, 4}, {4, 2}, false, false},
                                   {{3, 4}, {2, 4, 2}, false, false},
                                   {{2, 1, 3, 4}, {1, 2, 4, 2}, false, false},
                                   {{4}, {4, 3}, false, false},
                                   {{3, 4}, {4}, false, false}};
  for (const auto& c : cases) {
    EXPECT_TRUE(check_gradients("matmul " + c.a.str() + " " + c.b.str(),
                                [c](const auto& in) {
                                  return nr::matmul(in[0], in[1],
                                                    {.transpose_a = c.ta, .transpose_b = c.tb});
                                },
                                {input(c.a, -1, 1, 12), input(c.b, -1, 1, 13)}));
  }
  EXPECT_TRUE(check_second_derivative(
      "matmul",
      [](const auto& in) { return nr::matmul(in[0], nr::tanh(in[0]), {.transpose_b = true}); },
      input({3, 4}, -1, 1, 14)));
}

TEST(GradCheck, CompositionsLikeALayer) {
  // softmax(relu(x W + b)) and a cross-entropy-like loss.
  const nr::Tensor labels =
      nr::one_hot(nr::constant({1, 0, 2}, {.dtype = nr::int32, .device = nr::Device::cpu()}), 3,
                  {.dtype = nr::float64});
  EXPECT_TRUE(
      check_gradients("dense + softmax + cross-entropy",
                      [labels](const auto& in) {
                        const nr::Tensor h = nr::relu(nr::matmul(in[0], in[1]) + in[2]);
                        return -nr::mean(nr::sum(labels * nr::log_softmax(h), -1));
                      },
                      {input({3, 4}, -1, 1, 15), input({4, 3}, -1, 1, 16), input({3}, -1, 1, 17)}));
  EXPECT_TRUE(check_gradients("gelu(x) * sigmoid(y) / (1 + x^2)",
                              [](const auto& in) {
                                return nr::gelu(in[0]) * nr::sigmoid(in[1]) /
                                       (nr::square(in[0]) + 1.0);
                              },
                              {input({2, 3}, -2, 2, 18), input({3}, -2, 2, 19)}));
}

TEST(GradCheck, Conv2DOverStridesDilationPaddingFormatsAndGroups) {
  struct Case {
    nr::Shape x, k;
    nr::ConvOptions o;
  };
  using P = nr::Padding;
  const std::vector<Case> cases = {
      {{2, 5, 5, 2}, {3, 3, 2, 3}, {}},
      {{1, 6, 5, 2}, {2, 2, 2, 2}, {.padding = P::Same}},
      {{1, 7, 6, 2}, {3, 3, 2, 2}, {.strides = {2, 2}, .padding = P::Same}},
      {{1, 7, 7, 1}, {2, 3, 1, 2}, {.strides = {1, 2}, .dilation_rate = {2, 1}}},
      {{1, 5, 5, 4}, {3, 3, 2, 4}, {.padding = P::Same, .groups = 2}},
      {{1, 2, 5, 4},
       {3, 3, 2, 3},
       {.padding = P::Same, .data_format = nr::DataFormat::ChannelsFirst}},
  };
  for (const auto& c : cases) {
    EXPECT_TRUE(check_gradients("conv2d " + c.x.str() + " " + c.k.str(),
                                [o = c.o](const auto& in) { return nr::conv2d(in[0], in[1], o); },
                                {input(c.x, -1, 1, 20), input(c.k, -1, 1, 21)}));
  }
}

TEST(GradCheck, PoolingAndPaddingOverStridesAndPaddings) {
  for (nr::Padding p : {nr::Padding::Valid, nr::Padding::Same}) {
    for (std::int64_t s : {1, 2}) {
      const nr::Pool2DOptions o{
          .pool_size = {2, 3}, .strides = std::array<std::int64_t, 2>{s, s}, .padding = p};
      // Distinct values keep every window's maximum unique (no kinks within eps).
      std::vector<double> v(2 * 5 * 6 * 2);
      for (std::size_t i = 0; i < v.size(); ++i)
        v[i] = std::sin(1.7 * static_cast<double>(i)) + 0.001 * i;
      const nr::Tensor x = nr::constant(v, {2, 5, 6, 2}, nr::Device::cpu());
      EXPECT_TRUE(check_gradients("max_pool2d",
                                  [o](const auto& in) { return nr::max_pool2d(in[0], o); }, {x}));
      EXPECT_TRUE(check_gradients("avg_pool2d",
                                  [o](const auto& in) { return nr::avg_pool2d(in[0], o); }, {x}));
    }
  }
  const Fn pad = [](const auto& in) { return nr::square(nr::zero_pad2d(in[0], 1, 2, 0, 1)); };
  EXPECT_TRUE(check_gradients("zero_pad2d", pad, {input({2, 3, 3, 2})}));
  EXPECT_TRUE(check_second_derivative("zero_pad2d", pad, input({2, 3, 3, 2})));
}

TEST(GradCheck, FusedImageGradientsRefuseSecondDerivatives) {
  nr::Variable x(nr::random_normal({1, 4, 4, 1}, {.dtype = nr::float64}));
  const nr::Tensor k = nr::random_normal({2, 2, 1, 1}, {.dtype = nr::float64});
  nr::GradientTape outer;
  nr::Tensor g;
  {
    nr::GradientTape inner;
    g = inner.gradient(nr::sum(nr::square(nr::conv2d(x, k))), x);
  }
  NEURONA_EXPECT_THROW_MSG(outer.gradient(g, x), nr::NotImplementedError, "conv2d",
                           "second derivative");
}

TEST(GradCheck, FusedDenseWithAndWithoutBiasAndRelu) {
  const nr::Tensor x = input({5, 4}, -1, 1, 30), w = input({4, 3}, -1, 1, 31),
                   b = input({3}, 0.2, 0.6, 32);
  EXPECT_TRUE(check_gradients(
      "dense linear", [](const auto& in) { return nr::dense(in[0], in[1], in[2]); }, {x, w, b}));
  EXPECT_TRUE(check_gradients("dense no bias",
                              [](const auto& in) { return nr::dense(in[0], in[1], nr::Tensor()); },
                              {x, w}));
  // Pre-activations kept away from ReLU's kink: |x w + b| > 0.05 for these inputs.
  const nr::Tensor z = nr::matmul(x, w) + b;
  ASSERT_GT(nr::min(nr::abs(z)).item<double>(), 0.01);
  EXPECT_TRUE(check_gradients(
      "dense relu",
      [](const auto& in) { return nr::dense(in[0], in[1], in[2], nr::FusedActivation::relu); },
      {x, w, b}));
  EXPECT_TRUE(check_second_derivative(
      "dense", [w, b](const auto& in) { return nr::square(nr::dense(in[0], w, b)); }, x));
}

TEST(GradCheck, FusedConv2DWithAndWithoutBiasAndRelu) {
  // float64 runs im2col with the epilogue pass; channels_first goes through the transposes.
  const nr::Tensor x = input({2, 6, 5, 3}, -1, 1, 40), k = input({3, 3, 3, 4}, -1, 1, 41),
                   b = input({4}, 0.2, 0.6, 42);
  const nr::ConvOptions same{.strides = {2, 1}, .padding = nr::Padding::Same};
  EXPECT_TRUE(check_gradients("conv2d_bias_activation linear",
                              [same](const auto& in) {
                                return nr::conv2d_bias_activation(
                                    in[0], in[1], in[2], nr::FusedActivation::linear, same);
                              },
                              {x, k, b}));
  EXPECT_TRUE(check_gradients("conv2d_bias_activation no bias",
                              [](const auto& in) {
                                return nr::conv2d_bias_activation(in[0], in[1], nr::Tensor(),
                                                                  nr::FusedActivation::linear);
                              },
                              {x, k}));
  // Pre-activations kept away from ReLU's kink.
  const nr::Tensor z = nr::conv2d(x, k) + b;
  ASSERT_GT(nr::min(nr::abs(z)).item<double>(), 1e-3);
  EXPECT_TRUE(check_gradients("conv2d_bias_activation relu",
                              [](const auto& in) {
                                return nr::conv2d_bias_activation(in[0], in[1], in[2],
                                                                  nr::FusedActivation::relu);
                              },
                              {x, k, b}));
  const nr::ConvOptions first{.data_format = nr::DataFormat::ChannelsFirst};
  EXPECT_TRUE(check_gradients("conv2d_bias_activation channels_first",
                              [first](const auto& in) {
                                return nr::conv2d_bias_activation(in[0], in[1], in[2],
                                                                  nr::FusedActivation::relu, first);
                              },
                              {input({2, 3, 6, 5}, -1, 1, 43), k, b}));
}
