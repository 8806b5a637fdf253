// Conv2DTranspose: hand-computed values, Keras's output sizes ('valid', 'same', output_padding,
// dilation, strides larger than the kernel), kernel shape (kh, kw, filters, in), both data
// formats, Keras's errors, numerical gradient checks, and Keras's config keys (output_padding
// None or a pair) and from_config through the layer registry.
#include <neurona/neurona.h>

#include "layers/layer_gradcheck.h"
#include "neurona/layers/layer_registry.h"
#include "neurona/models/keras_config.h"

namespace nr = neurona;
namespace L = nr::layers;
using nr::testing::all_close;
using nr::testing::make_tensor;

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

TEST(Conv2DTransposeLayer, StridesSpreadEachPixelOverTheKernel) {
  // A 2x2 image through a 2x2 kernel of ones with strides 2: each pixel becomes a 2x2 block,
  // plus the bias.
  auto up = L::Conv2DTranspose(1, 2, {.strides = 2, .dtype = nr::float64});
  const nr::Tensor x = make_tensor({1, 2, 3, 4}, {1, 2, 2, 1}, nr::float64);
  up->ensure_built(x.shape());
  EXPECT_EQ(up->kernel().shape(), (nr::Shape{2, 2, 1, 1}));
  up->set_weights(
      {nr::ones({2, 2, 1, 1}, {.dtype = nr::float64}), make_tensor({0.5}, {1}, nr::float64)});
  const nr::Tensor y = up(x);
  EXPECT_EQ(y.shape(), (nr::Shape{1, 4, 4, 1}));
  EXPECT_TRUE(all_close(
      y, {1.5, 1.5, 2.5, 2.5, 1.5, 1.5, 2.5, 2.5, 3.5, 3.5, 4.5, 4.5, 3.5, 3.5, 4.5, 4.5}));
}

TEST(Conv2DTransposeLayer, OutputShapesFollowKerasFormulas) {
  nr::clear_session();
  struct Case {
    L::IntPair kernel;
    L::Conv2DTransposeOptions options;
    nr::Shape in, out;
  };
  const std::vector<Case> cases = {
      {3, {}, {2, 4, 5, 2}, {2, 6, 7, 6}},
      {3, {.strides = 2}, {2, 4, 5, 2}, {2, 9, 11, 6}},
      {2, {.strides = 3}, {2, 4, 5, 2}, {2, 12, 15, 6}},  // (n - 1) s + max(k, s)
      {3, {.strides = 2, .padding = "same"}, {2, 4, 5, 2}, {2, 8, 10, 6}},
      {3, {.strides = 2, .padding = "same", .output_padding = 0}, {2, 4, 5, 2}, {2, 7, 9, 6}},
      {4, {.strides = 2, .padding = "same", .output_padding = 1}, {2, 4, 5, 2}, {2, 7, 9, 6}},
      {3, {.strides = {2, 3}, .output_padding = {1, 2}}, {2, 4, 5, 2}, {2, 10, 17, 6}},
      {3, {.dilation_rate = 2}, {2, 4, 5, 2}, {2, 8, 9, 6}},
      {3, {.strides = 2, .data_format = "channels_first"}, {2, 2, 4, 5}, {2, 6, 9, 11}},
      {3, {.strides = 2, .padding = "same"}, {-1, -1, 5, 2}, {-1, -1, 10, 6}},
  };
  for (const Case& c : cases) {
    auto layer = L::Conv2DTranspose(6, c.kernel, c.options);
    EXPECT_EQ(layer->compute_output_shape(c.in), c.out) << c.in;
    if (c.in[0] > 0 && c.in[1] > 0) {
      EXPECT_EQ(layer(nr::ones(c.in)).shape(), c.out) << c.in;
      const nr::Shape k = layer->kernel().shape();
      EXPECT_EQ(k, (nr::Shape{c.kernel[0], c.kernel[1], 6, 2})) << c.in;
    }
  }
}

