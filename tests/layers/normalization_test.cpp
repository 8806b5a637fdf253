// LayerNormalization and GroupNormalization: values against float64 loops, weights in Keras's
// order and shapes, numerical gradient checks, Keras's config keys and from_config through the
// layer registry, Keras's errors, and Keras's dtype handling under mixed precision.
#include <neurona/neurona.h>

#include <cmath>
#include <cstdio>

#include "layers/layer_gradcheck.h"
#include "neurona/layers/layer_registry.h"
#include "neurona/models/keras_config.h"

namespace nr = neurona;
namespace L = nr::layers;
using nr::testing::all_close;
using nr::testing::make_tensor;

namespace {

nr::Tensor f64(const nr::Shape& s, std::uint32_t seed) {
  return nr::testing::random_tensor(s, nr::float64, -1, 2, seed);
}

// Normalizes each of `rows` rows of `cols` values (the normalized axes, flattened) with its mean
// and biased variance, then scales by gamma[col] and shifts by beta[col] (empty: none).
std::vector<double> normalize_rows(const std::vector<double>& v, std::size_t rows, std::size_t cols,
                                   const std::vector<double>& gamma,
                                   const std::vector<double>& beta, double epsilon) {
  std::vector<double> out(v.size());
  for (std::size_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (std::size_t c = 0; c < cols; ++c) mean += v[r * cols + c] / cols;
    for (std::size_t c = 0; c < cols; ++c) {
      var += (v[r * cols + c] - mean) * (v[r * cols + c] - mean) / cols;
    }
    for (std::size_t c = 0; c < cols; ++c) {
      double y = (v[r * cols + c] - mean) / std::sqrt(var + epsilon);
      if (!gamma.empty()) y *= gamma[c];
      if (!beta.empty()) y += beta[c];
      out[r * cols + c] = y;
    }
  }
  return out;
}

// Group normalization of (n, s, c) values (s: the spatial positions flattened), channels last.
std::vector<double> group_normalize(const std::vector<double>& v, std::size_t n, std::size_t s,
                                    std::size_t c, std::size_t groups,
                                    const std::vector<double>& gamma,
                                    const std::vector<double>& beta, double epsilon) {
  std::vector<double> out(v.size());
  const std::size_t per = c / groups;
  for (std::size_t b = 0; b < n; ++b) {
    for (std::size_t g = 0; g < groups; ++g) {
      auto at = [&](std::size_t p, std::size_t k) { return (b * s + p) * c + g * per + k; };
      double mean = 0, var = 0;
      const double count = static_cast<double>(s * per);
      for (std::size_t p = 0; p < s; ++p)
        for (std::size_t k = 0; k < per; ++k) mean += v[at(p, k)] / count;
      for (std::size_t p = 0; p < s; ++p)
        for (std::size_t k = 0; k < per; ++k) {
          var += (v[at(p, k)] - mean) * (v[at(p, k)] - mean) / count;
        }
      for (std::size_t p = 0; p < s; ++p)
        for (std::size_t k = 0; k < per; ++k) {
          out[at(p, k)] = (v[at(p, k)] - mean) / std::sqrt(var + epsilon) * gamma[g * per + k] +
                          beta[g * per + k];
        }
    }
  }
  return out;
}

// Random float64 values for every weight of a built layer.
void randomize_weights(const L::AnyLayer& layer, std::uint32_t seed) {
  std::vector<nr::Tensor> w = layer->get_weights();
  for (auto& t : w) t = f64(t.shape(), seed++);
  layer->set_weights(w);
}

// The layer the registry rebuilds from `config`.
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

}  // namespace

TEST(LayerNormalization, NormalizesEachExampleOverTheLastAxis) {
  auto ln = L::LayerNormalization({.dtype = nr::float64});
  const nr::Tensor x = f64({4, 5}, 1);
  ln->ensure_built(x.shape());
  const std::vector<double> gamma{1.5, -0.5, 2, 0.25, 1}, beta{0.1, 0.2, -0.3, 0, 1};
  ln->set_weights({make_tensor(gamma, {5}, nr::float64), make_tensor(beta, {5}, nr::float64)});
  EXPECT_TRUE(all_close(ln(x), normalize_rows(x.to_vector<double>(), 4, 5, gamma, beta, 1e-3),
                        1e-12, 1e-12));
  EXPECT_EQ(ln(x).dtype(), nr::float64);
}

