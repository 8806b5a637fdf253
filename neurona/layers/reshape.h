// Reshape: (batch, ...) -> (batch,) + target_shape, as keras.layers.Reshape; target_shape
// excludes the batch dimension and may hold one -1, inferred.
#pragma once

#include "neurona/layers/layer.h"

namespace neurona::layers {

class ReshapeLayer : public Layer {
 public:
  explicit ReshapeLayer(const Shape& target_shape, LayerOptions options = {});
  ConfigValue get_config() const override;
  const Shape& target_shape() const { return target_shape_; }
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  Shape target_shape_;
};

/// `nr::layers::Reshape({4, -1})`.
class Reshape : public LayerHandle<ReshapeLayer> {
 public:
  explicit Reshape(const Shape& target_shape, LayerOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's Reshape.from_config; ValueError naming the key otherwise.
  static Reshape from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
