// RMSNormalization and UnitNormalization (keras.layers, Keras 3.9+) and the ops under them,
// nr::rms_normalization and nr::normalize (keras.ops): values by hand, float64 gradients and
// second derivatives, 16-bit inputs computed in float32, axes other than the trailing ones,
// configs, errors, a `.keras` file that Keras 3 saved (tests/reference/layers/
// normalization_model.keras, from make_keras_layer_references.py) and neurona's save of it.
// Keras's own outputs and gradients per layer: keras_reference_test.cpp.
#include <neurona/neurona.h>

#include <cmath>
#include <filesystem>

#include "layers/layer_gradcheck.h"
#include "support/gradcheck.h"
#include "support/reference_file.h"
#include "support/saving_round_trip.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;

namespace {

nr::Tensor f64(std::vector<double> values, nr::Shape shape) {
  return nr::constant(values, std::move(shape), nr::Device::cpu());
}

}  // namespace

// ---- the ops -----------------------------------------------------------------------------

TEST(RMSNormalizationOp, DividesByTheRootMeanSquareAndScales) {
  // Row (3, 4): mean square 12.5; row (0, 0): stays 0 (epsilon keeps it finite).
  const nr::Tensor x = f64({3, 4, 0, 0}, {2, 2});
  const nr::Tensor y = nr::rms_normalization(x, f64({1, 2}, {2}), -1, 0.0 + 1e-12);
  const double r = 1 / std::sqrt(12.5 + 1e-12);
  EXPECT_TRUE(nr::testing::all_close(y, {3 * r, 8 * r, 0, 0}, 1e-12, 1e-12));
  // Over every axis (Axes()): one mean square, (9 + 16) / 4.
  const nr::Tensor all = nr::rms_normalization(x, {}, nr::Axes(), 0.0);
  const double q = 1 / std::sqrt(25.0 / 4);
  EXPECT_TRUE(nr::testing::all_close(all, {3 * q, 4 * q, 0, 0}, 1e-12, 1e-12));
}

TEST(RMSNormalizationOp, GradientsMatchNumericalOnBothPaths) {
  const nr::Tensor x = nr::testing::random_tensor({2, 3, 4}, nr::float64, -1, 1, 3);
  // Trailing axes, a scale of their shape (with or without leading ones): the fused kernels.
  for (const nr::Shape& scale_shape : {nr::Shape({3, 4}), nr::Shape({1, 3, 4})}) {
    EXPECT_TRUE(nr::testing::check_gradients(
        "rms_normalization fused",
        [](const std::vector<nr::Tensor>& in) {
          return nr::rms_normalization(in[0], in[1], {2, 1}, 1e-3);
        },
        {x, nr::testing::random_tensor(scale_shape, nr::float64, 0.5, 1.5, 4)}));
  }
  // A middle axis, and a scale that broadcasts along a normalized axis: the composed ops.
  EXPECT_TRUE(nr::testing::check_gradients(
      "rms_normalization composed",
      [](const std::vector<nr::Tensor>& in) {
        return nr::rms_normalization(in[0], in[1], 1, 1e-3);
      },
      {x, nr::testing::random_tensor({3, 1}, nr::float64, 0.5, 1.5, 5)}));
  EXPECT_TRUE(
      nr::testing::check_gradients("rms_normalization broadcast scale",
                                   [](const std::vector<nr::Tensor>& in) {
                                     return nr::rms_normalization(in[0], in[1], {1, 2}, 1e-3);
                                   },
                                   {x, nr::testing::random_tensor({4}, nr::float64, 0.5, 1.5, 6)}));
  // Second derivatives through the composed ops.
  const nr::Tensor scale = nr::testing::random_tensor({3, 1}, nr::float64, 0.5, 1.5, 7);
  EXPECT_TRUE(nr::testing::check_second_derivative(
      "rms_normalization",
      [&](const std::vector<nr::Tensor>& in) {
        return nr::rms_normalization(in[0], scale, {0, 1}, 1e-3);
      },
      x));
}