TEST(LayerNormalization, NormalizesOverSeveralAxesWithWeightsSpanningThem) {
  auto ln = L::LayerNormalization({.axis = {2, 1}, .epsilon = 1e-5, .dtype = nr::float64});
  const nr::Tensor x = f64({2, 3, 4}, 2);
  ln->ensure_built(x.shape());
  EXPECT_EQ(ln->gamma().shape(), (nr::Shape{3, 4}));
  EXPECT_EQ(ln->axis().list(), (std::vector<int>{1, 2}));  // sorted, as Keras
  randomize_weights(ln, 3);
  const std::vector<double> gamma = ln->gamma().value().to_vector<double>();
  const std::vector<double> beta = ln->beta().value().to_vector<double>();
  EXPECT_TRUE(all_close(ln(x), normalize_rows(x.to_vector<double>(), 2, 12, gamma, beta, 1e-5),
                        1e-12, 1e-12));

  // Over axes (0, 2) of (3, 2, 4): the same as over the last two axes after a transpose.
  auto outer = L::LayerNormalization({.axis = {0, 2}, .dtype = nr::float64});
  auto inner = L::LayerNormalization({.axis = {1, 2}, .dtype = nr::float64});
  const nr::Tensor z = f64({3, 2, 4}, 4);
  outer->ensure_built(z.shape());
  randomize_weights(outer, 5);
  inner->ensure_built({2, 3, 4});
  inner->set_weights(outer->get_weights());
  EXPECT_TRUE(all_close(nr::transpose(outer(z), {1, 0, 2}),
                        inner(nr::transpose(z, {1, 0, 2})).to_vector<double>(), 1e-12, 1e-12));
}

TEST(LayerNormalization, WeightsAsKerasMakesThem) {
  nr::clear_session();
  auto ln = L::LayerNormalization();
  ln->ensure_built({-1, 5, 3});
  const std::vector<nr::Variable> w = ln->weights();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].name(), "layer_normalization/gamma");
  EXPECT_EQ(w[1].name(), "layer_normalization/beta");
  EXPECT_TRUE(all_close(w[0].value(), {1, 1, 1}));
  EXPECT_TRUE(all_close(w[1].value(), {0, 0, 0}));
  EXPECT_DOUBLE_EQ(ln->epsilon(), 1e-3);

  // Axes given as [1, -1] are sorted as given ([-1, 1]): the weights are (4, 3), as Keras's.
  auto mixed = L::LayerNormalization({.axis = {1, -1}});
  mixed->ensure_built({2, 3, 4});
  EXPECT_EQ(mixed->gamma().shape(), (nr::Shape{4, 3}));

  // rms_scaling: gamma even without scale, never beta.
  auto rms = L::LayerNormalization({.scale = false, .rms_scaling = true});
  rms->ensure_built({2, 3});
  ASSERT_EQ(rms->weights().size(), 1u);
  EXPECT_EQ(rms->weights()[0].name(), rms->name() + "/gamma");
  NEURONA_EXPECT_THROW_MSG(rms->beta(), nr::ValueError, "no such weight: beta");

  auto plain = L::LayerNormalization({.center = false, .scale = false});
  NEURONA_EXPECT_THROW_MSG(plain->gamma(), nr::ValueError, "until the layer is built");
  plain->ensure_built({2, 3});
  EXPECT_TRUE(plain->weights().empty());
  NEURONA_EXPECT_THROW_MSG(plain->gamma(), nr::ValueError, "no such weight: gamma");
}

