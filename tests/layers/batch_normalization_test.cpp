// BatchNormalization: weights in Keras's order, training with batch statistics (biased
// variance) and the moving-statistics update, inference with the moving statistics, frozen
// layers, other axes, errors, and numerical gradient checks in both modes; masked statistics;
// synchronized statistics across replicas (threads standing in for DataParallel's processes);
// batch renormalization (renorm: Keras's own numbers are in keras_reference_test.cpp) by its
// definition, its config and a `.keras` file Keras trained and saved.
#include <neurona/neurona.h>

#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "neurona/core/replica_context.h"

#include "layers/layer_gradcheck.h"
#include "support/captured_fit.h"
#include "support/reference_file.h"
#include "support/saving_round_trip.h"

namespace nr = neurona;
using nr::testing::all_close;

namespace {
nr::Tensor f64(const nr::Shape& s, std::uint32_t seed) {
  return nr::testing::random_tensor(s, nr::float64, -1, 2, seed);
}
// Per-feature mean and biased variance of a (rows, features) float64 tensor, in loops.
void moments(const std::vector<double>& v, std::size_t rows, std::size_t features,
             std::vector<double>& mean, std::vector<double>& var) {
  mean.assign(features, 0.0);
  var.assign(features, 0.0);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t f = 0; f < features; ++f) mean[f] += v[r * features + f] / rows;
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t f = 0; f < features; ++f)
      var[f] += (v[r * features + f] - mean[f]) * (v[r * features + f] - mean[f]) / rows;
}
}  // namespace

TEST(BatchNormalization, WeightsInKerasOrder) {
  nr::clear_session();
  auto bn = nr::layers::BatchNormalization();
  bn->ensure_built({-1, 5, 3});
  const std::vector<nr::Variable> w = bn->weights();
  ASSERT_EQ(w.size(), 4u);
  const char* names[] = {"batch_normalization/gamma", "batch_normalization/beta",
                         "batch_normalization/moving_mean", "batch_normalization/moving_variance"};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(w[i].name(), names[i]);
    EXPECT_EQ(w[i].shape(), (nr::Shape{3}));
    EXPECT_EQ(w[i].trainable(), i < 2);
  }
  EXPECT_EQ(bn->trainable_weights().size(), 2u);
  EXPECT_EQ(bn->non_trainable_weights().size(), 2u);
  EXPECT_TRUE(all_close(bn->gamma().value(), {1, 1, 1}));
  EXPECT_TRUE(all_close(bn->moving_variance().value(), {1, 1, 1}));
  EXPECT_DOUBLE_EQ(bn->momentum(), 0.99);
  EXPECT_DOUBLE_EQ(bn->epsilon(), 1e-3);

  auto plain = nr::layers::BatchNormalization({.center = false, .scale = false});
  plain->ensure_built({4, 2});
  EXPECT_EQ(plain->weights().size(), 2u);
  NEURONA_EXPECT_THROW_MSG(plain->gamma(), nr::ValueError, "gamma (scale = false)");
  NEURONA_EXPECT_THROW_MSG(plain->beta(), nr::ValueError, "beta (center = false)");
}

TEST(BatchNormalization, TrainingNormalizesWithBatchStatisticsAndMovesTheAverages) {
  auto bn = nr::layers::BatchNormalization({.momentum = 0.9, .dtype = nr::float64});
  const nr::Tensor x = f64({6, 3}, 1);
  bn->ensure_built(x.shape());
  const std::vector<double> gamma{1.5, -0.5, 2}, beta{0.1, 0.2, -0.3};
  const std::vector<double> mm0{0.5, -1, 0}, mv0{2, 0.5, 1};
  bn->set_weights({nr::testing::make_tensor(gamma, {3}, nr::float64),
                   nr::testing::make_tensor(beta, {3}, nr::float64),
                   nr::testing::make_tensor(mm0, {3}, nr::float64),
                   nr::testing::make_tensor(mv0, {3}, nr::float64)});
  const std::vector<double> v = x.to_vector<double>();
  std::vector<double> mean, var;
  moments(v, 6, 3, mean, var);
  std::vector<double> expected(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::size_t f = i % 3;
    expected[i] = (v[i] - mean[f]) / std::sqrt(var[f] + 1e-3) * gamma[f] + beta[f];
  }
  EXPECT_TRUE(all_close(bn(x, /*training=*/true), expected, 1e-12));
  std::vector<double> mm(3), mv(3);
  for (std::size_t f = 0; f < 3; ++f) {
    mm[f] = mm0[f] * 0.9 + mean[f] * 0.1;
    mv[f] = mv0[f] * 0.9 + var[f] * 0.1;  // biased variance, as Keras
  }
  EXPECT_TRUE(all_close(bn->moving_mean().value(), mm, 1e-12));
  EXPECT_TRUE(all_close(bn->moving_variance().value(), mv, 1e-12));

  // Inference uses (and leaves alone) the moving statistics.
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::size_t f = i % 3;
    expected[i] = (v[i] - mm[f]) / std::sqrt(mv[f] + 1e-3) * gamma[f] + beta[f];
  }
  EXPECT_TRUE(all_close(bn(x), expected, 1e-12));
  EXPECT_TRUE(all_close(bn->moving_mean().value(), mm, 1e-12));
}

