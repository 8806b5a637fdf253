// BatchNormalization: weights in Keras's order, training with batch statistics (biased
// variance) and the moving-statistics update, inference with the moving statistics, frozen
// layers, other axes, errors, and numerical gradient checks in both modes.
#include <neurona/neurona.h>

#include "layers/layer_gradcheck.h"

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
