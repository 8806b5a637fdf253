// ReLU, LeakyReLU, PReLU, ELU and Softmax: Keras's documented values, float64 gradient checks,
// bad arguments, configs and a .keras round trip (their values and gradients against Keras
// itself are in keras_reference_test.cpp).
#include <neurona/neurona.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "layer_gradcheck.h"
#include "neurona/layers/layer_registry.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;

namespace {

// The layer rebuilt from its config through the class registry (what load_model does).
L::AnyLayer rebuilt(const L::AnyLayer& layer) {
  return L::layer_registry().get(layer->class_name(), "unknown layer '",
                                 "'; known: ")(layer->get_config());
}

}  // namespace

TEST(ActivationLayers, ReLUGivesKerasDocumentedValues) {
  const nr::Tensor x = nr::constant({-10.0f, -5.0f, 0.0f, 5.0f, 10.0f});
  auto relu = L::ReLU({.max_value = 10.0, .negative_slope = 0.5, .threshold = 0.0});
  EXPECT_EQ(relu(x).to_vector<float>(), (std::vector<float>{-5, -2.5, 0, 5, 10}));
  EXPECT_EQ(L::ReLU()(x).to_vector<float>(), (std::vector<float>{0, 0, 0, 5, 10}));
  // Below the threshold: negative_slope * (x - threshold); at or above max_value: max_value.
  auto thresholded = L::ReLU({.max_value = 6.0, .negative_slope = 0.5, .threshold = 2.0});
  EXPECT_EQ(thresholded(nr::constant({0.0f, 1.0f, 3.0f, 8.0f})).to_vector<float>(),
            (std::vector<float>{-1, -0.5, 3, 6}));
  EXPECT_EQ(L::LeakyReLU()(nr::constant({-1.0f, 2.0f})).to_vector<float>(),
            (std::vector<float>{-0.3f, 2.0f}));
  EXPECT_NEAR(L::ELU(0.5)(nr::constant({-1.0f})).item<float>(), 0.5 * (std::exp(-1.0) - 1), 1e-7);
}

TEST(ActivationLayers, RejectKerasBadArgumentsWithKerasMessages) {
  NEURONA_EXPECT_THROW_MSG(L::ReLU({.max_value = -1.0}), nr::ValueError,
                           "max_value of a ReLU layer cannot be a negative value");
  NEURONA_EXPECT_THROW_MSG(L::ReLU({.negative_slope = -0.1}), nr::ValueError,
                           "negative_slope of a ReLU layer cannot be None or a negative value");
  NEURONA_EXPECT_THROW_MSG(L::ReLU({.threshold = -1.0}), nr::ValueError,
                           "threshold of a ReLU layer cannot be None or a negative value");
  NEURONA_EXPECT_THROW_MSG(L::LeakyReLU(-0.3), nr::ValueError,
                           "negative_slope value of a Leaky ReLU layer cannot be None or negative");
  NEURONA_EXPECT_THROW_MSG(L::Softmax(std::vector<int>{}), nr::ValueError, "at least one axis");
  auto prelu = L::PReLU({.shared_axes = {3}});
  NEURONA_EXPECT_THROW_MSG(prelu(nr::zeros({2, 3})), nr::ValueError, "shared axis 3");
  auto built = L::PReLU();
  (void)built(nr::zeros({2, 3}));
  NEURONA_EXPECT_THROW_MSG(built(nr::zeros({2, 4})), nr::ShapeError, "shape (2, 3)",
                           "got shape (2, 4)");
  NEURONA_EXPECT_THROW_MSG(L::Softmax()(nr::zeros({2, 3}), nr::ones({2, 2})), nr::ValueError,
                           "must be broadcastable", "mask.shape=(2, 2)");
  NEURONA_EXPECT_THROW_MSG(L::Softmax()(nr::zeros({3}), nr::ones({2, 3})), nr::ValueError,
                           "must be broadcastable");
}

TEST(ActivationLayers, PReLUHasOneSlopePerUnsharedPosition) {
  auto prelu = L::PReLU({.alpha_initializer = "ones", .shared_axes = {1, 2}});
  (void)prelu(nr::zeros({2, 4, 5, 3}));
  EXPECT_EQ(prelu->alpha().shape(), nr::Shape({1, 1, 3}));
  EXPECT_EQ(prelu->weights().size(), 1u);
  EXPECT_EQ(prelu->count_params(), 3);
  // The shared axes may change size from call to call; the others may not.
  EXPECT_EQ(prelu(nr::zeros({1, 2, 7, 3})).shape(), nr::Shape({1, 2, 7, 3}));
  auto zeros_alpha = L::PReLU();
  EXPECT_EQ(zeros_alpha(nr::constant({-2.0f, 3.0f}, {1, 2})).to_vector<float>(),
            (std::vector<float>{0, 3}));
}

