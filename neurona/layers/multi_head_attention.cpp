// MultiHeadAttention for inputs (batch, steps..., features) with attention over Keras's
// attention_axes (by default every axis between the batch and the features), the other axes
// batch-like. The projections are Keras's EinsumDense sublayers (query, key, value,
// attention_output) with Keras's kernel shapes, folded to one GEMM each here.
#include "neurona/layers/multi_head_attention.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "neurona/autograd/ops.h"
#include "neurona/layers/attention.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

/// Keras's EinsumDense as MultiHeadAttention uses it: x (batch, steps, in...) times a kernel
/// (in..., out...) over the `in_rank` trailing input axes, plus a bias (out...). Internal: it
/// exists so that the weights have Keras's names ("query/kernel") and shapes.
class ProjectionLayer : public Layer {
 public:
  ProjectionLayer(std::string name, std::vector<std::int64_t> in, std::vector<std::int64_t> out,
                  const MultiHeadAttentionOptions& o, bool sigmoid = false)
      : Layer("EinsumDense", {.name = std::move(name), .trainable = o.trainable, .dtype = o.dtype}),
        in_(std::move(in)),
        out_(std::move(out)),
        sigmoid_(sigmoid) {
    std::vector<std::int64_t> kernel_shape = in_;
    kernel_shape.insert(kernel_shape.end(), out_.begin(), out_.end());
    kernel_ = add_weight("kernel", Shape(kernel_shape),
                         {.initializer = o.kernel_initializer,
                          .regularizer = o.kernel_regularizer,
                          .constraint = o.kernel_constraint});
    if (o.use_bias) {
      bias_ = add_weight("bias", Shape(out_),
                         {.initializer = o.bias_initializer,
                          .regularizer = o.bias_regularizer,
                          .constraint = o.bias_constraint});
    }
    set_activity_regularizer(o.activity_regularizer);
    std::vector<std::int64_t> built{-1, -1};
    built.insert(built.end(), in_.begin(), in_.end());
    mark_built(Shape(built));
  }

  Tensor call(const Tensor& x, bool /*training*/) override {
    std::int64_t in = 1, out = 1;
    for (auto d : in_) in *= d;
    for (auto d : out_) out *= d;
    const Tensor kernel = reshape(read(*kernel_), {in, out});
    const Tensor bias = bias_ ? reshape(read(*bias_), {out}) : Tensor();
    Tensor y = dense(reshape(x, {-1, in}), kernel, bias);
    std::vector<std::int64_t> dims(x.shape().begin(),
                                   x.shape().end() - static_cast<long>(in_.size()));
    dims.insert(dims.end(), out_.begin(), out_.end());
    y = reshape(y, Shape(std::move(dims)));
    return sigmoid_ ? sigmoid(y) : y;
  }

 private:
  std::vector<std::int64_t> in_, out_;
  bool sigmoid_;  // the gate's activation
  std::optional<Variable> kernel_, bias_;
};

namespace {
// "(2, -1)": dimensions as Keras prints a tuple.
std::string tuple_str(const std::vector<std::int64_t>& dims) {
  std::string s = "(";
  for (std::size_t i = 0; i < dims.size(); ++i) {
    s += (i > 0 ? ", " : "") + std::to_string(dims[i]);
  }
  return s + (dims.size() == 1 ? ",)" : ")");
}
}  // namespace

