// Keras 3's serialization of models and layers (keras/src/saving/serialization_lib.py): the
// JSON of config.json to and from ConfigValue, each neurona layer's config to and from
// its options struct, and the registries of layer and model classes that load_model uses.
// Keras's own names throughout; a key neurona does not know is ignored as Keras ignores
// arguments it does not need, but a value neurona cannot honour (renorm, LoRA, quantization)
// is an error rather than a silently different model.
#include "neurona/models/keras_config.h"

#include <chrono>
#include <cmath>
#include <ctime>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>

#include "neurona/autograd/ops.h"
#include "neurona/layers/activation.h"
#include "neurona/layers/batch_normalization.h"
#include "neurona/layers/conv2d.h"
#include "neurona/layers/dense.h"
#include "neurona/layers/dropout.h"
#include "neurona/layers/flatten.h"
#include "neurona/layers/input_layer.h"
#include "neurona/layers/pooling2d.h"
#include "neurona/layers/reshape.h"
#include "neurona/layers/zero_padding2d.h"
#include "neurona/models/compile_config.h"
#include "neurona/models/saving.h"
#include "neurona/models/sequential.h"

namespace neurona::models {

using Json = nlohmann::ordered_json;

namespace {

// The Keras version whose format neurona writes and was checked against
// (tests/reference/make_keras_saving_references.py).
constexpr const char* kKerasVersion = "3.15.1";
// Keras configs nest a few levels (model, layers, initializer, its config); anything far
// deeper is not a Keras config, and converting it recursively could exhaust the stack.
constexpr int kMaxDepth = 64;

// ---------------------------------------------------------------- JSON <-> ConfigValue

Json to_json(const ConfigValue& v) {
  switch (v.kind()) {
    case ConfigValue::Kind::Null:
      return nullptr;
    case ConfigValue::Kind::Bool:
      return v.as_bool();
    case ConfigValue::Kind::Int:
      return v.as_int();
    case ConfigValue::Kind::Float: {
      const double d = v.as_double();
      NEURONA_CHECK(std::isfinite(d), ValueError,
                    "save: a config holds a non-finite number, which JSON cannot represent");
      return d;
    }
    case ConfigValue::Kind::String:
      return v.as_string();
    case ConfigValue::Kind::List: {
      Json out = Json::array();
      for (const ConfigValue& item : v.as_list()) out.push_back(to_json(item));
      return out;
    }
    case ConfigValue::Kind::Dict: {
      Json out = Json::object();
      for (const auto& [k, item] : v.as_dict()) out[k] = to_json(item);
      return out;
    }
  }
  return nullptr;
}

ConfigValue from_json(const Json& j, int depth, const std::string& what) {
  NEURONA_CHECK(depth <= kMaxDepth, ValueError, what, ": the JSON nests deeper than ", kMaxDepth,
                " levels; this is not a Keras config");
  switch (j.type()) {
    case Json::value_t::null:
      return nullptr;
    case Json::value_t::boolean:
      return j.get<bool>();
    case Json::value_t::number_integer:
      return j.get<std::int64_t>();
    case Json::value_t::number_unsigned: {
      const auto u = j.get<std::uint64_t>();
      NEURONA_CHECK(u <= static_cast<std::uint64_t>(INT64_MAX), ValueError, what, ": the integer ",
                    u, " is too large");
      return static_cast<std::int64_t>(u);
    }
    case Json::value_t::number_float:
      return j.get<double>();
    case Json::value_t::string:
      return j.get<std::string>();
    case Json::value_t::array: {
      ConfigValue::List out;
      for (const Json& item : j) out.push_back(from_json(item, depth + 1, what));
      return out;
    }
    case Json::value_t::object: {
      ConfigValue::Dict out;
      for (auto it = j.begin(); it != j.end(); ++it) {
        out.emplace_back(it.key(), from_json(it.value(), depth + 1, what));
      }
      return out;
    }
    default:
      throw ValueError(what + ": unsupported JSON value (binary or discarded)");
  }
}

// ---------------------------------------------------------------- reading configs

// Reads typed entries of one layer's config, naming the layer and the key in errors.
class Reader {
 public:
  Reader(const ConfigValue& config, std::string who) : config_(config), who_(std::move(who)) {
    NEURONA_CHECK(config.kind() == ConfigValue::Kind::Dict, ValueError, who_,
                  ": expected the config to be a dict, got ", config.kind_name());
  }
  const std::string& who() const { return who_; }
  const ConfigValue* find(const char* key) const {
    const ConfigValue* v = config_.find(key);
    return v != nullptr && !v->is_null() ? v : nullptr;
  }
  const ConfigValue& need(const char* key) const {
    const ConfigValue* v = find(key);
    NEURONA_CHECK(v != nullptr, ValueError, who_, ": the config has no '", key, "'");
    return *v;
  }
  template <typename F>
  auto typed(const char* key, const ConfigValue& v, F f) const {
    try {
      return f(v);
    } catch (const ValueError& e) {
      throw ValueError(who_ + ": '" + key + "': " + e.what());
    }
  }
  std::int64_t integer(const char* key) const {
    return typed(key, need(key), [](const ConfigValue& v) { return v.as_int(); });
  }
  std::int64_t integer_of(const char* key, const ConfigValue& v) const {
    return typed(key, v, [](const ConfigValue& x) { return x.as_int(); });
  }
  std::int64_t integer(const char* key, std::int64_t def) const {
    return find(key) ? integer(key) : def;
  }
  double number(const char* key, double def) const {
    const ConfigValue* v = find(key);
    return v ? typed(key, *v, [](const ConfigValue& x) { return x.as_double(); }) : def;
  }
  bool boolean(const char* key, bool def) const {
    const ConfigValue* v = find(key);
    return v ? typed(key, *v, [](const ConfigValue& x) { return x.as_bool(); }) : def;
  }
  std::string string(const char* key, const std::string& def) const {
    const ConfigValue* v = find(key);
    return v ? typed(key, *v, [](const ConfigValue& x) { return x.as_string(); }) : def;
  }
  std::vector<std::int64_t> ints(const char* key, const ConfigValue& v) const {
    return typed(key, v, [](const ConfigValue& x) {
      std::vector<std::int64_t> out;
      for (const ConfigValue& item : x.as_list()) out.push_back(item.as_int());
      return out;
    });
  }
  // An int or a pair of ints, as Keras's standardize_tuple takes.
  layers::IntPair pair(const char* key, layers::IntPair def) const {
    const ConfigValue* v = find(key);
    if (v == nullptr) return def;
    if (v->kind() == ConfigValue::Kind::Int) return layers::IntPair(v->as_int());
    const std::vector<std::int64_t> p = ints(key, *v);
    NEURONA_CHECK(p.size() == 2, ValueError, who_, ": '", key, "' must be an int or 2 ints, got ",
                  p.size(), " values");
    return layers::IntPair(p[0], p[1]);
  }
  // A key whose only value neurona supports is `ok` (or absent / None).
  template <typename T>
  void only(const char* key, T ok, const char* feature) const {
    const ConfigValue* v = find(key);
    if (v == nullptr) return;
    bool same = false;
    if constexpr (std::is_same_v<T, bool>) {
      same = v->kind() == ConfigValue::Kind::Bool && v->as_bool() == ok;
    }
    NEURONA_CHECK(same, ValueError, who_, ": '", key, "' is set, but neurona does not support ",
                  feature);
  }
  void none(const char* key, const char* feature) const {
    NEURONA_CHECK(find(key) == nullptr, ValueError, who_, ": '", key,
                  "' is set, but neurona does not support ", feature);
  }

