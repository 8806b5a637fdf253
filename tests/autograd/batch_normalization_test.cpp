// The fused batch-normalization ops (nr::batch_normalization_training, nr::batch_normalization)
// on the CPU against the chain of generic ops BatchNormalization ran before them (kept here as
// the reference): values, batch statistics and every gradient in float64, on both kernel
// layouts (the normalized axis last, and another axis), with and without scale and offset;
// then numerical gradient checks, large means, 16-bit inputs, errors, an empty batch, and a
// model with BatchNormalization trained through the CPU's emulation of graph capture.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "neurona/kernels/batch_norm.h"
#include "neurona/neurona.h"
#include "support/captured_fit.h"
#include "support/fused_reference.h"
#include "support/gradcheck.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::same_values;
using nr::testing::weighted_gradients;

namespace {

struct Composed {
  nr::Tensor y, mean, variance;
};

// The axes other than `axis`, and the statistics' shape for broadcasting (1 but on `axis`).
struct Reduction {
  std::vector<int> others;
  nr::Shape channel_shape;
};

Reduction reduction(const nr::Tensor& x, int axis) {
  const int a = x.shape().normalize_axis(axis, "test");
  Reduction r;
  std::vector<std::int64_t> dims(static_cast<std::size_t>(x.rank()), 1);
  for (int i = 0; i < x.rank(); ++i) {
    if (i == a) {
      dims[static_cast<std::size_t>(i)] = x.shape()[i];
    } else {
      r.others.push_back(i);
    }
  }
  r.channel_shape = nr::Shape(dims);
  return r;
}

// Keras's ops.batch_normalization in generic differentiable ops: BatchNormalization's call before
// the fused ops, statistics included.
nr::Tensor composed_normalize(const nr::Tensor& x, const nr::Tensor& mu, const nr::Tensor& var,
                              const nr::Shape& channel_shape, const nr::Tensor& offset,
                              const nr::Tensor& scale, double epsilon) {
  nr::Tensor inv = 1.0 / nr::sqrt(var + epsilon);
  if (scale.defined()) inv = nr::multiply(inv, nr::reshape(scale, channel_shape));
  nr::Tensor shift = nr::neg(nr::multiply(mu, inv));
  if (offset.defined()) shift = nr::add(shift, nr::reshape(offset, channel_shape));
  return nr::add(nr::multiply(x, inv), shift);
}

Composed composed_training(const nr::Tensor& x, int axis, const nr::Tensor& offset,
                           const nr::Tensor& scale, double epsilon) {
  const Reduction r = reduction(x, axis);
  const nr::Tensor mu = nr::mean(x, nr::Axes(r.others), /*keepdims=*/true);
  const nr::Tensor var =
      nr::mean(nr::square(nr::subtract(x, mu)), nr::Axes(r.others), /*keepdims=*/true);
  const std::int64_t channels = r.channel_shape.numel();
  return {composed_normalize(x, mu, var, r.channel_shape, offset, scale, epsilon),
          nr::reshape(mu, {channels}), nr::reshape(var, {channels})};
}

nr::Tensor composed_inference(const nr::Tensor& x, const nr::Tensor& mean,
                              const nr::Tensor& variance, int axis, const nr::Tensor& offset,
                              const nr::Tensor& scale, double epsilon) {
  const Reduction r = reduction(x, axis);
  return composed_normalize(x, nr::reshape(mean, r.channel_shape),
                            nr::reshape(variance, r.channel_shape), r.channel_shape, offset, scale,
                            epsilon);
}

nr::Tensor f64(const nr::Shape& shape, double lo, double hi, std::uint32_t seed) {
  return nr::testing::random_tensor(shape, nr::float64, lo, hi, seed);
}

struct Case {
  nr::Shape shape;
  int axis;
};

// Odd sizes on both layouts: the axis last (the CPU's band walk), and in the middle (its runs);
// the large ones take the parallel paths (more than the kernels' parallel grain of 2^17 values).
const std::vector<Case>& cases() {
  static const std::vector<Case> c = {{{7, 5, 3}, -1},   {{3, 5, 7}, 1},     {{4, 3, 5, 7}, 1},
                                      {{11, 13}, -1},    {{5, 9}, 0},        {{64, 33, 65}, -1},
                                      {{6, 65, 353}, 1}, {{3, 1, 1, 5}, -1}, {{9}, 0}};
  return c;
}

std::string describe(const Case& c, bool center, bool scale) {
  return nr::detail::str("shape ", c.shape, " axis ", c.axis, center ? " center" : "",
                         scale ? " scale" : "");
}

}  // namespace