MultiHeadAttentionLayer::MultiHeadAttentionLayer(std::int64_t num_heads, std::int64_t key_dim,
                                                 MultiHeadAttentionOptions options)
    : Layer("MultiHeadAttention",
            {.name = options.name, .trainable = options.trainable, .dtype = options.dtype}),
      num_heads_(num_heads),
      key_dim_(key_dim),
      options_(std::move(options)) {
  set_promote_integer_inputs(true);  // Keras promotes int x float weights to float
  NEURONA_CHECK(num_heads_ > 0, ValueError, describe(),
                ": Received an invalid value for argument `num_heads`, expected a positive "
                "integer. Received: num_heads=",
                num_heads_);
  NEURONA_CHECK(key_dim_ > 0, ValueError, describe(),
                ": Received an invalid value for argument `key_dim`, expected a positive "
                "integer. Received: key_dim=",
                key_dim_);
  NEURONA_CHECK(!options_.value_dim || *options_.value_dim > 0, ValueError, describe(),
                ": Received an invalid value for argument `value_dim`, expected a positive "
                "integer or `None`. Received: value_dim=",
                options_.value_dim.value_or(0));
  NEURONA_CHECK(std::isfinite(options_.dropout) && options_.dropout >= 0 && options_.dropout < 1,
                ValueError, describe(),
                ": `dropout` must be in [0, 1). Received: dropout=", options_.dropout);
  // An empty output_shape is none, as Keras's `if output_shape:`.
  if (options_.output_shape && options_.output_shape->dims.empty()) options_.output_shape.reset();
  if (options_.output_shape) {
    const std::vector<std::int64_t>& dims = options_.output_shape->dims;
    NEURONA_CHECK(std::all_of(dims.begin(), dims.end(), [](std::int64_t d) { return d > 0; }),
                  ValueError, describe(), ": Invalid `output_shape`: ", tuple_str(dims),
                  " (each dimension must be a positive integer)");
  }
  if (options_.attention_axes) {
    NEURONA_CHECK(!options_.attention_axes->empty(), ValueError, describe(),
                  ": `attention_axes` must name at least one axis (or be none)");
  }
  NEURONA_CHECK(!options_.sliding_window || *options_.sliding_window > 0, ValueError, describe(),
                ": `sliding_window` must be `None` or a positive integer. Received: "
                "sliding_window=",
                options_.sliding_window.value_or(0));
  set_supports_masking(true);
  // Keras's _softmax and _dropout_layer (empty groups in .weights.h5).
  softmax_ = std::make_shared<SoftmaxLayer>(std::vector<int>{-1}, LayerOptions{.name = "softmax"});
  track_layer(softmax_, "_softmax");
  dropout_ = std::make_shared<DropoutLayer>(
      options_.dropout, DropoutOptions{.seed = options_.seed, .name = "dropout"});
  track_layer(dropout_, "_dropout_layer");
}

void MultiHeadAttentionLayer::check_shapes(const std::vector<Shape>& shapes) const {
  NEURONA_CHECK(shapes.size() == 2 || shapes.size() == 3, ValueError, describe(),
                ": expects [query, value] or [query, value, key], got a list of ", shapes.size());
  const int rank = shapes[0].rank();
  for (const Shape& s : shapes) {
    NEURONA_CHECK(s.rank() >= 3 && s.rank() == rank && s[s.rank() - 1] > 0, ShapeError, describe(),
                  ": expects query, value and key of one rank, at least 3 (batch, steps..., "
                  "features), got ",
                  shape_str(s), " with a query of shape ", shape_str(shapes[0]));
  }
  const Shape& value = shapes[1];
  const Shape& key = shapes.size() == 3 ? shapes[2] : value;
  // A dimension a symbolic call leaves unknown (None, -1) agrees with any.
  const auto agree = [](std::int64_t x, std::int64_t y) { return x < 0 || y < 0 || x == y; };
  for (int a = 0; a < rank - 1; ++a) {
    NEURONA_CHECK(agree(value[a], key[a]), ValueError, describe(),
                  ": All dimensions of `value` and `key`, except the last one, must be equal. "
                  "Received: value_shape=",
                  shape_str(value), " and key_shape=", shape_str(key));
  }
  // The axes attention does not run over are batch-like (the batch first): the same in the
  // query and the value.
  for (int a : layout(rank).free) {
    NEURONA_CHECK(agree(shapes[0][a], value[a]), ShapeError, describe(), ": axis ", a,
                  " is not an attention axis, so the query and the value must agree on it; got "
                  "query_shape=",
                  shape_str(shapes[0]), " and value_shape=", shape_str(value));
  }
}

MultiHeadAttentionLayer::Layout MultiHeadAttentionLayer::layout(int rank) const {
  Layout l;
  if (!options_.attention_axes) {
    for (int a = 1; a <= rank - 2; ++a) l.attend.push_back(a);  // Keras's default: all of them
  } else {
    for (int a : *options_.attention_axes) {
      // Keras counts a negative axis from the end of the projected query (batch, ..., heads,
      // key_dim), one rank more than the inputs.
      const int n = a < 0 ? a + rank + 1 : a;
      NEURONA_CHECK(n >= 1 && n <= rank - 2, ValueError, describe(), ": attention_axes ", a,
                    " is not an axis between the batch and the features of inputs of rank ", rank);
      NEURONA_CHECK(std::find(l.attend.begin(), l.attend.end(), n) == l.attend.end(), ValueError,
                    describe(), ": attention_axes names axis ", n, " twice");
      l.attend.push_back(n);
    }
    std::sort(l.attend.begin(), l.attend.end());
  }
  for (int a = 0; a <= rank - 2; ++a) {
    if (std::find(l.attend.begin(), l.attend.end(), a) == l.attend.end()) l.free.push_back(a);
  }
  return l;
}

