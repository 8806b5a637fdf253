// DepthwiseConv2D: each channel through its own filters (against per-channel conv2d), kernel
// and bias shapes and names as Keras's, output shapes, both data formats, errors, numerical
// gradient checks, and Keras's config keys and from_config through the layer registry.
#include <neurona/neurona.h>

#include "layers/layer_gradcheck.h"
#include "neurona/layers/layer_registry.h"
#include "neurona/models/keras_config.h"

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

TEST(DepthwiseConv2DLayer, EachChannelGoesThroughItsOwnFilters) {
  // Output channel c * 2 + m is channel c convolved with kernel[:, :, c, m], plus its bias.
  auto dw = L::DepthwiseConv2D(
      {3, 2}, {.strides = {2, 1}, .padding = "same", .depth_multiplier = 2, .dtype = nr::float64});
  const nr::Tensor x = f64({2, 5, 4, 3}, 1);
  dw->ensure_built(x.shape());
  const nr::Tensor k = f64({3, 2, 3, 2}, 2), b = f64({6}, 3);
  dw->set_weights({k, b});
  const nr::Tensor y = dw(x);
  ASSERT_EQ(y.shape(), (nr::Shape{2, 3, 4, 6}));
  const nr::ConvOptions o{.strides = {2, 1}, .padding = nr::Padding::Same};
  for (std::int64_t c = 0; c < 3; ++c) {
    for (std::int64_t m = 0; m < 2; ++m) {
      const nr::Tensor kcm = nr::narrow(nr::narrow(k, 2, c, 1), 3, m, 1);
      const nr::Tensor expected =
          nr::conv2d(nr::narrow(x, 3, c, 1), kcm, o) + nr::narrow(b, 0, c * 2 + m, 1);
      EXPECT_TRUE(all_close(nr::narrow(y, 3, c * 2 + m, 1), expected.to_vector<double>(), 1e-12))
          << "channel " << c << " multiplier " << m;
    }
  }
  // nr::depthwise_conv2d is the same convolution without the bias.
  EXPECT_TRUE(all_close(nr::depthwise_conv2d(x, k, o) + b, y.to_vector<double>(), 1e-12));
}

TEST(DepthwiseConv2DLayer, WeightsAndOutputShapesAreKeras) {
  nr::clear_session();
  auto dw = L::DepthwiseConv2D(3, {.depth_multiplier = 4});
  EXPECT_EQ(dw->name(), "depthwise_conv2d");
  dw->ensure_built({-1, 9, 9, 5});
  EXPECT_EQ(dw->kernel().shape(), (nr::Shape{3, 3, 5, 4}));
  EXPECT_EQ(dw->kernel().name(), "depthwise_conv2d/kernel");
  EXPECT_EQ(dw->bias().shape(), (nr::Shape{20}));
  EXPECT_EQ(dw->count_params(), 3 * 3 * 5 * 4 + 20);
  struct Case {
    L::IntPair kernel;
    L::DepthwiseConv2DOptions options;
    nr::Shape in, out;
  };
  const std::vector<Case> cases = {
      {3, {}, {2, 7, 8, 3}, {2, 5, 6, 3}},
      {3, {.strides = 2, .padding = "same", .depth_multiplier = 2}, {2, 7, 8, 3}, {2, 4, 4, 6}},
      {{2, 3}, {.dilation_rate = {2, 1}}, {2, 7, 8, 3}, {2, 5, 6, 3}},
      {3, {.strides = 2, .dilation_rate = 2}, {2, 9, 9, 2}, {2, 3, 3, 2}},
      {3, {.depth_multiplier = 3, .data_format = "channels_first"}, {2, 2, 5, 6}, {2, 6, 3, 4}},
      {3, {.padding = "same"}, {-1, -1, 9, 3}, {-1, -1, 9, 3}},
  };
  for (const Case& c : cases) {
    auto layer = L::DepthwiseConv2D(c.kernel, c.options);
    EXPECT_EQ(layer->compute_output_shape(c.in), c.out) << c.in;
    if (c.in[0] > 0 && c.in[1] > 0) {
      EXPECT_EQ(layer(nr::ones(c.in)).shape(), c.out) << c.in;
    }
  }
  auto no_bias = L::DepthwiseConv2D(3, {.use_bias = false});
  no_bias->ensure_built({1, 4, 4, 2});
  EXPECT_EQ(no_bias->weights().size(), 1u);
  NEURONA_EXPECT_THROW_MSG(no_bias->bias(), nr::ValueError, "use_bias = false");
}

TEST(DepthwiseConv2DLayer, ChannelsFirstMatchesChannelsLastTransposed) {
  auto last = L::DepthwiseConv2D(
      3, {.strides = 2, .padding = "same", .depth_multiplier = 2, .dtype = nr::float64});
  auto first = L::DepthwiseConv2D(3, {.strides = 2,
                                      .padding = "same",
                                      .depth_multiplier = 2,
                                      .data_format = "channels_first",
                                      .dtype = nr::float64});
  const nr::Tensor x = f64({2, 5, 6, 3}, 4);
  last->ensure_built(x.shape());
  first->ensure_built({2, 3, 5, 6});
  last->set_weights({f64({3, 3, 3, 2}, 5), f64({6}, 6)});
  first->set_weights(last->get_weights());
  const nr::Tensor y_first = first(nr::transpose(x, {0, 3, 1, 2}));
  EXPECT_TRUE(all_close(nr::transpose(y_first, {0, 2, 3, 1}), last(x).to_vector<double>(), 1e-12));
}