TEST(LayerNormalization, RmsScalingDividesByTheVarianceAsKeras) {
  auto ln = L::LayerNormalization({.rms_scaling = true, .dtype = nr::float64});
  const nr::Tensor x = f64({3, 4}, 6);
  ln->ensure_built(x.shape());
  const std::vector<double> gamma{0.5, 2, -1, 1};
  ln->set_weights({make_tensor(gamma, {4}, nr::float64)});
  const std::vector<double> v = x.to_vector<double>();
  const std::vector<double> centered = normalize_rows(v, 3, 4, {}, {}, 1e-3);
  std::vector<double> expected(v.size());
  for (std::size_t r = 0; r < 3; ++r) {
    double mean = 0, var = 0;
    for (std::size_t c = 0; c < 4; ++c) mean += v[r * 4 + c] / 4;
    for (std::size_t c = 0; c < 4; ++c) var += (v[r * 4 + c] - mean) * (v[r * 4 + c] - mean) / 4;
    for (std::size_t c = 0; c < 4; ++c) {
      expected[r * 4 + c] = v[r * 4 + c] / std::sqrt(var + 1e-3) * gamma[c];  // not centered
    }
  }
  EXPECT_TRUE(all_close(ln(x), expected, 1e-12, 1e-12));
  EXPECT_FALSE(all_close(ln(x), centered, 1e-3, 1e-3));
}

TEST(LayerNormalization, GradientsMatchNumericalInFloat64) {
  struct Case {
    const char* name;
    L::LayerNormalizationOptions options;
    nr::Shape shape;
  };
  const Case cases[] = {
      {"axis -1", {.dtype = nr::float64}, {3, 5}},
      {"axes [1, 2]", {.axis = {1, 2}, .dtype = nr::float64}, {2, 3, 4}},
      {"axes [1, -1]", {.axis = {1, -1}, .dtype = nr::float64}, {2, 3, 4}},
      {"axis 1 of 3", {.axis = 1, .dtype = nr::float64}, {2, 4, 3}},
      {"rms_scaling", {.rms_scaling = true, .dtype = nr::float64}, {3, 5}},
      {"no gamma, no beta", {.center = false, .scale = false, .dtype = nr::float64}, {3, 5}},
  };
  std::uint32_t seed = 10;
  for (const Case& c : cases) {
    auto ln = L::LayerNormalization(c.options);
    ln->ensure_built(c.shape);
    randomize_weights(ln, seed);
    EXPECT_TRUE(nr::testing::check_layer_gradients(c.name, ln, f64(c.shape, seed + 5)));
    seed += 10;
  }
}

TEST(LayerNormalization, ConfigHasKerasKeysAndRebuildsThroughTheRegistry) {
  nr::clear_session();
  auto ln = L::LayerNormalization({.axis = {2, 1},
                                   .epsilon = 1e-5,
                                   .center = false,
                                   .gamma_initializer = "random_normal",
                                   .gamma_regularizer = "l2",
                                   .gamma_constraint = "non_neg"});
  const nr::ConfigValue before = ln->get_config();
  EXPECT_EQ(keys(before),
            (std::vector<std::string>{"name", "trainable", "dtype", "axis", "epsilon", "center",
                                      "scale", "rms_scaling", "beta_initializer",
                                      "gamma_initializer", "beta_regularizer", "gamma_regularizer",
                                      "beta_constraint", "gamma_constraint"}));
  EXPECT_EQ(before.at("axis"), (nr::ConfigValue::List{2, 1}));
  EXPECT_EQ(before.at("epsilon").as_double(), 1e-5);
  EXPECT_FALSE(before.at("center").as_bool());
  EXPECT_EQ(before.at("gamma_initializer").at("class_name").as_string(), "RandomNormal");
  EXPECT_EQ(before.at("gamma_regularizer").at("class_name").as_string(), "L2");
  EXPECT_EQ(before.at("gamma_constraint").at("class_name").as_string(), "NonNeg");
  EXPECT_TRUE(before.at("beta_regularizer").is_null());

  const L::AnyLayer again = from_registry("LayerNormalization", before);
  EXPECT_EQ(again->class_name(), "LayerNormalization");
  EXPECT_EQ(again->get_config(), before);
  again->ensure_built({2, 3, 4});
  EXPECT_EQ(again->weights().size(), 1u);  // gamma only
  EXPECT_EQ(again->losses().size(), 1u);   // its l2 penalty

  // As Keras: an int axis stays an int until the layer is built, then is a sorted list.
  auto plain = L::LayerNormalization();
  EXPECT_EQ(plain->get_config().at("axis"), nr::ConfigValue(-1));
  plain->ensure_built({2, 3});
  EXPECT_EQ(plain->get_config().at("axis"), (nr::ConfigValue::List{-1}));
  EXPECT_EQ(from_registry("LayerNormalization", plain->get_config())->get_config(),
            plain->get_config());
}

