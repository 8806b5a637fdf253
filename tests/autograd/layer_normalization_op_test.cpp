// The fused layer-normalization op (nr::layer_normalization) on the CPU against the chain of
// generic ops LayerNormalization ran before it (kept here as the reference): values and every
// gradient in float64, over one and several trailing axes, with and without gamma and beta, on
// the serial and the parallel paths; then numerical gradient checks, large means, 16-bit
// inputs, errors, empty inputs, the layer's choice between the fused op and the ops, and a model
// with LayerNormalization trained through the CPU's emulation of graph capture.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "neurona/kernels/layer_norm.h"
#include "neurona/neurona.h"
#include "support/captured_fit.h"
#include "support/fused_reference.h"
#include "support/gradcheck.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::same_values;
using nr::testing::weighted_gradients;

namespace {

nr::Tensor f64(const nr::Shape& shape, double lo, double hi, std::uint32_t seed) {
  return nr::testing::random_tensor(shape, nr::float64, lo, hi, seed);
}

// The axes from `begin` (non-negative) to the last.
std::vector<int> trailing_axes(int rank, int begin) {
  std::vector<int> axes;
  for (int a = begin; a < rank; ++a) axes.push_back(a);
  return axes;
}

// Keras's ops.layer_normalization in generic differentiable ops: LayerNormalization's call
// before the fused op.
nr::Tensor composed(const nr::Tensor& x, const nr::Tensor& gamma, const nr::Tensor& beta, int begin,
                    double epsilon) {
  const nr::Axes axes{trailing_axes(x.rank(), begin)};
  std::vector<std::int64_t> dims(static_cast<std::size_t>(x.rank()), 1);
  for (int a = begin; a < x.rank(); ++a) dims[static_cast<std::size_t>(a)] = x.shape()[a];
  const nr::Shape weight_shape(std::move(dims));
  const nr::Tensor mu = nr::mean(x, axes, /*keepdims=*/true);
  const nr::Tensor var = nr::mean(nr::square(nr::subtract(x, mu)), axes, /*keepdims=*/true);
  nr::Tensor inv = 1.0 / nr::sqrt(var + epsilon);
  if (gamma.defined()) inv = nr::multiply(inv, nr::reshape(gamma, weight_shape));
  nr::Tensor shift = nr::neg(nr::multiply(mu, inv));
  if (beta.defined()) shift = nr::add(shift, nr::reshape(beta, weight_shape));
  return nr::add(nr::multiply(x, inv), shift);
}

struct Case {
  nr::Shape shape;
  int begin;  // non-negative
};

// One feature axis and several; a row of one value; rows that are few and many; the large ones
// take the parallel paths (more than the kernels' parallel grain of 2^17 values).
const std::vector<Case>& cases() {
  static const std::vector<Case> c = {
      {{7, 5}, 1},  {{3, 5, 7}, 2}, {{2, 3, 4, 5}, 1}, {{4, 3, 2, 5}, 2},  {{9, 1}, 1},
      {{1, 33}, 1}, {{5}, 0},       {{512, 300}, 1},   {{3, 400, 257}, 2}, {{2, 70000}, 1}};
  return c;
}

std::string describe(const Case& c, bool with_gamma, bool with_beta) {
  return nr::detail::str("shape ", c.shape, " from axis ", c.begin, with_gamma ? " gamma" : "",
                         with_beta ? " beta" : "");
}

nr::Shape feature_shape(const Case& c) {
  std::vector<std::int64_t> dims;
  for (int a = c.begin; a < c.shape.rank(); ++a) dims.push_back(c.shape[a]);
  return nr::Shape(std::move(dims));
}

}  // namespace