TEST(BatchNormalizationOp, TrainingMatchesTheComposedOpsInFloat64) {
  for (const Case& c : cases()) {
    for (const bool center : {true, false}) {
      for (const bool scaled : {true, false}) {
        const std::string what = describe(c, center, scaled);
        // A mean far from zero against the spread, so that centering matters.
        const nr::Tensor x = f64(c.shape, 2, 5, 1);
        const std::int64_t channels = c.shape[c.shape.normalize_axis(c.axis, "test")];
        const nr::Tensor offset = center ? f64({channels}, -1, 1, 2) : nr::Tensor();
        const nr::Tensor scale = scaled ? f64({channels}, 0.5, 2, 3) : nr::Tensor();
        const nr::BatchNormalizationOutputs fused =
            nr::batch_normalization_training(x, c.axis, offset, scale, 1e-3);
        const Composed ref = composed_training(x, c.axis, offset, scale, 1e-3);
        EXPECT_TRUE(same_values(what + " y", fused.y, ref.y));
        EXPECT_TRUE(same_values(what + " batch mean", fused.batch_mean, ref.mean));
        EXPECT_TRUE(same_values(what + " batch variance", fused.batch_variance, ref.variance));

        const nr::Tensor w = f64(c.shape, -1, 1, 4);
        const std::vector<nr::Tensor> inputs{x, offset, scale};
        const auto fused_grads = weighted_gradients(
            [&] { return nr::batch_normalization_training(x, c.axis, offset, scale, 1e-3).y; },
            inputs, w);
        const auto ref_grads = weighted_gradients(
            [&] { return composed_training(x, c.axis, offset, scale, 1e-3).y; }, inputs, w);
        EXPECT_TRUE(same_values(what + " dx", fused_grads[0], ref_grads[0]));
        EXPECT_TRUE(same_values(what + " doffset", fused_grads[1], ref_grads[1]));
        EXPECT_TRUE(same_values(what + " dscale", fused_grads[2], ref_grads[2]));
      }
    }
  }
}

TEST(BatchNormalizationOp, InferenceMatchesTheComposedOpsInFloat64) {
  for (const Case& c : cases()) {
    for (const bool center : {true, false}) {
      for (const bool scaled : {true, false}) {
        const std::string what = describe(c, center, scaled);
        const nr::Tensor x = f64(c.shape, -3, 3, 5);
        const std::int64_t channels = c.shape[c.shape.normalize_axis(c.axis, "test")];
        const nr::Tensor mean = f64({channels}, -1, 1, 6);
        const nr::Tensor variance = f64({channels}, 0.2, 3, 7);
        const nr::Tensor offset = center ? f64({channels}, -1, 1, 8) : nr::Tensor();
        const nr::Tensor scale = scaled ? f64({channels}, 0.5, 2, 9) : nr::Tensor();
        auto fused = [&] {
          return nr::batch_normalization(x, mean, variance, c.axis, offset, scale, 1e-3);
        };
        auto ref = [&] {
          return composed_inference(x, mean, variance, c.axis, offset, scale, 1e-3);
        };
        EXPECT_TRUE(same_values(what + " y", fused(), ref()));
        const nr::Tensor w = f64(c.shape, -1, 1, 10);
        const std::vector<nr::Tensor> inputs{x, mean, variance, offset, scale};
        const auto fused_grads = weighted_gradients(fused, inputs, w);
        const auto ref_grads = weighted_gradients(ref, inputs, w);
        const char* names[] = {" dx", " dmean", " dvariance", " doffset", " dscale"};
        for (std::size_t i = 0; i < inputs.size(); ++i) {
          EXPECT_TRUE(same_values(what + names[i], fused_grads[i], ref_grads[i]));
        }
      }
    }
  }
}