TEST(RMSNormalizationOp, FusedKernelsMatchTheComposedOps) {
  // The same normalization over trailing axes (fused) and over leading ones (composed), x
  // transposed between them.
  const nr::Tensor x = nr::testing::random_tensor({5, 3, 8}, nr::float64, -2, 3, 8);
  const nr::Tensor scale = nr::testing::random_tensor({3, 8}, nr::float64, 0.5, 1.5, 9);
  const nr::Tensor fused = nr::rms_normalization(x, scale, {1, 2}, 1e-5);
  const nr::Tensor composed =
      nr::transpose(nr::rms_normalization(nr::transpose(x, {1, 2, 0}),
                                          nr::reshape(scale, {3, 8, 1}), {0, 1}, 1e-5),
                    {2, 0, 1});
  EXPECT_TRUE(nr::testing::all_close(fused, composed.to_vector<double>(), 1e-12, 1e-12));
  // Their gradients too.
  const nr::Tensor w = nr::testing::random_tensor(x.shape(), nr::float64, -1, 1, 10);
  auto grads = [&](bool use_fused) {
    nr::GradientTape tape;
    tape.watch(x);
    tape.watch(scale);
    const nr::Tensor y =
        use_fused
            ? nr::rms_normalization(x, scale, {1, 2}, 1e-5)
            : nr::transpose(nr::rms_normalization(nr::transpose(x, {1, 2, 0}),
                                                  nr::reshape(scale, {3, 8, 1}), {0, 1}, 1e-5),
                            {2, 0, 1});
    return tape.gradient(nr::sum(y * w), std::vector<nr::Tensor>{x, scale});
  };
  const auto a = grads(true);
  const auto b = grads(false);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(nr::testing::all_close(a[i], b[i].to_vector<double>(), 1e-12, 1e-10)) << i;
  }
}

TEST(RMSNormalizationOp, HalfInputsAreComputedInFloat32AndRoundedOnce) {
  const nr::Tensor x32 = nr::testing::random_tensor({4, 8}, nr::float32, -3, 3, 5);
  for (nr::DType half : {nr::DType::bfloat16, nr::DType::float16}) {
    const nr::Tensor x = nr::cast(x32, half);
    const nr::Tensor y = nr::rms_normalization(x, {}, -1, 1e-6);
    EXPECT_EQ(y.dtype(), half);
    // The float32 result of the same (rounded) inputs, rounded once.
    const nr::Tensor expected = nr::cast(nr::rms_normalization(nr::cast(x, nr::float32)), half);
    EXPECT_TRUE(nr::testing::all_close(y, expected.to_vector<double>(), 0, 0));
  }
}

TEST(NormalizeOp, Order2ScalesEachRowToUnitLength) {
  const nr::Tensor y = nr::normalize(f64({3, 4, 1, 0}, {2, 2}));
  EXPECT_TRUE(nr::testing::all_close(y, {0.6, 0.8, 1, 0}, 1e-12, 1e-12));
  // Integer inputs give float32; a scalar is a vector of one, as Keras.
  const nr::Tensor ints = nr::normalize(nr::constant(std::vector<std::int32_t>{3, 4}, {2}));
  EXPECT_EQ(ints.dtype(), nr::float32);
  EXPECT_TRUE(nr::testing::all_close(ints, {0.6, 0.8}, 1e-7, 1e-7));
  const nr::Tensor scalar = nr::normalize(f64({-2}, nr::Shape({})));
  EXPECT_EQ(scalar.shape(), nr::Shape({1}));
  EXPECT_TRUE(nr::testing::all_close(scalar, {-1}, 1e-12, 1e-12));
}

