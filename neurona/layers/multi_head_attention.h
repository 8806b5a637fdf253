// MultiHeadAttention as keras.layers.MultiHeadAttention: query, key and value projections per
// head, scaled dot-product attention (one fused kernel, nr::dot_product_attention, where Keras
// takes its dot_product_attention path), and an output projection.
//   auto mha = nr::layers::MultiHeadAttention(4, 32);
//   nr::Tensor y = mha->attend(x, x, {}, {.use_causal_mask = true});   // self-attention
//   auto z = mha({q, v});                       // the functional API: query, value[, key]
// The masks attached to query, value and key (Embedding(mask_zero), Masking) take part as
// Keras's query_mask / value_mask / key_mask do; a value_mask or key_mask given to the call
// replaces the one its tensor carries (a query_mask given is ignored, as Keras's call ignores
// it); the output carries the query's mask.
#pragma once

#include <concepts>
#include <optional>
#include <vector>

#include "neurona/layers/activation_layers.h"
#include "neurona/layers/dropout.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

/// MultiHeadAttention's output_shape, Keras's int or tuple: the output's dimensions after the
/// batch and the steps, one (`.output_shape = 64`) or several
/// (`.output_shape = std::vector<std::int64_t>{2, 32}`: output (batch, steps, 2, 32)).
struct AttentionOutputShape {
  std::vector<std::int64_t> dims;
  AttentionOutputShape(std::int64_t dim) : dims{dim} {}  // NOLINT: an int, as Keras takes it
  AttentionOutputShape(std::vector<std::int64_t> d) : dims(std::move(d)) {}  // NOLINT: a tuple
};

/// keras.layers.MultiHeadAttention's arguments and defaults.
struct MultiHeadAttentionOptions {
  /// Per-head size of the values; none: key_dim.
  std::optional<std::int64_t> value_dim = std::nullopt;
  /// Dropout on the attention probabilities (in training).
  double dropout = 0.0;
  bool use_bias = true;
  /// The output's dimensions after the batch and the steps (the output projection's out
  /// dimensions); none (or none given): the query's last dimension.
  std::optional<AttentionOutputShape> output_shape = std::nullopt;
  /// The axes attention runs over, jointly (axes of the inputs between the batch and the
  /// features; a negative one counts from the end of the projected (batch, ..., heads, dim)
  /// tensor, as in Keras); the other axes are batch-like. None: every axis between the batch
  /// and the features (the sequence axis of (batch, steps, features)).
  std::optional<std::vector<int>> attention_axes = std::nullopt;
  /// Each query attends only to the keys less than sliding_window positions away (a symmetric
  /// band; with use_causal_mask, the causal sliding window of Mistral and Phi-3). None: all.
  /// Inputs (batch, steps, features) only, as Keras computes it.
  std::optional<std::int64_t> sliding_window = std::nullopt;
  initializers::Initializer kernel_initializer = "glorot_uniform";
  initializers::Initializer bias_initializer = "zeros";
  regularizers::Regularizer kernel_regularizer = {};
  regularizers::Regularizer bias_regularizer = {};
  regularizers::Regularizer activity_regularizer = {};
  constraints::Constraint kernel_constraint = {};
  constraints::Constraint bias_constraint = {};
  /// Gated attention (Keras's use_gate, arXiv:2505.06708): a sigmoid projection of the query,
  /// "gate" (query features to heads x value_dim), multiplies each head's attention output
  /// before the output projection.
  bool use_gate = false;
  std::optional<std::uint64_t> seed = std::nullopt;
  std::string name = "";
  bool trainable = true;
  DTypePolicy dtype = {};
};

/// The call arguments of Keras's MultiHeadAttention beyond the tensors.
struct AttentionCallOptions {
  /// (batch, query steps, key steps), nonzero = attend; undefined: none. ANDed with the masks
  /// the inputs carry and the causal mask. A symbolic call takes a symbolic one instead. For
  /// inputs of rank > 3: (batch, batch-like axes..., query attention axes..., key attention
  /// axes...), and neither the inputs' masks nor the causal mask apply (NotImplementedError).
  Tensor attention_mask = {};
  /// Keras's value_mask: (batch, key steps), nonzero = the value's step takes part; given, it
  /// replaces the mask the value carries. A symbolic call takes a symbolic one instead.
  Tensor value_mask = {};
  /// Keras's key_mask: (batch, key steps), ANDed with the value's mask; given, it replaces the
  /// mask the key carries, and applies without a key too (as Keras's _compute_attention_mask).
  Tensor key_mask = {};
  /// Query i attends keys j <= i.
  bool use_causal_mask = false;
  /// Also return the attention probabilities, (batch, heads, query steps, key steps); for
  /// inputs of rank > 3, (batch, batch-like axes..., heads, query attention axes..., key
  /// attention axes...).
  bool return_attention_scores = false;
};

/// The tensor keyword arguments of a symbolic MultiHeadAttention call (Keras's mha(q, v,
/// attention_mask=m, value_mask=vm, key_mask=km)), each recorded in the call's Node and in
/// configs as Keras writes it. Undefined ones are not given.
struct AttentionMaskTensors {
  KerasTensor attention_mask = {};
  KerasTensor value_mask = {};
  KerasTensor key_mask = {};
};

class ProjectionLayer;

class MultiHeadAttentionLayer : public Layer {
 public:
  MultiHeadAttentionLayer(std::int64_t num_heads, std::int64_t key_dim,
                          MultiHeadAttentionOptions options = {});
  ConfigValue get_config() const override;