TEST(BatchNormalization, FrozenLayerRunsInInferenceModeEvenInTraining) {
  auto bn = nr::layers::BatchNormalization({.dtype = nr::float64});
  const nr::Tensor x = f64({4, 2}, 2);
  bn->ensure_built(x.shape());
  bn->set_trainable(false);
  const nr::Tensor y = bn(x, /*training=*/true);
  const double s = 1.0 / std::sqrt(1.0 + 1e-3);
  std::vector<double> expected = x.to_vector<double>();
  for (double& e : expected) e *= s;
  EXPECT_TRUE(all_close(y, expected, 1e-12));
  EXPECT_TRUE(all_close(bn->moving_mean().value(), {0, 0}));
}

TEST(BatchNormalization, AxisOneNormalizesChannelsFirstImages) {
  auto bn = nr::layers::BatchNormalization({.axis = 1, .dtype = nr::float64});
  const nr::Tensor x = f64({2, 3, 2, 2}, 3);
  auto last = nr::layers::BatchNormalization({.dtype = nr::float64});
  const nr::Tensor y = bn(x, true);
  EXPECT_EQ(bn->axis(), 1);
  EXPECT_EQ(bn->gamma().shape(), (nr::Shape{3}));
  const nr::Tensor y_last = last(nr::transpose(x, {0, 2, 3, 1}), true);
  EXPECT_TRUE(all_close(nr::transpose(y, {0, 2, 3, 1}), y_last.to_vector<double>(), 1e-12));
  EXPECT_TRUE(all_close(bn->moving_variance().value(),
                        last->moving_variance().value().to_vector<double>(), 1e-12));
}

TEST(BatchNormalization, ErrorsNameLayerAndShapes) {
  nr::clear_session();
  auto bn = nr::layers::BatchNormalization({.axis = 3});
  NEURONA_EXPECT_THROW_MSG(bn(nr::testing::random_tensor({2, 3})), nr::ValueError,
                           "BatchNormalization 'batch_normalization'", "invalid axis 3", "(2, 3)");
  auto built = nr::layers::BatchNormalization();
  built(nr::testing::random_tensor({2, 3}));
  NEURONA_EXPECT_THROW_MSG(built(nr::testing::random_tensor({2, 4})), nr::ShapeError,
                           "BatchNormalization", "3 features on axis -1", "(2, 4)");
  NEURONA_EXPECT_THROW_MSG(built(nr::testing::random_tensor({2, 5, 3})), nr::ShapeError, "rank 2",
                           "(2, 5, 3)");
}

TEST(BatchNormalization, GradientsMatchNumericalInFloat64) {
  for (bool training : {true, false}) {
    for (int axis : {-1, 1}) {
      auto bn = nr::layers::BatchNormalization(
          {.axis = axis, .gamma_initializer = "random_normal", .dtype = nr::float64});
      bn->ensure_built({3, 4, 2});
      std::vector<nr::Tensor> w = bn->get_weights();
      w[1] = f64(w[1].shape(), 10);
      w[2] = f64(w[2].shape(), 11);
      w[3] = nr::testing::random_tensor(w[3].shape(), nr::float64, 0.5, 2, 12);
      bn->set_weights(w);
      EXPECT_TRUE(nr::testing::check_layer_gradients(
          std::string(training ? "training" : "inference") + " axis " + std::to_string(axis), bn,
          f64({3, 4, 2}, 13), training));
    }
  }
  auto plain =
      nr::layers::BatchNormalization({.center = false, .scale = false, .dtype = nr::float64});
  EXPECT_TRUE(
      nr::testing::check_layer_gradients("no gamma, no beta", plain, f64({5, 3}, 14), true));
}