TEST(NormalizeOp, OtherOrdersDivideByThatNormOverOneAxis) {
  const nr::Tensor x = f64({1, -2, 2, 0, 3, 0}, {2, 3});
  // L1 over the rows: 5 and 3.
  EXPECT_TRUE(
      nr::testing::all_close(nr::normalize(x, -1, 1), {0.2, -0.4, 0.4, 0, 1, 0}, 1e-12, 1e-12));
  // L3 over the columns: (1, 27^(1/3)=3), (8^(1/3)=2), (8^(1/3)=2).
  const double c0 = std::cbrt(1.0 + 0.0);
  const double c1 = std::cbrt(8.0 + 27.0);
  const double c2 = std::cbrt(8.0);
  EXPECT_TRUE(nr::testing::all_close(
      nr::normalize(x, 0, 3), {1 / c0, -2 / c1, 2 / c2, 0 / c0, 3 / c1, 0 / c2}, 1e-12, 1e-12));
  // The norm held at epsilon: a row of zeros stays zeros.
  EXPECT_TRUE(nr::testing::all_close(nr::normalize(f64({0, 0}, {1, 2}), -1, 1, 0.5), {0, 0}));
  EXPECT_TRUE(nr::testing::check_gradients(
      "normalize order 3",
      [](const std::vector<nr::Tensor>& in) { return nr::normalize(in[0], 1, 3); },
      {nr::testing::random_tensor({2, 3}, nr::float64, 0.5, 2, 7)}));
}

TEST(NormalizeOp, Order2GradientsAreFiniteAtAZeroVector) {
  const nr::Tensor x = nr::testing::random_tensor({3, 4}, nr::float64, -1, 1, 8);
  EXPECT_TRUE(nr::testing::check_gradients("normalize",
                                           [](const std::vector<nr::Tensor>& in) {
                                             return nr::normalize(in[0], {0, 1});
                                           },
                                           {x}));
  EXPECT_TRUE(nr::testing::check_second_derivative(
      "normalize", [](const std::vector<nr::Tensor>& in) { return nr::normalize(in[0]); }, x));
  // Keras's min(rsqrt(s), 1 / epsilon) gives NaN here; the clamped norm gives g / epsilon.
  const nr::Tensor zero = f64({0, 0}, {1, 2});
  nr::GradientTape tape;
  tape.watch(zero);
  const nr::Tensor g = tape.gradient(nr::sum(nr::normalize(zero, -1, 2, 1e-3)), zero);
  EXPECT_TRUE(nr::testing::all_close(g, {1e3, 1e3}, 1e-9, 1e-9));
}

TEST(NormalizeOp, BadArgumentsAreRefusedNamingTheOp) {
  const nr::Tensor x = f64({1, 2, 3, 4}, {2, 2});
  NEURONA_EXPECT_THROW_MSG(nr::normalize(x, -1, 0), nr::ValueError, "normalize",
                           "order` must be an int >= 1", "order=0");
  NEURONA_EXPECT_THROW_MSG(nr::normalize(x, {0, 1}, 3), nr::ValueError, "normalize", "order 3",
                           "one axis", "(2, 2)");
  NEURONA_EXPECT_THROW_MSG(nr::normalize(x, -1, 2, -1), nr::ValueError, "normalize", "epsilon");
  NEURONA_EXPECT_THROW_MSG(nr::rms_normalization(x, {}, -1, std::nan("")), nr::ValueError,
                           "rms_normalization", "epsilon");
  // Axes are checked by the op itself, not by the reductions it is made of.
  NEURONA_EXPECT_THROW_MSG(nr::normalize(x, 5), nr::ShapeError, "normalize: axis 5", "(2, 2)");
  NEURONA_EXPECT_THROW_MSG(nr::normalize(x, 2, 1), nr::ShapeError, "normalize: axis 2");
  NEURONA_EXPECT_THROW_MSG(nr::rms_normalization(x, {}, {-3}), nr::ShapeError,
                           "rms_normalization: axis -3", "(2, 2)");
  NEURONA_EXPECT_THROW_MSG(nr::rms_normalization(x, {}, {1, -1}), nr::ValueError,
                           "rms_normalization: axis -1 is listed twice");
}

// ---- RMSNormalization --------------------------------------------------------------------