TEST(LayerNormalization, ReadsTheConfigKerasWrites) {
  // keras.layers.LayerNormalization(axis=[1, 2], rms_scaling=True).get_config() after build,
  // as Keras 3.15 writes it.
  const nr::ConfigValue config = nr::models::detail::parse_json(
      R"({"name": "ln", "trainable": true, "dtype": {"module": "keras", "class_name":
      "DTypePolicy", "config": {"name": "mixed_float16"}, "registered_name": null}, "axis": [1, 2],
      "epsilon": 0.0001, "center": true, "scale": true, "rms_scaling": true, "beta_initializer":
      {"module": "keras.initializers", "class_name": "Zeros", "config": {}, "registered_name":
      null}, "gamma_initializer": {"module": "keras.initializers", "class_name": "Ones",
      "config": {}, "registered_name": null}, "beta_regularizer": null, "gamma_regularizer": null,
      "beta_constraint": null, "gamma_constraint": null})",
      "test");
  const L::AnyLayer layer = from_registry("LayerNormalization", config);
  EXPECT_EQ(layer->name(), "ln");
  EXPECT_EQ(layer->dtype_policy().name(), "mixed_float16");
  const nr::ConfigValue back = layer->get_config();
  EXPECT_EQ(back.at("axis"), (nr::ConfigValue::List{1, 2}));
  EXPECT_EQ(back.at("epsilon").as_double(), 1e-4);
  EXPECT_TRUE(back.at("rms_scaling").as_bool());
  layer->ensure_built({2, 3, 4});
  ASSERT_EQ(layer->weights().size(), 1u);
  EXPECT_EQ(layer->weights()[0].shape(), (nr::Shape{3, 4}));
  EXPECT_EQ(layer->weights()[0].dtype(), nr::float32);
}

TEST(LayerNormalization, BadArgumentsRaiseKerasErrors) {
  nr::clear_session();
  NEURONA_EXPECT_THROW_MSG(L::LayerNormalization({.axis = 2})(nr::testing::random_tensor({2, 3})),
                           nr::ValueError, "LayerNormalization 'layer_normalization'",
                           "Axis 2 is out of bounds for input shape (2, 3). Received: axis=2");
  NEURONA_EXPECT_THROW_MSG(
      L::LayerNormalization({.axis = {1, -3}})->compute_output_shape({-1, 3}), nr::ValueError,
      "Axis -3 is out of bounds for input shape (None, 3). Received: axis=[1, -3]");
  NEURONA_EXPECT_THROW_MSG(
      L::LayerNormalization({.axis = {1, -1}})(nr::testing::random_tensor({2, 3})), nr::ValueError,
      "duplicate value in 'axis': [1, -1]");
  NEURONA_EXPECT_THROW_MSG(L::LayerNormalization({.axis = nr::layers::NormalizationAxes({})}),
                           nr::ValueError, "'axis' must name at least one axis");
  NEURONA_EXPECT_THROW_MSG(L::LayerNormalization({.epsilon = -1}), nr::ValueError,
                           "`epsilon` must be finite and >= 0. Received: epsilon=-1");
  NEURONA_EXPECT_THROW_MSG(L::LayerNormalization({.epsilon = NAN}), nr::ValueError, "epsilon");

  auto built = L::LayerNormalization();
  built(nr::testing::random_tensor({2, 3}));
  NEURONA_EXPECT_THROW_MSG(built(nr::testing::random_tensor({2, 4})), nr::ShapeError,
                           "expected inputs with sizes (3,) on axes [-1]", "(2, 4)");
  // Another rank with the same last axis is fine, as in Keras.
  EXPECT_EQ(built(nr::testing::random_tensor({2, 5, 3})).shape(), (nr::Shape{2, 5, 3}));

  NEURONA_EXPECT_THROW_MSG(
      from_registry("LayerNormalization", nr::ConfigValue::Dict{{"axis", "a"}}), nr::ValueError,
      "Expected an int or a list/tuple of ints for the argument 'axis'", "str");
  NEURONA_EXPECT_THROW_MSG(
      from_registry("LayerNormalization",
                    nr::ConfigValue::Dict{{"axis", nr::ConfigValue::List{1, 2.5}}}),
      nr::ValueError, "Expected an int or a list/tuple of ints");
  NEURONA_EXPECT_THROW_MSG(
      from_registry("LayerNormalization", nr::ConfigValue::Dict{{"axis", std::int64_t{1} << 33}}),
      nr::ValueError, "out of range");
}

