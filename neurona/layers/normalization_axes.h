// NormalizationAxes: the `axis` argument of LayerNormalization, RMSNormalization and
// UnitNormalization, one int (`.axis = -1`) or a list of ints (`.axis = {1, 2}`) as Keras takes
// it, with what the three share: Python's repr for messages, the config value, the check
// against an input shape, and reading it back from a config.
#pragma once

#include <initializer_list>
#include <string>
#include <vector>

#include "neurona/core/config_value.h"
#include "neurona/core/shape.h"

namespace neurona::layers {

class LayerConfigReader;

class NormalizationAxes {
 public:
  NormalizationAxes(int axis) : axes_{axis}, is_int_(true) {}  // NOLINT: implicit by design
  NormalizationAxes(std::initializer_list<int> axes) : axes_(axes) {}
  explicit NormalizationAxes(std::vector<int> axes) : axes_(std::move(axes)) {}
  const std::vector<int>& list() const { return axes_; }
  /// Whether it was given as one int rather than a list.
  bool is_int() const { return is_int_; }
  /// The same axes as a list, sorted (what LayerNormalization and RMSNormalization hold once
  /// built).
  NormalizationAxes sorted() const;

  /// Python's repr of it as Keras holds it: -1, or [1, 2].
  std::string repr() const;
  /// As Keras's get_config writes it: an int or a list of ints.
  ConfigValue to_config() const;
  /// The axes made non-negative for an input of `shape`, in the given order; ValueError naming
  /// `who`, the axis and the shape for one out of range or repeated.
  std::vector<int> resolve(const Shape& shape, const std::string& who) const;
  /// resolve(), then a ShapeError naming `who` unless the input's sizes on the axes, in order,
  /// are `weight`'s shape (a weight spanning them, built for inputs of `built_for`).
  std::vector<int> resolve_for_weight(const Shape& shape, const Shape& weight,
                                      const Shape& built_for, const std::string& who) const;
  /// The config's 'axis' (an int or a list of ints; `fallback` when absent), ValueError naming
  /// the layer for anything else.
  static NormalizationAxes from_config(const LayerConfigReader& r, NormalizationAxes fallback);

 private:
  std::vector<int> axes_;
  bool is_int_ = false;
};

}  // namespace neurona::layers