TEST(LayerNormalizationOp, MatchesTheComposedOpsInFloat64) {
  for (const Case& c : cases()) {
    for (const bool with_gamma : {true, false}) {
      for (const bool with_beta : {true, false}) {
        const std::string what = describe(c, with_gamma, with_beta);
        // A mean far from zero against the spread, so that centering matters.
        const nr::Tensor x = f64(c.shape, 2, 5, 1);
        const nr::Tensor gamma = with_gamma ? f64(feature_shape(c), 0.5, 2, 2) : nr::Tensor();
        const nr::Tensor beta = with_beta ? f64(feature_shape(c), -1, 1, 3) : nr::Tensor();
        // Both begin axes: the non-negative one and the same counted from the end.
        for (const int begin : {c.begin, c.begin - c.shape.rank()}) {
          EXPECT_TRUE(same_values(what + " y", nr::layer_normalization(x, gamma, beta, begin, 1e-3),
                                  composed(x, gamma, beta, c.begin, 1e-3)));
        }
        const nr::Tensor w = f64(c.shape, -1, 1, 4);
        const std::vector<nr::Tensor> inputs{x, gamma, beta};
        const auto fused_grads = weighted_gradients(
            [&] { return nr::layer_normalization(x, gamma, beta, c.begin, 1e-3); }, inputs, w);
        const auto ref_grads =
            weighted_gradients([&] { return composed(x, gamma, beta, c.begin, 1e-3); }, inputs, w);
        EXPECT_TRUE(same_values(what + " dx", fused_grads[0], ref_grads[0]));
        EXPECT_TRUE(same_values(what + " dgamma", fused_grads[1], ref_grads[1]));
        EXPECT_TRUE(same_values(what + " dbeta", fused_grads[2], ref_grads[2]));
      }
    }
  }
}

TEST(LayerNormalizationOp, StatisticsAreEachRowsMeanAndInverseStandardDeviation) {
  const nr::Tensor x = f64({3, 2, 6}, -2, 2, 5);
  nr::kernels::LayerNormStatistics s;
  (void)nr::kernels::layer_norm_forward(x, 1, nr::Tensor(), nr::Tensor(), 0.25, &s);
  ASSERT_EQ(s.mean.shape(), (nr::Shape{3}));
  ASSERT_EQ(s.inv_std.shape(), (nr::Shape{3}));
  const std::vector<double> v = x.to_vector<double>();
  for (std::size_t r = 0; r < 3; ++r) {
    double mean = 0, m2 = 0;
    for (std::size_t j = 0; j < 12; ++j) mean += v[r * 12 + j] / 12;
    for (std::size_t j = 0; j < 12; ++j) m2 += (v[r * 12 + j] - mean) * (v[r * 12 + j] - mean);
    EXPECT_NEAR(s.mean.to_vector<double>()[r], mean, 1e-14);
    EXPECT_NEAR(s.inv_std.to_vector<double>()[r], 1 / std::sqrt(m2 / 12 + 0.25), 1e-14);
  }
}

TEST(LayerNormalizationOp, GradientsMatchNumericalInFloat64) {
  using nr::testing::check_gradients;
  for (const Case& c : {Case{{5, 6}, 1}, Case{{3, 4, 5}, 1}, Case{{2, 3, 4}, 2}}) {
    const nr::Tensor x = f64(c.shape, -2, 2, 11);
    const nr::Tensor gamma = f64(feature_shape(c), 0.5, 2, 12);
    const nr::Tensor beta = f64(feature_shape(c), -1, 1, 13);
    EXPECT_TRUE(check_gradients(describe(c, true, true),
                                [&](const std::vector<nr::Tensor>& in) {
                                  return nr::layer_normalization(in[0], in[1], in[2], c.begin,
                                                                 1e-3);
                                },
                                {x, gamma, beta}));
    EXPECT_TRUE(check_gradients(describe(c, false, false),
                                [&](const std::vector<nr::Tensor>& in) {
                                  return nr::layer_normalization(in[0], nr::Tensor(), nr::Tensor(),
                                                                 c.begin, 1e-3);
                                },
                                {x}));
  }
}

