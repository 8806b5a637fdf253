// Conv2D: Keras's argument forms, defaults and output-shape formulas, hand-computed values
// ('same' puts the odd padding pixel bottom-right), both data formats, groups, error
// messages, and numerical gradient checks through the layer's variables.
#include <neurona/neurona.h>

#include "layers/layer_gradcheck.h"

namespace nr = neurona;
using nr::testing::all_close;

namespace {
nr::Tensor f64(const nr::Shape& s, std::uint32_t seed) {
  return nr::testing::random_tensor(s, nr::float64, -1, 1, seed);
}
nr::Tensor cpu_ones(const nr::Shape& s) {
  return nr::ones(s, {.device = nr::Device::cpu()});
}
}  // namespace

TEST(Conv2DLayer, ValidConvolutionPlusBias) {
  auto conv = nr::layers::Conv2D(1, 2, {.dtype = nr::float64});
  const nr::Tensor x =
      nr::testing::make_tensor({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 3, 3, 1}, nr::float64);
  conv->ensure_built(x.shape());
  conv->set_weights({nr::testing::make_tensor({1, 1, 1, 1}, {2, 2, 1, 1}, nr::float64),
                     nr::testing::make_tensor({0.5}, {1}, nr::float64)});
  const nr::Tensor y = conv(x);
  EXPECT_EQ(y.shape(), (nr::Shape{1, 2, 2, 1}));
  EXPECT_TRUE(all_close(y, {12.5, 16.5, 24.5, 28.5}));
}

TEST(Conv2DLayer, SamePaddingPutsOddPixelBottomRight) {
  auto conv = nr::layers::Conv2D(1, 2, {.padding = "same", .use_bias = false});
  const nr::Tensor x = nr::testing::make_tensor({1, 2, 3, 4}, {1, 2, 2, 1});
  conv->ensure_built(x.shape());
  conv->set_weights({nr::testing::make_tensor({1, 1, 1, 1}, {2, 2, 1, 1})});
  // The window at (i, j) covers (i..i+1, j..j+1); the padded row and column are last.
  EXPECT_TRUE(all_close(conv(x), {10, 6, 7, 4}));
}

TEST(Conv2DLayer, KernelShapeDefaultsAndNames) {
  nr::clear_session();
  auto conv = nr::layers::Conv2D(8, 3);
  EXPECT_EQ(conv->name(), "conv2d");
  EXPECT_EQ(conv->kernel_size().values, (std::array<std::int64_t, 2>{3, 3}));
  EXPECT_EQ(conv->strides().values, (std::array<std::int64_t, 2>{1, 1}));
  EXPECT_EQ(conv->dilation_rate().values, (std::array<std::int64_t, 2>{1, 1}));
  EXPECT_EQ(conv->padding(), nr::Padding::Valid);
  EXPECT_EQ(conv->data_format(), nr::DataFormat::ChannelsLast);
  EXPECT_EQ(conv->groups(), 1);
  conv->ensure_built({-1, 10, 10, 6});
  EXPECT_EQ(conv->kernel().shape(), (nr::Shape{3, 3, 6, 8}));
  EXPECT_EQ(conv->kernel().name(), "conv2d/kernel");
  EXPECT_EQ(conv->bias().shape(), (nr::Shape{8}));
  EXPECT_EQ(conv->count_params(), 3 * 3 * 6 * 8 + 8);
  EXPECT_TRUE(all_close(conv->bias().value(), std::vector<double>(8, 0.0)));

  auto grouped = nr::layers::Conv2D(6, {3, 5}, {.groups = 3, .use_bias = false});
  grouped->ensure_built({2, 9, 9, 12});
  EXPECT_EQ(grouped->kernel().shape(), (nr::Shape{3, 5, 4, 6}));
  EXPECT_EQ(grouped->weights().size(), 1u);
  NEURONA_EXPECT_THROW_MSG(grouped->bias(), nr::ValueError, "use_bias = false");
}

TEST(Conv2DLayer, PaddingAndDataFormatAreCaseInsensitive) {
  auto conv = nr::layers::Conv2D(2, 3, {.padding = "SAME", .data_format = "Channels_First"});
  EXPECT_EQ(conv->padding(), nr::Padding::Same);
  EXPECT_EQ(conv->data_format(), nr::DataFormat::ChannelsFirst);
  EXPECT_EQ(conv->compute_output_shape({4, 3, 7, 5}), (nr::Shape{4, 2, 7, 5}));
}