 private:
  const ConfigValue& config_;
  std::string who_;
};

DTypePolicy parse_dtype(const Reader& r) {
  const ConfigValue* v = r.find("dtype");
  if (v == nullptr) return {};  // the global policy
  std::string name;
  if (v->kind() == ConfigValue::Kind::String) {
    name = v->as_string();
  } else {
    // {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}
    const ConfigValue* config = v->find("config");
    const ConfigValue* n = config != nullptr ? config->find("name") : nullptr;
    NEURONA_CHECK(n != nullptr && n->kind() == ConfigValue::Kind::String, ValueError, r.who(),
                  ": 'dtype' must be a dtype name or a DTypePolicy");
    name = n->as_string();
  }
  try {
    return DTypePolicy(name);
  } catch (const ValueError& e) {
    throw ValueError(neurona::detail::str(r.who(), ": ", e.what()));
  }
}

// An InputLayer's dtype: a plain dtype (float32 when absent), never a mixed policy.
DType input_dtype(const Reader& r) {
  const DTypePolicy policy = parse_dtype(r);
  return policy.is_set() ? policy.variable_dtype() : DType::float32;
}

// A Keras object: a name, or {"class_name": ..., "config": {...}}.
struct KerasObject {
  std::string class_name;
  ConfigValue config;
};
KerasObject keras_object(const Reader& r, const char* key, const ConfigValue& v) {
  if (v.kind() == ConfigValue::Kind::String) return {v.as_string(), ConfigValue::Dict{}};
  const ConfigValue* cls = v.find("class_name");
  NEURONA_CHECK(cls != nullptr && cls->kind() == ConfigValue::Kind::String, ValueError, r.who(),
                ": '", key, "' must be a name or a Keras object with a class_name");
  const ConfigValue* config = v.find("config");
  return {cls->as_string(),
          config != nullptr && !config->is_null() ? *config : ConfigValue::Dict{}};
}

std::optional<std::uint64_t> seed_of(const Reader& r) {
  const ConfigValue* v = r.find("seed");
  if (v == nullptr) return std::nullopt;
  return static_cast<std::uint64_t>(r.integer("seed"));
}

initializers::Initializer parse_initializer(const Reader& r, const char* key,
                                            const initializers::Initializer& def) {
  const ConfigValue* v = r.find(key);
  if (v == nullptr) return def;
  const KerasObject o = keras_object(r, key, *v);
  const Reader c(o.config, r.who() + " " + key);
  namespace I = initializers;
  try {
    const std::string& n = o.class_name;
    if (n == "GlorotUniform") return I::GlorotUniform(seed_of(c));
    if (n == "GlorotNormal") return I::GlorotNormal(seed_of(c));
    if (n == "HeUniform") return I::HeUniform(seed_of(c));
    if (n == "HeNormal") return I::HeNormal(seed_of(c));
    if (n == "LecunUniform") return I::LecunUniform(seed_of(c));
    if (n == "LecunNormal") return I::LecunNormal(seed_of(c));
    if (n == "VarianceScaling") {
      return I::VarianceScaling({.scale = c.number("scale", 1.0),
                                 .mode = c.string("mode", "fan_in"),
                                 .distribution = c.string("distribution", "truncated_normal"),
                                 .seed = seed_of(c)});
    }
    if (n == "RandomUniform") {
      return I::RandomUniform({.minval = c.number("minval", -0.05),
                               .maxval = c.number("maxval", 0.05),
                               .seed = seed_of(c)});
    }
    if (n == "RandomNormal" || n == "TruncatedNormal") {
      const I::RandomNormalOptions o2{
          .mean = c.number("mean", 0.0), .stddev = c.number("stddev", 0.05), .seed = seed_of(c)};
      return n == "RandomNormal" ? I::Initializer(I::RandomNormal(o2))
                                 : I::Initializer(I::TruncatedNormal(o2));
    }
    if (n == "Orthogonal" || n == "OrthogonalInitializer") {
      return I::Orthogonal({.gain = c.number("gain", 1.0), .seed = seed_of(c)});
    }
    if (n == "Identity" || n == "IdentityInitializer") return I::Identity(c.number("gain", 1.0));
    if (n == "Constant") return I::Constant(c.number("value", 0.0));
    return I::get(n);  // Zeros, Ones, and the snake_case names
  } catch (const ValueError& e) {
    throw ValueError(r.who() + ": '" + key + "': " + e.what());
  }
}

std::optional<Axes> parse_axis(const Reader& c) {
  const ConfigValue* v = c.find("axis");
  if (v == nullptr) return std::nullopt;
  if (v->kind() == ConfigValue::Kind::Int) return Axes(static_cast<int>(v->as_int()));
  std::vector<int> axes;
  for (std::int64_t a : c.ints("axis", *v)) axes.push_back(static_cast<int>(a));
  return Axes(std::move(axes));
}

regularizers::Regularizer parse_regularizer(const Reader& r, const char* key) {
  const ConfigValue* v = r.find(key);
  if (v == nullptr) return {};
  const KerasObject o = keras_object(r, key, *v);
  const Reader c(o.config, r.who() + " " + key);
  namespace R = regularizers;
  try {
    if (o.class_name == "L1") return R::L1(c.number("l1", 0.01));
    if (o.class_name == "L2") return R::L2(c.number("l2", 0.01));
    if (o.class_name == "L1L2") {
      return R::L1L2({.l1 = c.number("l1", 0.0), .l2 = c.number("l2", 0.0)});
    }
    return R::get(o.class_name);
  } catch (const ValueError& e) {
    throw ValueError(r.who() + ": '" + key + "': " + e.what());
  }
}

constraints::Constraint parse_constraint(const Reader& r, const char* key) {
  const ConfigValue* v = r.find(key);
  if (v == nullptr) return {};
  const KerasObject o = keras_object(r, key, *v);
  const Reader c(o.config, r.who() + " " + key);
  namespace C = constraints;
  try {
    const Axes axis = parse_axis(c).value_or(Axes(0));
    if (o.class_name == "MaxNorm") {
      return C::MaxNorm({.max_value = c.number("max_value", 2.0), .axis = axis});
    }
    if (o.class_name == "UnitNorm") return C::UnitNorm({.axis = axis});
    if (o.class_name == "MinMaxNorm") {
      return C::MinMaxNorm({.min_value = c.number("min_value", 0.0),
                            .max_value = c.number("max_value", 1.0),
                            .rate = c.number("rate", 1.0),
                            .axis = axis});
    }
    return C::get(o.class_name);
  } catch (const ValueError& e) {
    throw ValueError(r.who() + ": '" + key + "': " + e.what());
  }
}

activations::Activation parse_activation(const Reader& r) {
  const ConfigValue* v = r.find("activation");
  if (v == nullptr) return "linear";
  NEURONA_CHECK(v->kind() == ConfigValue::Kind::String, ValueError, r.who(),
                ": 'activation' must be the name of an activation; custom activation objects "
                "are not supported");
  try {
    return activations::get(v->as_string());
  } catch (const ValueError& e) {
    throw ValueError(r.who() + ": " + e.what());
  }
}

Shape shape_of(const Reader& r, const char* key, const ConfigValue& v) {
  std::vector<std::int64_t> dims;
  for (const ConfigValue& d : r.typed(key, v, [](const ConfigValue& x) { return x.as_list(); })) {
    dims.push_back(d.is_null() ? -1
                               : r.typed(key, d, [](const ConfigValue& x) { return x.as_int(); }));
  }
  NEURONA_CHECK(dims.size() <= 32, ValueError, r.who(), ": '", key, "' has ", dims.size(),
                " dimensions");
  return Shape(std::move(dims));
}

// ---------------------------------------------------------------- layer factories

using layers::AnyLayer;
namespace L = layers;

AnyLayer dense_from(const Reader& r) {
  r.none("quantization_config", "quantized Dense layers");
  r.none("lora_rank", "LoRA");
  return L::Dense(
      r.integer("units"),
      {.activation = parse_activation(r),
       .use_bias = r.boolean("use_bias", true),
       .kernel_initializer = parse_initializer(r, "kernel_initializer", "glorot_uniform"),
       .bias_initializer = parse_initializer(r, "bias_initializer", "zeros"),
       .kernel_regularizer = parse_regularizer(r, "kernel_regularizer"),
       .bias_regularizer = parse_regularizer(r, "bias_regularizer"),
       .activity_regularizer = parse_regularizer(r, "activity_regularizer"),
       .kernel_constraint = parse_constraint(r, "kernel_constraint"),
       .bias_constraint = parse_constraint(r, "bias_constraint"),
       .name = r.string("name", ""),
       .trainable = r.boolean("trainable", true),
       .dtype = parse_dtype(r)});
}

AnyLayer conv2d_from(const Reader& r) {
  r.none("lora_rank", "LoRA");
  return L::Conv2D(
      r.integer("filters"), r.pair("kernel_size", 1),
      {.strides = r.pair("strides", 1),
       .padding = r.string("padding", "valid"),
       .data_format = r.string("data_format", "channels_last"),
       .dilation_rate = r.pair("dilation_rate", 1),
       .groups = r.integer("groups", 1),
       .activation = parse_activation(r),
       .use_bias = r.boolean("use_bias", true),
       .kernel_initializer = parse_initializer(r, "kernel_initializer", "glorot_uniform"),
       .bias_initializer = parse_initializer(r, "bias_initializer", "zeros"),
       .kernel_regularizer = parse_regularizer(r, "kernel_regularizer"),
       .bias_regularizer = parse_regularizer(r, "bias_regularizer"),
       .activity_regularizer = parse_regularizer(r, "activity_regularizer"),
       .kernel_constraint = parse_constraint(r, "kernel_constraint"),
       .bias_constraint = parse_constraint(r, "bias_constraint"),
       .name = r.string("name", ""),
       .trainable = r.boolean("trainable", true),
       .dtype = parse_dtype(r)});
}

AnyLayer pooling_from(const Reader& r, bool max) {
  const L::IntPair pool = r.pair("pool_size", 2);
  const L::Pooling2DOptions o{.strides = r.find("strides")
                                             ? L::OptionalIntPair(r.pair("strides", 1))
                                             : L::OptionalIntPair(),
                              .padding = r.string("padding", "valid"),
                              .data_format = r.string("data_format", "channels_last"),
                              .name = r.string("name", ""),
                              .dtype = parse_dtype(r)};
  return max ? AnyLayer(L::MaxPooling2D(pool, o)) : AnyLayer(L::AveragePooling2D(pool, o));
}

AnyLayer global_pooling_from(const Reader& r, bool max) {
  const L::GlobalPooling2DOptions o{.data_format = r.string("data_format", "channels_last"),
                                    .keepdims = r.boolean("keepdims", false),
                                    .name = r.string("name", ""),
                                    .dtype = parse_dtype(r)};
  return max ? AnyLayer(L::GlobalMaxPooling2D(o)) : AnyLayer(L::GlobalAveragePooling2D(o));
}

AnyLayer batch_normalization_from(const Reader& r) {
  r.only("synchronized", false, "synchronized batch normalization");
  r.only("renorm", false, "batch renormalization");
  const ConfigValue* axis = r.find("axis");
  NEURONA_CHECK(axis == nullptr || axis->kind() == ConfigValue::Kind::Int, ValueError, r.who(),
                ": 'axis' must be one int (neurona normalizes over one feature axis)");
  return L::BatchNormalization(
      {.axis = static_cast<int>(r.integer("axis", -1)),
       .momentum = r.number("momentum", 0.99),
       .epsilon = r.number("epsilon", 1e-3),
       .center = r.boolean("center", true),
       .scale = r.boolean("scale", true),
       .beta_initializer = parse_initializer(r, "beta_initializer", "zeros"),
       .gamma_initializer = parse_initializer(r, "gamma_initializer", "ones"),
       .moving_mean_initializer = parse_initializer(r, "moving_mean_initializer", "zeros"),
       .moving_variance_initializer = parse_initializer(r, "moving_variance_initializer", "ones"),
       .beta_regularizer = parse_regularizer(r, "beta_regularizer"),
       .gamma_regularizer = parse_regularizer(r, "gamma_regularizer"),
       .beta_constraint = parse_constraint(r, "beta_constraint"),
       .gamma_constraint = parse_constraint(r, "gamma_constraint"),
       .name = r.string("name", ""),
       .trainable = r.boolean("trainable", true),
       .dtype = parse_dtype(r)});
}

AnyLayer zero_padding_from(const Reader& r) {
  L::Padding2DAmounts amounts = 1;
  if (const ConfigValue* p = r.find("padding")) {
    if (p->kind() == ConfigValue::Kind::Int) {
      amounts = p->as_int();
    } else {
      const auto& list = r.typed("padding", *p, [](const ConfigValue& x) { return x.as_list(); });
      NEURONA_CHECK(list.size() == 2, ValueError, r.who(),
                    ": 'padding' must be an int, 2 ints, or 2 pairs of ints");
      if (list[0].kind() == ConfigValue::Kind::Int) {
        amounts =
            L::Padding2DAmounts(r.integer_of("padding", list[0]), r.integer_of("padding", list[1]));
      } else {
        const auto h = r.ints("padding", list[0]), w = r.ints("padding", list[1]);
        NEURONA_CHECK(h.size() == 2 && w.size() == 2, ValueError, r.who(),
                      ": 'padding' must be ((top, bottom), (left, right))");
        amounts = L::Padding2DAmounts(std::array<std::int64_t, 2>{h[0], h[1]},
                                      std::array<std::int64_t, 2>{w[0], w[1]});
      }
    }
  }
  return L::ZeroPadding2D(amounts, {.data_format = r.string("data_format", "channels_last"),
                                    .name = r.string("name", ""),
                                    .dtype = parse_dtype(r)});
}

AnyLayer dropout_from(const Reader& r) {
  std::optional<std::vector<std::int64_t>> noise_shape;
  if (const ConfigValue* ns = r.find("noise_shape")) {
    noise_shape = shape_of(r, "noise_shape", *ns).dims();
  }
  return L::Dropout(
      r.number("rate", 0.0),
      {.seed = seed_of(r), .noise_shape = std::move(noise_shape), .name = r.string("name", "")});
}

AnyLayer flatten_from(const Reader& r) {
  return L::Flatten(
      {.data_format = r.string("data_format", "channels_last"), .name = r.string("name", "")});
}

L::LayerOptions layer_options(const Reader& r) {
  return {.name = r.string("name", ""),
          .trainable = r.boolean("trainable", true),
          .dtype = parse_dtype(r)};
}

AnyLayer reshape_from(const Reader& r) {
  return L::Reshape(shape_of(r, "target_shape", r.need("target_shape")), layer_options(r));
}

AnyLayer activation_from(const Reader& r) {
  return L::Activation(parse_activation(r), layer_options(r));
}

std::shared_ptr<Model> sequential_from(const ConfigValue& config, const std::string& who);

struct Registries {
  std::mutex mu;
  std::map<std::string, LayerFactory> layers;
  std::map<std::string, ModelFactory> models;
};

Registries& registries() {
  static auto* instance = [] {
    auto* reg = new Registries();  // outlives static models that load in destructors
    auto add = [&](const char* name, AnyLayer (*f)(const Reader&)) {
      reg->layers[name] = [f, name](const ConfigValue& c) {
        return f(Reader(c, std::string(name)));
      };
    };
    add("Dense", dense_from);
    add("Conv2D", conv2d_from);
    add("MaxPooling2D", [](const Reader& r) { return pooling_from(r, true); });
    add("AveragePooling2D", [](const Reader& r) { return pooling_from(r, false); });
    add("GlobalMaxPooling2D", [](const Reader& r) { return global_pooling_from(r, true); });
    add("GlobalAveragePooling2D", [](const Reader& r) { return global_pooling_from(r, false); });
    add("BatchNormalization", batch_normalization_from);
    add("ZeroPadding2D", zero_padding_from);
    add("Dropout", dropout_from);
    add("Flatten", flatten_from);
    add("Reshape", reshape_from);
    add("Activation", activation_from);
    reg->models["Sequential"] = [](const ConfigValue& c) {
      return sequential_from(c, "Sequential");
    };
    return reg;
  }();
  return *instance;
}

std::string known_classes() {
  auto& r = registries();
  std::lock_guard lock(r.mu);
  std::string out;
  for (const auto& [name, f] : r.layers) out += (out.empty() ? "" : ", ") + name;
  for (const auto& [name, f] : r.models) out += ", " + name;
  return out;
}

// Applies the trainable flag of a config to layers whose options have none.
void apply_trainable(const ConfigValue& config, L::Layer& layer, const std::string& who) {
  const ConfigValue* t = config.find("trainable");
  if (t == nullptr || t->is_null()) return;
  NEURONA_CHECK(t->kind() == ConfigValue::Kind::Bool, ValueError, who,
                ": 'trainable' must be a bool, got ", t->kind_name());
  if (layer.trainable() != t->as_bool()) layer.set_trainable(t->as_bool());
}

// {"class_name": ..., "config": ...} -> (class_name, config), with errors naming `who`.
std::pair<std::string, ConfigValue> split_serialized(const ConfigValue& serialized,
                                                     const std::string& who) {
  NEURONA_CHECK(serialized.kind() == ConfigValue::Kind::Dict, ValueError, who,
                ": expected a serialized Keras object (a dict), got ", serialized.kind_name());
  const ConfigValue* cls = serialized.find("class_name");
  NEURONA_CHECK(cls != nullptr && cls->kind() == ConfigValue::Kind::String, ValueError, who,
                ": the object has no 'class_name'");
  const ConfigValue* config = serialized.find("config");
  NEURONA_CHECK(config != nullptr && config->kind() == ConfigValue::Kind::Dict, ValueError, who,
                ": the ", cls->as_string(), " object has no 'config' dict");
  return {cls->as_string(), *config};
}

std::optional<Shape> build_shape(const ConfigValue& serialized, const std::string& who) {
  const ConfigValue* build = serialized.find("build_config");
  if (build == nullptr || build->is_null()) return std::nullopt;
  const ConfigValue* shape = build->find("input_shape");
  if (shape == nullptr || shape->is_null()) return std::nullopt;
  const Reader r(*build, who + " build_config");
  return shape_of(r, "input_shape", *shape);
}

// A model from the model registry, built for its build_config by a call on zeros (what
// Keras's build_from_config does symbolically), so that its layers have their weights.
std::shared_ptr<Model> registered_model(const ModelFactory& factory, const std::string& cls,
                                        const ConfigValue& serialized, const ConfigValue& config,
                                        const std::string& who) {
  std::shared_ptr<Model> model = factory(config);
  NEURONA_CHECK(model != nullptr, ValueError, who, ": the factory registered for ", cls,
                " returned no model");
  if (!model->built()) {
    if (const auto shape = build_shape(serialized, who)) {
      model->ensure_built(*shape);
      std::vector<std::int64_t> dims = shape->dims();
      for (auto& d : dims) d = d < 0 ? 1 : d;
      const Shape probe(std::move(dims));
      layers::WeightBudget::charge(
          probe, "the input " + model->describe() + " is run on once to build it,");
      (*model)(zeros(probe, {.dtype = model->dtype()}), false);
    }
  }
  return model;
}

AnyLayer layer_from(const ConfigValue& serialized, const std::string& who) {
  auto [cls, config] = split_serialized(serialized, who);
  const std::string named = who + " (" + cls + ")";
  LayerFactory layer_factory;
  ModelFactory model_factory;
  {
    auto& r = registries();
    std::lock_guard lock(r.mu);
    if (auto it = r.layers.find(cls); it != r.layers.end()) layer_factory = it->second;
    if (auto it = r.models.find(cls); it != r.models.end()) model_factory = it->second;
  }
  try {
    if (layer_factory) {
      AnyLayer layer = layer_factory(config);
      apply_trainable(config, *layer, named);
      return layer;
    }
    if (model_factory) {
      return AnyLayer(registered_model(model_factory, cls, serialized, config, named));
    }
  } catch (const ValueError&) {
    throw;
  } catch (const Error& e) {
    // Layer constructors reject bad arguments with ShapeError / NotImplementedError too.
    throw ValueError(named + ": " + e.what());
  }
  NEURONA_CHECK(cls != "Functional", ValueError, who,
                ": Functional models (keras.Model(inputs, outputs)) are not supported yet; "
                "neurona rebuilds Sequential models and registered classes");
  throw ValueError(who + ": unknown layer class '" + cls +
                   "'; register it with nr::models::register_layer (or register_model for a "
                   "subclassed model). Known classes: " +
                   known_classes());
}

std::shared_ptr<Model> sequential_from(const ConfigValue& config, const std::string& who) {
  const Reader r(config, who);
  const ConfigValue& list = r.need("layers");
  const auto& items = r.typed("layers", list, [](const ConfigValue& x) { return x.as_list(); });
  std::vector<AnyLayer> built;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string item_who = who + " layer " + std::to_string(i);
    auto [cls, item_config] = split_serialized(items[i], item_who);
    if (cls == "InputLayer") {
      NEURONA_CHECK(i == 0, ValueError, item_who, ": an InputLayer can only come first");
      const Reader in(item_config, item_who + " (InputLayer)");
      const ConfigValue* bs = in.find("batch_shape");
      if (bs == nullptr) bs = in.find("batch_input_shape");  // Keras 2's name
      NEURONA_CHECK(bs != nullptr, ValueError, in.who(), ": the config has no 'batch_shape'");
      const Shape batch_shape = shape_of(in, "batch_shape", *bs);
      NEURONA_CHECK(batch_shape.rank() >= 1, ValueError, in.who(),
                    ": 'batch_shape' needs a batch dimension");
      std::vector<std::int64_t> dims(batch_shape.begin() + 1, batch_shape.end());
      try {
        built.push_back(L::Input(
            Shape(std::move(dims)),
            {.batch_size =
                 batch_shape[0] < 0 ? std::nullopt : std::optional<std::int64_t>(batch_shape[0]),
             .name = in.string("name", ""),
             .dtype = input_dtype(in)}));
      } catch (const ValueError&) {
        throw;
      } catch (const Error& e) {
        throw ValueError(in.who() + ": " + e.what());
      }
      continue;
    }
    const ConfigValue* name = item_config.find("name");
    built.push_back(layer_from(
        items[i], item_who + (name != nullptr && name->kind() == ConfigValue::Kind::String
                                  ? " '" + name->as_string() + "'"
                                  : std::string())));
  }
  std::shared_ptr<Sequential> model;
  try {
    model = std::make_shared<Sequential>(built,
                                         L::LayerOptions{.name = r.string("name", ""),
                                                         .trainable = r.boolean("trainable", true),
                                                         .dtype = parse_dtype(r)});
    if (!model->built()) {
      if (const ConfigValue* shape = r.find("build_input_shape")) {
        model->ensure_built(shape_of(r, "build_input_shape", *shape));
      }
    }
  } catch (const ValueError&) {
    throw;
  } catch (const Error& e) {
    throw ValueError(who + ": " + e.what());
  }
  return model;
}

// ---------------------------------------------------------------- writing

bool writes_build_config(const L::Layer& layer) {
  // The layers whose build Keras records (the others are built at construction).
  static const char* const kWeightless[] = {
      "MaxPooling2D", "AveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling2D", "Reshape",
      "Activation",   "Dropout"};
  for (const char* c : kWeightless) {
    if (layer.class_name() == c) return false;
  }
  return layer.built();
}

bool is_keras_layer(const std::string& cls) {
  static const char* const kKeras[] = {"Dense",
                                       "Conv2D",
                                       "MaxPooling2D",
                                       "AveragePooling2D",
                                       "GlobalMaxPooling2D",
                                       "GlobalAveragePooling2D",
                                       "BatchNormalization",
                                       "ZeroPadding2D",
                                       "Dropout",
                                       "Flatten",
                                       "Reshape",
                                       "Activation"};
  for (const char* c : kKeras) {
    if (cls == c) return true;
  }
  return false;
}

ConfigValue serialize_layer(const L::Layer& layer);

ConfigValue serialize_sequential(const Sequential& model) {
  ConfigValue config = model.L::Layer::get_config();
  ConfigValue::List items;
  std::optional<Shape> input = model.input_shape();
  if (!input && model.built()) input = model.build_input_shape();
  if (input) {
    items.push_back(ConfigValue::Dict{
        {"module", "keras.layers"},
        {"class_name", "InputLayer"},
        {"config", ConfigValue::Dict{{"batch_shape", layers::shape_config(*input)},
                                     {"dtype", std::string(name(model.dtype()))},
                                     {"sparse", false},
                                     {"ragged", false},
                                     {"name", "input_layer"},
                                     {"optional", false}}},
        {"registered_name", nullptr}});
  }
  for (const auto& layer : model.layers()) items.push_back(serialize_layer(*layer));
  config.set("layers", std::move(items));
  if (model.built())
    config.set("build_input_shape", layers::shape_config(model.build_input_shape()));
  ConfigValue out = ConfigValue::Dict{{"module", "keras"},
                                      {"class_name", "Sequential"},
                                      {"config", std::move(config)},
                                      {"registered_name", nullptr}};
  if (model.built()) {
    out.set("build_config",
            ConfigValue::Dict{{"input_shape", layers::shape_config(model.build_input_shape())}});
  }
  return out;
}

ConfigValue serialize_layer(const L::Layer& layer) {
  if (const auto* seq = dynamic_cast<const Sequential*>(&layer)) return serialize_sequential(*seq);
  const std::string& cls = layer.class_name();
  const bool keras = is_keras_layer(cls);
  // A class of the user's: Keras finds it by registered_name among custom_objects (Python)
  // and neurona by class name among the registered factories.
  ConfigValue out =
      ConfigValue::Dict{{"module", keras ? "keras.layers" : "neurona"},
                        {"class_name", cls},
                        {"config", layer.get_config()},
                        {"registered_name", keras ? ConfigValue() : ConfigValue(cls)}};
  if (writes_build_config(layer) || (!keras && layer.built())) {
    out.set("build_config",
            ConfigValue::Dict{{"input_shape", layers::shape_config(layer.build_input_shape())}});
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------- public

void register_layer(const std::string& class_name, LayerFactory factory) {
  NEURONA_CHECK(!class_name.empty() && factory != nullptr, ValueError,
                "register_layer: needs a class name and a factory");
  auto& r = registries();
  std::lock_guard lock(r.mu);
  r.layers[class_name] = std::move(factory);
}

void register_model(const std::string& class_name, ModelFactory factory) {
  NEURONA_CHECK(!class_name.empty() && factory != nullptr, ValueError,
                "register_model: needs a class name and a factory");
  NEURONA_CHECK(class_name != "Sequential", ValueError,
                "register_model: Sequential is neurona's own");
  auto& r = registries();
  std::lock_guard lock(r.mu);
  r.models[class_name] = std::move(factory);
}

layers::AnyLayer deserialize_layer(const ConfigValue& serialized) {
  return layer_from(serialized, "deserialize_layer");
}

namespace detail {

ConfigValue parse_json(std::string_view json, const std::string& what) {
  Json j;
  try {
    j = Json::parse(json.begin(), json.end());
  } catch (const Json::exception& e) {
    // nlohmann names the byte and the reason, including ill-formed UTF-8.
    throw ValueError(what + ": malformed JSON: " + e.what());
  }
  return from_json(j, 0, what);
}

std::string model_config_json(const Model& model) {
  ConfigValue serialized;
  if (const auto* seq = dynamic_cast<const Sequential*>(&model)) {
    serialized = serialize_sequential(*seq);
  } else {
    serialized = serialize_layer(model);
    serialized.set("module", "neurona");
  }
  serialized.set("compile_config", compile_config_for_save(model));
  return to_json(serialized).dump();
}

std::string metadata_json() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  localtime_r(&now, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d@%H:%M:%S", &tm);
  Json j = Json::object();
  j["keras_version"] = kKerasVersion;
  j["date_saved"] = date;
  return j.dump();
}

void check_metadata_json(std::string_view json) {
  const ConfigValue m = parse_json(json, "metadata.json");
  const ConfigValue* v = m.find("keras_version");
  NEURONA_CHECK(v != nullptr && v->kind() == ConfigValue::Kind::String, ValueError,
                "metadata.json: no keras_version; this is not a Keras 3 .keras file");
  NEURONA_CHECK(v->as_string().rfind("3.", 0) == 0, ValueError, "metadata.json: keras_version is '",
                v->as_string(), "'; neurona reads files of Keras 3");
}

namespace {

std::shared_ptr<Model> model_from_serialized(const ConfigValue& serialized) {
  auto [cls, config] = split_serialized(serialized, "config.json");
  ModelFactory factory;
  {
    auto& r = registries();
    std::lock_guard lock(r.mu);
    if (auto it = r.models.find(cls); it != r.models.end()) factory = it->second;
  }
  if (cls == "Sequential") return sequential_from(config, "config.json: Sequential");
  NEURONA_CHECK(cls != "Functional", ValueError,
                "config.json: Functional models (keras.Model(inputs, outputs)) are not "
                "supported yet; neurona rebuilds Sequential models and registered subclassed "
                "models");
  NEURONA_CHECK(factory != nullptr, ValueError, "config.json: unknown model class '", cls,
                "'. A subclassed model needs its class registered: "
                "nr::models::register_model(\"",
                cls,
                "\", factory) (the equivalent of Keras's custom_objects); or construct it and "
                "call load_weights");
  try {
    return registered_model(factory, cls, serialized, config, "config.json: " + cls);
  } catch (const ValueError&) {
    throw;
  } catch (const Error& e) {
    throw ValueError("config.json: " + cls + ": " + e.what());
  }
}

}  // namespace

std::shared_ptr<Model> model_from_config_json(std::string_view json) {
  const ConfigValue serialized = parse_json(json, "config.json");
  std::shared_ptr<Model> model = model_from_serialized(serialized);
  // As keras.saving.load_model(compile=True): compiled from compile_config when it has one
  // (Keras writes {} for a model that was not compiled).
  const ConfigValue* compile_config = serialized.find("compile_config");
  if (compile_config == nullptr || compile_config->is_null() ||
      (compile_config->kind() == ConfigValue::Kind::Dict && compile_config->as_dict().empty())) {
    return model;
  }
  try {
    model->compile_from_config(*compile_config);
  } catch (const Error& e) {
    throw ValueError(std::string("config.json: ") + e.what());
  }
  return model;
}

}  // namespace detail

}  // namespace neurona::models