TEST(DepthwiseConv2DLayer, ErrorsNameLayerArgumentsAndShapes) {
  nr::clear_session();
  auto dw = L::DepthwiseConv2D(3);
  NEURONA_EXPECT_THROW_MSG(dw(nr::ones({5, 5, 4})), nr::ShapeError,
                           "DepthwiseConv2D 'depthwise_conv2d'", "expected a 4-D input");
  NEURONA_EXPECT_THROW_MSG(dw(nr::ones({1, 2, 5, 4})), nr::ShapeError, "not positive");
  dw(nr::ones({1, 5, 5, 4}));
  NEURONA_EXPECT_THROW_MSG(dw(nr::ones({1, 5, 5, 3})), nr::ShapeError,
                           "expected inputs with 4 channels");
  NEURONA_EXPECT_THROW_MSG(L::DepthwiseConv2D(3, {.depth_multiplier = 0}), nr::ValueError,
                           "`depth_multiplier`", "depth_multiplier=0");
  NEURONA_EXPECT_THROW_MSG(L::DepthwiseConv2D({3, 0}), nr::ValueError, "kernel_size=(3, 0)");
  NEURONA_EXPECT_THROW_MSG(L::DepthwiseConv2D(3, {.strides = 0}), nr::ValueError, "strides=(0, 0)");
  NEURONA_EXPECT_THROW_MSG(L::DepthwiseConv2D(3, {.padding = "causal"}), nr::ValueError,
                           "`padding`", "padding=causal");
  NEURONA_EXPECT_THROW_MSG(L::DepthwiseConv2D(3)->kernel(), nr::ValueError,
                           "does not exist until the layer is built");
  // The op names itself, not the grouped convolution it runs.
  const nr::Tensor k = nr::ones({3, 3, 4, 1});
  NEURONA_EXPECT_THROW_MSG(nr::depthwise_conv2d(nr::ones({1, 5, 5, 4}), k, {.strides = {0, 1}}),
                           nr::ValueError, "depthwise_conv2d: strides (0, 1) must be positive");
  NEURONA_EXPECT_THROW_MSG(
      nr::depthwise_conv2d(nr::ones({1, 4, 5, 5}), k,
                           {.dilation_rate = {1, 0}, .data_format = nr::DataFormat::ChannelsFirst}),
      nr::ValueError, "depthwise_conv2d: dilation_rate (1, 0)");
}

TEST(DepthwiseConv2DLayer, GradientsMatchNumericalInFloat64) {
  struct Case {
    const char* what;
    L::IntPair kernel;
    L::DepthwiseConv2DOptions options;
    nr::Shape in;
  };
  const std::vector<Case> cases = {
      {"valid multiplier 2", 3, {.depth_multiplier = 2}, {2, 5, 4, 2}},
      {"same strides 2", {3, 2}, {.strides = 2, .padding = "same"}, {1, 5, 5, 3}},
      {"dilation", 2, {.dilation_rate = 2, .activation = "relu"}, {1, 5, 6, 2}},
      {"channels_first",
       3,
       {.padding = "same", .depth_multiplier = 2, .data_format = "channels_first"},
       {1, 2, 4, 3}},
  };
  for (const Case& c : cases) {
    L::DepthwiseConv2DOptions options = c.options;
    options.dtype = nr::float64;
    options.bias_initializer = "random_normal";
    auto dw = L::DepthwiseConv2D(c.kernel, options);
    EXPECT_TRUE(nr::testing::check_layer_gradients(c.what, dw, f64(c.in, 7))) << c.what;
  }
}

TEST(DepthwiseConv2DLayer, ConfigHasKerasKeysAndRebuildsThroughTheRegistry) {
  nr::clear_session();
  auto dw = L::DepthwiseConv2D({3, 5}, {.strides = {1, 2},
                                        .padding = "same",
                                        .depth_multiplier = 3,
                                        .activation = "relu",
                                        .depthwise_initializer = "he_normal",
                                        .depthwise_regularizer = "l1",
                                        .depthwise_constraint = "max_norm"});
  const nr::ConfigValue before = dw->get_config();
  EXPECT_EQ(keys(before), (std::vector<std::string>{
                              "name", "trainable", "dtype", "depth_multiplier", "kernel_size",
                              "strides", "padding", "data_format", "dilation_rate", "activation",
                              "use_bias", "depthwise_initializer", "bias_initializer",
                              "depthwise_regularizer", "bias_regularizer", "activity_regularizer",
                              "depthwise_constraint", "bias_constraint"}));
  EXPECT_EQ(before.at("kernel_size"), (nr::ConfigValue::List{3, 5}));
  EXPECT_EQ(before.at("depthwise_initializer").at("class_name").as_string(), "HeNormal");
  const auto factory = L::layer_registry().find("DepthwiseConv2D");
  ASSERT_TRUE(factory);
  const L::AnyLayer again = (*factory)(before);
  EXPECT_EQ(again->class_name(), "DepthwiseConv2D");
  EXPECT_EQ(again->get_config(), before);
  again->ensure_built({1, 6, 6, 2});
  EXPECT_EQ(again->losses().size(), 1u);  // the kernel's l1 penalty
}