TEST(Conv2DTransposeLayer, ChannelsFirstMatchesChannelsLastTransposed) {
  const L::Conv2DTransposeOptions base{
      .strides = 2, .padding = "same", .output_padding = 1, .dtype = nr::float64};
  auto last = L::Conv2DTranspose(3, 3, base);
  L::Conv2DTransposeOptions cf = base;
  cf.data_format = "channels_first";
  auto first = L::Conv2DTranspose(3, 3, cf);
  const nr::Tensor x = f64({2, 3, 4, 2}, 1);
  last->ensure_built(x.shape());
  first->ensure_built({2, 2, 3, 4});
  last->set_weights({f64({3, 3, 3, 2}, 2), f64({3}, 3)});
  first->set_weights(last->get_weights());
  const nr::Tensor y_first = first(nr::transpose(x, {0, 3, 1, 2}));
  EXPECT_EQ(y_first.shape(), (nr::Shape{2, 3, 6, 8}));
  EXPECT_TRUE(all_close(nr::transpose(y_first, {0, 2, 3, 1}), last(x).to_vector<double>(), 1e-12));
}

TEST(Conv2DTransposeLayer, ErrorsAreKeras) {
  nr::clear_session();
  auto up = L::Conv2DTranspose(4, 3);
  NEURONA_EXPECT_THROW_MSG(up(nr::ones({5, 5, 4})), nr::ShapeError,
                           "Conv2DTranspose 'conv2d_transpose'", "expected a 4-D input");
  up(nr::ones({1, 5, 5, 2}));
  NEURONA_EXPECT_THROW_MSG(up(nr::ones({1, 5, 5, 3})), nr::ShapeError,
                           "expected inputs with 2 channels");
  NEURONA_EXPECT_THROW_MSG(L::Conv2DTranspose(4, 3, {.strides = 2, .output_padding = {1, 2}}),
                           nr::ValueError,
                           "`output_padding` must be strictly less than `strides` for all "
                           "dimensions. At dimension 1, `output_padding` is 2 but `strides` is 2",
                           "Received: output_padding=(1, 2), strides=(2, 2)");
  NEURONA_EXPECT_THROW_MSG(L::Conv2DTranspose(4, 3, {.output_padding = -1}), nr::ValueError,
                           "output_padding=(-1, -1)", ">= 0");
  NEURONA_EXPECT_THROW_MSG(L::Conv2DTranspose(0, 3), nr::ValueError, "filters=0");
  NEURONA_EXPECT_THROW_MSG(L::Conv2DTranspose(4, 3, {.strides = 2, .dilation_rate = 2}),
                           nr::ValueError, "`strides > 1` not supported");
  NEURONA_EXPECT_THROW_MSG(L::Conv2DTranspose(4, 3, {.padding = "causal"}), nr::ValueError,
                           "padding=causal");
  NEURONA_EXPECT_THROW_MSG(
      L::Conv2DTranspose(4, 2, {.strides = 2, .padding = "same", .output_padding = 0})
          ->compute_output_shape({1, 1, 1, 2}),
      nr::ShapeError, "computed output size would be 0");
}

TEST(Conv2DTransposeLayer, GradientsMatchNumericalInFloat64) {
  struct Case {
    const char* what;
    L::IntPair kernel;
    L::Conv2DTransposeOptions options;
    nr::Shape in;
  };
  const std::vector<Case> cases = {
      {"valid", 3, {}, {2, 3, 2, 2}},
      {"same strides 2", 3, {.strides = 2, .padding = "same"}, {1, 3, 3, 2}},
      {"output_padding", {2, 3}, {.strides = {3, 2}, .output_padding = {2, 1}}, {1, 2, 3, 1}},
      {"dilation same", 3, {.padding = "same", .dilation_rate = {2, 1}}, {1, 3, 3, 2}},
      {"channels_first tanh",
       2,
       {.strides = 2, .data_format = "channels_first", .activation = "tanh"},
       {1, 2, 2, 3}},
  };
  for (const Case& c : cases) {
    L::Conv2DTransposeOptions options = c.options;
    options.dtype = nr::float64;
    options.bias_initializer = "random_normal";
    auto up = L::Conv2DTranspose(2, c.kernel, options);
    EXPECT_TRUE(nr::testing::check_layer_gradients(c.what, up, f64(c.in, 7))) << c.what;
  }
}