  std::int64_t num_heads() const { return num_heads_; }
  std::int64_t key_dim() const { return key_dim_; }
  std::int64_t value_dim() const { return options_.value_dim.value_or(key_dim_); }

  /// Keras's call(query, value, key=None, ...): query (batch, T, dim), value (batch, S, dim_v),
  /// key (batch, S, dim_k; undefined: value), or of any rank above 3 alike (attention_axes).
  /// Builds the layer on the first call. Returns the output (the query's shape with the last
  /// dimension replaced by output_shape's, or kept), then the scores with
  /// return_attention_scores.
  std::vector<Tensor> attend(const Tensor& query, const Tensor& value, const Tensor& key = {},
                             const AttentionCallOptions& options = {}, bool training = false);
  /// The functional API's call, Keras's mha(query, value, key, attention_mask=m,
  /// value_mask=vm, key_mask=km, use_causal_mask=...): the model records the keyword arguments
  /// with the call (and in configs); the symbolic masks are the last argument:
  ///   mha->attend(q, v, {}, {}, {.value_mask = padding});
  std::vector<KerasTensor> attend(const KerasTensor& query, const KerasTensor& value,
                                  const KerasTensor& key = {},
                                  const AttentionCallOptions& options = {},
                                  const AttentionMaskTensors& masks = {});
  /// The same given a symbolic attention_mask (batch, T, S) alone: mha->attend(q, v, {}, {}, m).
  /// (A template, so that `{}` in the last place is the overload above's masks.)
  template <std::same_as<KerasTensor> Mask>
  std::vector<KerasTensor> attend(const KerasTensor& query, const KerasTensor& value,
                                  const KerasTensor& key, const AttentionCallOptions& options,
                                  const Mask& attention_mask) {
    return attend(query, value, key, options,
                  AttentionMaskTensors{.attention_mask = attention_mask});
  }

  /// The list call [query, value] or [query, value, key], reading the masks they carry.
  std::vector<Tensor> call_list_with_masks(const std::vector<Tensor>& inputs,
                                           const std::vector<Tensor>& masks,
                                           bool training) override;
  std::vector<Tensor> call_list(const std::vector<Tensor>& inputs, bool training) override;
  /// The list call with Keras's keyword arguments (a functional model's recorded call):
  /// use_causal_mask and return_attention_scores, and the tensors attention_mask, value_mask and
  /// key_mask (query_mask is taken and ignored, as Keras's call ignores it).
  std::vector<Tensor> call_list_with_kwargs(const std::vector<Tensor>& inputs,
                                            const std::vector<Tensor>& masks,
                                            const ConfigValue& kwargs, bool training) override;
  std::vector<TensorSpec> compute_output_spec_with_kwargs(const std::vector<TensorSpec>& inputs,
                                                          const ConfigValue& kwargs) override;
  bool takes_positional_inputs() const override { return true; }
  /// Keras's {"shapes_dict": {"query_shape": ..., "value_shape": ..., "key_shape": ...}}.
  ConfigValue get_build_config() const override;
  /// Self-attention on one tensor (query = value = key).
  Tensor call_with_mask(const Tensor& inputs, const Tensor& mask, bool training) override;
  Tensor call(const Tensor& inputs, bool training) override;
  /// The output carries the query's mask (Keras sets it in call).
  Tensor compute_mask(const Tensor& inputs, const Tensor& mask) const override;
  std::vector<Tensor> compute_mask_list(const std::vector<Tensor>& inputs,
                                        const std::vector<Tensor>& masks) const override;
  Shape compute_output_shape(const Shape& input_shape) const override;
  std::vector<Shape> compute_output_shape_list(
      const std::vector<Shape>& input_shapes) const override;

 protected:
  void build(const Shape& input_shape) override;
  void build_list(const std::vector<Shape>& input_shapes) override;

 private:
  void check_shapes(const std::vector<Shape>& shapes) const;
  /// For inputs of `rank`: the attention axes (sorted) and the batch-like ones (the batch axis,
  /// then the others between the batch and the features).
  struct Layout {
    std::vector<int> attend, free;
  };
  Layout layout(int rank) const;
  /// use_causal_mask and return_attention_scores from a call's keyword arguments.
  AttentionCallOptions read_kwargs(const ConfigValue& kwargs) const;
  /// The call, on the masks that apply: the query's, and the value's and the key's (given or
  /// carried; options' value_mask and key_mask are not read here).
  std::vector<Tensor> run(const Tensor& query, const Tensor& value, const Tensor& key,
                          const Tensor& query_mask, const Tensor& value_mask,
                          const Tensor& key_mask, const AttentionCallOptions& options,
                          bool training);

  std::int64_t num_heads_;
  std::int64_t key_dim_;
  MultiHeadAttentionOptions options_;
  std::shared_ptr<ProjectionLayer> query_, key_, value_, output_;
  std::shared_ptr<ProjectionLayer> gate_;  // with use_gate
  std::shared_ptr<SoftmaxLayer> softmax_;
  std::shared_ptr<DropoutLayer> dropout_;
};

/// `nr::layers::MultiHeadAttention(num_heads, key_dim, {.dropout = 0.1})`.
class MultiHeadAttention : public LayerHandle<MultiHeadAttentionLayer> {
 public:
  MultiHeadAttention(std::int64_t num_heads, std::int64_t key_dim,
                     MultiHeadAttentionOptions options = {});
  /// The layer a config describes, as Keras's MultiHeadAttention.from_config.
  static MultiHeadAttention from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
