// Conv1D: hand-computed values ('causal' pads only the start, dilation spreads the taps), Keras's
// output-shape formulas in both data formats, kernel shape and names, errors, numerical
// gradient checks, and Keras's config keys and from_config through the layer registry.
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

L::AnyLayer from_registry(const std::string& class_name, const nr::ConfigValue& config) {
  const auto factory = L::layer_registry().find(class_name);
  if (!factory) throw std::runtime_error("not registered: " + class_name);
  return (*factory)(config);
}

std::vector<std::string> keys(const nr::ConfigValue& config) {
  std::vector<std::string> out;
  for (const auto& [k, v] : config.as_dict()) out.push_back(k);
  return out;
}

// y = conv(x) for x = [1, 2, 3, 4] (one channel) and the two-tap kernel [1, 10].
std::vector<double> run_two_taps(L::Conv1DOptions options) {
  options.use_bias = false;
  options.dtype = nr::float64;
  auto conv = L::Conv1D(1, 2, options);
  const nr::Tensor x = make_tensor({1, 2, 3, 4}, {1, 4, 1}, nr::float64);
  conv->ensure_built(x.shape());
  conv->set_weights({make_tensor({1, 10}, {2, 1, 1}, nr::float64)});
  return conv(x).to_vector<double>();
}

}  // namespace

TEST(Conv1DLayer, CausalPaddingLooksOnlyBackwards) {
  EXPECT_TRUE(all_close(run_two_taps({}), {21, 32, 43}));
  // y[t] = x[t - 1] + 10 x[t], with x[-1] = 0.
  EXPECT_TRUE(all_close(run_two_taps({.padding = "causal"}), {10, 21, 32, 43}));
  // Dilation 2: y[t] = x[t - 2] + 10 x[t].
  EXPECT_TRUE(all_close(run_two_taps({.padding = "causal", .dilation_rate = 2}), {10, 20, 31, 42}));
  // 'same' puts the odd padding step at the end: y[t] = x[t] + 10 x[t + 1].
  EXPECT_TRUE(all_close(run_two_taps({.padding = "same"}), {21, 32, 43, 4}));
  EXPECT_TRUE(all_close(run_two_taps({.strides = 2, .padding = "CAUSAL"}), {10, 32}));
}

TEST(Conv1DLayer, KernelShapeDefaultsAndOutputShapes) {
  nr::clear_session();
  auto conv = L::Conv1D(8, 3, {.groups = 2});
  EXPECT_EQ(conv->name(), "conv1d");
  EXPECT_EQ(conv->padding(), "valid");
  EXPECT_EQ(conv->data_format(), nr::DataFormat::ChannelsLast);
  conv->ensure_built({-1, 10, 6});
  EXPECT_EQ(conv->kernel().shape(), (nr::Shape{3, 3, 8}));
  EXPECT_EQ(conv->kernel().name(), "conv1d/kernel");
  EXPECT_EQ(conv->bias().shape(), (nr::Shape{8}));
  EXPECT_EQ(conv->count_params(), 3 * 3 * 8 + 8);
  struct Case {
    L::Conv1DOptions options;
    nr::Shape in, out;
  };
  const std::vector<Case> cases = {
      {{}, {2, 9, 4}, {2, 7, 5}},
      {{.strides = 2}, {2, 9, 4}, {2, 4, 5}},
      {{.strides = 2, .padding = "same"}, {2, 9, 4}, {2, 5, 5}},
      {{.strides = 3, .padding = "causal"}, {2, 9, 4}, {2, 3, 5}},
      {{.dilation_rate = 3}, {2, 9, 4}, {2, 3, 5}},
      {{.padding = "causal", .dilation_rate = 3}, {2, 9, 4}, {2, 9, 5}},
      {{.data_format = "channels_first"}, {2, 4, 9}, {2, 5, 7}},
      {{.padding = "same"}, {-1, -1, 4}, {-1, -1, 5}},
  };
  for (const Case& c : cases) {
    auto layer = L::Conv1D(5, 3, c.options);
    EXPECT_EQ(layer->compute_output_shape(c.in), c.out) << c.in;
    if (c.in[0] > 0 && c.in[1] > 0) {
      EXPECT_EQ(layer(nr::ones(c.in)).shape(), c.out) << c.in;
    }
  }
}

TEST(Conv1DLayer, ChannelsFirstMatchesChannelsLastTransposed) {
  auto last = L::Conv1D(4, 3, {.padding = "causal", .groups = 2, .dtype = nr::float64});
  auto first = L::Conv1D(
      4, 3,
      {.padding = "causal", .data_format = "channels_first", .groups = 2, .dtype = nr::float64});
  const nr::Tensor x = f64({2, 7, 4}, 1);
  last->ensure_built(x.shape());
  first->ensure_built({2, 4, 7});
  last->set_weights({f64({3, 2, 4}, 2), f64({4}, 3)});
  first->set_weights(last->get_weights());
  const nr::Tensor y_first = first(nr::transpose(x, {0, 2, 1}));
  EXPECT_EQ(y_first.shape(), (nr::Shape{2, 4, 7}));
  EXPECT_TRUE(all_close(nr::transpose(y_first, {0, 2, 1}), last(x).to_vector<double>(), 1e-12));
}

