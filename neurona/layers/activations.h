// Activation functions by Keras name, for the `activation` option of layers and the
// Activation layer: "relu", "softmax", ... or any function of a tensor.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "neurona/core/tensor.h"

namespace neurona::activations {

/// A differentiable elementwise (or softmax) function with its Keras name. Default-
/// constructed it is "linear", Keras's activation=None.
class Activation {
 public:
  using Fn = std::function<Tensor(const Tensor& x)>;

  Activation();
  /// By Keras name: relu, sigmoid, tanh, elu, selu, gelu, silu, swish, softplus, softsign,
  /// leaky_relu, hard_sigmoid, hard_silu, hard_swish, relu6, mish, exponential, log_sigmoid,
  /// softmax, log_softmax, tanh_shrink, linear. Throws ValueError listing them otherwise.
  Activation(const char* identifier);         // NOLINT: implicit by design
  Activation(const std::string& identifier);  // NOLINT: implicit by design
  /// Any function, e.g. `nr::activations::Activation(nr::relu)`.
  explicit Activation(Fn fn, std::string name = "custom");

  Tensor operator()(const Tensor& x) const { return fn_(x); }
  const std::string& name() const { return name_; }
  bool is_linear() const { return name_ == "linear"; }

 private:
  Fn fn_;
  std::string name_;
};

Activation get(const std::string& identifier);

/// keras.activations.gelu with its argument: `nr::activations::gelu(/*approximate=*/true)` is
/// the tanh form. Keras has no string for it (the string "gelu" is the exact form, and Keras
/// cannot serialize gelu with approximate=True), so a layer's config names it
/// "gelu(approximate=True)", which no loader (Keras's or neurona's) reads back.
Activation gelu(bool approximate = false);
std::vector<std::string> names();

}  // namespace neurona::activations
