// TimeDistributed: one layer applied to every temporal slice of its inputs (batch, time, ...),
// as keras.layers.TimeDistributed; the wrapped layer is tracked as "layer", as Keras saves it.
//   auto td = nr::layers::TimeDistributed(nr::layers::Dense(8));
//   nr::Tensor y = td(x);   // x (batch, 10, 4) -> y (batch, 10, 8)
#pragma once

#include "neurona/layers/layer.h"

namespace neurona::layers {

class TimeDistributedLayer : public Layer {
 public:
  TimeDistributedLayer(const AnyLayer& layer, LayerOptions options = {});

  Layer& layer() const { return *layer_; }

  /// The slices (batch * time, ...) through the layer at once, except a BatchNormalization in
  /// training, which Keras runs slice by slice (its batch statistics are per slice).
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;
  /// The dtype is the wrapped layer's for one step (it may promote integer inputs, as Dense, or
  /// read them, as Embedding).
  std::vector<TensorSpec> compute_output_spec(const std::vector<TensorSpec>& inputs,
                                              bool list_call) override;
  ConfigValue get_config() const override;

 protected:
  void build(const Shape& input_shape) override;

 private:
  Shape child_input_shape(const Shape& input_shape) const;
  std::shared_ptr<Layer> layer_;
};

/// `nr::layers::TimeDistributed(layer)`.
class TimeDistributed : public LayerHandle<TimeDistributedLayer> {
 public:
  explicit TimeDistributed(const AnyLayer& layer, LayerOptions options = {});
  /// The layer a config describes (Keras's TimeDistributed.from_config).
  static TimeDistributed from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
