// Flatten: (batch, d1, d2, ...) -> (batch, d1 * d2 * ...), as keras.layers.Flatten.
#pragma once

#include "neurona/layers/layer.h"

namespace neurona::layers {

struct FlattenOptions {
  /// "channels_last" (Keras's default) or "channels_first": channels-first inputs are
  /// permuted to channels-last before flattening, so that the order matches either way.
  std::string data_format = "channels_last";
  /// Keras's input_shape (without the batch dimension) for the first layer of a Sequential.
  std::optional<Shape> input_shape = std::nullopt;
  std::string name = "";
};

class FlattenLayer : public Layer {
 public:
  explicit FlattenLayer(FlattenOptions options = {});
  ConfigValue get_config() const override;
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  std::string data_format_;
};

/// `nr::layers::Flatten()`.
class Flatten : public LayerHandle<FlattenLayer> {
 public:
  explicit Flatten(FlattenOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's Flatten.from_config; ValueError naming the key otherwise.
  static Flatten from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
