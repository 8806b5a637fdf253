// Activation: applies an activation function, as keras.layers.Activation("relu").
#pragma once

#include "neurona/layers/activations.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

class ActivationLayer : public Layer {
 public:
  explicit ActivationLayer(activations::Activation activation, LayerOptions options = {});
  ConfigValue get_config() const override;
  const activations::Activation& activation() const { return activation_; }
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

 private:
  activations::Activation activation_;
};

/// `nr::layers::Activation("relu")`.
class Activation : public LayerHandle<ActivationLayer> {
 public:
  explicit Activation(activations::Activation activation, LayerOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's Activation.from_config; ValueError naming the key otherwise.
  static Activation from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