TEST(BatchNormalization, MaskedTrainingStatisticsCountTheKeptEntries) {
  // (2, 3, 2) with a (2, 3) mask keeping 4 of the 6 steps: Keras's _moments (sums over the kept
  // entries over their count + 1e-7); every step is normalized, kept or not.
  auto bn = nr::layers::BatchNormalization({.momentum = 0.5, .dtype = nr::float64});
  const nr::Tensor x = f64({2, 3, 2}, 21);
  const std::vector<std::uint8_t> keep{1, 1, 0, 1, 0, 1};
  const nr::Tensor mask = nr::constant(keep, {2, 3}, nr::Device::cpu());
  const nr::Tensor y = bn(x, mask, /*training=*/true);
  const std::vector<double> v = x.to_vector<double>();
  std::vector<double> mean(2, 0.0), var(2, 0.0), expected(v.size());
  for (std::size_t f = 0; f < 2; ++f) {
    double n = 0;
    for (std::size_t s = 0; s < 6; ++s) {
      if (keep[s]) mean[f] += v[s * 2 + f], ++n;
    }
    mean[f] /= n + 1e-7;
    for (std::size_t s = 0; s < 6; ++s) {
      if (keep[s]) var[f] += (v[s * 2 + f] - mean[f]) * (v[s * 2 + f] - mean[f]);
    }
    var[f] /= n + 1e-7;
    for (std::size_t s = 0; s < 6; ++s) {
      expected[s * 2 + f] = (v[s * 2 + f] - mean[f]) / std::sqrt(var[f] + 1e-3);
    }
  }
  EXPECT_TRUE(all_close(y, expected, 1e-12));
  EXPECT_TRUE(all_close(bn->moving_mean().value(), {mean[0] * 0.5, mean[1] * 0.5}, 1e-12));
  EXPECT_TRUE(
      all_close(bn->moving_variance().value(), {0.5 + var[0] * 0.5, 0.5 + var[1] * 0.5}, 1e-12));
  // A mask of ones is no mask (up to Keras's 1e-7 in the count); inference ignores the mask.
  auto plain = nr::layers::BatchNormalization({.dtype = nr::float64});
  auto ones = nr::layers::BatchNormalization({.dtype = nr::float64});
  const nr::Tensor all = nr::ones({2, 3}, {.dtype = nr::uint8});
  EXPECT_TRUE(all_close(ones(x, all, true), plain(x, true).to_vector<double>(), 1e-7));
  EXPECT_TRUE(all_close(bn(x, mask), bn(x).to_vector<double>(), 0));
  // The gradients flow through the masked statistics.
  EXPECT_TRUE(nr::testing::detail::check_layer_gradients(
      "masked", bn, {x}, [&](const std::vector<nr::Tensor>& in) { return bn(in[0], mask, true); }));
  // Keras's rule: the mask has one dimension less than the inputs.
  NEURONA_EXPECT_THROW_MSG(bn(x, nr::ones({2, 3, 2}, {.dtype = nr::uint8}), true), nr::ValueError,
                           "one dimension less than the inputs", "mask.shape=(2, 3, 2)",
                           "inputs.shape=(2, 3, 2)");
}

TEST(BatchNormalization, RenormAddsItsWeightsInKerasOrder) {
  nr::clear_session();
  auto bn = nr::layers::BatchNormalization(
      {.moving_variance_initializer = nr::initializers::Constant(4.0), .renorm = true});
  bn->ensure_built({2, 3});
  const std::vector<nr::Variable> w = bn->weights();
  ASSERT_EQ(w.size(), 7u);
  const char* names[] = {"gamma",         "beta",        "moving_mean",  "moving_variance",
                         "moving_stddev", "renorm_mean", "renorm_stddev"};
  for (std::size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(w[i].name(), std::string("batch_normalization/") + names[i]);
    EXPECT_EQ(w[i].trainable(), i < 2);
  }
  // The stddevs start at the square root of the moving variance's start.
  EXPECT_TRUE(all_close(bn->moving_stddev().value(), {2, 2, 2}));
  EXPECT_TRUE(all_close(bn->renorm_stddev().value(), {2, 2, 2}));
  EXPECT_TRUE(all_close(bn->renorm_mean().value(), {0, 0, 0}));
  auto plain = nr::layers::BatchNormalization();
  plain->ensure_built({2, 3});
  NEURONA_EXPECT_THROW_MSG(plain->moving_stddev(), nr::ValueError,
                           "moving_stddev (renorm = false)");
}

