// Embedding: rows of a trainable table picked by integer indices, as keras.layers.Embedding,
// with `mask_zero` making index 0 the padding that later layers skip (Keras's masks).
//   auto emb = nr::layers::Embedding(1000, 64, {.mask_zero = true});
//   nr::Tensor y = emb(tokens);      // (batch, steps) int -> (batch, steps, 64), mask attached
#pragma once

#include <optional>

#include "neurona/layers/layer.h"

namespace neurona::layers {

/// keras.layers.Embedding's arguments and defaults (LoRA and quantization are not supported).
struct EmbeddingOptions {
  /// Keras's "uniform": RandomUniform(-0.05, 0.05).
  initializers::Initializer embeddings_initializer = "uniform";
  regularizers::Regularizer embeddings_regularizer = {};
  regularizers::Regularizer activity_regularizer = {};
  constraints::Constraint embeddings_constraint = {};
  /// Index 0 is padding: the output carries a mask, false where the index is 0 (so input_dim
  /// should count it: vocabulary size + 1).
  bool mask_zero = false;
  /// Initial values of the table, (input_dim, output_dim): the layer is built with them.
  std::optional<Tensor> weights = std::nullopt;
  std::optional<Shape> input_shape = std::nullopt;
  std::string name = "";
  bool trainable = true;
  DTypePolicy dtype = {};
};

class EmbeddingLayer : public Layer {
 public:
  EmbeddingLayer(std::int64_t input_dim, std::int64_t output_dim, EmbeddingOptions options = {});
  ConfigValue get_config() const override;

  std::int64_t input_dim() const { return input_dim_; }
  std::int64_t output_dim() const { return output_dim_; }
  bool mask_zero() const { return options_.mask_zero; }
  /// The table, (input_dim, output_dim), once built (ValueError before).
  const Variable& embeddings() const;

  /// The rows of the table for `inputs` (int32 or int64; other dtypes are cast to int32, as
  /// Keras does), in the compute dtype. An index outside [0, input_dim) is a ValueError on the
  /// CPU and a row of zeros on a GPU (see nr::gather).
  Tensor call(const Tensor& inputs, bool training) override;
  /// inputs != 0 with mask_zero, else none.
  Tensor compute_mask(const Tensor& inputs, const Tensor& mask) const override;
  Shape compute_output_shape(const Shape& input_shape) const override;
  std::vector<TensorSpec> compute_output_spec(const std::vector<TensorSpec>& inputs,
                                              bool list_call) override;

 protected:
  void build(const Shape& input_shape) override;

 private:
  std::int64_t input_dim_;
  std::int64_t output_dim_;
  EmbeddingOptions options_;
  std::optional<Variable> embeddings_;
};

/// `nr::layers::Embedding(input_dim, output_dim, {.mask_zero = true})`.
class Embedding : public LayerHandle<EmbeddingLayer> {
 public:
  Embedding(std::int64_t input_dim, std::int64_t output_dim, EmbeddingOptions options = {});
  /// The layer a config describes, as Keras's Embedding.from_config.
  static Embedding from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