TEST(RMSNormalization, ScaleSpansTheSortedAxesAndLinesUpWithThem) {
  auto rms = L::RMSNormalization({.axis = 1, .epsilon = 1e-6, .dtype = nr::float64});
  const nr::Tensor x = nr::testing::random_tensor({2, 3, 4}, nr::float64, -1, 1, 9);
  rms->ensure_built(x.shape());
  EXPECT_EQ(rms->scale().shape(), nr::Shape({3}));
  EXPECT_EQ(rms->scale().name(), rms->name() + "/scale");
  const nr::Tensor scale = f64({0.5, 1, 2}, {3});
  rms->set_weights({scale});
  // Axis 1 of (2, 3, 4): Keras would multiply (3,) onto the last axis (4) and fail; here the
  // scale lines up with axis 1.
  const nr::Tensor expected =
      nr::rms_normalization(x, nr::reshape(scale, nr::Shape({1, 3, 1})), 1, 1e-6);
  EXPECT_TRUE(nr::testing::all_close(rms(x), expected.to_vector<double>(), 1e-12, 1e-12));
  EXPECT_TRUE(nr::testing::check_layer_gradients("RMSNormalization axis 1", rms, x));

  auto two = L::RMSNormalization({.axis = {2, 0}, .dtype = nr::float64});
  two->ensure_built(x.shape());
  EXPECT_EQ(two->scale().shape(), nr::Shape({2, 4}));
  EXPECT_TRUE(nr::testing::check_layer_gradients("RMSNormalization axes [0, 2]", two, x));
}

TEST(RMSNormalization, ConfigIsKerasAndRoundTrips) {
  auto rms = L::RMSNormalization({.epsilon = 1e-5, .name = "rms"});
  auto config = rms->get_config();
  EXPECT_EQ(config.at("axis").as_int(), -1);  // as given until built
  EXPECT_DOUBLE_EQ(config.at("epsilon").as_double(), 1e-5);
  rms->ensure_built({2, 3});
  config = rms->get_config();
  ASSERT_EQ(config.at("axis").kind(), nr::ConfigValue::Kind::List);  // Keras: [-1] once built
  EXPECT_EQ(config.at("axis").as_list().at(0).as_int(), -1);
  auto again = L::RMSNormalization::from_config(config);
  EXPECT_EQ(again->get_config(), config);
  EXPECT_EQ(L::RMSNormalization()->epsilon(), 1e-6);  // Keras's default
}

TEST(RMSNormalization, UnderMixedBfloat16TheScaleStaysFloat32AndOutputsAreBfloat16) {
  auto rms = L::RMSNormalization({.dtype = "mixed_bfloat16"});
  const nr::Tensor x = nr::testing::random_tensor({3, 8}, nr::float32, -2, 2, 10);
  const nr::Tensor y = rms(x);
  EXPECT_EQ(y.dtype(), nr::DType::bfloat16);
  EXPECT_EQ(rms->scale().dtype(), nr::float32);
  // The inputs autocast to bfloat16, computed in float32, rounded once.
  const nr::Tensor expected = nr::cast(
      nr::rms_normalization(nr::cast(nr::cast(x, nr::DType::bfloat16), nr::float32), {}, -1, 1e-6),
      nr::DType::bfloat16);
  EXPECT_TRUE(nr::testing::all_close(y, expected.to_vector<double>(), 0, 0));
}

TEST(RMSNormalization, BadInputsAndArgumentsAreRefusedWithTheShapes) {
  NEURONA_EXPECT_THROW_MSG(L::RMSNormalization({.axis = {}}), nr::ValueError, "RMSNormalization",
                           "axis");
  NEURONA_EXPECT_THROW_MSG(L::RMSNormalization({.epsilon = -1}), nr::ValueError, "epsilon");
  auto rms = L::RMSNormalization({.axis = 3});
  NEURONA_EXPECT_THROW_MSG(rms(nr::zeros({2, 3})), nr::ValueError, "Axis 3 is out of bounds",
                           "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(L::RMSNormalization({.axis = {1, -1}})(nr::zeros({2, 3})),
                           nr::ValueError, "duplicate", "[1, -1]");
  auto built = L::RMSNormalization();
  built(nr::zeros({2, 3}));
  NEURONA_EXPECT_THROW_MSG(built(nr::zeros({2, 4})), nr::ShapeError, "RMSNormalization",
                           "sizes (3,)", "(2, 4)");
}