// With r pinned to 1 and d to 0 by the clipping, batch renormalization is batch normalization:
// the same output; the statistics move as Keras's renorm moves them (the inference ones as a
// mean and a stddev, the moving variance the stddev squared less epsilon).
TEST(BatchNormalization, RenormWithROneAndDZeroIsBatchNormalization) {
  const nr::Tensor x = f64({6, 3}, 21);
  const nr::layers::BatchNormalizationOptions options{.momentum = 0.9, .dtype = nr::float64};
  nr::layers::BatchNormalizationOptions renorm_options = options;
  renorm_options.renorm = true;
  renorm_options.renorm_clipping = {.rmax = 1.0, .rmin = 1.0, .dmax = 0.0};
  renorm_options.renorm_momentum = 0.5;
  auto plain = nr::layers::BatchNormalization(options);
  auto renorm = nr::layers::BatchNormalization(renorm_options);
  plain->ensure_built(x.shape());
  renorm->ensure_built(x.shape());
  const nr::Tensor gamma = f64({3}, 22), beta = f64({3}, 23);
  const nr::Tensor renorm_mean = f64({3}, 24);
  const nr::Tensor renorm_stddev = nr::testing::random_tensor({3}, nr::float64, 0.5, 2, 25);
  plain->set_weights(
      {gamma, beta, nr::zeros({3}, {.dtype = nr::float64}), nr::ones({3}, {.dtype = nr::float64})});
  renorm->set_weights({gamma, beta, nr::zeros({3}, {.dtype = nr::float64}),
                       nr::ones({3}, {.dtype = nr::float64}), nr::ones({3}, {.dtype = nr::float64}),
                       renorm_mean, renorm_stddev});
  EXPECT_TRUE(all_close(renorm(x, /*training=*/true),
                        plain(x, /*training=*/true).to_vector<double>(), 1e-12));
  EXPECT_TRUE(all_close(renorm->moving_mean().value(),
                        plain->moving_mean().value().to_vector<double>(), 1e-12));
  std::vector<double> mean, var;
  moments(x.to_vector<double>(), 6, 3, mean, var);
  const std::vector<double> rm = renorm_mean.to_vector<double>();
  const std::vector<double> rs = renorm_stddev.to_vector<double>();
  std::vector<double> moving_stddev(3), moving_variance(3), new_rm(3), new_rs(3);
  for (std::size_t f = 0; f < 3; ++f) {
    const double stddev = std::sqrt(var[f] + 1e-3);
    moving_stddev[f] = 1.0 * 0.9 + stddev * 0.1;
    moving_variance[f] = std::max(moving_stddev[f] * moving_stddev[f] - 1e-3, 0.0);
    new_rm[f] = rm[f] * 0.5 + mean[f] * 0.5;
    new_rs[f] = rs[f] * 0.5 + stddev * 0.5;
  }
  EXPECT_TRUE(all_close(renorm->moving_stddev().value(), moving_stddev, 1e-12));
  EXPECT_TRUE(all_close(renorm->moving_variance().value(), moving_variance, 1e-12));
  EXPECT_TRUE(all_close(renorm->renorm_mean().value(), new_rm, 1e-12));
  EXPECT_TRUE(all_close(renorm->renorm_stddev().value(), new_rs, 1e-12));
}

// The same with a mask (the kept entries' statistics) and frozen (inference: the moving
// statistics, nothing moves), r and d pinned as above.
TEST(BatchNormalization, RenormWithAMaskOrFrozenIsBatchNormalizationToo) {
  const nr::Tensor x = f64({2, 3, 2}, 27);
  const nr::Tensor mask =
      nr::constant(std::vector<std::uint8_t>{1, 0, 1, 1, 1, 0}, {2, 3}, nr::Device::cpu());
  const nr::layers::BatchNormalizationOptions pinned{
      .renorm = true,
      .renorm_clipping = {.rmax = 1.0, .rmin = 1.0, .dmax = 0.0},
      .dtype = nr::float64};
  auto renorm = nr::layers::BatchNormalization(pinned);
  auto plain = nr::layers::BatchNormalization({.dtype = nr::float64});
  EXPECT_TRUE(all_close(renorm(x, mask, /*training=*/true),
                        plain(x, mask, /*training=*/true).to_vector<double>(), 1e-12));
  EXPECT_TRUE(all_close(renorm->moving_mean().value(),
                        plain->moving_mean().value().to_vector<double>(), 1e-12));
  renorm->set_trainable(false);
  const std::vector<double> stddev = renorm->moving_stddev().value().to_vector<double>();
  EXPECT_TRUE(all_close(renorm(x, /*training=*/true), renorm(x).to_vector<double>(), 0.0));
  EXPECT_EQ(renorm->moving_stddev().value().to_vector<double>(), stddev);
}