void MultiHeadAttentionLayer::build(const Shape& input_shape) {
  build_list({input_shape, input_shape});
}

void MultiHeadAttentionLayer::build_list(const std::vector<Shape>& shapes) {
  check_shapes(shapes);
  const Shape& query = shapes[0];
  const Shape& value = shapes[1];
  const Shape& key = shapes.size() == 3 ? shapes[2] : value;
  const std::vector<std::int64_t> out = options_.output_shape
                                            ? options_.output_shape->dims
                                            : std::vector<std::int64_t>{query[query.rank() - 1]};
  // Keras's attribute names (the .weights.h5 groups) and layer names (the variables' paths).
  query_ =
      std::make_shared<ProjectionLayer>("query", std::vector<std::int64_t>{query[query.rank() - 1]},
                                        std::vector<std::int64_t>{num_heads_, key_dim_}, options_);
  key_ =
      std::make_shared<ProjectionLayer>("key", std::vector<std::int64_t>{key[key.rank() - 1]},
                                        std::vector<std::int64_t>{num_heads_, key_dim_}, options_);
  value_ = std::make_shared<ProjectionLayer>(
      "value", std::vector<std::int64_t>{value[value.rank() - 1]},
      std::vector<std::int64_t>{num_heads_, value_dim()}, options_);
  output_ = std::make_shared<ProjectionLayer>(
      "attention_output", std::vector<std::int64_t>{num_heads_, value_dim()}, out, options_);
  track_layer(query_, "query_dense");
  track_layer(key_, "key_dense");
  if (options_.use_gate) {  // built between the key and the value, as Keras builds it
    gate_ = std::make_shared<ProjectionLayer>(
        "gate", std::vector<std::int64_t>{query[query.rank() - 1]},
        std::vector<std::int64_t>{num_heads_, value_dim()}, options_, /*sigmoid=*/true);
    track_layer(gate_, "_gate_dense");  // Keras's group name has the underscore
  }
  track_layer(value_, "value_dense");
  track_layer(output_, "output_dense");
}

namespace {
// A value_mask or key_mask given to the call (a tensor's shape, or a symbolic one's with
// unknown dimensions): the value's batch and steps (its shape without the features), as the
// mask the value would carry; inputs (batch, steps, features) only.
void check_given_mask(const Shape& mask, const char* name, const Shape& value,
                      const std::string& who) {
  NEURONA_CHECK(value.rank() == 3, NotImplementedError, who, ": ", name,
                " is supported for inputs (batch, steps, features); inputs of rank ", value.rank(),
                " take an attention_mask");
  const std::vector<std::int64_t>& dims = value.dims();
  const Shape expected(std::vector<std::int64_t>(dims.begin(), dims.end() - 1));
  bool fits = mask.rank() == expected.rank();
  for (int i = 0; fits && i < mask.rank(); ++i) {
    fits = mask[i] == expected[i] || mask[i] < 0 || expected[i] < 0;
  }
  NEURONA_CHECK(fits, ShapeError, who, ": ", name, " must have shape ", shape_str(expected),
                " (the value's batch and steps), got ", shape_str(mask));
}
}  // namespace

std::vector<Tensor> MultiHeadAttentionLayer::attend(const Tensor& query, const Tensor& value,
                                                    const Tensor& key,
                                                    const AttentionCallOptions& options,
                                                    bool training) {
  std::vector<Tensor> inputs{query, value};
  if (key.defined()) inputs.push_back(key);
  std::vector<Shape> shapes;
  for (const Tensor& t : inputs) {
    NEURONA_CHECK(t.defined(), ValueError, describe(), ": an input is an undefined tensor");
    shapes.push_back(t.shape());
  }
  ensure_built(shapes);
  // A value_mask or key_mask given replaces the one its tensor carries (Keras's Layer.__call__
  // fills `<arg>_mask` from the tensor only when it is None).
  Tensor value_mask = value.keras_mask(), key_mask = key.defined() ? key.keras_mask() : Tensor();
  if (options.value_mask.defined()) {
    check_given_mask(options.value_mask.shape(), "value_mask", value.shape(), describe());
    value_mask = options.value_mask;
  }
  if (options.key_mask.defined()) {
    check_given_mask(options.key_mask.shape(), "key_mask", value.shape(), describe());
    key_mask = options.key_mask;
  }
  // Cast as operator() casts a layer's inputs (attend does not go through it).
  std::vector<Tensor> out =
      run(autocast(query), autocast(value), key.defined() ? autocast(key) : key, query.keras_mask(),
          value_mask, key_mask, options, training);
  if (query.keras_mask().defined()) out[0].set_keras_mask(query.keras_mask());
  return out;
}

