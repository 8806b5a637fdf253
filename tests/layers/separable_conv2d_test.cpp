// SeparableConv2D: the depthwise convolution then the pointwise one (against the two ops),
// weights in Keras's order and shapes, output shapes, both data formats, errors, numerical
// gradient checks, and Keras's config keys and from_config through the layer registry.
#include <neurona/neurona.h>

#include "layers/layer_gradcheck.h"
#include "neurona/layers/layer_registry.h"

namespace nr = neurona;
namespace L = nr::layers;
using nr::testing::all_close;

namespace {

nr::Tensor f64(const nr::Shape& s, std::uint32_t seed) {
  return nr::testing::random_tensor(s, nr::float64, -1, 1, seed);
}

std::vector<std::string> keys(const nr::ConfigValue& config) {
  std::vector<std::string> out;
  for (const auto& [k, v] : config.as_dict()) out.push_back(k);
  return out;
}

}  // namespace

TEST(SeparableConv2DLayer, IsADepthwiseThenAPointwiseConvolution) {
  nr::clear_session();
  auto sep = L::SeparableConv2D(4, 3,
                                {.strides = 2,
                                 .padding = "same",
                                 .depth_multiplier = 2,
                                 .activation = "relu",
                                 .dtype = nr::float64});
  const nr::Tensor x = f64({2, 6, 5, 3}, 1);
  sep->ensure_built(x.shape());
  const std::vector<nr::Variable> w = sep->weights();
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].name(), "separable_conv2d/depthwise_kernel");
  EXPECT_EQ(w[0].shape(), (nr::Shape{3, 3, 3, 2}));
  EXPECT_EQ(w[1].name(), "separable_conv2d/pointwise_kernel");
  EXPECT_EQ(w[1].shape(), (nr::Shape{1, 1, 6, 4}));
  EXPECT_EQ(w[2].name(), "separable_conv2d/bias");
  EXPECT_EQ(w[2].shape(), (nr::Shape{4}));
  const nr::Tensor dk = f64({3, 3, 3, 2}, 2), pk = f64({1, 1, 6, 4}, 3), b = f64({4}, 4);
  sep->set_weights({dk, pk, b});
  const nr::Tensor expected = nr::relu(
      nr::conv2d(nr::depthwise_conv2d(x, dk, {.strides = {2, 2}, .padding = nr::Padding::Same}),
                 pk) +
      b);
  const nr::Tensor y = sep(x);
  EXPECT_EQ(y.shape(), (nr::Shape{2, 3, 3, 4}));
  EXPECT_TRUE(all_close(y, expected.to_vector<double>(), 1e-12));
}

TEST(SeparableConv2DLayer, OutputShapesAndChannelsFirst) {
  struct Case {
    L::IntPair kernel;
    L::SeparableConv2DOptions options;
    nr::Shape in, out;
  };
  const std::vector<Case> cases = {
      {3, {}, {2, 7, 8, 3}, {2, 5, 6, 5}},
      {3, {.strides = 2, .padding = "same"}, {2, 7, 8, 3}, {2, 4, 4, 5}},
      {{3, 2}, {.dilation_rate = 2, .depth_multiplier = 3}, {1, 7, 8, 2}, {1, 3, 6, 5}},
      {3, {.data_format = "channels_first"}, {2, 3, 6, 7}, {2, 5, 4, 5}},
  };
  for (const Case& c : cases) {
    auto layer = L::SeparableConv2D(5, c.kernel, c.options);
    EXPECT_EQ(layer->compute_output_shape(c.in), c.out) << c.in;
    EXPECT_EQ(layer(nr::ones(c.in)).shape(), c.out) << c.in;
  }
  auto last = L::SeparableConv2D(3, 3, {.padding = "same", .dtype = nr::float64});
  auto first = L::SeparableConv2D(
      3, 3, {.padding = "same", .data_format = "channels_first", .dtype = nr::float64});
  const nr::Tensor x = f64({2, 4, 5, 2}, 5);
  last->ensure_built(x.shape());
  first->ensure_built({2, 2, 4, 5});
  last->set_weights({f64({3, 3, 2, 1}, 6), f64({1, 1, 2, 3}, 7), f64({3}, 8)});
  first->set_weights(last->get_weights());
  EXPECT_TRUE(all_close(nr::transpose(first(nr::transpose(x, {0, 3, 1, 2})), {0, 2, 3, 1}),
                        last(x).to_vector<double>(), 1e-12));
}