TEST(LayerNormalization, ComputesInFloat32AndReturnsTheComputeDtypeAsKeras) {
  const nr::Tensor x32 = nr::testing::random_tensor({4, 6}, nr::float32, -3, 3, 7);
  const nr::Tensor x16 = nr::cast(x32, nr::DType::float16);
  auto reference = L::LayerNormalization();
  auto mixed = L::LayerNormalization({.dtype = "mixed_float16"});
  reference->ensure_built(x32.shape());
  mixed->ensure_built(x32.shape());
  randomize_weights(reference, 8);
  std::vector<nr::Tensor> w = reference->get_weights();
  mixed->set_weights(w);
  for (const nr::Variable& v : mixed->weights()) EXPECT_EQ(v.dtype(), nr::float32);
  // A float16 input is normalized in float32 and rounded once to float16.
  const nr::Tensor y16 = mixed(x16);
  EXPECT_EQ(y16.dtype(), nr::DType::float16);
  const nr::Tensor expected = nr::cast(reference(nr::cast(x16, nr::float32)), nr::DType::float16);
  EXPECT_TRUE(all_close(y16, expected.to_vector<double>(), 0, 0));
  // Keras does not autocast a float32 input: normalized in float32, returned in float16.
  const nr::Tensor y = mixed(x32);
  EXPECT_EQ(y.dtype(), nr::DType::float16);
  EXPECT_TRUE(all_close(y, nr::cast(reference(x32), nr::DType::float16).to_vector<double>(), 0, 0));
  // A float64 input to a float32 layer is normalized in float64, returned in float32.
  const nr::Tensor x64 = nr::cast(x32, nr::float64);
  auto f64_layer = L::LayerNormalization({.dtype = nr::float64});
  f64_layer->ensure_built(x64.shape());
  f64_layer->set_weights(w);
  const nr::Tensor y64 = reference(x64);
  EXPECT_EQ(y64.dtype(), nr::float32);
  EXPECT_TRUE(all_close(y64, nr::cast(f64_layer(x64), nr::float32).to_vector<double>(), 0, 0));
  // bfloat16 weights are widened too.
  auto bf16 = L::LayerNormalization({.dtype = "bfloat16"});
  const nr::Tensor yb = bf16(nr::cast(x32, nr::DType::bfloat16));
  EXPECT_EQ(yb.dtype(), nr::DType::bfloat16);
  EXPECT_EQ(bf16->gamma().dtype(), nr::DType::bfloat16);
  const nr::Tensor widened = nr::cast(nr::cast(x32, nr::DType::bfloat16), nr::float32);
  EXPECT_TRUE(all_close(
      yb, nr::cast(L::LayerNormalization()(widened), nr::DType::bfloat16).to_vector<double>(), 0,
      0));
}