TEST(LayerNormalizationOp, HasNoSecondDerivative) {
  const nr::Tensor x = f64({6, 3}, -2, 2, 17);
  nr::GradientTape outer;
  outer.watch(x);
  nr::Tensor dx;
  {
    nr::GradientTape inner;
    inner.watch(x);
    const nr::Tensor y = nr::layer_normalization(x);
    dx = inner.gradient(nr::sum(y * y * y), x);
  }
  NEURONA_EXPECT_THROW_MSG(outer.gradient(nr::sum(dx), x), nr::NotImplementedError,
                           "layer_normalization", "no second derivative");
}

TEST(LayerNormalizationOp, VarianceStaysAccurateForLargeMeans) {
  // float32 values near 1000 with a spread of 1e-2: E[x^2] - E[x]^2 in float32 would lose every
  // digit of the variance; the mean of squared deviations in float64 keeps them.
  const nr::Tensor x = nr::testing::random_tensor({3, 4096}, nr::float32, 1000, 1000.02, 18);
  const nr::Tensor y = nr::layer_normalization(x, nr::Tensor(), nr::Tensor(), -1, 0);
  const nr::Tensor ref =
      nr::cast(composed(nr::cast(x, nr::float64), nr::Tensor(), nr::Tensor(), 1, 0), nr::float32);
  EXPECT_TRUE(all_close(y, ref.to_vector<double>(), 1e-3, 1e-3));
}

TEST(LayerNormalizationOp, HalfInputsAreNormalizedInFloat32AndRoundedOnce) {
  for (const nr::DType h : {nr::DType::bfloat16, nr::DType::float16}) {
    const nr::Tensor x =
        nr::cast(nr::testing::random_tensor({33, 4, 6}, nr::float32, -2, 3, 19), h);
    const nr::Tensor wide = nr::cast(x, nr::float32);
    const nr::Tensor gamma = nr::testing::random_tensor({6}, nr::float32, 0.5, 2, 20);
    const nr::Tensor beta = nr::testing::random_tensor({6}, nr::float32, -1, 1, 21);
    const nr::Tensor dy =
        nr::cast(nr::testing::random_tensor({33, 4, 6}, nr::float32, -1, 1, 22), h);
    auto run = [&](const nr::Tensor& in, const nr::Tensor& g) {
      nr::GradientTape tape;
      tape.watch(in);
      tape.watch(gamma);
      tape.watch(beta);
      const nr::Tensor y = nr::layer_normalization(in, gamma, beta, -1, 1e-3);
      std::vector<nr::Tensor> r{y};
      for (const nr::Tensor& t :
           tape.gradient(y, std::vector<nr::Tensor>{in, gamma, beta}, {.output_gradients = g})) {
        r.push_back(t);
      }
      return r;
    };
    const auto half = run(x, dy);
    const auto ref = run(wide, nr::cast(dy, nr::float32));
    const char* names[] = {"y", "dx", "dgamma", "dbeta"};
    for (std::size_t i = 0; i < half.size(); ++i) {
      // y and dx: x's dtype, the float32 result rounded once; dgamma and dbeta: float32.
      const nr::DType want = i < 2 ? h : nr::float32;
      EXPECT_EQ(half[i].dtype(), want) << names[i];
      const nr::Tensor expected = i < 2 ? nr::cast(ref[i], h) : ref[i];
      EXPECT_TRUE(all_close(half[i], expected.to_vector<double>(), 0, 0))
          << nr::name(h) << " " << names[i];
    }
  }
}