TEST(Conv2DTransposeLayer, ConfigHasKerasKeysAndRebuildsThroughTheRegistry) {
  nr::clear_session();
  auto up = L::Conv2DTranspose(5, {3, 4}, {.strides = 2, .output_padding = {1, 0}});
  const nr::ConfigValue before = up->get_config();
  EXPECT_EQ(keys(before),
            (std::vector<std::string>{
                "name", "trainable", "dtype", "filters", "kernel_size", "strides", "padding",
                "output_padding", "data_format", "dilation_rate", "activation", "use_bias",
                "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                "activity_regularizer", "kernel_constraint", "bias_constraint"}));
  EXPECT_EQ(before.at("output_padding"), (nr::ConfigValue::List{1, 0}));
  const auto factory = L::layer_registry().find("Conv2DTranspose");
  ASSERT_TRUE(factory);
  EXPECT_EQ((*factory)(before)->get_config(), before);
  // output_padding None.
  EXPECT_TRUE(L::Conv2DTranspose(2, 3)->get_config().at("output_padding").is_null());

  // keras.layers.Conv2DTranspose(4, 3, strides=2, output_padding=1).get_config(), as Keras 3.15
  // writes it.
  const nr::ConfigValue keras = nr::models::detail::parse_json(
      R"({"name": "up", "trainable": true, "dtype": {"module": "keras", "class_name":
      "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "filters": 4,
      "kernel_size": [3, 3], "strides": [2, 2], "padding": "valid", "output_padding": [1, 1],
      "data_format": "channels_last", "dilation_rate": [1, 1], "activation": "linear",
      "use_bias": true, "kernel_initializer": {"module": "keras.initializers", "class_name":
      "GlorotUniform", "config": {"seed": null, "input_axes": null, "output_axes": null},
      "registered_name": null}, "bias_initializer": {"module": "keras.initializers",
      "class_name": "Zeros", "config": {}, "registered_name": null}, "kernel_regularizer": null,
      "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null,
      "bias_constraint": null})",
      "test");
  const L::Conv2DTranspose loaded = L::Conv2DTranspose::from_config(keras);
  EXPECT_EQ(loaded->name(), "up");
  ASSERT_TRUE(loaded->output_padding().has_value());
  EXPECT_EQ(loaded->output_padding()->values, (std::array<std::int64_t, 2>{1, 1}));
  EXPECT_EQ(loaded->compute_output_shape({1, 4, 4, 2}), (nr::Shape{1, 10, 10, 4}));
}

TEST(Conv2DTransposeLayer, MixedPrecisionComputesInTheCompute16BitType) {
  // float32 weights, bfloat16 / float16 inputs and outputs; the values those of float32 within
  // the 16-bit rounding of the inputs, weights and result.
  for (const char* policy : {"mixed_bfloat16", "mixed_float16"}) {
    auto mixed = L::Conv2DTranspose(3, 3, {.strides = 2, .padding = "same", .dtype = policy});
    auto plain = L::Conv2DTranspose(3, 3, {.strides = 2, .padding = "same"});
    const nr::Tensor x = nr::testing::random_tensor({2, 3, 4, 2}, nr::float32, -1, 1, 9);
    const nr::Tensor y = mixed(x);
    plain->ensure_built(x.shape());
    plain->set_weights(mixed->get_weights());
    EXPECT_EQ(y.dtype(), nr::DTypePolicy(policy).compute_dtype()) << policy;
    EXPECT_EQ(mixed->kernel().dtype(), nr::float32) << policy;
    EXPECT_TRUE(all_close(y, plain(x).to_vector<double>(), 3e-2, 3e-2)) << policy;
  }
}