namespace {
// A 0/1 mask as a float, (dims...) -> reshaped to `shape`.
Tensor as_float_mask(const Tensor& m, const Shape& shape) {
  return reshape(cast(not_equal(m, scalar_like(m, 0.0)), DType::float32), shape);
}
}  // namespace

namespace {
std::int64_t product(const Shape& shape, const std::vector<int>& axes) {
  std::int64_t n = 1;
  for (int a : axes) n *= shape[a];
  return n;
}

std::vector<std::int64_t> sizes(const Shape& shape, const std::vector<int>& axes) {
  std::vector<std::int64_t> out;
  for (int a : axes) out.push_back(shape[a]);
  return out;
}

// The permutation that puts the batch-like axes first, the attention axes next and the heads
// and per-head features last, of a projected tensor (batch, steps..., heads, dim).
std::vector<int> grouped_axes(const std::vector<int>& free, const std::vector<int>& attend,
                              int projected_rank) {
  std::vector<int> perm = free;
  perm.insert(perm.end(), attend.begin(), attend.end());
  perm.push_back(projected_rank - 2);
  perm.push_back(projected_rank - 1);
  return perm;
}

bool is_identity(const std::vector<int>& perm) {
  for (std::size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] != static_cast<int>(i)) return false;
  }
  return true;
}
}  // namespace

