// LayerConfigReader: the typed reads of layer configs, and the deserialization of the Keras
// objects layers take (activations, initializers, regularizers, constraints, dtype policies).
#include "neurona/layers/config_reader.h"

#include <utility>

namespace neurona::layers {

LayerConfigReader::LayerConfigReader(const ConfigValue& config, std::string who)
    : config_(config), who_(std::move(who)) {
  NEURONA_CHECK(config.kind() == ConfigValue::Kind::Dict, ValueError, who_,
                ": expected the config to be a dict, got ", config.kind_name());
}

const ConfigValue* LayerConfigReader::find(const char* key) const {
  const ConfigValue* v = config_.find(key);
  return v != nullptr && !v->is_null() ? v : nullptr;
}

const ConfigValue& LayerConfigReader::need(const char* key) const {
  const ConfigValue* v = find(key);
  NEURONA_CHECK(v != nullptr, ValueError, who_, ": the config has no '", key, "'");
  return *v;
}

std::int64_t LayerConfigReader::integer(const char* key) const {
  return typed(key, need(key), [](const ConfigValue& v) { return v.as_int(); });
}

std::int64_t LayerConfigReader::integer_of(const char* key, const ConfigValue& v) const {
  return typed(key, v, [](const ConfigValue& x) { return x.as_int(); });
}

std::int64_t LayerConfigReader::integer(const char* key, std::int64_t def) const {
  return find(key) ? integer(key) : def;
}

double LayerConfigReader::number(const char* key, double def) const {
  const ConfigValue* v = find(key);
  return v ? typed(key, *v, [](const ConfigValue& x) { return x.as_double(); }) : def;
}

bool LayerConfigReader::boolean(const char* key, bool def) const {
  const ConfigValue* v = find(key);
  return v ? typed(key, *v, [](const ConfigValue& x) { return x.as_bool(); }) : def;
}

std::string LayerConfigReader::string(const char* key, const std::string& def) const {
  const ConfigValue* v = find(key);
  return v ? typed(key, *v, [](const ConfigValue& x) { return x.as_string(); }) : def;
}

std::vector<std::int64_t> LayerConfigReader::ints(const char* key, const ConfigValue& v) const {
  return typed(key, v, [](const ConfigValue& x) {
    std::vector<std::int64_t> out;
    for (const ConfigValue& item : x.as_list()) out.push_back(item.as_int());
    return out;
  });
}

IntPair LayerConfigReader::pair(const char* key, IntPair def) const {
  const ConfigValue* v = find(key);
  if (v == nullptr) return def;
  if (v->kind() == ConfigValue::Kind::Int) return IntPair(v->as_int());
  const std::vector<std::int64_t> p = ints(key, *v);
  NEURONA_CHECK(p.size() == 2, ValueError, who_, ": '", key, "' must be an int or 2 ints, got ",
                p.size(), " values");
  return IntPair(p[0], p[1]);
}

Shape LayerConfigReader::shape(const char* key, const ConfigValue& v) const {
  std::vector<std::int64_t> dims;
  for (const ConfigValue& d : typed(key, v, [](const ConfigValue& x) { return x.as_list(); })) {
    dims.push_back(d.is_null() ? -1
                               : typed(key, d, [](const ConfigValue& x) { return x.as_int(); }));
  }
  NEURONA_CHECK(dims.size() <= 32, ValueError, who_, ": '", key, "' has ", dims.size(),
                " dimensions");
  return Shape(std::move(dims));
}

void LayerConfigReader::none(const char* key, const char* feature) const {
  NEURONA_CHECK(find(key) == nullptr, ValueError, who_, ": '", key,
                "' is set, but neurona does not support ", feature);
}

DTypePolicy LayerConfigReader::dtype() const {
  const ConfigValue* v = find("dtype");
  if (v == nullptr) return {};  // the global policy
  std::string name;
  if (v->kind() == ConfigValue::Kind::String) {
    name = v->as_string();
  } else {
    // {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}
    const ConfigValue* config = v->find("config");
    const ConfigValue* n = config != nullptr ? config->find("name") : nullptr;
    NEURONA_CHECK(n != nullptr && n->kind() == ConfigValue::Kind::String, ValueError, who_,
                  ": 'dtype' must be a dtype name or a DTypePolicy");
    name = n->as_string();
  }
  try {
    return DTypePolicy(name);
  } catch (const ValueError& e) {
    throw ValueError(neurona::detail::str(who_, ": ", e.what()));
  }
}

DType LayerConfigReader::input_dtype() const {
  const DTypePolicy policy = dtype();
  return policy.is_set() ? policy.variable_dtype() : DType::float32;
}

std::optional<std::uint64_t> LayerConfigReader::seed() const {
  const ConfigValue* v = find("seed");
  if (v == nullptr) return std::nullopt;
  return static_cast<std::uint64_t>(integer("seed"));
}

activations::Activation LayerConfigReader::activation() const {
  const ConfigValue* v = find("activation");
  if (v == nullptr) return "linear";
  NEURONA_CHECK(v->kind() == ConfigValue::Kind::String, ValueError, who_,
                ": 'activation' must be the name of an activation; custom activation objects "
                "are not supported");
  try {
    return activations::get(v->as_string());
  } catch (const ValueError& e) {
    throw ValueError(who_ + ": " + e.what());
  }
}

LayerOptions LayerConfigReader::layer_options() const {
  return {.name = string("name", ""), .trainable = boolean("trainable", true), .dtype = dtype()};
}

namespace {

// A Keras object: a name, or {"class_name": ..., "config": {...}}.
struct KerasObject {
  std::string class_name;
  ConfigValue config;
};

KerasObject keras_object(const LayerConfigReader& r, const char* key, const ConfigValue& v) {
  if (v.kind() == ConfigValue::Kind::String) return {v.as_string(), ConfigValue::Dict{}};
  const ConfigValue* cls = v.find("class_name");
  NEURONA_CHECK(cls != nullptr && cls->kind() == ConfigValue::Kind::String, ValueError, r.who(),
                ": '", key, "' must be a name or a Keras object with a class_name");
  const ConfigValue* config = v.find("config");
  return {cls->as_string(),
          config != nullptr && !config->is_null() ? *config : ConfigValue::Dict{}};
}

std::optional<Axes> axis_of(const LayerConfigReader& c) {
  const ConfigValue* v = c.find("axis");
  if (v == nullptr) return std::nullopt;
  if (v->kind() == ConfigValue::Kind::Int) return Axes(static_cast<int>(v->as_int()));
  std::vector<int> axes;
  for (std::int64_t a : c.ints("axis", *v)) axes.push_back(static_cast<int>(a));
  return Axes(std::move(axes));
}

}  // namespace

initializers::Initializer LayerConfigReader::initializer(
    const char* key, const initializers::Initializer& def) const {
  const ConfigValue* v = find(key);
  if (v == nullptr) return def;
  const KerasObject o = keras_object(*this, key, *v);
  const LayerConfigReader c(o.config, who_ + " " + key);
  namespace I = initializers;
  try {
    const std::string& n = o.class_name;
    if (n == "GlorotUniform") return I::GlorotUniform(c.seed());
    if (n == "GlorotNormal") return I::GlorotNormal(c.seed());
    if (n == "HeUniform") return I::HeUniform(c.seed());
    if (n == "HeNormal") return I::HeNormal(c.seed());
    if (n == "LecunUniform") return I::LecunUniform(c.seed());
    if (n == "LecunNormal") return I::LecunNormal(c.seed());
    if (n == "VarianceScaling") {
      return I::VarianceScaling({.scale = c.number("scale", 1.0),
                                 .mode = c.string("mode", "fan_in"),
                                 .distribution = c.string("distribution", "truncated_normal"),
                                 .seed = c.seed()});
    }
    if (n == "RandomUniform") {
      return I::RandomUniform({.minval = c.number("minval", -0.05),
                               .maxval = c.number("maxval", 0.05),
                               .seed = c.seed()});
    }
    if (n == "RandomNormal" || n == "TruncatedNormal") {
      const I::RandomNormalOptions o2{
          .mean = c.number("mean", 0.0), .stddev = c.number("stddev", 0.05), .seed = c.seed()};
      return n == "RandomNormal" ? I::Initializer(I::RandomNormal(o2))
                                 : I::Initializer(I::TruncatedNormal(o2));
    }
    if (n == "Orthogonal" || n == "OrthogonalInitializer") {
      return I::Orthogonal({.gain = c.number("gain", 1.0), .seed = c.seed()});
    }
    if (n == "Identity" || n == "IdentityInitializer") return I::Identity(c.number("gain", 1.0));
    if (n == "Constant") return I::Constant(c.number("value", 0.0));
    return I::get(n);  // Zeros, Ones, and the snake_case names
  } catch (const ValueError& e) {
    throw ValueError(who_ + ": '" + key + "': " + e.what());
  }
}

regularizers::Regularizer LayerConfigReader::regularizer(const char* key) const {
  const ConfigValue* v = find(key);
  if (v == nullptr) return {};
  const KerasObject o = keras_object(*this, key, *v);
  const LayerConfigReader c(o.config, who_ + " " + key);
  namespace R = regularizers;
  try {
    if (o.class_name == "L1") return R::L1(c.number("l1", 0.01));
    if (o.class_name == "L2") return R::L2(c.number("l2", 0.01));
    if (o.class_name == "L1L2") {
      return R::L1L2({.l1 = c.number("l1", 0.0), .l2 = c.number("l2", 0.0)});
    }
    return R::get(o.class_name);
  } catch (const ValueError& e) {
    throw ValueError(who_ + ": '" + key + "': " + e.what());
  }
}

constraints::Constraint LayerConfigReader::constraint(const char* key) const {
  const ConfigValue* v = find(key);
  if (v == nullptr) return {};
  const KerasObject o = keras_object(*this, key, *v);
  const LayerConfigReader c(o.config, who_ + " " + key);
  namespace C = constraints;
  try {
    const Axes axis = axis_of(c).value_or(Axes(0));
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
    throw ValueError(who_ + ": '" + key + "': " + e.what());
  }
}

}  // namespace neurona::layers