TEST(GroupNormalization, NormalizesEachGroupOfChannels) {
  auto gn = L::GroupNormalization({.groups = 2, .dtype = nr::float64});
  const nr::Tensor x = f64({2, 3, 3, 4}, 20);
  gn->ensure_built(x.shape());
  EXPECT_EQ(gn->gamma().shape(), (nr::Shape{4}));
  randomize_weights(gn, 21);
  const std::vector<double> gamma = gn->gamma().value().to_vector<double>();
  const std::vector<double> beta = gn->beta().value().to_vector<double>();
  EXPECT_TRUE(all_close(
      gn(x), group_normalize(x.to_vector<double>(), 2, 9, 4, 2, gamma, beta, 1e-3), 1e-12, 1e-12));

  // Channels on axis 1: the same as channels last after a transpose.
  auto first = L::GroupNormalization({.groups = 2, .axis = 1, .dtype = nr::float64});
  first->ensure_built({2, 4, 3, 3});
  first->set_weights(gn->get_weights());
  EXPECT_TRUE(all_close(nr::transpose(first(nr::transpose(x, {0, 3, 1, 2})), {0, 2, 3, 1}),
                        gn(x).to_vector<double>(), 1e-12, 1e-12));
}

TEST(GroupNormalization, OneGroupPerChannelIsInstanceNormalization) {
  auto gn = L::GroupNormalization({.groups = -1, .dtype = nr::float64});
  EXPECT_EQ(gn->groups(), -1);
  const nr::Tensor x = f64({2, 5, 3}, 22);
  gn->ensure_built(x.shape());
  EXPECT_EQ(gn->groups(), 3);  // as Keras, the channels once built
  EXPECT_EQ(gn->get_config().at("groups").as_int(), 3);
  randomize_weights(gn, 23);
  EXPECT_TRUE(all_close(
      gn(x),
      group_normalize(x.to_vector<double>(), 2, 5, 3, 3, gn->gamma().value().to_vector<double>(),
                      gn->beta().value().to_vector<double>(), 1e-3),
      1e-12, 1e-12));
  // One group: layer normalization over all but the batch, with per-channel weights.
  auto one = L::GroupNormalization({.groups = 1, .dtype = nr::float64});
  auto ln = L::LayerNormalization({.axis = {1, 2}, .dtype = nr::float64});
  EXPECT_TRUE(all_close(one(x), ln(x).to_vector<double>(), 1e-12, 1e-12));
}

TEST(GroupNormalization, WeightsAsKerasMakesThem) {
  nr::clear_session();
  auto gn = L::GroupNormalization({.groups = 4});
  gn->ensure_built({-1, 6, 6, 8});
  const std::vector<nr::Variable> w = gn->weights();
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].name(), "group_normalization/gamma");
  EXPECT_EQ(w[1].name(), "group_normalization/beta");
  EXPECT_EQ(w[0].shape(), (nr::Shape{8}));
  auto plain = L::GroupNormalization({.groups = 1, .center = false, .scale = false});
  plain->ensure_built({2, 3});
  EXPECT_TRUE(plain->weights().empty());
  NEURONA_EXPECT_THROW_MSG(plain->beta(), nr::ValueError, "no such weight: beta");
}

TEST(GroupNormalization, GradientsMatchNumericalInFloat64) {
  struct Case {
    const char* name;
    L::GroupNormalizationOptions options;
    nr::Shape shape;
  };
  const Case cases[] = {
      {"groups 2 NHWC", {.groups = 2, .dtype = nr::float64}, {2, 3, 2, 4}},
      {"groups 3 axis 1", {.groups = 3, .axis = 1, .dtype = nr::float64}, {2, 6, 2, 2}},
      {"instance", {.groups = -1, .dtype = nr::float64}, {2, 4, 3}},
      {"one group, rank 2", {.groups = 1, .dtype = nr::float64}, {3, 4}},
      {"no gamma, no beta",
       {.groups = 2, .center = false, .scale = false, .dtype = nr::float64},
       {2, 3, 4}},
  };
  std::uint32_t seed = 30;
  for (const Case& c : cases) {
    auto gn = L::GroupNormalization(c.options);
    gn->ensure_built(c.shape);
    randomize_weights(gn, seed);
    EXPECT_TRUE(nr::testing::check_layer_gradients(c.name, gn, f64(c.shape, seed + 5)));
    seed += 10;
  }
}

