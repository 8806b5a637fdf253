// ConfigReader: the type checks every from_config shares, so that a config read from a file
// gives a ValueError naming the object and the key, never a bad_variant_access.
#include "neurona/training/config.h"

#include <algorithm>
#include <cmath>

#include "neurona/core/error.h"

namespace neurona::detail {

using optimizers::ConfigValue;

const char* config_kind_name(const ConfigValue& value) {
  static const char* const kNames[] = {"None", "bool", "int",  "float",
                                       "str",  "list", "list", "LearningRateSchedule"};
  return kNames[value.index()];
}

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
    if (k == key) return std::holds_alternative<std::monostate>(v) ? nullptr : &v;
  }
  return nullptr;
}

std::optional<double> ConfigReader::optional_number(const std::string& key) {
  const ConfigValue* v = find(key);
  if (v == nullptr) return std::nullopt;
  if (const auto* d = std::get_if<double>(v)) return *d;
  if (const auto* i = std::get_if<std::int64_t>(v)) return static_cast<double>(*i);
  fail(key, str("must be a number, got ", config_kind_name(*v)));
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
  if (const auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (const auto* d = std::get_if<double>(&v)) {
    if (std::isfinite(*d) && std::trunc(*d) == *d && std::abs(*d) < 9.0e18) {
      return static_cast<std::int64_t>(*d);
    }
  }
  return std::nullopt;
}
}  // namespace

std::int64_t ConfigReader::integer(const std::string& key, std::int64_t def) {
  const ConfigValue* v = find(key);
  if (v == nullptr) return def;
  const std::optional<std::int64_t> i = as_integer(*v);
  if (!i) fail(key, str("must be an int, got ", config_kind_name(*v)));
  return *i;
}

std::int64_t ConfigReader::integer(const std::string& key) {
  if (find(key) == nullptr) fail(key, "is required");
  return integer(key, 0);
}

bool ConfigReader::boolean(const std::string& key, bool def) {
  const ConfigValue* v = find(key);
  if (v == nullptr) return def;
  if (const auto* b = std::get_if<bool>(v)) return *b;
  fail(key, str("must be a bool, got ", config_kind_name(*v)));
}

std::string ConfigReader::string(const std::string& key, const std::string& def) {
  const ConfigValue* v = find(key);
  if (v == nullptr) return def;
  if (const auto* s = std::get_if<std::string>(v)) return *s;
  fail(key, str("must be a string, got ", config_kind_name(*v)));
}

std::vector<double> ConfigReader::numbers(const std::string& key) {
  const ConfigValue* v = find(key);
  if (v == nullptr) fail(key, "is required");
  if (const auto* d = std::get_if<std::vector<double>>(v)) return *d;
  if (const auto* i = std::get_if<std::vector<std::int64_t>>(v)) {
    return std::vector<double>(i->begin(), i->end());
  }
  fail(key, str("must be a list of numbers, got ", config_kind_name(*v)));
}

std::vector<std::int64_t> ConfigReader::integers(const std::string& key) {
  const ConfigValue* v = find(key);
  if (v == nullptr) fail(key, "is required");
  if (const auto* i = std::get_if<std::vector<std::int64_t>>(v)) return *i;
  if (const auto* d = std::get_if<std::vector<double>>(v)) {
    std::vector<std::int64_t> out;
    for (double x : *d) {
      const std::optional<std::int64_t> n = as_integer(ConfigValue(x));
      if (!n) fail(key, "must be a list of ints");
      out.push_back(*n);
    }
    return out;
  }
  fail(key, str("must be a list of ints, got ", config_kind_name(*v)));
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
