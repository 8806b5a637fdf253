// MobileNetV2: layer for layer what keras.applications.MobileNetV2 builds (Keras's listings in
// tests/reference/applications/, made by make_keras_application_references.py, which also
// printed the numbers written here), and a model Keras saved (tests/reference/saving/
// mobilenet_v2_035.keras, alpha 0.35 at 32x32 with 10 classes) that neurona loads and whose
// weights neurona's own MobileNetV2 takes, both predicting what Keras predicted. With
// NEURONA_WRITE_SAVING_FIXTURES=DIR, neurona's MobileNetV2 is saved into DIR for the script's
// --check mode, which loads it into Keras.
#include <filesystem>

#include <neurona/neurona.h>

#include "applications/keras_layers.h"
#include "models/saving_models.h"
#include "support/paths.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace A = nr::applications;
namespace fs = std::filesystem;
using applications_test::layer_named;

namespace {

fs::path keras_file() {
  return saving_test::reference_dir() / "mobilenet_v2_035.keras";
}

// x and Keras's y.
std::map<std::string, nr::Tensor> read_io() {
  return saving_test::read_io(saving_test::reference_dir() / "mobilenet_v2_035.io.txt");
}

std::shared_ptr<nr::Model> mobilenet_v2_035() {
  return A::MobileNetV2({.input_shape = nr::Shape{32, 32, 3}, .classes = 10}, {.alpha = 0.35});
}

}  // namespace

TEST(MobileNetV2, MakeDivisibleIsKeras) {
  // Keras's _make_divisible(v, 8): nearest multiple, at least 8, up again past a 10% loss.
  EXPECT_EQ(A::detail::make_divisible(32 * 0.35, 8), 16);  // 11.2 -> 16
  EXPECT_EQ(A::detail::make_divisible(16 * 0.35, 8), 8);   // 5 -> 8 (the minimum)
  EXPECT_EQ(A::detail::make_divisible(96 * 0.35, 8), 32);  // 33 -> 32
  EXPECT_EQ(A::detail::make_divisible(320 * 0.35, 8), 112);
  EXPECT_EQ(A::detail::make_divisible(1280 * 1.3, 8), 1664);
  EXPECT_EQ(A::detail::make_divisible(1280 * 1.4, 8), 1792);
  EXPECT_EQ(A::detail::make_divisible(20, 8), 24);  // 16 would lose 20%
  EXPECT_EQ(A::detail::make_divisible(12, 8), 16);  // ties round up
}

