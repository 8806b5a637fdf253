// Weight and activity regularizers with Keras 3's definitions: a penalty added to the loss.
//   nr::layers::Dense(3, {.kernel_regularizer = "l2"})                  // l2 = 0.01
//   nr::layers::Dense(3, {.kernel_regularizer = nr::regularizers::L1L2({.l1 = 1e-4})})
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "neurona/core/tensor.h"
#include "neurona/layers/config.h"

namespace neurona::layers {
class LayerConfigReader;
}  // namespace neurona::layers

namespace neurona::regularizers {

/// A penalty function with its Keras name; default-constructed it is "no regularizer"
/// (test with `if (r)`), as None in Keras.
class Regularizer {
 public:
  using Fn = std::function<Tensor(const Tensor& x)>;

  Regularizer() = default;
  /// By Keras name: "l1", "l2", "l1l2", "L1", "L2", "L1L2"; also "l1_l2" (l1 = l2 = 0.01, the
  /// defaults Keras documents for the string). Throws ValueError listing the valid names.
  Regularizer(const char* identifier);         // NOLINT: implicit by design
  Regularizer(const std::string& identifier);  // NOLINT: implicit by design
  /// A custom regularizer; `config` is Keras's get_config() of it (saved in `.keras` files).
  explicit Regularizer(Fn fn, std::string name = "custom", ConfigValue config = {});

  /// The penalty for `x`: a scalar of x's dtype, differentiable. Throws ValueError when empty.
  Tensor operator()(const Tensor& x) const;
  explicit operator bool() const { return fn_ != nullptr; }
  const std::string& name() const { return name_; }
  /// Keras's config of the regularizer: {"l2": 0.01} for L2, ...
  const ConfigValue& config() const { return config_; }

 private:
  Fn fn_;
  std::string name_;
  ConfigValue config_;
};

Regularizer get(const std::string& identifier);
std::vector<std::string> names();

/// The regularizer a Keras object describes, as keras.regularizers.deserialize: L1, L2 and
/// L1L2 through their from_config, any other name through get(). ValueError naming
/// `config`'s owner and the key otherwise.
Regularizer from_config(const std::string& class_name, const layers::LayerConfigReader& config);

/// l1 * sum(abs(x)).
class L1 : public Regularizer {
 public:
  explicit L1(double l1 = 0.01);
  /// Keras's from_config: the regularizer config() describes (absent keys take the defaults).
  static L1 from_config(const layers::LayerConfigReader& config);
};
/// l2 * sum(square(x)).
class L2 : public Regularizer {
 public:
  explicit L2(double l2 = 0.01);
  /// Keras's from_config: the regularizer config() describes (absent keys take the defaults).
  static L2 from_config(const layers::LayerConfigReader& config);
};
struct L1L2Options {
  double l1 = 0.0;
  double l2 = 0.0;
};
/// l1 * sum(abs(x)) + l2 * sum(square(x)); Keras 3's class defaults are 0 and 0.
class L1L2 : public Regularizer {
 public:
  explicit L1L2(L1L2Options options = {});
  /// Keras's from_config: the regularizer config() describes (absent keys take the defaults).
  static L1L2 from_config(const layers::LayerConfigReader& config);
};

}  // namespace neurona::regularizers