std::vector<Tensor> MultiHeadAttentionLayer::run(const Tensor& query, const Tensor& value,
                                                 const Tensor& key_in, const Tensor& query_mask,
                                                 const Tensor& value_mask, const Tensor& key_mask,
                                                 const AttentionCallOptions& options,
                                                 bool training) {
  const Tensor key = key_in.defined() ? key_in : value;
  check_shapes({query.shape(), value.shape(), key.shape()});
  // The projections fix the features of the inputs the layer was built for (its first call's).
  const std::vector<Shape> built = build_input_shapes();
  const auto features = [](const Shape& s) { return s[s.rank() - 1]; };
  const Shape& built_value = built.size() > 1 ? built[1] : built[0];
  const std::pair<const char*, std::int64_t> expected[3] = {
      {"query", features(built[0])},
      {"value", features(built_value)},
      {"key", features(built.size() > 2 ? built[2] : built_value)}};
  const Tensor* given[3] = {&query, &value, &key};
  for (int i = 0; i < 3; ++i) {
    NEURONA_CHECK(features(given[i]->shape()) == expected[i].second, ShapeError, describe(),
                  ": the ", expected[i].first, " has ", features(given[i]->shape()),
                  " features (shape ", shape_str(given[i]->shape()),
                  ") but the layer was built for ", expected[i].second);
  }
  const int rank = query.rank();
  // Attention runs over the layout's attention axes jointly, and separately for each index of
  // its batch-like axes: the projections are regrouped as (batch-like, attention positions,
  // heads, dim), which for inputs (batch, steps, features) they already are.
  const Layout l = layout(rank);
  const std::int64_t groups = product(query.shape(), l.free);
  const std::int64_t t = product(query.shape(), l.attend), s = product(value.shape(), l.attend);
  NEURONA_CHECK(
      rank == 3 || (!query_mask.defined() && !value_mask.defined() && !key_mask.defined() &&
                    !options.use_causal_mask && !options_.sliding_window),
      NotImplementedError, describe(),
      ": the masks the inputs carry, value_mask, key_mask, use_causal_mask and "
      "sliding_window are supported for inputs (batch, steps, features); inputs of rank ",
      rank, " take an attention_mask");
  // Keras's _compute_attention_mask: the inputs' masks, the causal mask and attention_mask,
  // ANDed into (groups, T, S); none when only the causal mask applies (the fused causal path).
  Tensor mask;  // float 0/1, broadcastable to (groups, T, S)
  const auto and_with = [&mask](const Tensor& m) { mask = mask.defined() ? mask * m : m; };
  if (query_mask.defined()) and_with(as_float_mask(query_mask, {groups, t, 1}));
  if (value_mask.defined()) and_with(as_float_mask(value_mask, {groups, 1, s}));
  if (key_mask.defined()) and_with(as_float_mask(key_mask, {groups, 1, s}));
  if (options.attention_mask.defined()) {
    // (batch, batch-like axes..., query attention axes..., key attention axes...), the batch
    // possibly 1: (batch, T, S) for inputs of rank 3.
    const Tensor& a = options.attention_mask;
    std::vector<std::int64_t> full = sizes(query.shape(), l.free);
    const std::vector<std::int64_t> tq = sizes(query.shape(), l.attend);
    const std::vector<std::int64_t> sk = sizes(value.shape(), l.attend);
    full.insert(full.end(), tq.begin(), tq.end());
    full.insert(full.end(), sk.begin(), sk.end());
    bool fits =
        a.rank() == static_cast<int>(full.size()) && (a.shape()[0] == full[0] || a.shape()[0] == 1);
    for (std::size_t i = 1; fits && i < full.size(); ++i) {
      fits = a.shape()[static_cast<int>(i)] == full[i];
    }
    NEURONA_CHECK(fits, ShapeError, describe(), ": attention_mask must have shape ",
                  shape_str(Shape(full)), " (batch, ",
                  rank == 3 ? "query steps, key steps"
                            : "the other axes..., query attention axes..., key attention axes...",
                  "), got ", shape_str(a.shape()));
    Tensor m = as_float_mask(a, a.shape());
    // Regrouped as the projections are (a batch of 1 broadcast first, as the batch-like axes
    // after it cannot broadcast once flattened with it).
    if (rank > 3) m = reshape(broadcast_to(m, Shape(full)), {groups, t, s});
    and_with(m);
  }
  // The fused kernel applies the window itself (as a band of keys it skips outside of), and
  // the causal mask when no other mask joins it; otherwise they join the others as (1, T, S).
  const bool fused = options_.dropout == 0.0 && !options.return_attention_scores;
  if (options_.sliding_window && !fused) {
    // Keras's _compute_sliding_window_mask: (1, T, S), true where |i - j| < sliding_window.
    const Tensor rows =
        reshape(arange(0, static_cast<double>(t), 1, {.device = query.device()}), {1, t, 1});
    const Tensor cols =
        reshape(arange(0, static_cast<double>(s), 1, {.device = query.device()}), {1, 1, s});
    and_with(cast(
        less(abs(rows - cols), scalar_like(rows, static_cast<double>(*options_.sliding_window))),
        DType::float32));
  }
  const bool causal_in_kernel = options.use_causal_mask && fused && !mask.defined();
  if (options.use_causal_mask && !causal_in_kernel) {
    and_with(causal_attention_mask(t, s, query.device()));
  }
  const int projected = rank + 1;  // (batch, steps..., heads, dim)
  const std::vector<int> perm = grouped_axes(l.free, l.attend, projected);
  const auto grouped = [&](const Tensor& x, std::int64_t positions) {
    const Tensor moved = is_identity(perm) ? x : transpose(x, perm);
    return reshape(moved, {groups, positions, num_heads_, x.shape()[projected - 1]});
  };
  const Tensor q = grouped((*query_)(query, training), t);  // (G, T, N, H)
  const Tensor k = grouped((*key_)(key, training), s);      // (G, S, N, H)
  const Tensor v = grouped((*value_)(value, training), s);  // (G, S, N, Hv)
  const double scale = 1.0 / std::sqrt(static_cast<double>(key_dim_));
  Tensor attended;  // (G, T, N, Hv)
  Tensor scores;
  // (groups or 1, 1, T, S): a lone value mask is (groups, 1, S) until broadcast.
  const Tensor mask4 = mask.defined() ? reshape(broadcast_to(mask, {mask.shape()[0], t, s}),
                                                {mask.shape()[0], 1, t, s})
                                      : Tensor();
  // Keras's choice: its dot_product_attention unless there is dropout or scores are asked for.
  if (fused) {
    // |i - j| < sliding_window: the band (w - 1, w - 1).
    std::optional<std::pair<std::int64_t, std::int64_t>> window;
    if (options_.sliding_window)
      window = {*options_.sliding_window - 1, *options_.sliding_window - 1};
    attended = dot_product_attention(q, k, v,
                                     {.mask = mask4,
                                      .is_causal = causal_in_kernel,
                                      .local_window_size = window,
                                      .scale = scale});
  } else {
    const Tensor qh = transpose(q * scale, {0, 2, 1, 3});  // (G, N, T, H)
    const Tensor kh = transpose(k, {0, 2, 3, 1});          // (G, N, H, S)
    const Tensor logits = matmul(qh, kh);                  // (G, N, T, S)
    // Keras's _masked_softmax: its Softmax layer with the mask (which the probabilities do
    // not carry on: they are no sequence).
    Tensor probs = (*softmax_)(
        logits, mask4.defined() ? not_equal(mask4, scalar_like(mask4, 0.0)) : Tensor(), training);
    probs.set_keras_mask({});
    scores = probs;
    const Tensor dropped = (*dropout_)(probs, training);
    attended = transpose(matmul(dropped, transpose(v, {0, 2, 1, 3})), {0, 2, 1, 3});
  }
  if (rank > 3) {
    // Back to (batch, steps..., heads, dim_v), and the scores in Keras's layout: (batch,
    // batch-like axes..., heads, query attention axes..., key attention axes...).
    std::vector<std::int64_t> dims = sizes(query.shape(), l.free);
    const std::vector<std::int64_t> tq = sizes(query.shape(), l.attend);
    dims.insert(dims.end(), tq.begin(), tq.end());
    dims.push_back(num_heads_);
    dims.push_back(value_dim());
    std::vector<int> inverse(perm.size());
    for (std::size_t i = 0; i < perm.size(); ++i)
      inverse[static_cast<std::size_t>(perm[i])] = static_cast<int>(i);
    attended = reshape(attended, Shape(dims));
    if (!is_identity(perm)) attended = transpose(attended, inverse);
    if (scores.defined()) {
      std::vector<std::int64_t> sd = sizes(query.shape(), l.free);
      const std::vector<std::int64_t> sk = sizes(value.shape(), l.attend);
      sd.push_back(num_heads_);
      sd.insert(sd.end(), tq.begin(), tq.end());
      sd.insert(sd.end(), sk.begin(), sk.end());
      scores = reshape(scores, Shape(sd));
    }
  }
  // Gated attention: each head's output times sigmoid(gate(query)), (batch, steps..., heads,
  // value_dim) as attended is now.
  if (gate_) attended = attended * (*gate_)(query, training);
  std::vector<Tensor> out{(*output_)(attended, training)};
  if (options.return_attention_scores) out.push_back(scores);
  return out;
}

