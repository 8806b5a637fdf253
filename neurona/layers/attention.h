// Attention (Luong-style, dot product or concat scores) and AdditiveAttention (Bahdanau-style)
// as keras.layers.Attention and keras.layers.AdditiveAttention: called on [query, value] or
// [query, value, key] of shapes (batch, Tq, dim), (batch, Tv, dim_v), (batch, Tv, dim).
//   auto a = nr::layers::Attention()({query, value});             // (batch, Tq, dim_v)
//   auto outs = nr::layers::AdditiveAttention()->attend(q, v, {}, {.use_causal_mask = true,
//                                                              .return_attention_scores = true});
// The value's mask (Embedding(mask_zero), Masking) hides padded keys; the query's mask zeroes
// the output at padded queries and is the output's mask. Unlike MultiHeadAttention there are no
// projections and no 1/sqrt(dim) scaling (Keras's use_scale learns a factor instead).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "neurona/layers/layer.h"

namespace neurona::layers {

/// keras.layers.Attention's arguments and defaults.
struct AttentionOptions {
  /// Learns a scalar factor of the scores ("scale", initialised to 1).
  bool use_scale = false;
  /// "dot": query . key; "concat": concat_score_weight * sum(tanh(scale * (query + key))).
  std::string score_mode = "dot";
  /// Dropout on the attention distribution (in training).
  double dropout = 0.0;
  std::optional<std::uint64_t> seed = std::nullopt;
  std::string name = "";
  bool trainable = true;
  DTypePolicy dtype = {};
};

/// keras.layers.AdditiveAttention's arguments and defaults.
struct AdditiveAttentionOptions {
  /// Learns a per-feature scale of the tanh terms ("scale", shape (dim,), glorot_uniform).
  bool use_scale = true;
  double dropout = 0.0;
  std::optional<std::uint64_t> seed = std::nullopt;
  std::string name = "";
  bool trainable = true;
  DTypePolicy dtype = {};
};

/// The keyword arguments of the call, Keras's return_attention_scores and use_causal_mask.
struct AttentionLayerCallOptions {
  /// Query i attends keys j <= i.
  bool use_causal_mask = false;
  /// Also return the attention distribution, (batch, Tq, Tv).
  bool return_attention_scores = false;
};

/// The keyword arguments as a config dict (what a functional node records), and back: the
/// attention layers' shared reading, which refuses any other argument, naming `who`.
ConfigValue attention_kwargs(const AttentionLayerCallOptions& options);
AttentionLayerCallOptions read_attention_kwargs(const ConfigValue& kwargs, const std::string& who);
/// Keras's causal mask as float 0/1 of shape (1, Tq, Tv): 1 where key j <= query i.
Tensor causal_attention_mask(std::int64_t tq, std::int64_t tv, Device device);

class AttentionLayer : public Layer {
 public:
  explicit AttentionLayer(AttentionOptions options = {});
  ConfigValue get_config() const override;

  /// call([query, value, key]) with the keyword arguments: the output, then the scores with
  /// return_attention_scores. key undefined: the value.
  std::vector<Tensor> attend(const Tensor& query, const Tensor& value, const Tensor& key = {},
                             const AttentionLayerCallOptions& options = {}, bool training = false);
  /// The functional API's call; the model and its config keep the keyword arguments. `mask`
  /// is Keras's mask=[query_mask, value_mask] (symbolic tensors, `{}` for a None; empty: the
  /// masks the inputs carry), as the list call operator()({q, v}, {qm, vm}) takes it:
  ///   auto outs = att->attend(q, v, {}, {.return_attention_scores = true}, {qm, vm});  // 2
  std::vector<KerasTensor> attend(const KerasTensor& query, const KerasTensor& value,
                                  const KerasTensor& key = {},
                                  const AttentionLayerCallOptions& options = {},
                                  const std::vector<KerasTensor>& mask = {});

  std::vector<Tensor> call_list_with_kwargs(const std::vector<Tensor>& inputs,
                                            const std::vector<Tensor>& masks,
                                            const ConfigValue& kwargs, bool training) override;
  std::vector<Tensor> call_list_with_masks(const std::vector<Tensor>& inputs,
                                           const std::vector<Tensor>& masks,
                                           bool training) override;
  std::vector<Tensor> call_list(const std::vector<Tensor>& inputs, bool training) override;
  /// The query's mask.
  std::vector<Tensor> compute_mask_list(const std::vector<Tensor>& inputs,
                                        const std::vector<Tensor>& masks) const override;
  std::vector<Shape> compute_output_shape_list(
      const std::vector<Shape>& input_shapes) const override;
  std::vector<TensorSpec> compute_output_spec_with_kwargs(const std::vector<TensorSpec>& inputs,
                                                          const ConfigValue& kwargs) override;

 protected:
  /// For AdditiveAttention: its class name and options.
  AttentionLayer(std::string class_name, bool use_scale, std::string score_mode, double dropout,
                 std::optional<std::uint64_t> seed, LayerOptions options);
  /// A single tensor is refused: the layer is called on [query, value(, key)].
  void build(const Shape& input_shape) override;
  void build_list(const std::vector<Shape>& input_shapes) override;
  /// The scores (batch, Tq, Tv) of query (batch, Tq, dim) against key (batch, Tv, dim).
  virtual Tensor scores(const Tensor& query, const Tensor& key) const;
  void check_inputs(const std::vector<Shape>& shapes) const;

  bool use_scale_;
  std::string score_mode_;
  double dropout_;
  std::optional<std::uint64_t> seed_;
  SeedGenerator seed_generator_;
  std::optional<Variable> scale_, concat_score_weight_;
};

/// `nr::layers::Attention({.use_scale = true})`.
class Attention : public LayerHandle<AttentionLayer> {
 public:
  explicit Attention(AttentionOptions options = {});
  /// The layer a config describes, as Keras's Attention.from_config.
  static Attention from_config(const ConfigValue& config);
};

class AdditiveAttentionLayer : public AttentionLayer {
 public:
  explicit AdditiveAttentionLayer(AdditiveAttentionOptions options = {});
  ConfigValue get_config() const override;

 protected:
  void build_list(const std::vector<Shape>& input_shapes) override;
  /// sum(scale * tanh(query[:, :, None] + key[:, None]), -1).
  Tensor scores(const Tensor& query, const Tensor& key) const override;
};

/// `nr::layers::AdditiveAttention()`.
class AdditiveAttention : public LayerHandle<AdditiveAttentionLayer> {
 public:
  explicit AdditiveAttention(AdditiveAttentionOptions options = {});
  static AdditiveAttention from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