TEST(Conv2DLayer, OutputShapeFollowsKerasFormulas) {
  struct Case {
    nr::layers::IntPair kernel, strides, dilation;
    const char* padding;
    nr::Shape in, out;
  };
  const std::vector<Case> cases = {
      {3, 1, 1, "valid", {2, 7, 8, 3}, {2, 5, 6, 4}},
      {3, 2, 1, "valid", {2, 7, 8, 3}, {2, 3, 3, 4}},
      {3, 2, 1, "same", {2, 7, 8, 3}, {2, 4, 4, 4}},
      {{1, 3}, {3, 2}, 1, "same", {2, 7, 8, 3}, {2, 3, 4, 4}},
      {3, 1, 2, "valid", {2, 7, 8, 3}, {2, 3, 4, 4}},
      {3, 1, {2, 3}, "same", {2, 7, 8, 3}, {2, 7, 8, 4}},
      {3, 2, 1, "same", {-1, -1, 9, 3}, {-1, -1, 5, 4}},
  };
  for (const Case& c : cases) {
    auto conv = nr::layers::Conv2D(
        4, c.kernel, {.strides = c.strides, .padding = c.padding, .dilation_rate = c.dilation});
    EXPECT_EQ(conv->compute_output_shape(c.in), c.out) << c.in << " " << c.padding;
    if (c.in[0] > 0 && c.in[1] > 0) {
      EXPECT_EQ(conv(cpu_ones(c.in)).shape(), c.out) << c.in << " " << c.padding;
    }
  }
}

TEST(Conv2DLayer, ChannelsFirstMatchesChannelsLastTransposed) {
  auto last = nr::layers::Conv2D(
      6, 3, {.strides = 2, .padding = "same", .groups = 2, .dtype = nr::float64});
  auto first = nr::layers::Conv2D(6, 3,
                                  {.strides = 2,
                                   .padding = "same",
                                   .data_format = "channels_first",
                                   .groups = 2,
                                   .dtype = nr::float64});
  const nr::Tensor x = f64({2, 5, 6, 4}, 1);
  last->ensure_built(x.shape());
  first->ensure_built({2, 4, 5, 6});
  last->set_weights({f64({3, 3, 2, 6}, 2), f64({6}, 3)});
  first->set_weights(last->get_weights());
  const nr::Tensor y_last = last(x);
  const nr::Tensor y_first = first(nr::transpose(x, {0, 3, 1, 2}));
  EXPECT_EQ(y_first.shape(), (nr::Shape{2, 6, 3, 3}));
  EXPECT_TRUE(all_close(nr::transpose(y_first, {0, 2, 3, 1}), y_last.to_vector<double>(), 1e-12));
}

TEST(Conv2DLayer, GroupsConvolveChannelGroupsSeparately) {
  // Two groups of one channel each: filter g sees only channel g.
  auto conv = nr::layers::Conv2D(2, 1, {.groups = 2, .use_bias = false, .dtype = nr::float64});
  const nr::Tensor x = nr::testing::make_tensor({1, 10, 2, 20}, {1, 1, 2, 2}, nr::float64);
  conv->ensure_built(x.shape());
  conv->set_weights({nr::testing::make_tensor({3, 5}, {1, 1, 1, 2}, nr::float64)});
  EXPECT_TRUE(all_close(conv(x), {3, 50, 6, 100}));
}

TEST(Conv2DLayer, AppliesActivation) {
  auto conv = nr::layers::Conv2D(1, 1, {.activation = "relu", .dtype = nr::float64});
  const nr::Tensor x = nr::testing::make_tensor({-1, 2}, {1, 1, 2, 1}, nr::float64);
  conv->ensure_built(x.shape());
  conv->set_weights({nr::testing::make_tensor({1}, {1, 1, 1, 1}, nr::float64),
                     nr::testing::make_tensor({0}, {1}, nr::float64)});
  EXPECT_TRUE(all_close(conv(x), {0, 2}));
}