TEST(ActivationLayers, SoftmaxOverSeveralAxesAndWithAMask) {
  const nr::Tensor x = nr::testing::random_tensor({2, 3, 4}, nr::float64, -2, 2, 3);
  const L::LayerOptions f64{.dtype = nr::float64};
  auto softmax = L::Softmax({1, 2}, f64);
  const nr::Tensor y = softmax(x);
  const std::vector<double> sums = nr::sum(y, {1, 2}).to_vector<double>();
  for (double s : sums) EXPECT_NEAR(s, 1.0, 1e-12);
  // A mask that hides a whole row gives zeros there, not an even spread.
  const nr::Tensor x2 = nr::testing::random_tensor({3, 4}, nr::float64, -2, 2, 4);
  const nr::Tensor mask =
      nr::constant({1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0}, {3, 4}, {.dtype = nr::uint8});
  const std::vector<double> m = L::Softmax({-1}, f64)(x2, mask).to_vector<double>();
  const std::vector<double> plain = nr::softmax(x2, -1).to_vector<double>();
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(m[i], plain[i], 1e-15);
  for (int i = 4; i < 8; ++i) EXPECT_EQ(m[i], 0.0);
  EXPECT_EQ(m[9], 0.0);
  EXPECT_EQ(m[11], 0.0);
  EXPECT_NEAR(m[8] + m[10], 1.0, 1e-12);
}

TEST(ActivationLayers, GradientsMatchCentralDifferences) {
  const nr::Tensor x = nr::testing::random_tensor({3, 4, 2}, nr::float64, -2, 2, 11);
  const L::LayerOptions f64_layer{.dtype = nr::float64};
  const std::pair<const char*, L::AnyLayer> cases[] = {
      {"ReLU",
       L::ReLU({.max_value = 1.5, .negative_slope = 0.3, .threshold = 0.25, .layer = f64_layer})},
      {"LeakyReLU", L::LeakyReLU(0.2, f64_layer)},
      {"ELU", L::ELU(0.7, f64_layer)},
      {"PReLU", L::PReLU({.alpha_initializer = nr::initializers::RandomUniform({-1.0, 1.0}),
                          .shared_axes = {2},
                          .layer = f64_layer})},
      {"Softmax", L::Softmax({-1}, f64_layer)},
      {"Softmax axes", L::Softmax({1, 2}, f64_layer)},
  };
  for (const auto& [name, layer] : cases) {
    EXPECT_TRUE(nr::testing::check_layer_gradients(name, layer, x));
  }
}

TEST(ActivationLayers, ConfigsRebuildTheSameLayers) {
  auto relu = L::ReLU({.max_value = 6.0, .negative_slope = 0.1, .threshold = 0.5});
  const nr::ConfigValue config = relu->get_config();
  EXPECT_EQ(config.find("max_value")->as_double(), 6.0);
  EXPECT_EQ(config.find("negative_slope")->as_double(), 0.1);
  EXPECT_EQ(config.find("threshold")->as_double(), 0.5);
  EXPECT_TRUE(L::ReLU()->get_config().find("max_value")->is_null());
  const nr::Tensor x = nr::testing::random_tensor({4, 3}, nr::float32, -8, 8, 2);
  const std::vector<L::AnyLayer> layers = {
      relu,
      L::LeakyReLU(0.15),
      L::ELU(0.4),
      L::PReLU({.alpha_initializer = "ones", .shared_axes = {1}}),
      L::Softmax({0, 1}),
  };
  for (const L::AnyLayer& layer : layers) {
    SCOPED_TRACE(layer->class_name());
    const L::AnyLayer again = rebuilt(layer);
    EXPECT_EQ(again->class_name(), layer->class_name());
    EXPECT_EQ(again->get_config().find("name")->as_string(), layer->name());
    EXPECT_EQ(again(x).to_vector<float>(), layer(x).to_vector<float>());
  }
  // Keras 3 reads LeakyReLU's Keras 2 name `alpha`; PReLU's shared_axes may be one int.
  nr::ConfigValue leaky = L::LeakyReLU()->get_config();
  leaky.set("alpha", 0.05);
  leaky.set("negative_slope", nullptr);
  EXPECT_DOUBLE_EQ(L::LeakyReLU::from_config(leaky)->negative_slope(), 0.05);
  nr::ConfigValue prelu = L::PReLU()->get_config();
  prelu.set("shared_axes", 1);
  auto one_axis = L::PReLU::from_config(prelu);
  (void)one_axis(nr::zeros({2, 3, 4}));
  EXPECT_EQ(one_axis->alpha().shape(), nr::Shape({1, 4}));
}

TEST(ActivationLayers, SequentialWithThemSavesAndLoads) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    ("neurona_activation_layers_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  nr::Sequential model({L::Input({6}), L::Dense(5), L::PReLU({.alpha_initializer = "ones"}),
                        L::ReLU({.max_value = 6.0}), L::LeakyReLU(0.1), L::ELU(0.5), L::Dense(3),
                        L::Softmax()});
  const nr::Tensor x = nr::testing::random_tensor({4, 6}, nr::float32, -1, 1, 9);
  const std::vector<float> expected = model.predict(x).to_vector<float>();
  const std::string path = (dir / "m.keras").string();
  model.save(path);
  auto loaded = nr::models::load_model(path);
  EXPECT_EQ(loaded->predict(x).to_vector<float>(), expected);
  std::filesystem::remove_all(dir);
}