TEST(BatchNormalizationOp, GradientsMatchNumericalInFloat64) {
  using nr::testing::check_gradients;
  for (const Case& c : {Case{{5, 4, 3}, -1}, Case{{3, 4, 5}, 1}}) {
    const nr::Tensor x = f64(c.shape, -2, 2, 11);
    const std::int64_t channels = c.shape[c.shape.normalize_axis(c.axis, "test")];
    const nr::Tensor offset = f64({channels}, -1, 1, 12);
    const nr::Tensor scale = f64({channels}, 0.5, 2, 13);
    EXPECT_TRUE(check_gradients(
        describe(c, true, true) + " training",
        [&](const std::vector<nr::Tensor>& in) {
          return nr::batch_normalization_training(in[0], c.axis, in[1], in[2], 1e-3).y;
        },
        {x, offset, scale}));
    EXPECT_TRUE(check_gradients(describe(c, false, false) + " training",
                                [&](const std::vector<nr::Tensor>& in) {
                                  return nr::batch_normalization_training(
                                             in[0], c.axis, nr::Tensor(), nr::Tensor(), 1e-3)
                                      .y;
                                },
                                {x}));
    EXPECT_TRUE(check_gradients(
        describe(c, true, true) + " inference",
        [&](const std::vector<nr::Tensor>& in) {
          return nr::batch_normalization(in[0], in[1], in[2], c.axis, in[3], in[4], 1e-3);
        },
        {x, f64({channels}, -1, 1, 14), f64({channels}, 0.2, 3, 15), offset, scale}));
    // The inference gradient is written in differentiable ops: second derivatives work, here
    // with statistics that depend on x too.
    const std::vector<int> others = reduction(x, c.axis).others;
    EXPECT_TRUE(nr::testing::check_second_derivative(
        describe(c, true, true) + " inference",
        [&](const std::vector<nr::Tensor>& in) {
          const nr::Tensor mean = nr::mean(in[0], nr::Axes(others));
          const nr::Tensor variance = nr::mean(in[0] * in[0], nr::Axes(others)) + 0.5;
          return nr::batch_normalization(in[0], mean, variance, c.axis, offset, scale, 1e-3);
        },
        f64(c.shape, 0.5, 2, 16)));
  }
}

TEST(BatchNormalizationOp, TrainingGradientHasNoSecondDerivative) {
  const nr::Tensor x = f64({6, 3}, -2, 2, 17);
  nr::GradientTape outer;
  outer.watch(x);
  nr::Tensor dx;
  {
    nr::GradientTape inner;
    inner.watch(x);
    const nr::Tensor y =
        nr::batch_normalization_training(x, -1, nr::Tensor(), nr::Tensor(), 1e-3).y;
    dx = inner.gradient(nr::sum(y * y * y), x);
  }
  NEURONA_EXPECT_THROW_MSG(outer.gradient(nr::sum(dx), x), nr::NotImplementedError,
                           "batch_normalization_training", "no second derivative");
}