TEST(Conv1DLayer, ErrorsNameLayerArgumentsAndShapes) {
  nr::clear_session();
  auto conv = L::Conv1D(4, 3, {.groups = 2});
  NEURONA_EXPECT_THROW_MSG(conv(nr::ones({5, 4})), nr::ShapeError, "Conv1D 'conv1d'",
                           "expected a 3-D input", "(5, 4)");
  NEURONA_EXPECT_THROW_MSG(conv(nr::ones({1, 5, 3})), nr::ValueError,
                           "evenly divisible by the number of groups", "has 3 channels");
  NEURONA_EXPECT_THROW_MSG(conv(nr::ones({1, 2, 4})), nr::ShapeError, "(1, 2, 4)", "not positive");
  conv(nr::ones({1, 5, 4}));
  NEURONA_EXPECT_THROW_MSG(conv(nr::ones({1, 5, 6})), nr::ShapeError,
                           "expected inputs with 4 channels");
  NEURONA_EXPECT_THROW_MSG(L::Conv1D(4, 3, {.padding = "full"}), nr::ValueError,
                           "{'valid', 'same', 'causal'}", "padding=full");
  NEURONA_EXPECT_THROW_MSG(L::Conv1D(0, 3), nr::ValueError, "filters=0");
  NEURONA_EXPECT_THROW_MSG(L::Conv1D(4, 0), nr::ValueError, "kernel_size=(0,)");
  NEURONA_EXPECT_THROW_MSG(L::Conv1D(4, 3, {.strides = -1}), nr::ValueError, "strides=(-1,)");
  NEURONA_EXPECT_THROW_MSG(L::Conv1D(5, 3, {.groups = 2}), nr::ValueError, "groups=2, filters=5");
  NEURONA_EXPECT_THROW_MSG(L::Conv1D(4, 3, {.strides = 2, .dilation_rate = 2}), nr::ValueError,
                           "`strides > 1` not supported", "strides=(2,) and dilation_rate=(2,)");
  NEURONA_EXPECT_THROW_MSG(L::Conv1D(4, 3, {.data_format = "nwc"}), nr::ValueError,
                           "data_format=nwc");
}

TEST(Conv1DLayer, GradientsMatchNumericalInFloat64) {
  struct Case {
    const char* what;
    std::int64_t filters, kernel;
    L::Conv1DOptions options;
    nr::Shape in;
  };
  const std::vector<Case> cases = {
      {"valid", 3, 3, {}, {2, 6, 2}},
      {"same strides 2", 2, 3, {.strides = 2, .padding = "same"}, {2, 7, 3}},
      {"causal dilation", 2, 3, {.padding = "causal", .dilation_rate = 2}, {1, 7, 2}},
      {"relu groups", 4, 2, {.groups = 2, .activation = "relu"}, {1, 5, 4}},
      {"channels_first causal",
       3,
       2,
       {.padding = "causal", .data_format = "channels_first"},
       {2, 2, 5}},
  };
  for (const Case& c : cases) {
    L::Conv1DOptions options = c.options;
    options.dtype = nr::float64;
    options.bias_initializer = "random_normal";
    auto conv = L::Conv1D(c.filters, c.kernel, options);
    EXPECT_TRUE(nr::testing::check_layer_gradients(c.what, conv, f64(c.in, 7))) << c.what;
  }
}

TEST(Conv1DLayer, ConfigHasKerasKeysAndRebuildsThroughTheRegistry) {
  nr::clear_session();
  auto conv = L::Conv1D(6, 3,
                        {.strides = 2,
                         .padding = "Causal",
                         .groups = 3,
                         .activation = "tanh",
                         .kernel_regularizer = "l2",
                         .bias_constraint = "non_neg"});
  const nr::ConfigValue before = conv->get_config();
  EXPECT_EQ(keys(before),
            (std::vector<std::string>{
                "name", "trainable", "dtype", "filters", "kernel_size", "strides", "padding",
                "data_format", "dilation_rate", "groups", "activation", "use_bias",
                "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                "activity_regularizer", "kernel_constraint", "bias_constraint"}));
  EXPECT_EQ(before.at("kernel_size"), (nr::ConfigValue::List{3}));
  EXPECT_EQ(before.at("strides"), (nr::ConfigValue::List{2}));
  EXPECT_EQ(before.at("padding").as_string(), "causal");
  const L::AnyLayer again = from_registry("Conv1D", before);
  EXPECT_EQ(again->class_name(), "Conv1D");
  EXPECT_EQ(again->get_config(), before);
  EXPECT_TRUE(L::keras_layer_class("Conv1D")->records_build_config);

  // keras.layers.Conv1D(4, 3, dilation_rate=2, padding="same").get_config(), as Keras 3.15
  // writes it.
  const nr::ConfigValue keras = nr::models::detail::parse_json(
      R"({"name": "c1", "trainable": true, "dtype": {"module": "keras", "class_name":
      "DTypePolicy", "config": {"name": "float32"}, "registered_name": null}, "filters": 4,
      "kernel_size": [3], "strides": [1], "padding": "same", "data_format": "channels_last",
      "dilation_rate": [2], "groups": 1, "activation": "linear", "use_bias": true,
      "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
      "config": {"seed": null, "input_axes": null, "output_axes": null}, "registered_name":
      null}, "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros",
      "config": {}, "registered_name": null}, "kernel_regularizer": null, "bias_regularizer":
      null, "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null})",
      "test");
  const L::Conv1D loaded = L::Conv1D::from_config(keras);
  EXPECT_EQ(loaded->name(), "c1");
  EXPECT_EQ(loaded->dilation_rate(), 2);
  EXPECT_EQ(loaded->padding(), "same");
  EXPECT_EQ(loaded->compute_output_shape({1, 9, 2}), (nr::Shape{1, 9, 4}));
}
