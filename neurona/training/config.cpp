// ConfigReader: the type checks every from_config shares, so that a config read from a file
// gives a ValueError naming the object and the key.
#include "neurona/training/config.h"

#include <algorithm>
#include <cmath>

#include "neurona/core/error.h"

namespace neurona::detail {

namespace {
bool is_number(const ConfigValue& v) {
  return v.kind() == ConfigValue::Kind::Int || v.kind() == ConfigValue::Kind::Float;
}
}  // namespace

ConfigReader::ConfigReader(const Config& config, std::string who)
    : config_(config), who_(std::move(who)) {}

void ConfigReader::fail(const std::string& key, const std::string& why) const {
  throw ValueError(str(who_, ": '", key, "' ", why));
}

bool ConfigReader::present(const std::string& key) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.push_back(key);
  for (const auto& [k, v] : config_) {
    if (k == key) return true;
  }
  return false;
}

const ConfigValue* ConfigReader::find(const std::string& key) {
  if (!present(key)) return nullptr;
  for (const auto& [k, v] : config_) {
    if (k == key) return v.is_null() ? nullptr : &v;
  }
  return nullptr;
}

std::optional<double> ConfigReader::optional_number(const std::string& key) {
  const ConfigValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (is_number(*v)) return v->as_double();
  fail(key, str("must be a number, got ", v->kind_name()));
}

double ConfigReader::number(const std::string& key, double def) {
  return optional_number(key).value_or(def);
}

double ConfigReader::number(const std::string& key) {
  const std::optional<double> v = optional_number(key);
  if (!v) fail(key, "is required");
  return *v;
}

namespace {
// An int, or a float that holds one exactly (JSON writers may write 100 as 100.0).
std::optional<std::int64_t> as_integer(const ConfigValue& v) {
  if (v.kind() == ConfigValue::Kind::Int) return v.as_int();
  if (v.kind() == ConfigValue::Kind::Float) {
    const double d = v.as_double();
    if (std::isfinite(d) && std::trunc(d) == d && std::abs(d) < 9.0e18) {
      return static_cast<std::int64_t>(d);
    }
  }
  return std::nullopt;
}

// A list whose items are all numbers (an empty list included).
bool is_number_list(const ConfigValue& v) {
  if (v.kind() != ConfigValue::Kind::List) return false;
  return std::all_of(v.as_list().begin(), v.as_list().end(), is_number);
}
}  // namespace

std::int64_t ConfigReader::integer(const std::string& key, std::int64_t def) {
  const ConfigValue* v = find(key);
  if (v == nullptr) return def;
  const std::optional<std::int64_t> i = as_integer(*v);
  if (!i) fail(key, str("must be an int, got ", v->kind_name()));
  return *i;
}

std::int64_t ConfigReader::integer(const std::string& key) {
  if (find(key) == nullptr) fail(key, "is required");
  return integer(key, 0);
}

bool ConfigReader::boolean(const std::string& key, bool def) {
  const ConfigValue* v = find(key);
  if (v == nullptr) return def;
  if (v->kind() == ConfigValue::Kind::Bool) return v->as_bool();
  fail(key, str("must be a bool, got ", v->kind_name()));
}

std::string ConfigReader::string(const std::string& key, const std::string& def) {
  const ConfigValue* v = find(key);
  if (v == nullptr) return def;
  if (v->kind() == ConfigValue::Kind::String) return v->as_string();
  fail(key, str("must be a string, got ", v->kind_name()));
}

std::vector<double> ConfigReader::numbers(const std::string& key) {
  const ConfigValue* v = find(key);
  if (v == nullptr) fail(key, "is required");
  if (is_number_list(*v)) {
    std::vector<double> out;
    for (const ConfigValue& x : v->as_list()) out.push_back(x.as_double());
    return out;
  }
  fail(key, str("must be a list of numbers, got ", v->kind_name()));
}

std::vector<std::int64_t> ConfigReader::integers(const std::string& key) {
  const ConfigValue* v = find(key);
  if (v == nullptr) fail(key, "is required");
  if (is_number_list(*v)) {
    std::vector<std::int64_t> out;
    for (const ConfigValue& x : v->as_list()) {
      const std::optional<std::int64_t> n = as_integer(x);
      if (!n) fail(key, "must be a list of ints");
      out.push_back(*n);
    }
    return out;
  }
  fail(key, str("must be a list of ints, got ", v->kind_name()));
}

void ConfigReader::require_none(const std::string& key, const std::string& feature) {
  if (find(key) != nullptr) {
    fail(key, str("is set, but neurona does not implement ", feature));
  }
}

void ConfigReader::require_bool(const std::string& key, bool value, const std::string& feature) {
  if (boolean(key, value) != value) {
    fail(key, str("is ", value ? "false" : "true", ", but neurona does not implement ", feature));
  }
}

void ConfigReader::ignore(const std::string& key) {
  (void)present(key);
}

void ConfigReader::finish() const {
  std::string unknown;
  for (const auto& [k, v] : config_) {
    if (std::find(known_.begin(), known_.end(), k) == known_.end()) {
      unknown += unknown.empty() ? "'" : ", '";
      unknown += k;
      unknown += "'";
    }
  }
  if (!unknown.empty()) {
    throw ValueError(str(who_, ": argument(s) not recognized: ", unknown));
  }
}

}  // namespace neurona::detail