TEST(GroupNormalization, ConfigHasKerasKeysAndRebuildsThroughTheRegistry) {
  nr::clear_session();
  auto gn = L::GroupNormalization({.groups = 4,
                                   .axis = 1,
                                   .epsilon = 1e-5,
                                   .scale = false,
                                   .beta_initializer = "ones",
                                   .beta_regularizer = "l1",
                                   .beta_constraint = "max_norm"});
  const nr::ConfigValue before = gn->get_config();
  EXPECT_EQ(keys(before), (std::vector<std::string>{
                              "name", "trainable", "dtype", "groups", "axis", "epsilon", "center",
                              "scale", "beta_initializer", "gamma_initializer", "beta_regularizer",
                              "gamma_regularizer", "beta_constraint", "gamma_constraint"}));
  EXPECT_EQ(before.at("groups").as_int(), 4);
  EXPECT_EQ(before.at("axis").as_int(), 1);
  EXPECT_EQ(before.at("beta_initializer").at("class_name").as_string(), "Ones");
  EXPECT_EQ(before.at("beta_regularizer").at("class_name").as_string(), "L1");
  EXPECT_EQ(before.at("beta_constraint").at("class_name").as_string(), "MaxNorm");
  const L::AnyLayer again = from_registry("GroupNormalization", before);
  EXPECT_EQ(again->class_name(), "GroupNormalization");
  EXPECT_EQ(again->get_config(), before);
  again->ensure_built({2, 8, 3});
  ASSERT_EQ(again->weights().size(), 1u);
  EXPECT_TRUE(all_close(again->weights()[0].value(), std::vector<double>(8, 1.0)));

  // Keras's own config, with Keras's defaults for what it leaves out.
  const L::AnyLayer keras = from_registry(
      "GroupNormalization",
      nr::models::detail::parse_json(R"({"name": "gn", "groups": -1, "center": false})", "test"));
  keras->ensure_built({2, 3, 5});
  EXPECT_EQ(keras->get_config().at("groups").as_int(), 5);
  EXPECT_EQ(keras->get_config().at("axis").as_int(), -1);
  EXPECT_EQ(keras->get_config().at("epsilon").as_double(), 1e-3);
  EXPECT_EQ(keras->weights().size(), 1u);
}

TEST(GroupNormalization, BadArgumentsRaiseKerasErrors) {
  nr::clear_session();
  for (int groups : {0, -2}) {
    NEURONA_EXPECT_THROW_MSG(
        L::GroupNormalization({.groups = groups}), nr::ValueError,
        "Received an invalid value for argument `groups`, expected a positive integer (or `-1` "
        "for instance normalization). Received: groups=");
  }
  auto x = [](const nr::Shape& s) { return nr::testing::random_tensor(s); };
  NEURONA_EXPECT_THROW_MSG(
      L::GroupNormalization({.groups = 3})(x({2, 4})), nr::ValueError,
      "Number of groups (3) must be a multiple of the number of channels (4).");
  NEURONA_EXPECT_THROW_MSG(L::GroupNormalization({.groups = 8})(x({2, 4})), nr::ValueError,
                           "Number of groups (8) cannot be more than the number of channels (4).");
  NEURONA_EXPECT_THROW_MSG(L::GroupNormalization({.groups = 2, .axis = 3})(x({2, 4})),
                           nr::ValueError,
                           "Axis 3 is out of bounds for input shape (2, 4). Received: axis=3");
  NEURONA_EXPECT_THROW_MSG(L::GroupNormalization({.groups = 2, .axis = 0})(x({4, 6})),
                           nr::ValueError, "axis 0 is the batch axis");
  NEURONA_EXPECT_THROW_MSG(L::GroupNormalization({.groups = 2, .axis = -2})(x({4, 6})),
                           nr::ValueError, "axis -2 is the batch axis");
  NEURONA_EXPECT_THROW_MSG(L::GroupNormalization({.groups = 2})->ensure_built({-1, 3, -1}),
                           nr::ValueError,
                           "Axis -1 of input tensor should have a defined dimension but the layer "
                           "received an input with shape (None, 3, None).");
  NEURONA_EXPECT_THROW_MSG(L::GroupNormalization({.epsilon = -1e-3}), nr::ValueError, "epsilon");

  auto built = L::GroupNormalization({.groups = 2, .name = "gn"});
  built(x({2, 4}));
  NEURONA_EXPECT_THROW_MSG(built(x({2, 6})), nr::ValueError,
                           "Input 0 of layer 'gn' is incompatible with the layer: expected axis -1 "
                           "of input shape to have value 4, but received input with shape (2, 6)");
  NEURONA_EXPECT_THROW_MSG(built(x({2, 3, 4})), nr::ValueError,
                           "Input 0 of layer 'gn' is incompatible with the layer: expected ndim=2, "
                           "found ndim=3. Full shape received: (2, 3, 4)");

  NEURONA_EXPECT_THROW_MSG(
      from_registry("GroupNormalization",
                    nr::ConfigValue::Dict{{"axis", nr::ConfigValue::List{1, 2}}}),
      nr::ValueError, "'axis' must be one int");
  NEURONA_EXPECT_THROW_MSG(
      from_registry("GroupNormalization", nr::ConfigValue::Dict{{"groups", -5}}), nr::ValueError,
      "Received: groups=-5");
  NEURONA_EXPECT_THROW_MSG(
      from_registry("GroupNormalization", nr::ConfigValue::Dict{{"groups", std::int64_t{1} << 40}}),
      nr::ValueError, "Received: groups=");
}