TEST(MobileNetV2, IsKerasMobileNetV2LayerForLayer) {
  nr::clear_session();  // Keras's automatic names: input_layer, global_average_pooling2d
  auto model = A::MobileNetV2();
  EXPECT_EQ(model->name(), "mobilenetv2_1.00_224");
  EXPECT_EQ(model->count_params(), 3'538'984);
  EXPECT_EQ(model->outputs()[0].shape(), nr::Shape({-1, 1000}));
  applications_test::expect_keras_layers(*model, "mobilenet_v2_100");
  const auto relu = layer_named(*model, "block_5_depthwise_relu")->get_config();
  EXPECT_DOUBLE_EQ(relu.at("max_value").as_double(), 6.0);
  const auto bn = layer_named(*model, "block_5_project_BN")->get_config();
  EXPECT_DOUBLE_EQ(bn.at("momentum").as_double(), 0.999);
  EXPECT_DOUBLE_EQ(bn.at("epsilon").as_double(), 1e-3);

  // Odd and unequal sizes (each axis padded as Keras's correct_pad pads it), one channel, an
  // alpha without ImageNet weights, no top and average pooling.
  nr::clear_session();
  auto odd =
      A::MobileNetV2({.include_top = false, .input_shape = nr::Shape{33, 40, 1}, .pooling = "avg"},
                     {.alpha = 0.6});
  EXPECT_EQ(odd->name(), "mobilenetv2_0.60_33");
  EXPECT_EQ(odd->count_params(), 957'744);
  applications_test::expect_keras_layers(*odd, "mobilenet_v2_060_33x40");
}

TEST(MobileNetV2, EveryAlphaHasKerasParameterCount) {
  const std::pair<double, std::int64_t> counts[] = {{0.35, 1'691'208}, {0.5, 1'987'224},
                                                    {0.75, 2'663'064}, {1.0, 3'538'984},
                                                    {1.3, 5'431'048},  {1.4, 6'156'712}};
  for (const auto& [alpha, params] : counts) {
    SCOPED_TRACE(alpha);
    auto model = A::MobileNetV2({}, {.alpha = alpha});
    EXPECT_EQ(model->count_params(), params);
  }
  EXPECT_EQ(A::MobileNetV2({}, {.alpha = 0.5})->name(), "mobilenetv2_0.50_224");
  EXPECT_EQ(mobilenet_v2_035()->count_params(), 423'018);
}

TEST(MobileNetV2, TakesTheApplicationOptionsAsKerasDoes) {
  nr::clear_session();
  // Without the top and without an input_shape: any size, and None in the name, as Keras.
  auto features = A::MobileNetV2({.include_top = false});
  EXPECT_EQ(features->name(), "mobilenetv2_1.00_None");
  EXPECT_EQ(features->inputs()[0].shape(), nr::Shape({-1, -1, -1, 3}));
  EXPECT_EQ(features->outputs()[0].shape(), nr::Shape({-1, -1, -1, 1280}));
  EXPECT_EQ(features->count_params(), 2'257'984);
  // correct_pad of an unknown size: as for an even one, nothing before.
  const nr::ConfigValue pad =
      nr::ConfigValue::List{nr::ConfigValue::List{0, 1}, nr::ConfigValue::List{0, 1}};
  EXPECT_EQ(layer_named(*features, "block_13_pad")->get_config().at("padding"), pad);
  // On an input tensor of one of ImageNet's sizes, the name has that size (Keras's rule).
  auto tensor = nr::Input({160, 160, 3});
  auto on_tensor = A::MobileNetV2({.input_tensor = tensor});
  EXPECT_EQ(on_tensor->name(), "mobilenetv2_1.00_160");
  EXPECT_EQ(on_tensor->count_params(), 3'538'984);
  EXPECT_EQ(A::MobileNetV2({.include_top = false, .pooling = "max"})->layers().back()->class_name(),
            "GlobalMaxPooling2D");

  NEURONA_EXPECT_THROW_MSG(A::MobileNetV2({}, {.alpha = 0.0}), nr::ValueError, "MobileNetV2",
                           "`alpha` must be > 0", "alpha=0");
  NEURONA_EXPECT_THROW_MSG(A::MobileNetV2({}, {.alpha = -1.0}), nr::ValueError, "`alpha`");
  NEURONA_EXPECT_THROW_MSG(A::MobileNetV2({.input_shape = nr::Shape{32, 31, 3}}), nr::ValueError,
                           "MobileNetV2", "Input size must be at least 32x32",
                           "input_shape=(32, 31, 3)");
  NEURONA_EXPECT_THROW_MSG(A::MobileNetV2({.input_shape = nr::Shape{-1, 64, 3}}), nr::ValueError,
                           "you should specify a static `input_shape`");
  NEURONA_EXPECT_THROW_MSG(A::MobileNetV2({.classes = 0}), nr::ValueError, "`classes`");
}

// Float32 rounding that 52 batch normalizations in a row amplify (each scales its input back to
// unit variance): Keras's float32 prediction and neurona's are each 7e-6 from the exact one
// (neurona's MobileNetV2 in float64, whose batch normalization agrees with NumPy's to 1e-15),
// and 1.3e-5 from each other.
constexpr double kFloat32Tolerance = 3e-5;  // between two float32 predictions
constexpr double kExactTolerance = 1e-5;    // between Keras's float32 and the float64 one

TEST(MobileNetV2, LoadsKerasSavedModelAndPredictsAsKeras) {
  const auto io = read_io();
  nr::clear_session();
  auto loaded = nr::models::load_model(keras_file().string());
  EXPECT_EQ(loaded->name(), "mobilenetv2_0.35_32");
  EXPECT_EQ(loaded->count_params(), 423'018);
  const nr::Tensor y = loaded->predict(io.at("x"));
  ASSERT_EQ(y.shape(), nr::Shape({2, 10}));
  EXPECT_TRUE(nr::testing::all_close(y, io.at("y").to_vector<double>(), kFloat32Tolerance, 0.0));
}

TEST(MobileNetV2, TakesTheWeightsOfKerasSavedModel) {
  // neurona's MobileNetV2 has the layers and options Keras's config.json describes, and takes
  // the weights Keras saved (load_weights reads the archive's model.weights.h5, whose entries
  // Keras names by class and order): the same predictions as the model Keras's config builds,
  // and in float64 Keras's predictions within their float32 rounding.
  const auto io = read_io();
  nr::clear_session();
  auto loaded = nr::models::load_model(keras_file().string());
  nr::clear_session();
  auto model = mobilenet_v2_035();
  EXPECT_EQ(model->name(), loaded->name());
  const auto ours = model->layers(), keras = loaded->layers();
  ASSERT_EQ(ours.size(), keras.size());
  for (std::size_t i = 0; i < ours.size(); ++i) {
    // Every option as Keras's config.json has it (ReLU's max_value, the paddings, ...).
    EXPECT_EQ(ours[i]->get_config(), keras[i]->get_config()) << ours[i]->name();
  }
  model->load_weights(keras_file().string());
  EXPECT_TRUE(nr::testing::all_close(model->predict(io.at("x")),
                                     loaded->predict(io.at("x")).to_vector<double>(), 0.0, 0.0));

  nr::mixed_precision::set_global_policy(nr::DType::float64);
  nr::clear_session();
  std::shared_ptr<nr::Model> model64;
  try {
    model64 = mobilenet_v2_035();
  } catch (...) {
    nr::mixed_precision::set_global_policy(nr::DType::float32);
    throw;
  }
  nr::mixed_precision::set_global_policy(nr::DType::float32);
  model64->load_weights(keras_file().string());
  const nr::Tensor y64 = model64->predict(io.at("x"));
  EXPECT_EQ(y64.dtype(), nr::float64);
  EXPECT_TRUE(nr::testing::all_close(y64, io.at("y").to_vector<double>(), kExactTolerance, 0.0));
}

// Writes mobilenet_v2_035.keras and .io.txt from neurona's MobileNetV2 with weights of its own
// into $NEURONA_WRITE_SAVING_FIXTURES, for `make_keras_application_references.py --check DIR`.
TEST(MobileNetV2, WriteFixtureForKerasWhenAsked) {
  NEURONA_FIXTURE_DIR_OR_SKIP(dir, "NEURONA_WRITE_SAVING_FIXTURES");
  nr::clear_session();
  nr::set_seed(7);
  auto model = mobilenet_v2_035();
  // Keras's weights (whose moving statistics keep every block normalised, so that the output
  // depends on the image), then a few steps of training in neurona: weights and moving
  // statistics of neurona's own.
  model->load_weights(keras_file().string());
  model->compile(
      {.optimizer = nr::optimizers::Adam(1e-3), .loss = "sparse_categorical_crossentropy"});
  const nr::Tensor x_train = nr::testing::random_tensor({8, 32, 32, 3}, nr::float32, -1.0, 1.0, 3);
  const nr::Tensor y_train =
      nr::cast(nr::testing::random_tensor({8}, nr::float32, 0.0, 9.99, 4), nr::int32);
  model->fit(x_train, y_train, {.batch_size = 4, .epochs = 2, .verbose = 0});
  const nr::Tensor x = nr::testing::random_tensor({2, 32, 32, 3}, nr::float32, -1.0, 1.0, 5);
  const fs::path base = fs::path(dir) / "mobilenet_v2_035";
  model->save(base.string() + ".keras");
  saving_test::write_io(base.string() + ".io.txt", {{"x", x}, {"y", model->predict(x)}});
}
