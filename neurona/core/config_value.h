// ConfigValue: the JSON-like value Keras's get_config() returns (None, bool, int, float, str,
// list, dict with its keys in insertion order), one type for the configs of layers, optimizers,
// schedules, losses and metrics, without a JSON library in the public headers.
//   nr::ConfigValue config = nr::ConfigValue::Dict{{"units", 3}};
//   config.set("activation", "relu");
//   config.at("units").as_int();   // 3
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace neurona {

class ConfigValue {
 public:
  using List = std::vector<ConfigValue>;
  /// Keys in insertion order, as a Python dict keeps them.
  using Dict = std::vector<std::pair<std::string, ConfigValue>>;
  enum class Kind { Null, Bool, Int, Float, String, List, Dict };

  /// None.
  ConfigValue() = default;
  ConfigValue(std::nullptr_t) {}                                // NOLINT: implicit by design
  ConfigValue(bool value) : kind_(Kind::Bool), bool_(value) {}  // NOLINT: implicit by design
  template <std::integral T>
  requires(!std::same_as<T, bool>) ConfigValue(T value)  // NOLINT: implicit by design
      : kind_(Kind::Int), int_(static_cast<std::int64_t>(value)) {}
  template <std::floating_point T>
  ConfigValue(T value)  // NOLINT: implicit by design
      : kind_(Kind::Float), float_(static_cast<double>(value)) {}
  ConfigValue(const char* value)  // NOLINT: implicit by design
      : kind_(Kind::String), string_(value) {}
  ConfigValue(std::string value)  // NOLINT: implicit by design
      : kind_(Kind::String), string_(std::move(value)) {}
  ConfigValue(List value)  // NOLINT: implicit by design
      : kind_(Kind::List), list_(std::move(value)) {}
  ConfigValue(Dict value)  // NOLINT: implicit by design
      : kind_(Kind::Dict), dict_(std::move(value)) {}
  /// A list of numbers: `std::vector<double>{0.1, 0.2}` or `std::vector<std::int64_t>{10, 20}`.
  template <typename T>
  requires((std::integral<T> || std::floating_point<T>)&&!std::same_as<T, bool>)
      ConfigValue(const std::vector<T>& values)  // NOLINT: implicit by design
      : kind_(Kind::List), list_(values.begin(), values.end()) {}

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  /// "None", "bool", "int", "float", "str", "list" or "dict", for messages.
  const char* kind_name() const;

  /// The value as the type asked for; ValueError naming the kinds otherwise. as_double
  /// accepts an int too (JSON writes 2.0 as 2 in some writers).
  bool as_bool() const;
  std::int64_t as_int() const;
  double as_double() const;
  const std::string& as_string() const;
  const List& as_list() const;
  const Dict& as_dict() const;

  /// The entry `key` of a dict, or nullptr when it has none (or this is not a dict).
  const ConfigValue* find(std::string_view key) const;
  /// The entry `key` of a dict; ValueError naming the key when it is missing.
  const ConfigValue& at(std::string_view key) const;
  /// Sets `key` (replacing it where present, appending otherwise); turns None into a dict.
  void set(std::string key, ConfigValue value);

  /// Same kind and value (an int never equals a float; dicts compare in key order).
  bool operator==(const ConfigValue& other) const = default;

 private:
  Kind kind_ = Kind::Null;
  bool bool_ = false;
  std::int64_t int_ = 0;
  double float_ = 0.0;
  std::string string_;
  List list_;
  Dict dict_;
};

}  // namespace neurona
