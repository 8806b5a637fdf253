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
  DType input_dtype() const { return input_shape_ ? input_layer_->input_dtype() : dtype(); }

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;
  /// Built, the dtype its graph ends in: what a call returns, the data converted by the Input
  /// (given, or made by build: integer data, to float32 where the made one is 16-bit, which
  /// the first layer's autocast brings to the graph's dtype) and cast by the layers as there.
  std::vector<layers::TensorSpec> compute_output_spec(const std::vector<layers::TensorSpec>& inputs,
                                                      bool list_call) override;

  /// The symbolic tensor of its Input and the last layer's output on it, as Keras's Sequential
  /// builds its functional graph (every layer is called on the previous one's symbolic output,
  /// so that `model.get_layer("x")->output()` exists too):
  ///   nr::Model features(model.input(), model.get_layer("embedding")->output());
  /// Without an Input, Keras 3 builds that graph when the model is built (its first call, or
  /// build()) from an InputLayer of that batch shape (the first call's batch size included), and
  /// so does neurona: after `model.fit(...)` the same line works. Unbuilt, those of the model's
  /// first symbolic call (as any layer's).
  std::vector<layers::KerasTensor> input_list() const override;
  std::vector<layers::KerasTensor> output_list() const override;

 protected:
  void build(const Shape& input_shape) override;
  /// One input, built from its shape (build() calls the layers on symbolic tensors).
  bool builds_from_shape() const override { return true; }

 private:
  /// Builds every layer for its input shape, in order.
  void build_layers(const Shape& input_shape);
  /// Tracks a layer, or takes an Input as the model's, without building anything; false for
  /// an Input.
  bool append(const layers::AnyLayer& layer);
  /// Calls the layers from the `first`th on the symbolic chain (with an Input).
  void extend_chain(std::size_t first);
  std::optional<Shape> input_shape_;
  /// The Input given (input_shape_ holds its shape), or, without one, the InputLayer that
  /// build() made: it starts the graph, but calls do not pass through it (a later batch may
  /// have another size, as in Keras).
  std::shared_ptr<layers::InputLayer> input_layer_;
  /// With an Input: its symbolic tensor, then each layer's output on the one before.
  std::vector<layers::KerasTensor> chain_;
};

}  // namespace neurona