TEST(BatchNormalizationOp, VarianceStaysAccurateForLargeMeans) {
  // float32 values near 1000 with a spread of 1e-2: a sum of squares in float32 would lose
  // every digit of the variance; Welford's update in float64 keeps them.
  const nr::Tensor x = nr::testing::random_tensor({4096, 3}, nr::float32, 1000, 1000.02, 18);
  const nr::BatchNormalizationOutputs out =
      nr::batch_normalization_training(x, -1, nr::Tensor(), nr::Tensor(), 0);
  const std::vector<double> v = x.to_vector<double>();
  for (std::size_t c = 0; c < 3; ++c) {
    double mean = 0, m2 = 0;
    for (std::size_t r = 0; r < 4096; ++r) mean += v[r * 3 + c] / 4096;
    for (std::size_t r = 0; r < 4096; ++r) m2 += (v[r * 3 + c] - mean) * (v[r * 3 + c] - mean);
    EXPECT_NEAR(out.batch_mean.to_vector<double>()[c], mean, 1e-4);
    EXPECT_NEAR(out.batch_variance.to_vector<double>()[c], m2 / 4096, 1e-6 * m2 / 4096) << c;
  }
}

TEST(BatchNormalizationOp, HalfInputsAreNormalizedInFloat32AndRoundedOnce) {
  for (const nr::DType h : {nr::DType::bfloat16, nr::DType::float16}) {
    const nr::Tensor x =
        nr::cast(nr::testing::random_tensor({33, 4, 6}, nr::float32, -2, 3, 19), h);
    const nr::Tensor wide = nr::cast(x, nr::float32);
    const nr::Tensor offset = nr::testing::random_tensor({6}, nr::float32, -1, 1, 20);
    const nr::Tensor scale = nr::testing::random_tensor({6}, nr::float32, 0.5, 2, 21);
    const nr::Tensor dy =
        nr::cast(nr::testing::random_tensor({33, 4, 6}, nr::float32, -1, 1, 22), h);
    auto run = [&](const nr::Tensor& in, const nr::Tensor& g) {
      nr::GradientTape tape;
      tape.watch(in);
      tape.watch(offset);
      tape.watch(scale);
      const nr::BatchNormalizationOutputs out =
          nr::batch_normalization_training(in, -1, offset, scale, 1e-3);
      std::vector<nr::Tensor> r{out.y, out.batch_mean, out.batch_variance};
      for (const nr::Tensor& t : tape.gradient(out.y, std::vector<nr::Tensor>{in, offset, scale},
                                               {.output_gradients = g})) {
        r.push_back(t);
      }
      return r;
    };
    const auto half = run(x, dy);
    const auto ref = run(wide, nr::cast(dy, nr::float32));
    const char* names[] = {"y", "batch mean", "batch variance", "dx", "doffset", "dscale"};
    for (std::size_t i = 0; i < half.size(); ++i) {
      // y and dx: the float32 results rounded once into the 16-bit dtype; the rest float32.
      const bool rounded = i == 0 || i == 3;
      EXPECT_EQ(half[i].dtype(), rounded ? h : nr::float32) << names[i];
      const nr::Tensor expected = rounded ? nr::cast(ref[i], h) : ref[i];
      EXPECT_TRUE(all_close(half[i], expected.to_vector<double>(), 0, 0))
          << nr::name(h) << " " << names[i];
    }
    const nr::Tensor inferred = nr::batch_normalization(x, offset, scale + 0.5, 2, offset, scale);
    EXPECT_EQ(inferred.dtype(), h);
    EXPECT_TRUE(
        all_close(inferred,
                  nr::cast(nr::batch_normalization(wide, offset, scale + 0.5, 2, offset, scale), h)
                      .to_vector<double>(),
                  0, 0));
  }
}

