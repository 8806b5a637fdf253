// The CIFAR ResNets: the architecture (layer names, shapes, parameter count of the paper's
// ResNet-20), the options every application takes, and that ResNet-20 trains.
#include <neurona/neurona.h>

#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;
namespace A = nr::applications;

namespace {

std::shared_ptr<L::Layer> layer_named(const nr::Model& model, const std::string& name) {
  for (const auto& layer : model.layers()) {
    if (layer->name() == name) return layer;
  }
  return nullptr;
}

}  // namespace

TEST(ResNetCifar, ResNet20HasThePapersShapeAndKerasApplicationNames) {
  nr::clear_session();
  auto model = A::ResNet20();
  EXPECT_EQ(model->name(), "resnet20");
  EXPECT_EQ(model->inputs()[0].shape(), nr::Shape({-1, 32, 32, 3}));
  EXPECT_EQ(model->outputs()[0].shape(), nr::Shape({-1, 10}));
  // 19 convolutions and a Dense: 3x3 kernels without bias (batch normalization follows), the
  // two projection shortcuts 1x1 with bias; 0.27M parameters, as He et al.'s Table 6 says:
  // conv1 432 + 64 (its BN), stage 1 3 x (2 x 2304 + 128) = 14208, stage 2 4608 + 9216 + 544 +
  // 256 + 2 x (2 x 9216 + 256) = 52000, stage 3 18432 + 36864 + 2112 + 512 + 2 x (2 x 36864 +
  // 512) = 206400, Dense 650.
  int convs = 0;
  for (const auto& layer : model->layers()) convs += layer->class_name() == "Conv2D";
  EXPECT_EQ(convs, 19 + 2);
  EXPECT_EQ(model->count_params(), 432 + 64 + 14208 + 52000 + 206400 + 650);
  for (const char* name :
       {"conv1_conv", "conv1_bn", "conv1_relu", "conv2_block1_1_conv", "conv2_block3_2_bn",
        "conv3_block1_0_conv", "conv3_block1_add", "conv4_block3_out", "avg_pool", "predictions"}) {
    EXPECT_NE(layer_named(*model, name), nullptr) << name;
  }
  EXPECT_EQ(layer_named(*model, "conv2_block1_0_conv"), nullptr);  // identity shortcut there
  EXPECT_EQ(layer_named(*model, "conv4_block1_0_conv")->compute_output_shape({1, 16, 16, 32}),
            nr::Shape({1, 8, 8, 64}));
  // The Keras example's L2(1e-4) on every kernel: one penalty per convolution.
  const auto x = nr::testing::random_tensor({2, 32, 32, 3});
  (void)(*model)(x, /*training=*/false);
  EXPECT_EQ(model->losses().size(), 21u);
}

TEST(ResNetCifar, TakesTheApplicationOptions) {
  nr::clear_session();
  // Depth 6n + 2, input shape, classes, logits, no top with pooling, a name.
  auto deeper = A::ResNetCifar(32, {.input_shape = nr::Shape{16, 16, 1}, .classes = 4});
  EXPECT_EQ(deeper->name(), "resnet32");
  EXPECT_EQ(deeper->outputs()[0].shape(), nr::Shape({-1, 4}));
  auto features = A::ResNet20({.include_top = false, .pooling = "avg", .name = "features"},
                              {.weight_decay = 0.0});
  EXPECT_EQ(features->name(), "features");
  EXPECT_EQ(features->outputs()[0].shape(), nr::Shape({-1, 64}));
  EXPECT_EQ(A::ResNet20({.include_top = false})->outputs()[0].shape(), nr::Shape({-1, 8, 8, 64}));
  const auto x = nr::testing::random_tensor({2, 32, 32, 3});
  (void)(*features)(x, false);
  EXPECT_TRUE(features->losses().empty());  // no weight decay asked for

  // Built on a tensor: the layers before it belong to the model, whose input is the Input.
  auto image = nr::Input({28, 28, 1}, {.name = "image"});
  auto padded = L::ZeroPadding2D(2)(image);
  auto model = A::ResNet20({.input_tensor = padded});
  ASSERT_EQ(model->inputs().size(), 1u);
  EXPECT_EQ(model->inputs()[0].layer().name(), "image");
  EXPECT_EQ(model->predict(nr::zeros({3, 28, 28, 1})).shape(), nr::Shape({3, 10}));

  // Synchronized batch normalization throughout, written in the configs.
  auto synced = A::ResNet20({}, {.synchronized_batch_norm = true});
  int batch_norms = 0;
  for (const auto& layer : synced->layers()) {
    if (const auto* bn = dynamic_cast<const L::BatchNormalizationLayer*>(layer.get())) {
      EXPECT_TRUE(bn->synchronized()) << bn->name();
      EXPECT_TRUE(bn->get_config().at("synchronized").as_bool());
      ++batch_norms;
    }
  }
  EXPECT_EQ(batch_norms, 19);  // the stem's and two per block of nine

  NEURONA_EXPECT_THROW_MSG(A::ResNetCifar(21), nr::ValueError, "ResNetCifar", "`depth`", "6n + 2",
                           "21");
  NEURONA_EXPECT_THROW_MSG(A::ResNet20({.input_shape = nr::Shape{32, 32}}), nr::ValueError,
                           "(height, width, channels)", "(32, 32)");
  NEURONA_EXPECT_THROW_MSG(A::ResNet20({.input_shape = nr::Shape{2, 2, 3}}), nr::ValueError,
                           "at least 4x4");
  NEURONA_EXPECT_THROW_MSG(A::ResNet20({.pooling = "mean"}), nr::ValueError, "`pooling`", "mean");
  NEURONA_EXPECT_THROW_MSG(A::ResNet20({.classes = 0}), nr::ValueError, "`classes`");
  NEURONA_EXPECT_THROW_MSG(
      A::ResNet20({.input_shape = nr::Shape{32, 32, 3}, .input_tensor = padded}), nr::ValueError,
      "either `input_shape` or `input_tensor`");
}

TEST(ResNetCifar, ResNet20LearnsASmallTask) {
  // Two classes told apart by the sign of the mean of the image: a few epochs of Adam on 64
  // images of 8x8 fit them (batch normalization in training and in inference).
  nr::clear_session();
  nr::set_seed(3);
  auto model = A::ResNet20({.input_shape = nr::Shape{8, 8, 1}, .classes = 2});
  const nr::Tensor x = nr::random_normal({64, 8, 8, 1});
  const nr::Tensor y =
      nr::cast(nr::greater(nr::mean(x, {1, 2, 3}), nr::zeros({64})), nr::DType::int32);
  model->compile({.optimizer = nr::optimizers::Adam(3e-3),
                  .loss = "sparse_categorical_crossentropy",
                  .metrics = {"accuracy"}});
  const auto history = model->fit(x, y, {.batch_size = 16, .epochs = 12, .verbose = 0});
  EXPECT_LT(history.history.at("loss").back(), history.history.at("loss").front());
  EXPECT_GE(history.history.at("accuracy").back(), 0.9);
}