// A policy whose weights are 16-bit ("bfloat16", not a mixed one): the statistics are computed
// in float32 and the moving ones move in float32, rounded once into their weights (Keras casts
// them to the statistics' dtype); before, the plain layer's update refused bfloat16 x float32.
TEST(BatchNormalization, SixteenBitWeightsMoveTheirStatisticsInFloat32) {
  const nr::Tensor x = nr::testing::random_tensor({8, 3}, nr::float32, -1, 2, 28);
  for (const bool renorm : {false, true}) {
    SCOPED_TRACE(renorm ? "renorm" : "plain");
    auto half =
        nr::layers::BatchNormalization({.momentum = 0.5, .renorm = renorm, .dtype = "bfloat16"});
    auto wide = nr::layers::BatchNormalization({.momentum = 0.5, .renorm = renorm});
    const nr::Tensor y = half(nr::cast(x, nr::DType::bfloat16), /*training=*/true);
    EXPECT_EQ(y.dtype(), nr::DType::bfloat16);
    EXPECT_EQ(half->moving_mean().dtype(), nr::DType::bfloat16);
    const nr::Tensor y_wide = wide(nr::cast(nr::cast(x, nr::DType::bfloat16), nr::float32), true);
    EXPECT_TRUE(all_close(y, y_wide.to_vector<double>(), 2e-2, 2e-2));
    const std::vector<nr::Tensor> got = half->get_weights(), want = wide->get_weights();
    for (std::size_t i = 0; i < got.size(); ++i) {
      EXPECT_TRUE(all_close(got[i], want[i].to_vector<double>(), 1e-2, 1e-2)) << "weight " << i;
    }
  }
}

// A model with renorm BatchNormalization layers trained with its steps captured (the CPU's
// emulation of graph capture: a replay reruns the recorded kernels and copies only) trains
// exactly as eagerly: r, d and the five statistics come from device work, not host code.
TEST(BatchNormalization, RenormCapturedStepsTrainAsEagerOnes) {
  nr::testing::expect_captured_fit_matches_eager([] {
    nr::set_seed(3);
    const nr::Tensor x = nr::random_uniform({96, 6, 6, 2}, {.seed = 4});
    const nr::Tensor y = nr::cast(nr::random_uniform({96}, {.maxval = 3, .seed = 5}), nr::int32);
    nr::Sequential model(
        {nr::layers::Input({6, 6, 2}), nr::layers::Conv2D(4, 3),
         nr::layers::BatchNormalization(
             {.momentum = 0.9, .renorm = true, .renorm_clipping = {.rmax = 1.5, .dmax = 0.5}}),
         nr::layers::Activation("relu"), nr::layers::Flatten(),
         nr::layers::BatchNormalization({.scale = false, .renorm = true, .renorm_momentum = 0.5}),
         nr::layers::Dense(3, {.activation = "softmax"})});
    model.compile(
        {.optimizer = nr::optimizers::Adam(1e-2), .loss = "sparse_categorical_crossentropy"});
    const auto history = model.fit(x, y, {.batch_size = 16, .epochs = 2, .verbose = 0});
    return std::pair{history.history.at("loss"), model.get_weights()};
  });
}

// An infinite bound clips nothing (TensorFlow's default for a missing one): dropped, so that the
// config holds finite numbers; other non-finite bounds are refused.
TEST(BatchNormalization, RenormInfiniteBoundsClipNothing) {
  auto bn = nr::layers::BatchNormalization(
      {.renorm = true, .renorm_clipping = {.rmax = HUGE_VAL, .rmin = -HUGE_VAL, .dmax = 2.0}});
  const nr::ConfigValue clipping = bn->get_config().at("renorm_clipping");
  EXPECT_EQ(clipping.find("rmax"), nullptr);
  EXPECT_EQ(clipping.find("rmin"), nullptr);
  EXPECT_DOUBLE_EQ(clipping.at("dmax").as_double(), 2.0);
  NEURONA_EXPECT_THROW_MSG(
      nr::layers::BatchNormalization({.renorm = true, .renorm_clipping = {.rmin = HUGE_VAL}}),
      nr::ValueError, "renorm_clipping's rmin must be a finite number");
  NEURONA_EXPECT_THROW_MSG(
      nr::layers::BatchNormalization({.renorm = true, .renorm_clipping = {.dmax = std::nan("")}}),
      nr::ValueError, "renorm_clipping's dmax must be a finite number");
}

// r and d carry no gradient: pinned by the clipping (r = 1.5, d = 0), they are constants for
// the numerical differences too, and the gradients are those of the composed normalization.
TEST(BatchNormalization, RenormGradientsMatchNumericalInFloat64) {
  for (const bool scale : {true, false}) {
    auto bn =
        nr::layers::BatchNormalization({.scale = scale,
                                        .gamma_initializer = "random_normal",
                                        .renorm = true,
                                        .renorm_clipping = {.rmax = 1.5, .rmin = 1.5, .dmax = 0},
                                        .dtype = nr::float64});
    EXPECT_TRUE(nr::testing::check_layer_gradients(scale ? "renorm" : "renorm without gamma", bn,
                                                   f64({5, 3}, 26), /*training=*/true));
  }
}

