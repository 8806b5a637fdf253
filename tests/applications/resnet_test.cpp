// The ImageNet ResNets: layer for layer what keras.applications.ResNet50 builds (Keras's listing
// in tests/reference/applications/resnet50.layers.txt, made by
// make_keras_application_references.py, which also printed the numbers written here), the
// options, and a forward pass at 32x32 (the smallest input Keras allows; 224x224 is too slow for
// a test on a CPU).
#include <neurona/neurona.h>

#include "applications/keras_layers.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;
namespace A = nr::applications;
using applications_test::layer_named;

TEST(ResNet, ResNet50IsKerasResNet50LayerForLayer) {
  nr::clear_session();  // Keras's automatic name for the Input: input_layer
  auto model = A::ResNet50();
  EXPECT_EQ(model->name(), "resnet50");
  EXPECT_EQ(model->count_params(), 25'636'712);
  EXPECT_EQ(model->inputs()[0].shape(), nr::Shape({-1, 224, 224, 3}));
  EXPECT_EQ(model->outputs()[0].shape(), nr::Shape({-1, 1000}));
  applications_test::expect_keras_layers(*model, "resnet50");
  // Keras's epsilon, not BatchNormalization's default 1e-3.
  const auto bn = layer_named(*model, "conv4_block2_2_bn");
  EXPECT_DOUBLE_EQ(bn->get_config().at("epsilon").as_double(), 1.001e-5);
  EXPECT_EQ(layer_named(*model, "predictions")->get_config().at("activation").as_string(),
            "softmax");
}

TEST(ResNet, DeeperResNetsHaveKerasParameterCounts) {
  EXPECT_EQ(A::ResNet101()->count_params(), 44'707'176);
  auto resnet152 = A::ResNet152({.include_top = false});
  EXPECT_EQ(resnet152->name(), "resnet152");
  EXPECT_EQ(resnet152->count_params(), 60'419'944 - (2048 * 1000 + 1000));
  EXPECT_NE(layer_named(*resnet152, "conv4_block36_out"), nullptr);
}

TEST(ResNet, TakesTheApplicationOptionsAsKerasDoes) {
  nr::clear_session();
  // Without the top and without an input_shape: any size, as Keras's (None, None, 3).
  auto features = A::ResNet50({.include_top = false});
  EXPECT_EQ(features->inputs()[0].shape(), nr::Shape({-1, -1, -1, 3}));
  EXPECT_EQ(features->outputs()[0].shape(), nr::Shape({-1, -1, -1, 2048}));
  EXPECT_EQ(features->count_params(), 23'587'712);
  EXPECT_EQ(features->layers().size(), 175u);
  auto pooled = A::ResNet50({.include_top = false,
                             .input_shape = nr::Shape{32, 32, 3},
                             .pooling = "max",
                             .name = "pooled"});
  EXPECT_EQ(pooled->name(), "pooled");
  EXPECT_EQ(pooled->outputs()[0].shape(), nr::Shape({-1, 2048}));
  EXPECT_EQ(pooled->layers().back()->name(), "max_pool");
  EXPECT_EQ(pooled->layers().size(), 176u);

  // Keras's words (imagenet_utils.obtain_input_shape).
  NEURONA_EXPECT_THROW_MSG(A::ResNet50({.input_shape = nr::Shape{31, 64, 3}}), nr::ValueError,
                           "ResNet50", "Input size must be at least 32x32",
                           "input_shape=(31, 64, 3)");
  NEURONA_EXPECT_THROW_MSG(A::ResNet50({.input_shape = nr::Shape{-1, -1, 3}}), nr::ValueError,
                           "If `include_top` is True, you should specify a static `input_shape`",
                           "(None, None, 3)");
  NEURONA_EXPECT_THROW_MSG(A::ResNet50({.input_shape = nr::Shape{64, 64}}), nr::ValueError,
                           "`input_shape` must be a tuple of three integers", "(64, 64)");
  NEURONA_EXPECT_THROW_MSG(A::ResNet50({.input_tensor = nr::Input({64, 64})}), nr::ValueError,
                           "`input_tensor.shape[1:]` must be a tuple of three integers",
                           "(64, 64)");
  NEURONA_EXPECT_THROW_MSG(A::ResNet50({.input_tensor = nr::Input({16, 64, 3})}), nr::ValueError,
                           "Input size must be at least 32x32",
                           "input_tensor.shape[1:]=(16, 64, 3)");
  NEURONA_EXPECT_THROW_MSG(A::ResNet50({.include_top = false, .pooling = "sum"}), nr::ValueError,
                           "`pooling`", "sum");
  // As in Keras without ImageNet weights, any number of channels.
  EXPECT_EQ(A::ResNet50({.input_shape = nr::Shape{32, 32, 1}})->count_params(),
            25'636'712 - 7 * 7 * 2 * 64);
}

TEST(ResNet, ResNet50RunsOnSmallImages) {
  // A forward pass at 32x32 (1x1 at the end): logits of the classes asked for, finite, and the
  // same as the model called eagerly.
  nr::clear_session();
  nr::set_seed(5);
  auto image = nr::Input({32, 32, 3}, {.name = "image"});
  auto model = A::ResNet50({.input_tensor = image, .classes = 7, .classifier_activation = ""});
  EXPECT_EQ(model->inputs()[0].layer().name(), "image");
  const nr::Tensor x = nr::testing::random_tensor({2, 32, 32, 3});
  const nr::Tensor y = model->predict(x);
  ASSERT_EQ(y.shape(), nr::Shape({2, 7}));
  for (double v : y.to_vector<double>()) EXPECT_TRUE(std::isfinite(v));
  EXPECT_TRUE(nr::testing::all_close((*model)(x, /*training=*/false), y.to_vector<double>()));
  // Different images, different logits.
  const auto values = y.to_vector<double>();
  EXPECT_NE(values[0], values[7]);
}
