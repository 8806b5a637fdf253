// ConfigValue's accessors, with errors that name the kind found.
#include "neurona/core/config_value.h"

#include "neurona/core/error.h"

namespace neurona {

const char* ConfigValue::kind_name() const {
  switch (kind_) {
    case Kind::Null:
      return "None";
    case Kind::Bool:
      return "bool";
    case Kind::Int:
      return "int";
    case Kind::Float:
      return "float";
    case Kind::String:
      return "str";
    case Kind::List:
      return "list";
    case Kind::Dict:
      return "dict";
  }
  return "?";
}

bool ConfigValue::as_bool() const {
  NEURONA_CHECK(kind_ == Kind::Bool, ValueError, "config: expected a bool, got ", kind_name());
  return bool_;
}

std::int64_t ConfigValue::as_int() const {
  NEURONA_CHECK(kind_ == Kind::Int, ValueError, "config: expected an int, got ", kind_name());
  return int_;
}

double ConfigValue::as_double() const {
  NEURONA_CHECK(kind_ == Kind::Float || kind_ == Kind::Int, ValueError,
                "config: expected a float, got ", kind_name());
  return kind_ == Kind::Int ? static_cast<double>(int_) : float_;
}

const std::string& ConfigValue::as_string() const {
  NEURONA_CHECK(kind_ == Kind::String, ValueError, "config: expected a str, got ", kind_name());
  return string_;
}

const ConfigValue::List& ConfigValue::as_list() const {
  NEURONA_CHECK(kind_ == Kind::List, ValueError, "config: expected a list, got ", kind_name());
  return list_;
}

const ConfigValue::Dict& ConfigValue::as_dict() const {
  NEURONA_CHECK(kind_ == Kind::Dict, ValueError, "config: expected a dict, got ", kind_name());
  return dict_;
}

const ConfigValue* ConfigValue::find(std::string_view key) const {
  if (kind_ != Kind::Dict) return nullptr;
  for (const auto& [k, v] : dict_) {
    if (k == key) return &v;
  }
  return nullptr;
}

const ConfigValue& ConfigValue::at(std::string_view key) const {
  const ConfigValue* v = find(key);
  NEURONA_CHECK(v != nullptr, ValueError, "config: missing key '", key, "'");
  return *v;
}

void ConfigValue::set(std::string key, ConfigValue value) {
  if (kind_ == Kind::Null) kind_ = Kind::Dict;
  NEURONA_CHECK(kind_ == Kind::Dict, ValueError, "config: cannot set key '", key, "' on a ",
                kind_name());
  for (auto& [k, v] : dict_) {
    if (k == key) {
      v = std::move(value);
      return;
    }
  }
  dict_.emplace_back(std::move(key), std::move(value));
}

}  // namespace neurona