std::vector<KerasTensor> MultiHeadAttentionLayer::attend(const KerasTensor& query,
                                                         const KerasTensor& value,
                                                         const KerasTensor& key,
                                                         const AttentionCallOptions& options,
                                                         const AttentionMaskTensors& masks) {
  NEURONA_CHECK(!options.attention_mask.defined() && !options.value_mask.defined() &&
                    !options.key_mask.defined(),
                ValueError, describe(),
                ": a symbolic call takes its attention_mask, value_mask and key_mask as symbolic "
                "tensors (the last argument), not in the options");
  std::vector<KerasTensor> inputs{query, value};
  if (key.defined()) inputs.push_back(key);
  std::vector<TensorKwarg> tensors;
  if (masks.attention_mask.defined()) tensors.emplace_back("attention_mask", masks.attention_mask);
  if (masks.value_mask.defined()) tensors.emplace_back("value_mask", masks.value_mask);
  if (masks.key_mask.defined()) tensors.emplace_back("key_mask", masks.key_mask);
  return apply_with_kwargs(
      inputs,
      attention_kwargs({.use_causal_mask = options.use_causal_mask,
                        .return_attention_scores = options.return_attention_scores}),
      std::nullopt, tensors);
}

AttentionCallOptions MultiHeadAttentionLayer::read_kwargs(const ConfigValue& kwargs) const {
  // The masks are tensors among the inputs (Layer::kwarg_tensor; call_list_with_kwargs reads
  // them); the rest are flags.
  ConfigValue flags = ConfigValue::Dict{};
  if (kwargs.kind() == ConfigValue::Kind::Dict) {
    for (const auto& [key, value] : kwargs.as_dict()) {
      if (key == "attention_mask" || key == "query_mask" || key == "value_mask" ||
          key == "key_mask") {
        NEURONA_CHECK(value.is_null() || kwarg_tensor(kwargs, key), ValueError, describe(), ": '",
                      key, "' must be a tensor, got ", value.kind_name());
        continue;
      }
      flags.set(key, value);
    }
  }
  const AttentionLayerCallOptions o = read_attention_kwargs(flags, describe());
  return {.use_causal_mask = o.use_causal_mask,
          .return_attention_scores = o.return_attention_scores};
}

