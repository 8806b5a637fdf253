// Input: the shape of a model's inputs without the batch dimension, as keras.Input. In a
// Sequential it fixes the input shape so that the model is built at once.
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
  /// (batch_size or -1,) + shape.
  const Shape& batch_shape() const { return batch_shape_; }
  /// The inputs unchanged, after checking them against batch_shape().
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  Shape batch_shape_;
};

/// `nr::layers::Input({28, 28, 1})`.
class Input : public LayerHandle<InputLayer> {
 public:
  explicit Input(const Shape& shape, InputOptions options = {});
};

}  // namespace neurona::layers
