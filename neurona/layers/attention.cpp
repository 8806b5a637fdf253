// Attention and AdditiveAttention as Keras 3 computes them (keras/src/layers/attention/
// attention.py, additive_attention.py): scores, the value's and the causal mask applied by
// subtracting a large number, softmax, dropout on the distribution, the distribution times the
// value, and the output zeroed where the query is masked.
#include "neurona/layers/attention.h"

#include <cmath>
#include <tuple>

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/dropout.h"

namespace neurona::layers {

namespace {
// A uint8 0/1 mask, or any nonzero-is-true mask, as a float 0/1 tensor of `shape`.
Tensor float_mask(const Tensor& m, const Shape& shape) {
  return reshape(cast(not_equal(m, scalar_like(m, 0.0)), DType::float32), shape);
}
}  // namespace

ConfigValue attention_kwargs(const AttentionLayerCallOptions& options) {
  ConfigValue kwargs = ConfigValue::Dict{};
  if (options.use_causal_mask) kwargs.set("use_causal_mask", true);
  if (options.return_attention_scores) kwargs.set("return_attention_scores", true);
  return kwargs;
}

AttentionLayerCallOptions read_attention_kwargs(const ConfigValue& kwargs, const std::string& who) {
  AttentionLayerCallOptions options;
  if (kwargs.kind() != ConfigValue::Kind::Dict) return options;
  for (const auto& [key, value] : kwargs.as_dict()) {
    if (value.is_null()) continue;
    NEURONA_CHECK(key == "use_causal_mask" || key == "return_attention_scores", ValueError, who,
                  ": got an unexpected keyword argument '", key,
                  "' (it takes use_causal_mask and return_attention_scores)");
    NEURONA_CHECK(value.kind() == ConfigValue::Kind::Bool, ValueError, who, ": '", key,
                  "' must be a bool, got ", value.kind_name());
    (key == "use_causal_mask" ? options.use_causal_mask : options.return_attention_scores) =
        value.as_bool();
  }
  return options;
}

Tensor causal_attention_mask(std::int64_t tq, std::int64_t tv, Device device) {
  const Tensor rows =
      reshape(arange(0, static_cast<double>(tq), 1, {.device = device}), {1, tq, 1});
  const Tensor cols =
      reshape(arange(0, static_cast<double>(tv), 1, {.device = device}), {1, 1, tv});
  return cast(greater_equal(rows, cols), DType::float32);
}

AttentionLayer::AttentionLayer(AttentionOptions options)
    : AttentionLayer("Attention", options.use_scale, std::move(options.score_mode), options.dropout,
                     options.seed,
                     {.name = std::move(options.name),
                      .trainable = options.trainable,
                      .dtype = std::move(options.dtype)}) {}

AttentionLayer::AttentionLayer(std::string class_name, bool use_scale, std::string score_mode,
                               double dropout, std::optional<std::uint64_t> seed,
                               LayerOptions options)
    : Layer(std::move(class_name), std::move(options)),
      use_scale_(use_scale),
      score_mode_(std::move(score_mode)),
      dropout_(dropout),
      seed_(seed),
      seed_generator_(seed) {
  NEURONA_CHECK(score_mode_ == "dot" || score_mode_ == "concat", ValueError, describe(),
                ": Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                "Received: score_mode=",
                score_mode_);
  NEURONA_CHECK(std::isfinite(dropout_) && dropout_ >= 0 && dropout_ < 1, ValueError, describe(),
                ": `dropout` must be in [0, 1). Received: dropout=", dropout_);
  set_supports_masking(true);
  set_call_takes_mask(true);  // Keras's call(inputs, mask=None, ...): [query_mask, value_mask]
  set_promote_integer_inputs(true);  // Keras's matmul and softmax turn int32 into float32
  track_seed_generator(seed_generator_);
}

void AttentionLayer::check_inputs(const std::vector<Shape>& shapes) const {
  NEURONA_CHECK(shapes.size() == 2 || shapes.size() == 3, ValueError, describe(),
                " layer accepts inputs list of length 2 or 3, namely [query, value] or "
                "[query, value, key]. Received length: ",
                shapes.size());
  for (const Shape& s : shapes) {
    NEURONA_CHECK(s.rank() == 3, ShapeError, describe(),
                  ": expects inputs of shape (batch, steps, features), got ", shape_str(s));
  }
  const Shape& query = shapes[0];
  const Shape& value = shapes[1];
  const Shape& key = shapes.size() == 3 ? shapes[2] : value;
  NEURONA_CHECK(key[1] == value[1] || key[1] < 0 || value[1] < 0, ShapeError, describe(),
                ": value and key must have the same number of steps, got value ", shape_str(value),
                " and key ", shape_str(key));
  NEURONA_CHECK(query[2] == key[2], ShapeError, describe(),
                ": query and key must have the same last dimension, got query ", shape_str(query),
                " and key ", shape_str(key));
}

void AttentionLayer::build(const Shape& input_shape) {
  throw ValueError(describe() + " layer must be called on a list of inputs, namely [query, " +
                   "value] or [query, value, key]. Received: a tensor of shape " +
                   shape_str(input_shape));
}

void AttentionLayer::build_list(const std::vector<Shape>& shapes) {
  check_inputs(shapes);
  if (use_scale_) scale_ = add_weight("scale", Shape({}), {.initializer = "ones"});
  if (score_mode_ == "concat") {
    concat_score_weight_ = add_weight("concat_score_weight", Shape({}), {.initializer = "ones"});
  }
}

Tensor AttentionLayer::scores(const Tensor& query, const Tensor& key) const {
  if (score_mode_ == "dot") {
    Tensor s = matmul(query, transpose(key, {0, 2, 1}));
    return scale_ ? s * read(*scale_) : s;
  }
  // concat: (batch, Tq, 1, dim) + (batch, 1, Tv, dim).
  const Shape& q = query.shape();
  const Shape& k = key.shape();
  Tensor sum_qk = reshape(query, {q[0], q[1], 1, q[2]}) + reshape(key, {k[0], 1, k[1], k[2]});
  if (scale_) sum_qk = read(*scale_) * sum_qk;
  return read(*concat_score_weight_) * sum(tanh(sum_qk), Axes{-1});
}

std::vector<Tensor> AttentionLayer::call_list_with_kwargs(const std::vector<Tensor>& inputs,
                                                          const std::vector<Tensor>& masks,
                                                          const ConfigValue& kwargs,
                                                          bool training) {
  const AttentionLayerCallOptions options = read_attention_kwargs(kwargs, describe());
  std::vector<Shape> shapes;
  for (const Tensor& x : inputs) shapes.push_back(x.shape());
  check_inputs(shapes);
  const Tensor& query = inputs[0];
  const Tensor& value = inputs[1];
  const Tensor& key = inputs.size() == 3 ? inputs[2] : value;
  const Tensor query_mask = masks.empty() ? Tensor() : masks[0];
  const Tensor value_mask = masks.size() < 2 ? Tensor() : masks[1];
  const std::int64_t batch = query.shape()[0], tq = query.shape()[1], tv = value.shape()[1];
  for (const auto& [mask, steps, name] :
       {std::tuple{&query_mask, tq, "query_mask"}, std::tuple{&value_mask, tv, "value_mask"}}) {
    NEURONA_CHECK(!mask->defined() || mask->shape() == Shape({batch, steps}), ShapeError,
                  describe(), ": the ", name,
                  " must have shape (batch, steps) = ", shape_str(Shape({batch, steps})), ", got ",
                  shape_str(mask->shape()));
  }

  Tensor s = scores(query, key);  // (batch, Tq, Tv)
  // Keras's _calculate_score_mask: the value's mask (batch, 1, Tv), ANDed with the causal mask
  // (1, Tq, Tv) where asked; masked scores lose a large number.
  Tensor keep;
  if (value_mask.defined()) keep = float_mask(value_mask, {batch, 1, tv});
  if (options.use_causal_mask) {
    const Tensor causal = causal_attention_mask(tq, tv, query.device());
    keep = keep.defined() ? keep * causal : causal;
  }
  if (keep.defined()) {
    const double max_value = s.dtype() == DType::float16 ? 65504.0 : 1.0e9;
    s = where(not_equal(keep, scalar_like(keep, 0.0)), s, s - scalar_like(s, max_value));
  }
  Tensor weights = softmax(s, -1);
  if (training && dropout_ > 0) {
    // Keras's backend.random.dropout, from the layer's seed generator.
    weights = random_dropout(weights, dropout_, seed_generator_, weights.shape());
  }
  Tensor output = matmul(weights, value);  // (batch, Tq, dim_v)
  if (query_mask.defined()) {
    output = where(not_equal(float_mask(query_mask, {batch, tq, 1}), scalar_like(output, 0.0)),
                   output, zeros_like(output));
  }
  std::vector<Tensor> out{output};
  if (options.return_attention_scores) out.push_back(weights);
  return out;
}

std::vector<Tensor> AttentionLayer::call_list_with_masks(const std::vector<Tensor>& inputs,
                                                         const std::vector<Tensor>& masks,
                                                         bool training) {
  return call_list_with_kwargs(inputs, masks, ConfigValue(), training);
}

std::vector<Tensor> AttentionLayer::call_list(const std::vector<Tensor>& inputs, bool training) {
  return call_list_with_kwargs(inputs, {}, ConfigValue(), training);
}

std::vector<Tensor> AttentionLayer::attend(const Tensor& query, const Tensor& value,
                                           const Tensor& key,
                                           const AttentionLayerCallOptions& options,
                                           bool training) {
  std::vector<Tensor> inputs{query, value};
  if (key.defined()) inputs.push_back(key);
  return apply_with_kwargs(inputs, attention_kwargs(options), training);
}

std::vector<KerasTensor> AttentionLayer::attend(const KerasTensor& query, const KerasTensor& value,
                                                const KerasTensor& key,
                                                const AttentionLayerCallOptions& options,
                                                const std::vector<KerasTensor>& mask) {
  std::vector<KerasTensor> inputs{query, value};
  if (key.defined()) inputs.push_back(key);
  if (mask.empty()) return apply_with_kwargs(inputs, attention_kwargs(options));
  return apply_with_kwargs(inputs, attention_kwargs(options), std::nullopt,
                           {mask_list_kwarg(mask, inputs.size())});
}

std::vector<Tensor> AttentionLayer::compute_mask_list(const std::vector<Tensor>& /*inputs*/,
                                                      const std::vector<Tensor>& masks) const {
  return {masks.empty() ? Tensor() : masks[0]};
}

std::vector<Shape> AttentionLayer::compute_output_shape_list(
    const std::vector<Shape>& shapes) const {
  check_inputs(shapes);
  std::vector<std::int64_t> dims = shapes[0].dims();
  dims.back() = shapes[1][2];
  return {Shape(std::move(dims))};
}

std::vector<TensorSpec> AttentionLayer::compute_output_spec_with_kwargs(
    const std::vector<TensorSpec>& inputs, const ConfigValue& kwargs) {
  const AttentionLayerCallOptions options = read_attention_kwargs(kwargs, describe());
  std::vector<TensorSpec> out = compute_output_spec(inputs, true);
  if (options.return_attention_scores) {
    const Shape& q = inputs[0].shape;
    out.push_back({Shape({q[0], q[1], inputs[1].shape[1]}), out[0].dtype});
  }
  return out;
}

ConfigValue AttentionLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("use_scale", use_scale_);
  config.set("score_mode", score_mode_);
  config.set("dropout", dropout_);
  config.set("seed", seed_ ? ConfigValue(*seed_) : ConfigValue());
  return config;
}

