// LayerConfigReader: the typed reads of layer configs, and the deserialization of the Keras
// objects layers take (activations and dtype policies here; initializers, regularizers and
// constraints by their classes' from_config, beside each class).
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
  const std::optional<std::string> name = dtype_name();
  if (!name) return {};  // the global policy
  try {
    return DTypePolicy(*name);
  } catch (const ValueError& e) {
    throw ValueError(neurona::detail::str(who_, ": ", e.what()));
  }
}

std::optional<std::string> LayerConfigReader::dtype_name() const {
  const ConfigValue* v = find("dtype");
  if (v == nullptr) return std::nullopt;
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
  return name;
}

DType LayerConfigReader::input_dtype() const {
  // An Input of token ids is an integer one; any other dtype is read as a policy.
  if (const auto name = dtype_name();
      name && (*name == "int32" || *name == "int64" || *name == "uint8")) {
    return dtype_from_string(*name);
  }
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

// The Keras object under `key` (absent or None: `absent`) made by
// make(class_name, a reader of its config), with a ValueError from it prefixed by the layer and
// the key.
template <typename T, typename Make>
T read_object(const LayerConfigReader& r, const char* key, T absent, Make make) {
  const ConfigValue* v = r.find(key);
  if (v == nullptr) return absent;
  const KerasObject o = keras_object(r, key, *v);
  const LayerConfigReader c(o.config, r.who() + " " + key);
  try {
    return make(o.class_name, c);
  } catch (const ValueError& e) {
    throw ValueError(r.who() + ": '" + key + "': " + e.what());
  }
}

}  // namespace

initializers::Initializer LayerConfigReader::initializer(
    const char* key, const initializers::Initializer& def) const {
  return read_object(*this, key, def, [](const std::string& cls, const LayerConfigReader& c) {
    return initializers::from_config(cls, c);
  });
}

regularizers::Regularizer LayerConfigReader::regularizer(const char* key) const {
  return read_object(*this, key, regularizers::Regularizer(),
                     [](const std::string& cls, const LayerConfigReader& c) {
                       return regularizers::from_config(cls, c);
                     });
}

constraints::Constraint LayerConfigReader::constraint(const char* key) const {
  return read_object(*this, key, constraints::Constraint(),
                     [](const std::string& cls, const LayerConfigReader& c) {
                       return constraints::from_config(cls, c);
                     });
}

}  // namespace neurona::layers