std::vector<Tensor> MultiHeadAttentionLayer::call_list_with_kwargs(
    const std::vector<Tensor>& inputs, const std::vector<Tensor>& masks, const ConfigValue& kwargs,
    bool training) {
  AttentionCallOptions options = read_kwargs(kwargs);
  if (const auto index = kwarg_tensor(kwargs, "attention_mask")) {
    options.attention_mask = inputs.at(*index);
  }
  const std::size_t positional = positional_count(kwargs, inputs.size());
  std::vector<Shape> shapes;
  for (std::size_t i = 0; i < positional; ++i) shapes.push_back(inputs[i].shape());
  check_shapes(shapes);
  const auto mask_of = [&masks](std::size_t i) { return i < masks.size() ? masks[i] : Tensor(); };
  // value_mask and key_mask given replace the masks their tensors carry; a query_mask given is
  // ignored, as Keras's call reads the query's own mask whatever it is given.
  Tensor value_mask = mask_of(1), key_mask = positional == 3 ? mask_of(2) : Tensor();
  if (const auto index = kwarg_tensor(kwargs, "value_mask")) {
    value_mask = inputs.at(*index);
    check_given_mask(value_mask.shape(), "value_mask", inputs[1].shape(), describe());
  }
  if (const auto index = kwarg_tensor(kwargs, "key_mask")) {
    key_mask = inputs.at(*index);
    check_given_mask(key_mask.shape(), "key_mask", inputs[1].shape(), describe());
  }
  return run(inputs[0], inputs[1], positional == 3 ? inputs[2] : Tensor(), mask_of(0), value_mask,
             key_mask, options, training);
}

std::vector<TensorSpec> MultiHeadAttentionLayer::compute_output_spec_with_kwargs(
    const std::vector<TensorSpec>& all_inputs, const ConfigValue& kwargs) {
  const AttentionCallOptions options = read_kwargs(kwargs);
  // The positional inputs (query, value, key); an attention_mask follows them.
  const std::vector<TensorSpec> inputs(
      all_inputs.begin(), all_inputs.begin() + static_cast<std::ptrdiff_t>(
                                                   positional_count(kwargs, all_inputs.size())));
  for (const char* name : {"value_mask", "key_mask"}) {
    if (const auto index = kwarg_tensor(kwargs, name)) {
      check_given_mask(all_inputs.at(*index).shape, name, inputs[1].shape, describe());
    }
  }
  std::vector<TensorSpec> out = compute_output_spec(inputs, true);
  if (options.return_attention_scores) {
    // (batch, batch-like axes..., heads, query attention axes..., key attention axes...):
    // (batch, heads, query steps, key steps) for inputs of rank 3.
    const Shape& q = inputs[0].shape;
    const Shape& v = inputs[1].shape;
    const Layout l = layout(q.rank());
    std::vector<std::int64_t> dims = sizes(q, l.free);
    dims.push_back(num_heads_);
    for (int a : l.attend) dims.push_back(q[a]);
    for (int a : l.attend) dims.push_back(v[a]);
    out.push_back({Shape(std::move(dims)), out[0].dtype});
  }
  return out;
}

std::vector<Tensor> MultiHeadAttentionLayer::call_list_with_masks(const std::vector<Tensor>& inputs,
                                                                  const std::vector<Tensor>& masks,
                                                                  bool training) {
  return call_list_with_kwargs(inputs, masks, ConfigValue(), training);
}

std::vector<Tensor> MultiHeadAttentionLayer::call_list(const std::vector<Tensor>& inputs,
                                                       bool training) {
  return call_list_with_masks(inputs, {}, training);
}

Tensor MultiHeadAttentionLayer::call_with_mask(const Tensor& inputs, const Tensor& mask,
                                               bool training) {
  return run(inputs, inputs, Tensor(), mask, mask, Tensor(), {}, training)[0];
}

Tensor MultiHeadAttentionLayer::call(const Tensor& inputs, bool training) {
  return call_with_mask(inputs, Tensor(), training);
}

Tensor MultiHeadAttentionLayer::compute_mask(const Tensor& /*inputs*/, const Tensor& mask) const {
  return mask;
}

std::vector<Tensor> MultiHeadAttentionLayer::compute_mask_list(
    const std::vector<Tensor>& /*inputs*/, const std::vector<Tensor>& masks) const {
  return {masks.empty() ? Tensor() : masks[0]};
}

Shape MultiHeadAttentionLayer::compute_output_shape(const Shape& input_shape) const {
  return compute_output_shape_list({input_shape, input_shape})[0];
}

std::vector<Shape> MultiHeadAttentionLayer::compute_output_shape_list(
    const std::vector<Shape>& shapes) const {
  check_shapes(shapes);
  std::vector<std::int64_t> dims = shapes[0].dims();
  if (options_.output_shape) {
    dims.pop_back();
    dims.insert(dims.end(), options_.output_shape->dims.begin(), options_.output_shape->dims.end());
  }
  return {Shape(std::move(dims))};
}

