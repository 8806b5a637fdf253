// Input: the shape of a model's inputs without the batch dimension, as keras.Input. In a
// Sequential (nr::layers::Input) it fixes the input shape so that the model is built at once; in
// the functional API (nr::Input) it is the symbolic tensor a model starts from.
#pragma once

#include <optional>

#include "neurona/layers/layer.h"

namespace neurona::layers {

struct InputOptions {
  /// A fixed batch size; unknown (None) by default.
  std::optional<std::int64_t> batch_size = std::nullopt;
  std::string name = "";
  DType dtype = DType::float32;
};

class InputLayer : public Layer {
 public:
  InputLayer(const Shape& shape, InputOptions options = {});
  ConfigValue get_config() const override;
  /// Keras's InputLayer config for an input of `batch_shape` (batch dimension first, -1 when
  /// unknown): what get_config() returns, and what a Sequential without an InputLayer of its
  /// own writes for its inputs.
  static ConfigValue keras_config(const Shape& batch_shape, DType dtype, const std::string& name);
  /// (batch_size or -1,) + shape.
  const Shape& batch_shape() const { return batch_shape_; }
  /// The dtype of the input (Keras's Input(dtype=...)): a float dtype, or an integer one for
  /// indices (an Embedding's tokens).
  DType input_dtype() const { return input_dtype_; }
  /// The inputs, after checking them against batch_shape() but for the batch size, which Keras
  /// leaves free (its functional models' InputSpec has none): float inputs of a float input in
  /// its dtype, any inputs of an integer input cast to it (Keras converts them).
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;
  /// The symbolic tensor this input layer makes (its one Node, index 0, as in Keras). The layer
  /// must be held by a shared_ptr (an Input handle).
  KerasTensor output();
  using Layer::output;
  /// That tensor once made (Layer::output() through any pointer).
  std::vector<KerasTensor> output_list() const override;

 private:
  Shape batch_shape_;
  DType input_dtype_;
  std::weak_ptr<Node> node_;  // weak: the Node holds this layer
};

/// `nr::layers::Input({28, 28, 1})`.
class Input : public LayerHandle<InputLayer> {
 public:
  explicit Input(const Shape& shape, InputOptions options = {});
  /// The input layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry: batch_shape, or Keras 2's batch_input_shape), as Keras's InputLayer.from_config;
  /// ValueError naming `who` and the key otherwise.
  static Input from_config(const ConfigValue& config, const std::string& who = "InputLayer");
  /// The input's symbolic tensor, so that an Input handle can start a functional model.
  operator KerasTensor() const { return (*this)->output(); }  // NOLINT: implicit by design
};

}  // namespace neurona::layers

namespace neurona {

/// keras.Input: the symbolic input of a functional model, of shape (batch,) + `shape`:
///   auto x = nr::Input({28, 28, 1});
///   auto y = nr::layers::Dense(10)(nr::layers::Flatten()(x));
///   nr::Model model(x, y);
layers::KerasTensor Input(const Shape& shape, layers::InputOptions options = {});

}  // namespace neurona