TEST(BatchNormalization, RenormRoundTripsItsConfigAndRefusesBadClipping) {
  namespace L = nr::layers;
  auto bn = L::BatchNormalization(
      {.renorm = true, .renorm_clipping = {.rmax = 3.0, .dmax = 5.0}, .renorm_momentum = 0.9});
  const nr::ConfigValue config = bn->get_config();
  EXPECT_TRUE(config.at("renorm").as_bool());
  EXPECT_DOUBLE_EQ(config.at("renorm_clipping").at("rmax").as_double(), 3.0);
  EXPECT_EQ(config.at("renorm_clipping").find("rmin"), nullptr);
  EXPECT_DOUBLE_EQ(config.at("renorm_momentum").as_double(), 0.9);
  EXPECT_EQ(L::BatchNormalization::from_config(config)->get_config(), config);
  // Keras writes {} for no clipping with renorm, None without it.
  EXPECT_EQ(L::BatchNormalization({.renorm = true})->get_config().at("renorm_clipping"),
            nr::ConfigValue(nr::ConfigValue::Dict{}));
  EXPECT_TRUE(L::BatchNormalization()->get_config().at("renorm_clipping").is_null());

  NEURONA_EXPECT_THROW_MSG(
      L::BatchNormalization({.renorm = true, .renorm_clipping = {.rmax = 0.5, .rmin = 1.0}}),
      nr::ValueError, "BatchNormalization '", "rmax should be greater than rmin", "rmax=0.5");
  NEURONA_EXPECT_THROW_MSG(
      L::BatchNormalization({.renorm = true, .renorm_clipping = {.dmax = -1.0}}), nr::ValueError,
      "dmax should be non-negative", "dmax=-1");
  nr::ConfigValue bad = config;
  nr::ConfigValue clipping = nr::ConfigValue::Dict{};
  clipping.set("rmaxx", 2.0);
  bad.set("renorm_clipping", clipping);
  NEURONA_EXPECT_THROW_MSG(L::BatchNormalization::from_config(bad), nr::ValueError,
                           "Received invalid keys for `renorm_clipping` argument: 'rmaxx'",
                           "'rmax', 'rmin', 'dmax'");
}

// A Sequential with a renorm BatchNormalization that Keras 3 trained for an epoch and saved
// (tests/reference/make_keras_layer_references.py renorm): its seven weights load in order and
// the model predicts Keras's numbers; neurona's own save of it loads back.
TEST(BatchNormalization, RenormKerasFileLoadsAndPredictsKerasOutputs) {
  const auto ref = nr::testing::load_reference("layers", "renorm_model");
  const std::filesystem::path file = nr::testing::reference_dir() / "layers" / "renorm_model.keras";
  auto model = nr::models::load_model(file.string());
  auto* bn = dynamic_cast<nr::layers::BatchNormalizationLayer*>(model->get_layer("bn").get());
  ASSERT_NE(bn, nullptr);
  EXPECT_EQ(bn->weights().size(), 7u);
  // Keras moved the renorm statistics away from their start.
  EXPECT_FALSE(all_close(bn->renorm_stddev().value(), std::vector<double>(5, 1.0)));
  const auto& x = ref.at("x");
  const nr::Tensor input =
      nr::cast(nr::constant(x.values, x.shape, nr::Device::cpu()), nr::float32);
  const nr::Tensor y = model->predict(input);
  EXPECT_TRUE(all_close(y, ref.at("y").values, 1e-5, 1e-5));
  nr::testing::expect_save_and_load_round_trip(*model, file, {input}, {y}, "renorm_saving");
}

TEST(BatchNormalization, SynchronizedRoundTripsItsConfig) {
  auto bn = nr::layers::BatchNormalization({.synchronized = true});
  EXPECT_TRUE(bn->synchronized());
  const nr::ConfigValue config = bn->get_config();
  EXPECT_TRUE(config.at("synchronized").as_bool());
  EXPECT_TRUE(nr::layers::BatchNormalization::from_config(config)->synchronized());
  EXPECT_FALSE(nr::layers::BatchNormalization()->get_config().at("synchronized").as_bool());
}