TEST(Conv2DLayer, ErrorsNameLayerArgumentsAndShapes) {
  nr::clear_session();
  auto conv = nr::layers::Conv2D(4, 3, {.groups = 2});
  NEURONA_EXPECT_THROW_MSG(conv(cpu_ones({5, 5, 4})), nr::ShapeError, "Conv2D 'conv2d'",
                           "expected a 4-D input", "(5, 5, 4)");
  NEURONA_EXPECT_THROW_MSG(conv(cpu_ones({1, 5, 5, 3})), nr::ValueError, "Conv2D 'conv2d'",
                           "evenly divisible by the number of groups", "groups=2", "has 3 channels",
                           "(1, 5, 5, 3)");
  NEURONA_EXPECT_THROW_MSG(conv(cpu_ones({1, 2, 5, 4})), nr::ShapeError, "Conv2D 'conv2d'",
                           "(1, 2, 5, 4)", "not positive");
  conv(cpu_ones({1, 5, 5, 4}));
  NEURONA_EXPECT_THROW_MSG(conv(cpu_ones({1, 5, 5, 6})), nr::ShapeError,
                           "expected inputs with 4 channels", "(1, 5, 5, 6)");
  NEURONA_EXPECT_THROW_MSG(nr::layers::Conv2D(0, 3), nr::ValueError, "filters=0");
  NEURONA_EXPECT_THROW_MSG(nr::layers::Conv2D(5, 3, {.groups = 2}), nr::ValueError,
                           "filters must be evenly divisible", "groups=2, filters=5");
  NEURONA_EXPECT_THROW_MSG(nr::layers::Conv2D(4, 3, {.groups = 0}), nr::ValueError, "groups=0");
  NEURONA_EXPECT_THROW_MSG(nr::layers::Conv2D(4, {3, 0}), nr::ValueError, "kernel_size=(3, 0)");
  NEURONA_EXPECT_THROW_MSG(nr::layers::Conv2D(4, 3, {.strides = {1, -1}}), nr::ValueError,
                           "strides=(1, -1)");
  NEURONA_EXPECT_THROW_MSG(nr::layers::Conv2D(4, 3, {.strides = 2, .dilation_rate = 2}),
                           nr::ValueError, "`strides > 1` not supported",
                           "strides=(2, 2) and dilation_rate=(2, 2)");
  NEURONA_EXPECT_THROW_MSG(nr::layers::Conv2D(4, 3, {.padding = "full"}), nr::ValueError,
                           "`padding`", "padding=full");
  NEURONA_EXPECT_THROW_MSG(nr::layers::Conv2D(4, 3, {.data_format = "nhwc"}), nr::ValueError,
                           "`data_format`", "data_format=nhwc");
  NEURONA_EXPECT_THROW_MSG(nr::layers::Conv2D(4, 3)->kernel(), nr::ValueError,
                           "does not exist until the layer is built");
}

TEST(Conv2DLayer, GradientsMatchNumericalInFloat64) {
  struct Case {
    const char* what;
    nr::layers::IntPair kernel;
    nr::layers::Conv2DOptions options;
    nr::Shape in;
  };
  const std::vector<Case> cases = {
      {"valid", 3, {}, {2, 5, 4, 2}},
      {"same strides 2 odd", 3, {.strides = 2, .padding = "same"}, {1, 5, 5, 2}},
      {"same strides (2, 1) even", {2, 3}, {.strides = {2, 1}, .padding = "same"}, {1, 6, 4, 3}},
      {"valid strides 2", 2, {.strides = 2}, {2, 5, 5, 1}},
      {"dilation valid", 2, {.dilation_rate = 2}, {1, 5, 6, 2}},
      {"dilation same", 3, {.padding = "same", .dilation_rate = {2, 1}}, {1, 5, 4, 2}},
      {"channels_first same",
       3,
       {.strides = 2, .padding = "same", .data_format = "channels_first"},
       {2, 3, 5, 4}},
      {"channels_first valid", 2, {.data_format = "channels_first"}, {1, 2, 4, 3}},
      {"groups", 3, {.padding = "same", .groups = 2}, {1, 4, 4, 4}},
      {"groups channels_first", 2, {.data_format = "channels_first", .groups = 3}, {1, 6, 3, 4}},
      {"tanh", 2, {.activation = "tanh"}, {1, 3, 3, 2}},
  };
  for (const Case& c : cases) {
    nr::layers::Conv2DOptions options = c.options;
    options.dtype = nr::float64;
    options.bias_initializer = "random_normal";
    auto conv = nr::layers::Conv2D(c.what == std::string("groups channels_first") ? 3 : 4, c.kernel,
                                   options);
    EXPECT_TRUE(nr::testing::check_layer_gradients(c.what, conv, f64(c.in, 7))) << c.what;
  }
}