TEST(SeparableConv2DLayer, ErrorsNameLayerArgumentsAndShapes) {
  nr::clear_session();
  auto sep = L::SeparableConv2D(4, 3);
  NEURONA_EXPECT_THROW_MSG(sep(nr::ones({5, 5, 4})), nr::ShapeError,
                           "SeparableConv2D 'separable_conv2d'", "expected a 4-D input");
  sep(nr::ones({1, 5, 5, 2}));
  NEURONA_EXPECT_THROW_MSG(sep(nr::ones({1, 5, 5, 3})), nr::ShapeError,
                           "expected inputs with 2 channels");
  NEURONA_EXPECT_THROW_MSG(L::SeparableConv2D(0, 3), nr::ValueError, "filters=0");
  NEURONA_EXPECT_THROW_MSG(L::SeparableConv2D(4, 3, {.depth_multiplier = -1}), nr::ValueError,
                           "depth_multiplier=-1");
  NEURONA_EXPECT_THROW_MSG(L::SeparableConv2D(4, {0, 3}), nr::ValueError, "kernel_size=(0, 3)");
  NEURONA_EXPECT_THROW_MSG(L::SeparableConv2D(4, 3, {.padding = "full"}), nr::ValueError,
                           "padding=full");
  NEURONA_EXPECT_THROW_MSG(L::SeparableConv2D(4, 3)->pointwise_kernel(), nr::ValueError,
                           "does not exist until the layer is built");
}

TEST(SeparableConv2DLayer, GradientsMatchNumericalInFloat64) {
  struct Case {
    const char* what;
    L::IntPair kernel;
    L::SeparableConv2DOptions options;
    nr::Shape in;
  };
  const std::vector<Case> cases = {
      {"valid multiplier 2", 3, {.depth_multiplier = 2}, {2, 5, 4, 2}},
      {"same strides 2 relu",
       3,
       {.strides = 2, .padding = "same", .activation = "relu"},
       {1, 5, 5, 3}},
      {"dilation", 2, {.dilation_rate = 2, .use_bias = false}, {1, 5, 6, 2}},
      {"channels_first",
       {2, 3},
       {.padding = "same", .data_format = "channels_first"},
       {1, 2, 4, 3}},
  };
  for (const Case& c : cases) {
    L::SeparableConv2DOptions options = c.options;
    options.dtype = nr::float64;
    options.bias_initializer = "random_normal";
    auto sep = L::SeparableConv2D(3, c.kernel, options);
    EXPECT_TRUE(nr::testing::check_layer_gradients(c.what, sep, f64(c.in, 7))) << c.what;
  }
}

TEST(SeparableConv2DLayer, ConfigHasKerasKeysAndRebuildsThroughTheRegistry) {
  nr::clear_session();
  auto sep = L::SeparableConv2D(8, 3,
                                {.dilation_rate = 2,
                                 .depth_multiplier = 2,
                                 .use_bias = false,
                                 .pointwise_initializer = "ones",
                                 .pointwise_regularizer = "l2",
                                 .pointwise_constraint = "unit_norm"});
  const nr::ConfigValue before = sep->get_config();
  EXPECT_EQ(keys(before), (std::vector<std::string>{"name",
                                                    "trainable",
                                                    "dtype",
                                                    "depth_multiplier",
                                                    "filters",
                                                    "kernel_size",
                                                    "strides",
                                                    "padding",
                                                    "data_format",
                                                    "dilation_rate",
                                                    "activation",
                                                    "use_bias",
                                                    "depthwise_initializer",
                                                    "pointwise_initializer",
                                                    "bias_initializer",
                                                    "depthwise_regularizer",
                                                    "pointwise_regularizer",
                                                    "bias_regularizer",
                                                    "activity_regularizer",
                                                    "depthwise_constraint",
                                                    "pointwise_constraint",
                                                    "bias_constraint"}));
  EXPECT_EQ(before.at("pointwise_initializer").at("class_name").as_string(), "Ones");
  const auto factory = L::layer_registry().find("SeparableConv2D");
  ASSERT_TRUE(factory);
  const L::AnyLayer again = (*factory)(before);
  EXPECT_EQ(again->get_config(), before);
  again->ensure_built({1, 7, 7, 3});
  EXPECT_EQ(again->weights().size(), 2u);  // no bias
  EXPECT_EQ(again->losses().size(), 1u);   // the pointwise kernel's l2 penalty
}
