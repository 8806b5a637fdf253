// Weight constraints with Keras 3's definitions: a projection applied to a weight after each
// optimizer update (Layer::apply_constraints).
//   nr::layers::Dense(3, {.kernel_constraint = nr::constraints::MaxNorm({.max_value = 3})})
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "neurona/core/op_options.h"
#include "neurona/core/tensor.h"
#include "neurona/layers/config.h"

namespace neurona::layers {
class LayerConfigReader;
}  // namespace neurona::layers

namespace neurona::constraints {

/// A projection w -> w' with its Keras name; default-constructed it is "no constraint".
class Constraint {
 public:
  using Fn = std::function<Tensor(const Tensor& w)>;

  Constraint() = default;
  /// By Keras name: "max_norm", "min_max_norm", "non_neg", "unit_norm" (or the class names).
  Constraint(const char* identifier);         // NOLINT: implicit by design
  Constraint(const std::string& identifier);  // NOLINT: implicit by design
  /// A custom constraint; `config` is Keras's get_config() of it (saved in `.keras` files).
  explicit Constraint(Fn fn, std::string name = "custom", ConfigValue config = {});

  Tensor operator()(const Tensor& w) const;
  explicit operator bool() const { return fn_ != nullptr; }
  const std::string& name() const { return name_; }
  /// Keras's config of the constraint: {"max_value": 2.0, "axis": 0} for MaxNorm, ...
  const ConfigValue& config() const { return config_; }

 private:
  Fn fn_;
  std::string name_;
  ConfigValue config_;
};

Constraint get(const std::string& identifier);
std::vector<std::string> names();

/// The constraint a Keras object describes, as keras.constraints.deserialize: MaxNorm,
/// UnitNorm and MinMaxNorm through their from_config, any other name through get(). ValueError
/// naming `config`'s owner and the key otherwise.
Constraint from_config(const std::string& class_name, const layers::LayerConfigReader& config);

struct MaxNormOptions {
  double max_value = 2.0;
  /// The axes a norm is taken over; 0 (Keras's default) is per output unit of a Dense kernel.
  Axes axis = 0;
};
/// w * clip(norm, 0, max_value) / (epsilon + norm), epsilon = 1e-7.
class MaxNorm : public Constraint {
 public:
  explicit MaxNorm(MaxNormOptions options = {});
  /// Keras's from_config: the constraint config() describes (absent keys take the defaults).
  static MaxNorm from_config(const layers::LayerConfigReader& config);
};

/// w where w >= 0, else 0.
class NonNeg : public Constraint {
 public:
  NonNeg();
};

struct UnitNormOptions {
  Axes axis = 0;
};
/// w / (epsilon + norm).
class UnitNorm : public Constraint {
 public:
  explicit UnitNorm(UnitNormOptions options = {});
  /// Keras's from_config: the constraint config() describes (absent keys take the defaults).
  static UnitNorm from_config(const layers::LayerConfigReader& config);
};

struct MinMaxNormOptions {
  double min_value = 0.0;
  double max_value = 1.0;
  double rate = 1.0;
  Axes axis = 0;
};
/// w * (rate * clip(norm, min_value, max_value) + (1 - rate) * norm) / (epsilon + norm).
class MinMaxNorm : public Constraint {
 public:
  explicit MinMaxNorm(MinMaxNormOptions options = {});
  /// Keras's from_config: the constraint config() describes (absent keys take the defaults).
  static MinMaxNorm from_config(const layers::LayerConfigReader& config);
};

}  // namespace neurona::constraints