TEST(LayerNormalizationOp, ErrorsNameTheOpTheArgumentAndTheShapes) {
  const nr::Tensor x = nr::ones({4, 5, 3});
  const nr::Tensor c3 = nr::ones({3}), c5 = nr::ones({5});
  NEURONA_EXPECT_THROW_MSG(nr::layer_normalization(x, c5, c3), nr::ShapeError, "layer_norm_forward",
                           "argument gamma", "(5,)", "(4, 5, 3)", "(3,)");
  NEURONA_EXPECT_THROW_MSG(nr::layer_normalization(x, c3, c3, 1), nr::ShapeError,
                           "layer_norm_forward", "argument gamma", "(3,)", "(5, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::layer_normalization(x, c3, c3, 3), nr::ShapeError,
                           "layer_norm_forward", "axis 3", "(4, 5, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::layer_normalization(x, c3, nr::cast(c3, nr::float64)),
                           nr::ValueError, "layer_norm_forward", "argument beta", "float64",
                           "float32");
  NEURONA_EXPECT_THROW_MSG(
      nr::layer_normalization(nr::cast(x, nr::DType::bfloat16), nr::cast(c3, nr::DType::bfloat16)),
      nr::ValueError, "layer_norm_forward", "argument gamma", "bfloat16", "float32");
  NEURONA_EXPECT_THROW_MSG(nr::layer_normalization(nr::cast(x, nr::int32)), nr::ValueError,
                           "layer_norm_forward", "argument x", "int32");
  NEURONA_EXPECT_THROW_MSG(nr::layer_normalization(x, c3, c3, -1, -1.0), nr::ValueError,
                           "layer_norm_forward", "epsilon");
  NEURONA_EXPECT_THROW_MSG(nr::kernels::layer_norm_backward(x, nr::ones({4, 5}), nr::ones({4, 5}),
                                                            nr::ones({4, 5}), -1, c3),
                           nr::ShapeError, "layer_norm_backward", "argument grad", "(4, 5)",
                           "(4, 5, 3)");
  NEURONA_EXPECT_THROW_MSG(
      nr::kernels::layer_norm_backward(x, x, nr::ones({4}), nr::ones({4, 5}), -1, c3),
      nr::ShapeError, "layer_norm_backward", "argument mean", "(4,)", "(4, 5)");
}

TEST(LayerNormalizationOp, EmptyInputsGiveNoValuesAndZeroSums) {
  // No rows: y has no values; gamma's and beta's gradients are sums over no rows.
  const nr::Tensor gamma = nr::ones({3}), beta = nr::zeros({3});
  nr::GradientTape tape;
  tape.watch(gamma);
  tape.watch(beta);
  const nr::Tensor y = nr::layer_normalization(nr::zeros({0, 3}), gamma, beta);
  EXPECT_EQ(y.shape(), (nr::Shape{0, 3}));
  const std::vector<nr::Tensor> g = tape.gradient(nr::sum(y), std::vector<nr::Tensor>{gamma, beta});
  EXPECT_TRUE(all_close(g[0], {0, 0, 0}, 0, 0));
  EXPECT_TRUE(all_close(g[1], {0, 0, 0}, 0, 0));
  // Rows of no values: the statistics are NaN, as Keras's mean over an empty axis.
  nr::kernels::LayerNormStatistics s;
  const nr::Tensor z =
      nr::kernels::layer_norm_forward(nr::zeros({2, 0}), -1, nr::Tensor(), nr::Tensor(), 1e-3, &s);
  EXPECT_EQ(z.shape(), (nr::Shape{2, 0}));
  for (double m : s.mean.to_vector<double>()) EXPECT_TRUE(std::isnan(m));
}

