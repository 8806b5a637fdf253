// Sequential: a stack of layers, each fed the previous one's output, as keras.Sequential.
//   nr::Sequential model({nr::layers::Input({784}), nr::layers::Dense(10)});
// With an Input first the model is built at once; otherwise on its first call.
#pragma once

#include <optional>
#include <vector>

#include "neurona/layers/input_layer.h"
#include "neurona/models/model.h"

namespace neurona {

class Sequential : public Model {
 public:
  explicit Sequential(std::vector<layers::AnyLayer> layers = {}, layers::LayerOptions options = {});

  /// Appends a layer (an Input only as the first), building it when the input shape is known.
  void add(const layers::AnyLayer& layer);
  /// Removes and returns the last layer. Throws ValueError when there is none.
  layers::AnyLayer pop();

  /// The batch shape of the Input, if one was given.
  const std::optional<Shape>& input_shape() const { return input_shape_; }
  /// The dtype of the model's input: its Input's (an integer one for token ids), else dtype().
  DType input_dtype() const { return input_layer_ ? input_layer_->input_dtype() : dtype(); }

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 protected:
  void build(const Shape& input_shape) override;

 private:
  /// Builds every layer for its input shape, in order.
  void build_layers(const Shape& input_shape);
  /// Tracks a layer, or takes an Input as the model's, without building anything; false for
  /// an Input.
  bool append(const layers::AnyLayer& layer);
  std::optional<Shape> input_shape_;
  std::shared_ptr<layers::InputLayer> input_layer_;
};

}  // namespace neurona