Attention::Attention(AttentionOptions options)
    : LayerHandle<AttentionLayer>(std::make_shared<AttentionLayer>(std::move(options))) {}

Attention Attention::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Attention");
  const LayerOptions base = r.layer_options();
  return Attention({.use_scale = r.boolean("use_scale", false),
                    .score_mode = r.string("score_mode", "dot"),
                    .dropout = r.number("dropout", 0.0),
                    .seed = r.seed(),
                    .name = base.name,
                    .trainable = base.trainable,
                    .dtype = base.dtype});
}

// ---- AdditiveAttention --------------------------------------------------------------------------

AdditiveAttentionLayer::AdditiveAttentionLayer(AdditiveAttentionOptions options)
    : AttentionLayer("AdditiveAttention", options.use_scale, "dot", options.dropout, options.seed,
                     {.name = std::move(options.name),
                      .trainable = options.trainable,
                      .dtype = std::move(options.dtype)}) {}

void AdditiveAttentionLayer::build_list(const std::vector<Shape>& shapes) {
  check_inputs(shapes);
  if (use_scale_) {
    scale_ = add_weight("scale", Shape({shapes[0][2]}), {.initializer = "glorot_uniform"});
  }
}

Tensor AdditiveAttentionLayer::scores(const Tensor& query, const Tensor& key) const {
  const Shape& q = query.shape();
  const Shape& k = key.shape();
  const Tensor t =
      tanh(reshape(query, {q[0], q[1], 1, q[2]}) + reshape(key, {k[0], 1, k[1], k[2]}));
  return sum(scale_ ? read(*scale_) * t : t, Axes{-1});
}

ConfigValue AdditiveAttentionLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("use_scale", use_scale_);
  config.set("dropout", dropout_);
  config.set("seed", seed_ ? ConfigValue(*seed_) : ConfigValue());
  return config;
}

AdditiveAttention::AdditiveAttention(AdditiveAttentionOptions options)
    : LayerHandle<AdditiveAttentionLayer>(
          std::make_shared<AdditiveAttentionLayer>(std::move(options))) {}

AdditiveAttention AdditiveAttention::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "AdditiveAttention");
  const LayerOptions base = r.layer_options();
  return AdditiveAttention({.use_scale = r.boolean("use_scale", true),
                            .dropout = r.number("dropout", 0.0),
                            .seed = r.seed(),
                            .name = base.name,
                            .trainable = base.trainable,
                            .dtype = base.dtype});
}

}  // namespace neurona::layers
