// Positional embeddings for transformers, as KerasHub writes them (keras_hub.layers; Keras itself
// has none): PositionEmbedding, a learned (sequence_length, features) table, and
// SinePositionEncoding, the fixed sines and cosines of "Attention is all you need". Both take
// the embedded tokens (batch, steps, features) and return the embedding of each position
// broadcast to that shape, to be added to them:
//   auto x = nr::layers::Embedding(vocab, 256)(tokens);
//   x = nr::layers::Add()({x, nr::layers::PositionEmbedding(512)(x)});
//   // or: x = nr::layers::Add()({x, nr::layers::SinePositionEncoding()(x)});
// The call's start_index (KerasHub's, for decoding one position at a time) is a keyword
// argument: layer->encode(x, start_index), or {"start_index": n} in a functional model.
#pragma once

#include <cstdint>

#include "neurona/layers/layer.h"

namespace neurona::layers {

/// keras_hub.layers.PositionEmbedding's arguments and defaults.
struct PositionEmbeddingOptions {
  initializers::Initializer initializer = "glorot_uniform";
  std::string name = "";
  bool trainable = true;
  DTypePolicy dtype = {};
};

/// The layers' shared call: the encoding of the positions start_index, start_index + 1, ...
/// of `inputs`, broadcast to its shape.
class PositionEncodingLayer : public Layer {
 public:
  using Layer::Layer;
  /// The encoding of positions start_index... for inputs (batch, steps, features).
  Tensor encode(const Tensor& inputs, std::int64_t start_index = 0, bool training = false);

  Tensor call(const Tensor& inputs, bool training) override;
  std::vector<Tensor> call_list_with_kwargs(const std::vector<Tensor>& inputs,
                                            const std::vector<Tensor>& masks,
                                            const ConfigValue& kwargs, bool training) override;
  std::vector<TensorSpec> compute_output_spec_with_kwargs(const std::vector<TensorSpec>& inputs,
                                                          const ConfigValue& kwargs) override;
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

 protected:
  /// The (steps, features) encoding of positions start .. start + steps - 1.
  virtual Tensor positions(std::int64_t start, std::int64_t steps, std::int64_t features,
                           Device device) = 0;
  /// start_index from the call's keyword arguments (0 when absent).
  std::int64_t read_start_index(const ConfigValue& kwargs) const;
};

class PositionEmbeddingLayer : public PositionEncodingLayer {
 public:
  explicit PositionEmbeddingLayer(std::int64_t sequence_length,
                                  PositionEmbeddingOptions options = {});
  ConfigValue get_config() const override;
  std::int64_t sequence_length() const { return sequence_length_; }

 protected:
  void build(const Shape& input_shape) override;
  Tensor positions(std::int64_t start, std::int64_t steps, std::int64_t features,
                   Device device) override;

 private:
  std::int64_t sequence_length_;
  PositionEmbeddingOptions options_;
  std::optional<Variable> embeddings_;
};

/// `nr::layers::PositionEmbedding(sequence_length)`: learned positions (weight "embeddings",
/// (sequence_length, features)); a longer input is an error.
class PositionEmbedding : public LayerHandle<PositionEmbeddingLayer> {
 public:
  explicit PositionEmbedding(std::int64_t sequence_length, PositionEmbeddingOptions options = {});
  static PositionEmbedding from_config(const ConfigValue& config);
};

/// keras_hub.layers.SinePositionEncoding's arguments and defaults.
struct SinePositionEncodingOptions {
  /// The longest wavelength of the sines and cosines.
  double max_wavelength = 10000;
  std::string name = "";
  bool trainable = true;
  DTypePolicy dtype = {};
};

class SinePositionEncodingLayer : public PositionEncodingLayer {
 public:
  explicit SinePositionEncodingLayer(SinePositionEncodingOptions options = {});
  ConfigValue get_config() const override;

 protected:
  /// Feature 2i: sin(p / max_wavelength^(2i / features)); feature 2i + 1: the cosine.
  Tensor positions(std::int64_t start, std::int64_t steps, std::int64_t features,
                   Device device) override;

 private:
  double max_wavelength_;
  /// The last table made, kept: a training step reuses it instead of computing it on the host
  /// and copying it to the device every call.
  Tensor table_;
  std::int64_t table_start_ = -1;
};

/// `nr::layers::SinePositionEncoding()`.
class SinePositionEncoding : public LayerHandle<SinePositionEncodingLayer> {
 public:
  explicit SinePositionEncoding(SinePositionEncodingOptions options = {});
  static SinePositionEncoding from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