namespace {
// An all-reduce among threads: each caller's tensors summed with the others' (in thread order,
// so that the sums are the same on every thread), every caller waiting for all.
class ThreadAllReduce {
 public:
  explicit ThreadAllReduce(int threads)
      : contributions_(static_cast<std::size_t>(threads)),
        calls_(static_cast<std::size_t>(threads)) {}
  /// How many times `thread` took part.
  int calls(int thread) const { return calls_[static_cast<std::size_t>(thread)]; }
  void sum(int thread, std::vector<nr::Tensor>& tensors) {
    std::unique_lock<std::mutex> lock(mutex_);
    ++calls_[static_cast<std::size_t>(thread)];
    const long generation = generation_;
    contributions_[static_cast<std::size_t>(thread)] = tensors;
    if (++arrived_ == static_cast<int>(contributions_.size())) {
      result_ = contributions_[0];
      for (std::size_t t = 1; t < contributions_.size(); ++t) {
        for (std::size_t i = 0; i < result_.size(); ++i) {
          result_[i] = nr::add(result_[i], contributions_[t][i]);
        }
      }
      arrived_ = 0;
      ++generation_;
      done_.notify_all();
    } else {
      done_.wait(lock, [&] { return generation_ != generation; });
    }
    for (std::size_t i = 0; i < tensors.size(); ++i) tensors[i] = result_[i].clone();
  }

 private:
  std::mutex mutex_;
  std::condition_variable done_;
  std::vector<std::vector<nr::Tensor>> contributions_;
  std::vector<nr::Tensor> result_;
  std::vector<int> calls_;
  int arrived_ = 0;
  long generation_ = 0;
};

struct ReplicaResult {
  nr::Tensor y, dx, dgamma, dbeta, moving_mean, moving_variance;
};

// One replica's training step on its rows of a global batch, as DataParallel runs it: the
// loss is the mean over its rows of sum(c * y^2) (c: per-element weights), its gradients of
// that. `synchronized`: the layer's option.
ReplicaResult replica_step(const nr::Tensor& x, const nr::Tensor& c, double share,
                           bool synchronized, int replicas, int thread, ThreadAllReduce& reduce,
                           const nr::Tensor& mask = {}) {
  const nr::detail::ScopedReplicaContext context(
      {.num_replicas = replicas,
       .rank = thread,
       .share = share,
       .all_reduce_sum = [&](std::vector<nr::Tensor>& t) { reduce.sum(thread, t); },
       .shard = {}});
  auto bn = nr::layers::BatchNormalization(
      {.momentum = 0.5, .synchronized = synchronized, .dtype = nr::float64});
  bn->ensure_built(x.shape());
  bn->set_weights({nr::testing::make_tensor({1.5, -0.5, 2}, {3}, nr::float64),
                   nr::testing::make_tensor({0.1, 0.2, -0.3}, {3}, nr::float64),
                   nr::zeros({3}, {.dtype = nr::float64}), nr::ones({3}, {.dtype = nr::float64})});
  nr::GradientTape tape;
  tape.watch(x);
  const nr::Tensor y = bn(x, mask, /*training=*/true);
  const nr::Tensor loss = nr::sum(c * nr::square(y)) / static_cast<double>(x.shape()[0]);
  const std::vector<nr::Tensor> g =
      tape.gradient(loss, {x, bn->gamma().value(), bn->beta().value()});
  return {y, g[0], g[1], g[2], bn->moving_mean().value(), bn->moving_variance().value()};
}

// A global batch of 6 rows as fit splits it over three replicas: 4 and 2 rows, and a third
// with no rows that runs on a stand-in row (the batch's first) with a share of 0, as fit does
// with a short last batch.
constexpr std::int64_t kBegin[] = {0, 4, 0}, kEnd[] = {4, 6, 1};
constexpr double kShare[] = {4.0 / 6, 2.0 / 6, 0.0};

// replica_step on each replica's rows, the three on threads.
std::vector<ReplicaResult> run_replicas(const nr::Tensor& x, const nr::Tensor& c, bool synchronized,
                                        ThreadAllReduce& reduce, const nr::Tensor& mask = {}) {
  std::vector<ReplicaResult> parts(3);
  std::vector<std::thread> threads;
  for (int r = 0; r < 3; ++r) {
    threads.emplace_back([&, r] {
      parts[r] = replica_step(x.slice(kBegin[r], kEnd[r]), c.slice(kBegin[r], kEnd[r]), kShare[r],
                              synchronized, 3, r, reduce,
                              mask.defined() ? mask.slice(kBegin[r], kEnd[r]) : nr::Tensor());
    });
  }
  for (std::thread& t : threads) t.join();
  return parts;
}

// The replicas' step is one process's on the whole batch: the values of their rows, their
// gradients (each of its own rows' mean loss: times its share, one process's), the weights'
// gradients summed as GradientReducer sums them (the stand-in's times 0), and every replica's
// moving statistics, the stand-in's too.
void expect_one_process(const std::vector<ReplicaResult>& parts, const ReplicaResult& one) {
  nr::Tensor dgamma = nr::zeros({3}, {.dtype = nr::float64}), dbeta = dgamma;
  for (int r = 0; r < 2; ++r) {
    SCOPED_TRACE("replica " + std::to_string(r));
    EXPECT_TRUE(all_close(parts[r].y, one.y.slice(kBegin[r], kEnd[r]).to_vector<double>(), 1e-12));
    EXPECT_TRUE(all_close(parts[r].dx * kShare[r],
                          one.dx.slice(kBegin[r], kEnd[r]).to_vector<double>(), 1e-12));
    dgamma = dgamma + parts[r].dgamma * kShare[r];
    dbeta = dbeta + parts[r].dbeta * kShare[r];
  }
  EXPECT_TRUE(all_close(dgamma, one.dgamma.to_vector<double>(), 1e-12));
  EXPECT_TRUE(all_close(dbeta, one.dbeta.to_vector<double>(), 1e-12));
  for (int r = 0; r < 3; ++r) {
    EXPECT_TRUE(all_close(parts[r].moving_mean, one.moving_mean.to_vector<double>(), 1e-12));
    EXPECT_TRUE(
        all_close(parts[r].moving_variance, one.moving_variance.to_vector<double>(), 1e-12));
  }
}
}  // namespace