TEST(BatchNormalizationOp, ErrorsNameTheOpTheArgumentAndTheShapes) {
  const nr::Tensor x = nr::testing::random_tensor({4, 5, 3});
  const nr::Tensor c3 = nr::ones({3}), c5 = nr::ones({5});
  NEURONA_EXPECT_THROW_MSG(nr::batch_normalization_training(x, -1, c5, c3), nr::ShapeError,
                           "batch_norm_training", "argument offset", "(5,)", "(4, 5, 3)",
                           "3 channels on axis -1");
  NEURONA_EXPECT_THROW_MSG(nr::batch_normalization_training(x, 3, c3, c3), nr::ShapeError,
                           "batch_norm_training", "axis 3", "(4, 5, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::batch_normalization_training(x, -1, nr::cast(c3, nr::float64), c3),
                           nr::ValueError, "batch_norm_training", "argument offset", "float64",
                           "needs float32");
  NEURONA_EXPECT_THROW_MSG(nr::batch_normalization_training(nr::cast(x, nr::DType::bfloat16), -1,
                                                            c3, nr::cast(c3, nr::DType::bfloat16)),
                           nr::ValueError, "argument scale", "bfloat16", "needs float32",
                           "16-bit inputs are normalized in float32");
  NEURONA_EXPECT_THROW_MSG(nr::batch_normalization_training(nr::cast(x, nr::int32), -1, c3, c3),
                           nr::ValueError, "batch_norm_training", "argument x", "int32");
  NEURONA_EXPECT_THROW_MSG(nr::batch_normalization_training(x, -1, c3, c3, -1.0), nr::ValueError,
                           "batch_norm_training", "epsilon");
  NEURONA_EXPECT_THROW_MSG(nr::batch_normalization(x, c5, c3, 1), nr::ShapeError,
                           "batch_norm_inference", "argument variance", "(3,)",
                           "5 channels on axis 1");
  NEURONA_EXPECT_THROW_MSG(nr::batch_normalization(x, nr::Tensor(), c3, -1), nr::ValueError,
                           "batch_norm_inference", "argument mean", "undefined");
  NEURONA_EXPECT_THROW_MSG(nr::kernels::batch_norm_backward(x, nr::ones({4, 5}), c3, c3, -1, c3),
                           nr::ShapeError, "batch_norm_backward", "argument grad", "(4, 5)",
                           "(4, 5, 3)");
}

TEST(BatchNormalizationOp, EmptyBatchGivesNanStatisticsAndNoValues) {
  const nr::Tensor x = nr::zeros({0, 3});
  nr::GradientTape tape;
  const nr::Tensor scale = nr::ones({3});
  tape.watch(scale);
  const nr::BatchNormalizationOutputs out =
      nr::batch_normalization_training(x, -1, nr::Tensor(), scale, 1e-3);
  EXPECT_EQ(out.y.shape(), (nr::Shape{0, 3}));
  for (double m : out.batch_mean.to_vector<double>()) EXPECT_TRUE(std::isnan(m));
  const nr::Tensor dscale = tape.gradient(nr::sum(out.y), scale);
  EXPECT_TRUE(all_close(dscale, {0, 0, 0}, 0, 0));
}

// A model with BatchNormalization trained with its steps captured (the CPU's emulation of
// graph capture: each replay reruns the recorded kernels and copies only) trains exactly as
// eagerly: the batch statistics and the moving averages' update come from the device work,
// not from host code a replay skips.
TEST(BatchNormalizationOp, CapturedStepsTrainAsEagerOnes) {
  nr::testing::expect_captured_fit_matches_eager([] {
    nr::set_seed(3);
    const nr::Tensor x = nr::random_uniform({96, 6, 6, 2}, {.seed = 4});
    const nr::Tensor y = nr::cast(nr::random_uniform({96}, {.maxval = 3, .seed = 5}), nr::int32);
    nr::Sequential model({nr::layers::Input({6, 6, 2}), nr::layers::Conv2D(4, 3),
                          nr::layers::BatchNormalization({.momentum = 0.9}),
                          nr::layers::Activation("relu"), nr::layers::Flatten(),
                          nr::layers::BatchNormalization({.center = false}),
                          nr::layers::Dense(3, {.activation = "softmax"})});
    model.compile(
        {.optimizer = nr::optimizers::Adam(1e-2), .loss = "sparse_categorical_crossentropy"});
    const auto history = model.fit(x, y, {.batch_size = 16, .epochs = 2, .verbose = 0});
    return std::pair{history.history.at("loss"), model.get_weights()};
  });
}