TEST(RMSNormalization, TrainsInsideASequentialModel) {
  nr::set_seed(11);
  nr::Sequential model({L::Input({6}), L::Dense(8), L::RMSNormalization(), L::Dense(1)});
  model.compile({.optimizer = nr::optimizers::Adam(1e-2), .loss = "mse"});
  const nr::Tensor x = nr::testing::random_tensor({64, 6}, nr::float32, -1, 1, 11);
  const nr::Tensor y = nr::sum(x, nr::Axes(1), /*keepdims=*/true);
  const auto history = model.fit(x, y, {.batch_size = 16, .epochs = 20, .verbose = 0});
  const auto& loss = history.history.at("loss");
  EXPECT_LT(loss.back(), 0.5 * loss.front());
}

// ---- UnitNormalization -------------------------------------------------------------------

TEST(UnitNormalization, EachExampleHasUnitNormOverTheAxes) {
  const nr::Tensor x = nr::testing::random_tensor({2, 3, 4}, nr::float64, -1, 1, 12);
  const nr::Tensor y = L::UnitNormalization({.axis = {1, 2}, .dtype = nr::float64})(x);
  const nr::Tensor norms = nr::sum(nr::square(y), nr::Axes({1, 2}));
  EXPECT_TRUE(nr::testing::all_close(norms, {1, 1}, 1e-12, 1e-12));
  EXPECT_TRUE(nr::testing::check_layer_gradients(
      "UnitNormalization axis 1", L::UnitNormalization({.axis = 1, .dtype = nr::float64}), x));
  // Keras's doc example: arange(6) as ints gives float rows of unit norm.
  const nr::Tensor ints =
      L::UnitNormalization()(nr::constant(std::vector<std::int32_t>{0, 1, 2, 3, 4, 5}, {2, 3}));
  EXPECT_EQ(ints.dtype(), nr::float32);
  EXPECT_NEAR(nr::sum(nr::square(nr::slice(ints, 0, 1))).item<double>(), 1.0, 1e-6);
}

TEST(UnitNormalization, PassesMasksOnAndKeepsItsAxisAsGiven) {
  auto unit = L::UnitNormalization({.axis = {2, 1}});
  EXPECT_TRUE(unit->supports_masking());
  nr::Tensor x = nr::ones({2, 3, 4});
  x.set_keras_mask(nr::greater(nr::ones({2, 3}), nr::constant({0.5f})));
  EXPECT_TRUE(unit(x).keras_mask().defined());
  auto config = unit->get_config();
  ASSERT_EQ(config.at("axis").kind(), nr::ConfigValue::Kind::List);  // not sorted, as Keras
  EXPECT_EQ(config.at("axis").as_list().at(0).as_int(), 2);
  EXPECT_EQ(L::UnitNormalization::from_config(config)->get_config(), config);
  NEURONA_EXPECT_THROW_MSG(L::UnitNormalization({.axis = -3})(nr::zeros({2, 3})), nr::ValueError,
                           "UnitNormalization", "Axis -3 is out of bounds", "(2, 3)");
}

// ---- a Keras file --------------------------------------------------------------------------

TEST(RMSUnitNormalizationSaving, KerasFileLoadsAndPredictsKerasOutputs) {
  const auto ref = nr::testing::load_reference("layers", "normalization_model");
  const std::filesystem::path file =
      nr::testing::reference_dir() / "layers" / "normalization_model.keras";
  auto model = nr::models::load_model(file.string());
  auto* rms = dynamic_cast<L::RMSNormalizationLayer*>(model->get_layer("rms").get());
  ASSERT_NE(rms, nullptr);
  EXPECT_DOUBLE_EQ(rms->epsilon(), 1e-5);
  EXPECT_EQ(rms->scale().shape(), nr::Shape({8}));
  auto* unit = dynamic_cast<L::UnitNormalizationLayer*>(model->get_layer("unit").get());
  ASSERT_NE(unit, nullptr);
  EXPECT_EQ(unit->axis().list(), (std::vector<int>{1, 2}));
  const auto& x = ref.at("x");
  const nr::Tensor input =
      nr::cast(nr::constant(x.values, x.shape, nr::Device::cpu()), nr::float32);
  const nr::Tensor y = model->predict(input);
  EXPECT_TRUE(nr::testing::all_close(y, ref.at("y").values, 1e-5, 1e-5));
  nr::testing::expect_save_and_load_round_trip(*model, file, {input}, {y},
                                               "rms_unit_normalization_saving");
}
