// Dense: activation(dot(inputs, kernel) + bias) over the last axis of inputs of any rank
// (at least 2), as keras.layers.Dense. The kernel has shape (input_dim, units).
#pragma once

#include "neurona/layers/activations.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

/// keras.layers.Dense's arguments and defaults.
struct DenseOptions {
  activations::Activation activation = "linear";
  bool use_bias = true;
  initializers::Initializer kernel_initializer = "glorot_uniform";
  initializers::Initializer bias_initializer = "zeros";
  regularizers::Regularizer kernel_regularizer = {};
  regularizers::Regularizer bias_regularizer = {};
  regularizers::Regularizer activity_regularizer = {};
  constraints::Constraint kernel_constraint = {};
  constraints::Constraint bias_constraint = {};
  /// Keras's input_shape (without the batch dimension) for the first layer of a Sequential.
  std::optional<Shape> input_shape = std::nullopt;
  std::string name = "";
  bool trainable = true;
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

class DenseLayer : public Layer {
 public:
  DenseLayer(std::int64_t units, DenseOptions options = {});
  ConfigValue get_config() const override;

  std::int64_t units() const { return units_; }
  const activations::Activation& activation() const { return options_.activation; }
  /// The weights, once built (ValueError before).
  const Variable& kernel() const;
  const Variable& bias() const;

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 protected:
  void build(const Shape& input_shape) override;

 private:
  void check_input(const Shape& input_shape) const;
  std::int64_t units_;
  DenseOptions options_;
  std::optional<Variable> kernel_;
  std::optional<Variable> bias_;
};

/// `nr::layers::Dense(10, {.activation = "softmax"})`.
class Dense : public LayerHandle<DenseLayer> {
 public:
  explicit Dense(std::int64_t units, DenseOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's Dense.from_config; ValueError naming the key otherwise.
  static Dense from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