// The layer takes the fused op for trailing axes without rms_scaling (its gradient has no second
// derivative: that shows which path ran) and the ops otherwise; both give the composed formula
// (the ops' path is checked against Keras in keras_reference_test.cpp).
TEST(LayerNormalizationOp, TheLayerRunsTheFusedOpForTrailingAxes) {
  const nr::Tensor x = f64({4, 3, 5}, -2, 3, 30);
  struct LayerCase {
    std::vector<int> axis;
    int begin;  // of the trailing axes; -1: not trailing
  };
  // [2, 1] and [-2, -1] are sorted by the layer into trailing axes; [1] and [-1, 1] are not
  // trailing (the latter sorted as given: gamma is (5, 3)).
  for (const LayerCase& c : {LayerCase{{-1}, 2}, LayerCase{{1, 2}, 1}, LayerCase{{2, 1}, 1},
                             LayerCase{{-2, -1}, 1}, LayerCase{{1}, -1}, LayerCase{{-1, 1}, -1}}) {
    const std::string what = nr::detail::str("axis of ", c.axis.size(), " from ", c.axis[0]);
    nr::layers::LayerNormalization layer(
        {.axis = nr::layers::NormalizationAxes(std::vector<int>(c.axis)), .dtype = "float64"});
    (void)layer(x);  // builds it
    layer->set_weights(
        {f64(layer->gamma().shape(), 0.5, 2, 31), f64(layer->beta().shape(), -1, 1, 33)});
    if (c.begin >= 0) {
      const nr::Tensor ref =
          composed(x, layer->gamma().value(), layer->beta().value(), c.begin, 1e-3);
      EXPECT_TRUE(same_values(what, layer(x), ref)) << what;
    }
    nr::GradientTape outer;
    outer.watch(x);
    nr::Tensor dx;
    {
      nr::GradientTape inner;
      inner.watch(x);
      const nr::Tensor y = layer(x);
      dx = inner.gradient(nr::sum(y * y * y), x);
    }
    if (c.begin >= 0) {
      EXPECT_THROW(outer.gradient(nr::sum(dx), x), nr::NotImplementedError) << what;
    } else {
      EXPECT_TRUE(outer.gradient(nr::sum(dx), x).defined()) << what;
    }
  }
  // rms_scaling keeps the ops (Keras's formula differs).
  nr::layers::LayerNormalization rms({.rms_scaling = true, .dtype = "float64"});
  nr::GradientTape outer;
  outer.watch(x);
  nr::Tensor dx;
  {
    nr::GradientTape inner;
    inner.watch(x);
    dx = inner.gradient(nr::sum(nr::square(rms(x))), x);
  }
  EXPECT_TRUE(outer.gradient(nr::sum(dx), x).defined());
}

// Under mixed_bfloat16 the layer takes bfloat16 inputs, computes in float32 and returns
// bfloat16: the float32 computation rounded once.
TEST(LayerNormalizationOp, TheLayerUnderMixedBfloat16RoundsTheFloat32ResultOnce) {
  const nr::Tensor x =
      nr::cast(nr::testing::random_tensor({6, 4, 16}, nr::float32, -2, 3, 34), nr::DType::bfloat16);
  nr::layers::LayerNormalization layer({.dtype = "mixed_bfloat16"});
  const nr::Tensor y = layer(x);
  EXPECT_EQ(y.dtype(), nr::DType::bfloat16);
  const nr::Tensor ref = nr::cast(
      composed(nr::cast(x, nr::float32), layer->gamma().value(), layer->beta().value(), 2, 1e-3),
      nr::DType::bfloat16);
  // The fused op and the ops round their float32 arithmetic differently: one bfloat16 unit.
  EXPECT_TRUE(all_close(y, ref.to_vector<double>(), 1e-2, std::ldexp(1.0, -7)));
}

// A model with LayerNormalization trained with its steps captured (the CPU's emulation of graph
// capture: each replay reruns the recorded kernels and copies only) trains exactly as eagerly.
TEST(LayerNormalizationOp, CapturedStepsTrainAsEagerOnes) {
  nr::testing::expect_captured_fit_matches_eager([] {
    nr::set_seed(3);
    const nr::Tensor x = nr::random_uniform({96, 5, 8}, {.seed = 4});
    const nr::Tensor y = nr::cast(nr::random_uniform({96}, {.maxval = 3, .seed = 5}), nr::int32);
    nr::Sequential model({nr::layers::Input({5, 8}), nr::layers::Dense(8),
                          nr::layers::LayerNormalization(), nr::layers::Flatten(),
                          nr::layers::LayerNormalization({.center = false}),
                          nr::layers::Dense(3, {.activation = "softmax"})});
    model.compile(
        {.optimizer = nr::optimizers::Adam(1e-2), .loss = "sparse_categorical_crossentropy"});
    const auto history = model.fit(x, y, {.batch_size = 32, .epochs = 2, .verbose = 0});
    return std::pair{history.history.at("loss"), model.get_weights()};
  });
}
