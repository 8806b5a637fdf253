// The configs of optimizers, learning-rate schedules, losses and metrics as Keras's get_config()
// returns them (a ConfigValue dict in Keras's key order; a schedule inside an optimizer's config
// is serialized as Keras serializes it), and ConfigReader, which their from_config functions
// read them with. A config may come from a file (a `.keras` archive's compile_config), so
// reading it checks every type and rejects what neurona cannot honour.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "neurona/core/config_value.h"

namespace neurona::optimizers {

/// A config in Keras's key order: the entries of a ConfigValue dict.
using Config = ConfigValue::Dict;

}  // namespace neurona::optimizers

namespace neurona::detail {

using optimizers::Config;

/// Reads a Config for a from_config function: typed values by key, where an absent key and
/// None both give the default; ValueErrors that name `who` (e.g. "Adam") and the key; and
/// finish(), which rejects every key no accessor asked for, as Keras's constructors reject
/// unknown keyword arguments.
class ConfigReader {
 public:
  ConfigReader(const Config& config, std::string who);
  const std::string& who() const { return who_; }

  /// The value of `key`, or nullptr when it is absent or None. Marks `key` as known.
  const ConfigValue* find(const std::string& key);
  /// Whether `key` is present, None included. Marks `key` as known.
  bool present(const std::string& key);

  /// A number (int or float); the second form throws when the key is absent or None.
  double number(const std::string& key, double def);
  double number(const std::string& key);
  std::optional<double> optional_number(const std::string& key);
  /// An int (or a float with an integral value); the second form throws when absent or None.
  std::int64_t integer(const std::string& key, std::int64_t def);
  std::int64_t integer(const std::string& key);
  bool boolean(const std::string& key, bool def);
  std::string string(const std::string& key, const std::string& def);
  /// A list of numbers / of ints (required).
  std::vector<double> numbers(const std::string& key);
  std::vector<std::int64_t> integers(const std::string& key);

  /// A key neurona implements only as None: ValueError naming it and `feature` otherwise.
  void require_none(const std::string& key, const std::string& feature);
  /// A key neurona implements only at `value` (absent or None also accepted).
  void require_bool(const std::string& key, bool value, const std::string& feature);
  /// A key accepted with any value, because neurona does not use it.
  void ignore(const std::string& key);

  /// ValueError naming the keys no accessor asked for.
  void finish() const;

 private:
  [[noreturn]] void fail(const std::string& key, const std::string& why) const;

  const Config& config_;
  std::string who_;
  std::vector<std::string> known_;
};

}  // namespace neurona::detail

namespace neurona::losses {
using optimizers::Config;
}
namespace neurona::metrics {
using optimizers::Config;
}