TEST(GroupNormalization, ComputesInFloat32AndReturnsTheComputeDtypeAsKeras) {
  const nr::Tensor x32 = nr::testing::random_tensor({2, 3, 3, 4}, nr::float32, -3, 3, 9);
  const nr::Tensor x16 = nr::cast(x32, nr::DType::bfloat16);
  auto reference = L::GroupNormalization({.groups = 2});
  auto mixed = L::GroupNormalization({.groups = 2, .dtype = "mixed_bfloat16"});
  reference->ensure_built(x32.shape());
  mixed->ensure_built(x32.shape());
  randomize_weights(reference, 10);
  mixed->set_weights(reference->get_weights());
  for (const nr::Variable& v : mixed->weights()) EXPECT_EQ(v.dtype(), nr::float32);
  const nr::Tensor y = mixed(x16);
  EXPECT_EQ(y.dtype(), nr::DType::bfloat16);
  EXPECT_TRUE(all_close(
      y, nr::cast(reference(nr::cast(x16, nr::float32)), nr::DType::bfloat16).to_vector<double>(),
      0, 0));
  const nr::Tensor y32 = mixed(x32);
  EXPECT_EQ(y32.dtype(), nr::DType::bfloat16);
  EXPECT_TRUE(
      all_close(y32, nr::cast(reference(x32), nr::DType::bfloat16).to_vector<double>(), 0, 0));
}

TEST(Normalization, ModelWithBothLayersSavesAndLoads) {
  nr::clear_session();
  nr::set_seed(4);
  nr::Sequential model({
      L::Input({4, 4, 6}),
      L::GroupNormalization({.groups = 3, .gamma_initializer = "random_uniform"}),
      L::LayerNormalization({.axis = {1, 2}, .beta_initializer = "random_uniform"}),
  });
  const nr::Tensor x = nr::testing::random_tensor({2, 4, 4, 6}, nr::float32, -1, 1, 11);
  const nr::Tensor y = model.predict(x);
  const std::string path = ::testing::TempDir() + "normalization_test.keras";
  model.save(path);
  const auto loaded = nr::models::load_model(path);
  ASSERT_EQ(loaded->layers().size(), 2u);
  EXPECT_EQ(loaded->layers()[0]->class_name(), "GroupNormalization");
  EXPECT_EQ(loaded->layers()[1]->class_name(), "LayerNormalization");
  EXPECT_EQ(loaded->layers()[1]->get_config(), model.layers()[1]->get_config());
  EXPECT_TRUE(all_close(loaded->predict(x), y.to_vector<double>(), 0, 0));
  std::remove(path.c_str());
}