// An empty batch in training has no statistics: it is normalized with the moving ones and
// leaves them as they were (its mean would be NaN, and the moving statistics NaN for good).
TEST(BatchNormalization, AnEmptyTrainingBatchMovesNoStatistics) {
  auto bn = nr::layers::BatchNormalization();
  const nr::Tensor x = nr::testing::random_tensor({4, 3}, nr::float32, -1, 1, 71);
  (void)bn(x, true);
  const std::vector<double> mean = bn->moving_mean().value().to_vector<double>();
  const std::vector<double> variance = bn->moving_variance().value().to_vector<double>();
  const nr::Tensor y = bn(nr::zeros({0, 3}), true);
  EXPECT_EQ(y.shape(), nr::Shape({0, 3}));
  EXPECT_EQ(bn->moving_mean().value().to_vector<double>(), mean);
  EXPECT_EQ(bn->moving_variance().value().to_vector<double>(), variance);
}

TEST(BatchNormalization, SynchronizedReplicasNormalizeWithTheGlobalBatch) {
  const nr::Tensor x = f64({6, 3}, 31);
  const nr::Tensor c = nr::testing::random_tensor({6, 3}, nr::float64, 0.5, 1.5, 32);
  ThreadAllReduce alone(1);
  const ReplicaResult one = replica_step(x, c, 1.0, true, 1, 0, alone);
  ThreadAllReduce reduce(3);
  std::vector<ReplicaResult> parts = run_replicas(x, c, true, reduce);
  expect_one_process(parts, one);
  // One collective forward (the replicas' counts, means and deviations gathered at once) and
  // one backward, as PyTorch's SyncBatchNorm.
  for (int r = 0; r < 3; ++r) EXPECT_EQ(reduce.calls(r), 2) << "replica " << r;

  // Unsynchronized, each replica normalizes with its own rows' statistics, and a stand-in's
  // statistics (of a row not its own) leave its moving ones alone.
  ThreadAllReduce unused(3);
  parts = run_replicas(x, c, false, unused);
  ThreadAllReduce alone_again(1);
  const ReplicaResult first =
      replica_step(x.slice(0, 4), c.slice(0, 4), 1.0, false, 1, 0, alone_again);
  EXPECT_TRUE(all_close(parts[0].y, first.y.to_vector<double>(), 1e-12));
  EXPECT_FALSE(all_close(parts[0].y, one.y.slice(0, 4).to_vector<double>(), 1e-3));
  EXPECT_TRUE(all_close(parts[2].moving_mean, {0, 0, 0}, 0));
  EXPECT_TRUE(all_close(parts[2].moving_variance, {1, 1, 1}, 0));
  EXPECT_EQ(unused.calls(0), 0);
}

TEST(BatchNormalization, SynchronizedReplicasWithAMaskUseTheGlobalBatchsKeptRows) {
  // Keras's masked statistics (over the kept rows, the count plus 1e-7), the second replica's
  // rows all masked out.
  const nr::Tensor x = f64({6, 3}, 41);
  const nr::Tensor c = nr::testing::random_tensor({6, 3}, nr::float64, 0.5, 1.5, 42);
  const nr::Tensor mask = nr::testing::make_tensor({1, 0, 1, 1, 0, 0}, {6}, nr::uint8);
  ThreadAllReduce alone(1);
  const ReplicaResult one = replica_step(x, c, 1.0, true, 1, 0, alone, mask);
  ThreadAllReduce reduce(3);
  expect_one_process(run_replicas(x, c, true, reduce, mask), one);
}