ConfigValue MultiHeadAttentionLayer::get_build_config() const {
  if (!built()) return ConfigValue();
  const std::vector<Shape> shapes = build_input_shapes();
  const Shape& query = shapes[0];
  const Shape& value = shapes.size() > 1 ? shapes[1] : shapes[0];  // self-attention: call(x)
  ConfigValue dict =
      ConfigValue::Dict{{"query_shape", shape_config(query)}, {"value_shape", shape_config(value)}};
  if (shapes.size() == 3) dict.set("key_shape", shape_config(shapes[2]));
  return ConfigValue::Dict{{"shapes_dict", std::move(dict)}};
}

ConfigValue MultiHeadAttentionLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("num_heads", num_heads_);
  config.set("key_dim", key_dim_);
  config.set("value_dim", value_dim());
  config.set("dropout", options_.dropout);
  config.set("use_bias", options_.use_bias);
  config.set("use_gate", options_.use_gate);
  if (options_.output_shape) {
    ConfigValue::List dims;
    for (const std::int64_t d : options_.output_shape->dims) dims.emplace_back(d);
    config.set("output_shape", std::move(dims));
  } else {
    config.set("output_shape", nullptr);
  }
  if (options_.attention_axes) {
    ConfigValue::List axes;
    for (int a : *options_.attention_axes) axes.emplace_back(a);
    config.set("attention_axes", std::move(axes));
  } else {
    config.set("attention_axes", nullptr);
  }
  if (options_.sliding_window) {
    config.set("sliding_window", *options_.sliding_window);
  } else {
    config.set("sliding_window", nullptr);
  }
  config.set("kernel_initializer", serialize(options_.kernel_initializer));
  config.set("bias_initializer", serialize(options_.bias_initializer));
  config.set("kernel_regularizer", serialize(options_.kernel_regularizer));
  config.set("bias_regularizer", serialize(options_.bias_regularizer));
  config.set("activity_regularizer", serialize(options_.activity_regularizer));
  config.set("kernel_constraint", serialize(options_.kernel_constraint));
  config.set("bias_constraint", serialize(options_.bias_constraint));
  if (options_.seed) {
    config.set("seed", static_cast<std::int64_t>(*options_.seed));
  } else {
    config.set("seed", nullptr);
  }
  return config;
}

MultiHeadAttention::MultiHeadAttention(std::int64_t num_heads, std::int64_t key_dim,
                                       MultiHeadAttentionOptions options)
    : LayerHandle<MultiHeadAttentionLayer>(
          std::make_shared<MultiHeadAttentionLayer>(num_heads, key_dim, std::move(options))) {}

MultiHeadAttention MultiHeadAttention::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "MultiHeadAttention");
  r.only("flash_attention", false, "choosing flash attention (neurona picks its kernel)");
  std::optional<AttentionOutputShape> output_shape;
  if (const ConfigValue* v = r.find("output_shape")) {
    if (v->kind() == ConfigValue::Kind::List) {
      output_shape = r.ints("output_shape", *v);
    } else {
      output_shape = r.integer("output_shape");
    }
  }
  std::optional<std::vector<int>> axes;
  if (const ConfigValue* v = r.find("attention_axes")) {
    std::vector<int> a;
    if (v->kind() == ConfigValue::Kind::List) {
      for (auto d : r.ints("attention_axes", *v)) a.push_back(static_cast<int>(d));
    } else {
      a.push_back(static_cast<int>(r.integer("attention_axes")));
    }
    axes = a;
  }
  std::optional<std::int64_t> value_dim;
  if (r.find("value_dim") != nullptr) value_dim = r.integer("value_dim");
  std::optional<std::int64_t> sliding_window;
  if (r.find("sliding_window") != nullptr) sliding_window = r.integer("sliding_window");
  return MultiHeadAttention(
      r.integer("num_heads"), r.integer("key_dim"),
      {.value_dim = value_dim,
       .dropout = r.number("dropout", 0.0),
       .use_bias = r.boolean("use_bias", true),
       .output_shape = output_shape,
       .attention_axes = axes,
       .sliding_window = sliding_window,
       .kernel_initializer = r.initializer("kernel_initializer", "glorot_uniform"),
       .bias_initializer = r.initializer("bias_initializer", "zeros"),
       .kernel_regularizer = r.regularizer("kernel_regularizer"),
       .bias_regularizer = r.regularizer("bias_regularizer"),
       .activity_regularizer = r.regularizer("activity_regularizer"),
       .kernel_constraint = r.constraint("kernel_constraint"),
       .bias_constraint = r.constraint("bias_constraint"),
       .use_gate = r.boolean("use_gate", false),
       .seed = r.seed(),
       .name = r.string("name", ""),
       .trainable = r.boolean("trainable", true),
       .dtype = r.dtype()});
}

}  // namespace neurona::layers
