// Differentiable ops: the kernel's result, plus the gradient rule recorded when a tape is
// recording. Rules use the differentiable ops themselves (second derivatives work) and
// capture only the tensors they need.
#include "neurona/autograd/ops.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <tuple>

#include "neurona/autograd/tape.h"
#include "neurona/core/random.h"
#include "neurona/core/replica_context.h"
#include "neurona/kernels/attention.h"
#include "neurona/kernels/batch_norm.h"
#include "neurona/kernels/checks.h"
#include "neurona/kernels/conv.h"
#include "neurona/kernels/layer_norm.h"
#include "neurona/kernels/reduction.h"

namespace neurona {

using autograd::detail::sum_to_shape;
using G = std::vector<Tensor>;

namespace {

constexpr double kPi = 3.14159265358979323846;

// A 0/1 mask of `like`'s dtype: not differentiable, a constant of every rule that uses it.
Tensor mask(const Tensor& condition, const Tensor& like) {
  return kernels::cast(condition, like.dtype());
}
Tensor scalar(const Tensor& like, double v) {
  return kernels::scalar_like(like, v);
}

// The number of `x op v` (operator+ and the like) as a tensor of x's dtype. An integer tensor
// takes only the integers its dtype holds: the number is a double here, which cannot tell 2 from
// 2.0, so 0.5 or 300 with uint8 is refused rather than truncated or wrapped (Keras on JAX would
// promote int32 * 0.5 to float32; cast the tensor to compute in floating point).
Tensor operand(const char* op, const Tensor& x, double v) {
  if (!is_floating(x.dtype())) {
    const kernels::IntegerRange r = kernels::integer_range(x.dtype());
    NEURONA_CHECK(std::isfinite(v) && std::trunc(v) == v && v >= r.lo && v < r.end, ValueError, op,
                  ": the number ", v, " is not an integer that a ", name(x.dtype()),
                  " tensor of shape ", x.shape(), " holds; cast the tensor to a float dtype first");
  }
  return scalar(x, v);
}

// x's shape with the reduced axes kept as size 1.
Shape kept_shape(const Shape& shape, const Axes& axes) {
  std::vector<std::int64_t> dims = shape.dims();
  if (axes.all()) {
    std::fill(dims.begin(), dims.end(), 1);
  } else {
    for (int a : axes.list()) dims[static_cast<std::size_t>(shape.normalize_axis(a, "sum"))] = 1;
  }
  return Shape(std::move(dims));
}

// The gradient of a reduction's output, broadcast back over the input.
Tensor expand_reduced(const Tensor& g, const Shape& input, const Axes& axes) {
  return broadcast_to(g.reshape(kept_shape(input, axes)), input);
}

// One input, one output, a rule on (grad, x, out).
template <typename Rule>
Tensor unary_recorded(const char* op, const Tensor& x, Tensor out, Rule rule) {
  if (autograd::is_recording()) {
    autograd::record(op, {x}, {out}, [x, out, rule](const G& g) { return G{rule(g[0], x, out)}; });
  }
  return out;
}

// relu's gradient g * (x > 0) in one kernel; recorded (x as a constant, as the mask is) so
// that a tape watching the backward pass can differentiate it again.
Tensor relu_grad(const Tensor& g, const Tensor& x) {
  Tensor out = kernels::relu_grad(g, x);
  if (autograd::is_recording()) {
    autograd::record("relu_grad", {g}, {out}, [x](const G& gg) { return G{relu_grad(gg[0], x)}; });
  }
  return out;
}

// gelu's gradient g * gelu'(x) in one kernel, recorded with its own derivatives (g gelu''(x)
// for x) so that a tape watching the backward pass can differentiate it again.
// gelu''(x) = phi(x) (2 - x^2).
Tensor gelu_grad(const Tensor& g, const Tensor& x) {
  Tensor out = kernels::gelu_grad(g, x);
  if (autograd::is_recording()) {
    autograd::record("gelu_grad", {g, x}, {out}, [g, x](const G& gg) {
      const Tensor pdf = exp(square(x) * -0.5) * (1.0 / std::sqrt(2.0 * kPi));
      return G{gelu_grad(gg[0], x), gg[0] * g * pdf * (2.0 - square(x))};
    });
  }
  return out;
}

// The same for the tanh form: with t = tanh(u), u = c (x + k x^3), u' = c (1 + 3 k x^2),
// y'' = (1 - t^2) (u' - x t u'^2 + 3 c k x^2).
Tensor gelu_approximate_grad(const Tensor& g, const Tensor& x) {
  Tensor out = kernels::gelu_approximate_grad(g, x);
  if (autograd::is_recording()) {
    autograd::record("gelu_approximate_grad", {g, x}, {out}, [g, x](const G& gg) {
      constexpr double kC = 0.79788456080286535587989211986876, kK = 0.044715;
      const Tensor x2 = square(x);
      const Tensor t = tanh((x + x * x2 * kK) * kC);
      const Tensor du = (x2 * (3.0 * kK) + 1.0) * kC;
      const Tensor second = (1.0 - square(t)) * (du - x * t * square(du) + x2 * (3.0 * kC * kK));
      return G{gelu_approximate_grad(gg[0], x), gg[0] * g * second};
    });
  }
  return out;
}

std::vector<int> normalized_perm(const Tensor& x, std::vector<int> perm) {
  if (perm.empty()) {
    perm.resize(static_cast<std::size_t>(x.rank()));
    std::iota(perm.rbegin(), perm.rend(), 0);
  }
  for (int& p : perm) p = x.shape().normalize_axis(p, "transpose");
  return perm;
}

// `before` and `after` entries of zeros around x along `axis`.
Tensor pad_axis(const Tensor& x, int axis, std::int64_t before, std::int64_t after) {
  const int a = x.shape().normalize_axis(axis, "pad");
  std::vector<Tensor> parts;
  auto zeros_of = [&](std::int64_t n) {
    std::vector<std::int64_t> dims = x.shape().dims();
    dims[static_cast<std::size_t>(a)] = n;
    return kernels::zeros(Shape(dims), {.dtype = x.dtype(), .device = x.device()});
  };
  if (before > 0) parts.push_back(zeros_of(before));
  parts.push_back(x);
  if (after > 0) parts.push_back(zeros_of(after));
  return parts.size() == 1 ? x : concat(parts, a);
}

}  // namespace

namespace autograd::detail {

Tensor sum_to_shape(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int lead = g.rank() - shape.rank();
  std::vector<int> axes;
  for (int i = 0; i < g.rank(); ++i) {
    if (i < lead || (shape[i - lead] == 1 && g.shape()[i] != 1)) axes.push_back(i);
  }
  Tensor s = axes.empty() ? g : sum(g, Axes(axes));
  return s.reshape(shape);
}

Tensor pad_rows(const Tensor& x, std::int64_t before, std::int64_t after) {
  return pad_axis(x, 0, before, after);
}

}  // namespace autograd::detail

// ---- binary ---------------------------------------------------------------------------

Tensor add(const Tensor& x, const Tensor& y) {
  Tensor out = kernels::add(x, y);
  if (autograd::is_recording()) {
    autograd::record("add", {x, y}, {out}, [xs = x.shape(), ys = y.shape()](const G& g) {
      return G{sum_to_shape(g[0], xs), sum_to_shape(g[0], ys)};
    });
  }
  return out;
}

Tensor subtract(const Tensor& x, const Tensor& y) {
  Tensor out = kernels::subtract(x, y);
  if (autograd::is_recording()) {
    autograd::record("subtract", {x, y}, {out}, [xs = x.shape(), ys = y.shape()](const G& g) {
      return G{sum_to_shape(g[0], xs), sum_to_shape(neg(g[0]), ys)};
    });
  }
  return out;
}

Tensor multiply(const Tensor& x, const Tensor& y) {
  Tensor out = kernels::multiply(x, y);
  if (autograd::is_recording()) {
    autograd::record("multiply", {x, y}, {out}, [x, y](const G& g) {
      return G{sum_to_shape(multiply(g[0], y), x.shape()),
               sum_to_shape(multiply(g[0], x), y.shape())};
    });
  }
  return out;
}

Tensor divide(const Tensor& x, const Tensor& y) {
  Tensor out = kernels::divide(x, y);
  if (autograd::is_recording()) {
    autograd::record("divide", {x, y}, {out}, [x, y](const G& g) {
      return G{sum_to_shape(divide(g[0], y), x.shape()),
               sum_to_shape(neg(divide(multiply(g[0], x), square(y))), y.shape())};
    });
  }
  return out;
}

Tensor pow(const Tensor& x, const Tensor& y) {
  Tensor out = kernels::pow(x, y);
  if (autograd::is_recording()) {
    autograd::record("pow", {x, y}, {out}, [x, y, out](const G& g) {
      const Tensor dx = multiply(g[0], multiply(y, pow(x, y - 1.0)));
      // d/dy x^y = x^y log x, taken as 0 where x <= 0 (as TensorFlow).
      const Tensor positive = kernels::greater(x, scalar(x, 0));
      const Tensor safe_log = log(where(positive, x, ones_like(x)));
      const Tensor dy = multiply(multiply(g[0], out), multiply(safe_log, mask(positive, x)));
      return G{sum_to_shape(dx, x.shape()), sum_to_shape(dy, y.shape())};
    });
  }
  return out;
}

namespace {
Tensor select_binary(const char* op, const Tensor& x, const Tensor& y, Tensor out, bool is_max) {
  if (autograd::is_recording()) {
    autograd::record(op, {x, y}, {out}, [x, y, is_max](const G& g) {
      const Tensor m = mask(is_max ? kernels::greater_equal(x, y) : kernels::less_equal(x, y), x);
      return G{sum_to_shape(multiply(g[0], m), x.shape()),
               sum_to_shape(multiply(g[0], 1.0 - m), y.shape())};
    });
  }
  return out;
}
}  // namespace

Tensor maximum(const Tensor& x, const Tensor& y) {
  return select_binary("maximum", x, y, kernels::maximum(x, y), true);
}
Tensor minimum(const Tensor& x, const Tensor& y) {
  return select_binary("minimum", x, y, kernels::minimum(x, y), false);
}

Tensor where(const Tensor& condition, const Tensor& x, const Tensor& y) {
  Tensor out = kernels::where(condition, x, y);
  if (autograd::is_recording()) {
    autograd::record("where", {condition, x, y}, {out},
                     [condition, xs = x.shape(), ys = y.shape()](const G& g) {
                       const Tensor zero = scalar(g[0], 0);
                       return G{Tensor(), sum_to_shape(where(condition, g[0], zero), xs),
                                sum_to_shape(where(condition, zero, g[0]), ys)};
                     });
  }
  return out;
}

// ---- unary ----------------------------------------------------------------------------

Tensor neg(const Tensor& x) {
  return unary_recorded("neg", x, kernels::neg(x),
                        [](const Tensor& g, const Tensor&, const Tensor&) { return neg(g); });
}

Tensor abs(const Tensor& x) {
  return unary_recorded(
      "abs", x, kernels::abs(x), [](const Tensor& g, const Tensor& x_, const Tensor&) {
        const Tensor sign = kernels::subtract(mask(kernels::greater(x_, scalar(x_, 0)), x_),
                                              mask(kernels::less(x_, scalar(x_, 0)), x_));
        return multiply(g, sign);
      });
}

Tensor square(const Tensor& x) {
  return unary_recorded(
      "square", x, kernels::square(x),
      [](const Tensor& g, const Tensor& x_, const Tensor&) { return multiply(g, x_ * 2.0); });
}

Tensor exp(const Tensor& x) {
  return unary_recorded("exp", x, kernels::exp(x),
                        [](const Tensor& g, const Tensor&, const Tensor& y) { return g * y; });
}

Tensor log(const Tensor& x) {
  return unary_recorded("log", x, kernels::log(x),
                        [](const Tensor& g, const Tensor& x_, const Tensor&) { return g / x_; });
}

Tensor sqrt(const Tensor& x) {
  return unary_recorded(
      "sqrt", x, kernels::sqrt(x),
      [](const Tensor& g, const Tensor&, const Tensor& y) { return g / (y * 2.0); });
}

Tensor erf(const Tensor& x) {
  return unary_recorded("erf", x, kernels::erf(x),
                        [](const Tensor& g, const Tensor& x_, const Tensor&) {
                          return g * (exp(neg(square(x_))) * (2.0 / std::sqrt(kPi)));
                        });
}

Tensor sin(const Tensor& x) {
  return unary_recorded(
      "sin", x, kernels::sin(x),
      [](const Tensor& g, const Tensor& x_, const Tensor&) { return g * cos(x_); });
}

Tensor cos(const Tensor& x) {
  return unary_recorded(
      "cos", x, kernels::cos(x),
      [](const Tensor& g, const Tensor& x_, const Tensor&) { return neg(g * sin(x_)); });
}

Tensor floor(const Tensor& x) {
  return unary_recorded(
      "floor", x, kernels::floor(x),
      [](const Tensor& g, const Tensor&, const Tensor&) { return zeros_like(g); });
}

Tensor relu(const Tensor& x) {
  return unary_recorded(
      "relu", x, kernels::relu(x),
      [](const Tensor& g, const Tensor& x_, const Tensor&) { return relu_grad(g, x_); });
}

Tensor sigmoid(const Tensor& x) {
  return unary_recorded(
      "sigmoid", x, kernels::sigmoid(x),
      [](const Tensor& g, const Tensor&, const Tensor& y) { return g * (y * (1.0 - y)); });
}

Tensor tanh(const Tensor& x) {
  return unary_recorded(
      "tanh", x, kernels::tanh(x),
      [](const Tensor& g, const Tensor&, const Tensor& y) { return g * (1.0 - square(y)); });
}

Tensor elu(const Tensor& x, double alpha) {
  return unary_recorded("elu", x, kernels::elu(x, alpha),
                        [alpha](const Tensor& g, const Tensor& x_, const Tensor& y) {
                          // d/dx alpha (e^x - 1) = y + alpha for x <= 0.
                          const Tensor pos = kernels::greater(x_, scalar(x_, 0));
                          return g * where(pos, ones_like(x_), y + alpha);
                        });
}

Tensor selu(const Tensor& x) {
  return unary_recorded("selu", x, kernels::selu(x),
                        [](const Tensor& g, const Tensor& x_, const Tensor&) {
                          constexpr double kAlpha = 1.67326324235437728481704299167;
                          constexpr double kScale = 1.05070098735548049341933498529;
                          const Tensor pos = kernels::greater(x_, scalar(x_, 0));
                          return g * where(pos, fill_like(x_, kScale), exp(x_) * (kScale * kAlpha));
                        });
}

Tensor gelu_approximate(const Tensor& x) {
  return unary_recorded("gelu_approximate", x, kernels::gelu_approximate(x),
                        [](const Tensor& g, const Tensor& x_, const Tensor&) {
                          return gelu_approximate_grad(g, x_);
                        });
}

Tensor gelu(const Tensor& x) {
  return unary_recorded(
      "gelu", x, kernels::gelu(x),
      [](const Tensor& g, const Tensor& x_, const Tensor&) { return gelu_grad(g, x_); });
}

Tensor silu(const Tensor& x) {
  return unary_recorded("silu", x, kernels::silu(x),
                        [](const Tensor& g, const Tensor& x_, const Tensor&) {
                          const Tensor s = sigmoid(x_);
                          return g * (s * (x_ * (1.0 - s) + 1.0));
                        });
}

Tensor softplus(const Tensor& x) {
  return unary_recorded(
      "softplus", x, kernels::softplus(x),
      [](const Tensor& g, const Tensor& x_, const Tensor&) { return g * sigmoid(x_); });
}

Tensor softsign(const Tensor& x) {
  return unary_recorded(
      "softsign", x, kernels::softsign(x),
      [](const Tensor& g, const Tensor& x_, const Tensor&) { return g / square(abs(x_) + 1.0); });
}

Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return unary_recorded("leaky_relu", x, kernels::leaky_relu(x, negative_slope),
                        [negative_slope](const Tensor& g, const Tensor& x_, const Tensor&) {
                          const Tensor pos = mask(kernels::greater(x_, scalar(x_, 0)), x_);
                          return g * (pos * (1.0 - negative_slope) + negative_slope);
                        });
}

Tensor hard_sigmoid(const Tensor& x) {
  return unary_recorded("hard_sigmoid", x, kernels::hard_sigmoid(x),
                        [](const Tensor& g, const Tensor& x_, const Tensor&) {
                          const Tensor inside =
                              kernels::multiply(mask(kernels::greater(x_, scalar(x_, -3)), x_),
                                                mask(kernels::less(x_, scalar(x_, 3)), x_));
                          return g * (inside * (1.0 / 6.0));
                        });
}

Tensor cast(const Tensor& x, DType dtype) {
  Tensor out = kernels::cast(x, dtype);
  if (out.id() != x.id() && is_floating(dtype) && x.defined() && is_floating(x.dtype()) &&
      autograd::is_recording()) {
    autograd::record("cast", {x}, {out},
                     [from = x.dtype()](const G& g) { return G{cast(g[0], from)}; });
  }
  return out;
}

// ---- reductions -----------------------------------------------------------------------

namespace {
// One tensor summed over the replicas of `context`.
Tensor all_reduce_one(const detail::ReplicaContext& context, const Tensor& t) {
  std::vector<Tensor> sums{t.clone()};
  context.all_reduce_sum(sums);
  return sums[0];
}
}  // namespace

Tensor replica_sum(const Tensor& x) {
  const detail::ReplicaContext* context = detail::current_replica_context();
  if (context == nullptr || context->num_replicas <= 1) return x;
  Tensor out = all_reduce_one(*context, x);
  if (is_floating(x.dtype()) && autograd::is_recording()) {
    // The context is copied: the backward pass may run after the step's scope has closed.
    autograd::record(
        "replica_sum", {x}, {out},
        [ctx = *context](const G& g) {
          // A stand-in replica takes part in the collective with zeros and gets none back.
          if (ctx.share == 0.0) {
            all_reduce_one(ctx, zeros_like(g[0]));
            return G{zeros_like(g[0])};
          }
          return G{all_reduce_one(ctx, g[0] * ctx.share) / ctx.share};
        },
        /*differentiable_backward=*/false);
  }
  return out;
}

Tensor sum(const Tensor& x, Axes axes, bool keepdims) {
  Tensor out = kernels::sum(x, axes, keepdims);
  if (autograd::is_recording()) {
    autograd::record("sum", {x}, {out}, [xs = x.shape(), axes](const G& g) {
      return G{expand_reduced(g[0], xs, axes)};
    });
  }
  return out;
}

Tensor mean(const Tensor& x, Axes axes, bool keepdims) {
  Tensor out = kernels::mean(x, axes, keepdims);
  if (autograd::is_recording()) {
    const std::int64_t count = x.numel() / std::max<std::int64_t>(1, out.numel());
    autograd::record("mean", {x}, {out}, [xs = x.shape(), axes, count](const G& g) {
      return G{expand_reduced(g[0], xs, axes) / static_cast<double>(count)};
    });
  }
  return out;
}

namespace {
Tensor extremum(const char* op, const Tensor& x, const Axes& axes, Tensor out) {
  if (autograd::is_recording()) {
    autograd::record(op, {x}, {out}, [x, axes, out](const G& g) {
      const Tensor hit = mask(kernels::equal(x, expand_reduced(out, x.shape(), axes)), x);
      const Tensor count = kernels::sum(hit, axes, true);
      return G{expand_reduced(g[0], x.shape(), axes) *
               kernels::divide(hit, broadcast_to(count, x.shape()))};
    });
  }
  return out;
}
}  // namespace

Tensor max(const Tensor& x, Axes axes, bool keepdims) {
  return extremum("max", x, axes, kernels::max(x, axes, keepdims));
}
Tensor min(const Tensor& x, Axes axes, bool keepdims) {
  return extremum("min", x, axes, kernels::min(x, axes, keepdims));
}

Tensor softmax(const Tensor& x, int axis) {
  Tensor out = kernels::softmax(x, axis);
  if (autograd::is_recording()) {
    autograd::record("softmax", {x}, {out}, [out, axis](const G& g) {
      return G{out * (g[0] - sum(g[0] * out, axis, true))};
    });
  }
  return out;
}

Tensor log_softmax(const Tensor& x, int axis) {
  Tensor out = kernels::log_softmax(x, axis);
  if (autograd::is_recording()) {
    autograd::record("log_softmax", {x}, {out}, [out, axis](const G& g) {
      return G{g[0] - exp(out) * sum(g[0], axis, true)};
    });
  }
  return out;
}

namespace {
Tensor widen_half(const Tensor& t) {
  return t.defined() && is_half(t.dtype()) ? cast(t, DType::float32) : t;
}
}  // namespace

Tensor sparse_softmax_cross_entropy(const Tensor& logits_in, const Tensor& labels) {
  // 16-bit logits are computed in float32 (a differentiable cast): the loss is float32.
  const Tensor logits = widen_half(logits_in);
  Tensor row_max, log_sum;
  Tensor out = kernels::sparse_softmax_cross_entropy(logits, labels, &row_max, &log_sum);
  if (autograd::is_recording()) {
    autograd::record(
        "sparse_softmax_cross_entropy", {logits, labels}, {out},
        [logits, labels, row_max, log_sum](const G& g) {
          return G{kernels::sparse_softmax_cross_entropy_backward(logits, labels, row_max, log_sum,
                                                                  g[0]),
                   Tensor()};
        },
        /*differentiable_backward=*/false);
  }
  return out;
}

Tensor softmax_cross_entropy(const Tensor& logits_in, const Tensor& targets_in) {
  const Tensor logits = widen_half(logits_in);
  const Tensor targets = widen_half(targets_in);
  Tensor row_max, log_sum, target_sum;
  Tensor out = kernels::softmax_cross_entropy(logits, targets, &row_max, &log_sum, &target_sum);
  if (autograd::is_recording()) {
    autograd::record(
        "softmax_cross_entropy", {logits, targets}, {out},
        [logits, targets, row_max, log_sum, target_sum](const G& g) {
          // The targets' gradient only where asked for (one-hot labels are constants).
          auto [dlogits, dtargets] = kernels::softmax_cross_entropy_backward(
              logits, targets, row_max, log_sum, target_sum, g[0],
              /*targets_gradient=*/autograd::needs_input_gradient(1));
          return G{dlogits, dtargets};
        },
        /*differentiable_backward=*/false);
  }
  return out;
}

// ---- attention ------------------------------------------------------------------------------

Tensor dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                             const DotProductAttentionOptions& options) {
  kernels::AttentionOptions o{.mask = options.mask,
                              .is_causal = options.is_causal,
                              .local_window_size = options.local_window_size,
                              .scale = options.scale,
                              .dropout_rate = options.dropout_rate};
  NEURONA_CHECK(!(options.seed && options.seed_generator), ValueError,
                "dot_product_attention: give either `seed` or `seed_generator`, not both");
  // One key for the forward and the backward pass: the gradient drops what the output dropped.
  if (options.dropout_rate > 0 && options.seed_generator != nullptr) {
    // The generator's state as this call finds it (a copy on the device, which the backward
    // pass reads too), the generator advanced: device work, which a captured graph's replays
    // redo.
    o.dropout_key_state = kernels::take_random_key(*options.seed_generator, query.device());
    // Under a data-parallel replica: its rows' part of the global batch's draw (query
    // (B, Tq, N, H), key (B, Tk, Nk, H): B * N * Tq * Tk elements, row b's from b * N * Tq * Tk).
    const Shape& qs = query.shape();
    o.dropout_offset = qs.rank() == 4 && key.rank() == 4
                           ? detail::replica_draw_offset(qs[0], qs[2] * qs[1] * key.shape()[1])
                           : 0;
  } else if (options.dropout_rate > 0) {
    o.dropout_key = detail::next_random_key(options.seed);
  }
  kernels::AttentionForward f = kernels::attention_forward(query, key, value, o);
  if (autograd::is_recording()) {
    // One fused backward kernel for all three gradients: no second derivative.
    autograd::record(
        "dot_product_attention", {query, key, value}, {f.out},
        [query, key, value, o, out = f.out, lse = f.lse](const G& g) {
          kernels::AttentionGradients r =
              kernels::attention_backward(g[0], query, key, value, out, lse, o);
          return G{r.dquery, r.dkey, r.dvalue};
        },
        /*differentiable_backward=*/false);
  }
  return f.out;
}

// ---- batch normalization ------------------------------------------------------------------

BatchNormalizationOutputs batch_normalization_training(const Tensor& x, int axis,
                                                       const Tensor& offset, const Tensor& scale,
                                                       double epsilon) {
  kernels::BatchNormStatistics s;
  Tensor y = kernels::batch_norm_training(x, axis, offset, scale, epsilon, &s);
  if (autograd::is_recording()) {
    // One fused backward op for dx, dscale and doffset (each only when asked for), as the
    // convolutions' and the fused cross-entropy's: no second derivative.
    autograd::record(
        "batch_normalization_training", {x, offset, scale}, {y},
        [x, axis, scale, has_offset = offset.defined(), mean = s.mean,
         inv_std = s.inv_std](const G& g) {
          const kernels::BatchNormWanted wanted{
              .dx = autograd::needs_input_gradient(0),
              .dscale = scale.defined() && autograd::needs_input_gradient(2),
              .doffset = has_offset && autograd::needs_input_gradient(1)};
          kernels::BatchNormGradients r =
              kernels::batch_norm_backward(x, g[0], mean, inv_std, axis, scale, wanted);
          return G{r.dx, r.doffset, r.dscale};
        },
        /*differentiable_backward=*/false);
  }
  return {y, s.mean, s.variance};
}

// ---- layer normalization ------------------------------------------------------------------

Tensor layer_normalization(const Tensor& x, const Tensor& gamma, const Tensor& beta, int begin_axis,
                           double epsilon) {
  kernels::LayerNormStatistics s;
  Tensor y = kernels::layer_norm_forward(x, begin_axis, gamma, beta, epsilon, &s);
  if (autograd::is_recording()) {
    // One fused backward op for dx, dgamma and dbeta (each only when asked for), as batch
    // normalization's: no second derivative.
    autograd::record(
        "layer_normalization", {x, gamma, beta}, {y},
        [x, begin_axis, gamma, has_beta = beta.defined(), mean = s.mean,
         inv_std = s.inv_std](const G& g) {
          const kernels::LayerNormWanted wanted{
              .dx = autograd::needs_input_gradient(0),
              .dgamma = gamma.defined() && autograd::needs_input_gradient(1),
              .dbeta = has_beta && autograd::needs_input_gradient(2)};
          kernels::LayerNormGradients r =
              kernels::layer_norm_backward(x, g[0], mean, inv_std, begin_axis, gamma, wanted);
          return G{r.dx, r.dgamma, r.dbeta};
        },
        /*differentiable_backward=*/false);
  }
  return y;
}

namespace {

// The dtype rms_normalization and normalize compute in: float64 for float64, float32 for
// everything else (Keras's result_type(x.dtype, "float32")).
DType normalization_work_dtype(const Tensor& x) {
  return x.dtype() == DType::float64 ? DType::float64 : DType::float32;
}

// Keras expands a scalar to a vector of one before normalizing it.
Tensor at_least_1d(const Tensor& x) {
  return x.rank() == 0 ? reshape(x, Shape({1})) : x;
}

// x's axes checked as the reductions check them, named after the op made of them.
void check_normalization_axes(const Tensor& x, const Axes& axes, const char* op) {
  (void)kernels::reduced_axes(x.rank() == 0 ? Shape({1}) : x.shape(), axes, op);
}

// Where rms_normalization can run the fused kernels: the first of `axes` when they are x's
// trailing axes (each once, in any order; every axis for Axes()), else -1.
int trailing_axes_begin(const Shape& shape, const Axes& axes) {
  if (axes.all()) return 0;
  const int rank = shape.rank();
  std::vector<bool> seen(static_cast<std::size_t>(rank), false);
  int begin = rank;
  for (int a : axes.list()) {
    if (a < -rank || a >= rank) return -1;  // refused by the caller's reduced_axes
    const int n = a < 0 ? a + rank : a;
    if (seen[static_cast<std::size_t>(n)]) return -1;
    seen[static_cast<std::size_t>(n)] = true;
    begin = std::min(begin, n);
  }
  return rank - begin == static_cast<int>(axes.list().size()) ? begin : -1;
}

// Whether `scale` broadcast against `shape` varies along the axes from `begin` only and spans
// them whole (so that it is a per-feature gamma of shape shape[begin:]).
bool is_feature_scale(const Shape& shape, int begin, const Shape& scale) {
  const int offset = shape.rank() - scale.rank();
  if (offset < 0) return false;
  for (int i = 0; i < scale.rank(); ++i) {
    const int a = offset + i;
    if (scale[i] != (a < begin ? 1 : shape[a])) return false;
  }
  return offset <= begin;
}

}  // namespace

Tensor rms_normalization(const Tensor& x, const Tensor& scale, Axes axes, double epsilon) {
  NEURONA_CHECK(std::isfinite(epsilon) && epsilon >= 0, ValueError,
                "rms_normalization: epsilon must be finite and >= 0, got ", epsilon);
  check_normalization_axes(x, axes, "rms_normalization");
  const int begin =
      is_floating(x.dtype()) && x.rank() > 0 ? trailing_axes_begin(x.shape(), axes) : -1;
  if (begin >= 0 && (!scale.defined() || is_feature_scale(x.shape(), begin, scale.shape()))) {
    // Layer normalization's fused kernels with the mean taken as 0; 16-bit x goes as it is (the
    // kernels compute in float32 and round once), the scale in the statistics' dtype.
    const DType stats = normalization_work_dtype(x);
    Tensor gamma;
    if (scale.defined()) {
      std::vector<std::int64_t> dims(x.shape().begin() + begin, x.shape().end());
      gamma = reshape(scale, Shape(std::move(dims)));
      if (gamma.dtype() != stats) gamma = cast(gamma, stats);
    }
    kernels::LayerNormStatistics s;
    Tensor y = kernels::layer_norm_forward(x, begin, gamma, Tensor(), epsilon, &s, /*rms=*/true);
    if (autograd::is_recording()) {
      // One fused backward op for dx and dscale, as layer_normalization's: no second derivative.
      autograd::record(
          "rms_normalization", {x, gamma}, {y},
          [x, begin, gamma, mean = s.mean, inv_std = s.inv_std](const G& g) {
            const kernels::LayerNormWanted wanted{
                .dx = autograd::needs_input_gradient(0),
                .dgamma = gamma.defined() && autograd::needs_input_gradient(1),
                .dbeta = false};
            kernels::LayerNormGradients r = kernels::layer_norm_backward(
                x, g[0], mean, inv_std, begin, gamma, wanted, /*rms=*/true);
            return G{r.dx, r.dgamma};
          },
          /*differentiable_backward=*/false);
    }
    return y;
  }
  const DType work = normalization_work_dtype(x);
  const Tensor xw = at_least_1d(x.dtype() == work ? x : cast(x, work));
  Tensor out = xw * (1.0 / sqrt(mean(square(xw), std::move(axes), /*keepdims=*/true) + epsilon));
  if (scale.defined()) out = out * (scale.dtype() == work ? scale : cast(scale, work));
  return is_floating(x.dtype()) && out.dtype() != x.dtype() ? cast(out, x.dtype()) : out;
}

Tensor normalize(const Tensor& x, Axes axes, int order, double epsilon) {
  NEURONA_CHECK(order >= 1, ValueError, "normalize: Argument `order` must be an int >= 1. ",
                "Received: order=", order);
  NEURONA_CHECK(std::isfinite(epsilon) && epsilon >= 0, ValueError,
                "normalize: epsilon must be finite and >= 0, got ", epsilon);
  check_normalization_axes(x, axes, "normalize");
  const DType work = normalization_work_dtype(x);
  const Tensor xw = at_least_1d(x.dtype() == work ? x : cast(x, work));
  Tensor out;
  if (order == 2) {
    // rsqrt(max(s, epsilon^2)) is Keras's min(rsqrt(s), 1 / epsilon), with a finite gradient
    // where s is 0.
    const Tensor s = sum(square(xw), std::move(axes), /*keepdims=*/true);
    out = xw * (1.0 / sqrt(maximum(s, scalar_like(s, epsilon * epsilon))));
  } else {
    NEURONA_CHECK(!axes.all() && axes.list().size() == 1, ValueError, "normalize: order ", order,
                  " is supported over one axis only (Keras takes ",
                  "several axes as a matrix norm there); got input shape ", x.shape(),
                  axes.all() ? " and every axis" : " and several axes");
    const Tensor a = abs(xw);
    const Tensor norm = order == 1
                            ? sum(a, axes, /*keepdims=*/true)
                            : pow(sum(pow(a, scalar_like(a, order)), axes, /*keepdims=*/true),
                                  scalar_like(a, 1.0 / order));
    out = xw / maximum(norm, scalar_like(norm, epsilon));
  }
  return is_floating(x.dtype()) && out.dtype() != x.dtype() ? cast(out, x.dtype()) : out;
}

RNNFusedOutputs rnn_fused(RNNMode mode, const Tensor& x, const Tensor& h0, const Tensor& c0,
                          const Tensor& kernel, const Tensor& recurrent_kernel, const Tensor& bias,
                          const std::vector<std::int32_t>& lengths) {
  const bool recording = autograd::is_recording();
  kernels::RNNFusedResult r = kernels::rnn_fused_forward(mode, x, h0, c0, kernel, recurrent_kernel,
                                                         bias, lengths, recording);
  if (recording) {
    const bool lstm = mode == RNNMode::lstm;
    std::vector<Tensor> outputs{r.y, r.h};
    if (lstm) outputs.push_back(r.c);
    // One fused backward op for every gradient, as the convolutions': no second derivative.
    autograd::record(
        "rnn_fused", {x, h0, c0, kernel, recurrent_kernel, bias}, outputs,
        [mode, x, h0, c0, kernel, recurrent_kernel, bias, lengths, y = r.y,
         reserve = r.reserve](const G& g) {
          const bool weights = autograd::needs_input_gradient(3) ||
                               autograd::needs_input_gradient(4) ||
                               autograd::needs_input_gradient(5);
          kernels::RNNFusedGradients d = kernels::rnn_fused_backward(
              mode, x, h0, c0, kernel, recurrent_kernel, bias, lengths, y, reserve, g[0], g[1],
              mode == RNNMode::lstm ? g[2] : Tensor(), weights);
          return G{d.dx, d.dh0, d.dc0, d.dkernel, d.drecurrent_kernel, d.dbias};
        },
        /*differentiable_backward=*/false);
  }
  return {r.y, r.h, r.c};
}

Tensor batch_normalization(const Tensor& x, const Tensor& mean, const Tensor& variance, int axis,
                           const Tensor& offset, const Tensor& scale, double epsilon) {
  Tensor y = kernels::batch_norm_inference(x, mean, variance, axis, offset, scale, epsilon);
  if (autograd::is_recording()) {
    autograd::record(
        "batch_normalization", {x, mean, variance, offset, scale}, {y},
        [x, mean, variance, axis, has_offset = offset.defined(), scale, epsilon](const G& g) {
          // x's gradient is the same kernel on g: g * scale / sqrt(variance + epsilon).
          G grads(5);
          if (autograd::needs_input_gradient(0)) {
            grads[0] = batch_normalization(g[0], zeros_like(mean), variance, axis, Tensor(), scale,
                                           epsilon);
          }
          const bool dmean = autograd::needs_input_gradient(1);
          const bool dvariance = autograd::needs_input_gradient(2);
          const bool doffset = has_offset && autograd::needs_input_gradient(3);
          const bool dscale = scale.defined() && autograd::needs_input_gradient(4);
          if (!dmean && !dvariance && !doffset && !dscale) return grads;
          // The rest are per-channel sums, in the statistics' dtype (float32 for 16-bit x).
          const int a = x.shape().normalize_axis(axis, "batch_normalization");
          std::vector<int> others;
          std::vector<std::int64_t> channel_dims(static_cast<std::size_t>(x.rank()), 1);
          for (int i = 0; i < x.rank(); ++i) {
            if (i == a) {
              channel_dims[static_cast<std::size_t>(i)] = x.shape()[i];
            } else {
              others.push_back(i);
            }
          }
          const Shape channel_shape(channel_dims);
          const Tensor gw = cast(g[0], mean.dtype());
          const Tensor inv_std = 1.0 / sqrt(variance + epsilon);
          const Tensor sum_g = sum(gw, Axes(others));
          if (doffset) grads[3] = sum_g;
          if (dmean) grads[1] = neg(scale.defined() ? sum_g * inv_std * scale : sum_g * inv_std);
          if (dscale || dvariance) {
            const Tensor centered = cast(x, mean.dtype()) - reshape(mean, channel_shape);
            const Tensor sum_g_centered = sum(gw * centered, Axes(others));
            if (dscale) grads[4] = sum_g_centered * inv_std;
            if (dvariance) {
              // d/dvariance (variance + epsilon)^(-1/2) = -(1/2) inv_std^3.
              const Tensor d = sum_g_centered * (inv_std * inv_std * inv_std) * -0.5;
              grads[2] = scale.defined() ? d * scale : d;
            }
          }
          return grads;
        });
  }
  return y;
}

// ---- linear algebra and shapes ----------------------------------------------------------

Tensor matmul(const Tensor& a, const Tensor& b, MatmulOptions options) {
  Tensor out = kernels::matmul(a, b, options);
  if (!autograd::is_recording()) return out;
  if (a.rank() == 1 || b.rank() == 1) {
    // Redo with 2-D views (recorded) so that the rule below only sees matrices.
    const Tensor a2 = a.rank() == 1 ? a.reshape({1, a.shape()[0]}) : a;
    const Tensor b2 = b.rank() == 1 ? b.reshape({b.shape()[0], 1}) : b;
    return matmul(a2, b2, options).reshape(out.shape());
  }
  autograd::record("matmul", {a, b}, {out}, [a, b, options](const G& g) {
    const bool ta = options.transpose_a, tb = options.transpose_b;
    // Each product only when its input's gradient is needed (not for a batch of data).
    Tensor da, db;
    if (autograd::needs_input_gradient(0)) {
      if (!ta) {
        da = tb ? matmul(g[0], b) : matmul(g[0], b, {.transpose_b = true});
      } else {
        da = matmul(b, g[0], {.transpose_a = tb, .transpose_b = true});
      }
      da = sum_to_shape(da, a.shape());
    }
    if (autograd::needs_input_gradient(1)) {
      if (!tb) {
        db = ta ? matmul(a, g[0]) : matmul(a, g[0], {.transpose_a = true});
      } else {
        db = matmul(g[0], a, {.transpose_a = true, .transpose_b = ta});
      }
      db = sum_to_shape(db, b.shape());
    }
    return G{da, db};
  });
  return out;
}

Tensor dense(const Tensor& x, const Tensor& kernel, const Tensor& bias,
             FusedActivation activation) {
  Tensor out = kernels::dense(x, kernel, bias, activation);
  if (autograd::is_recording()) {
    std::vector<Tensor> inputs{x, kernel};
    if (bias.defined()) inputs.push_back(bias);
    autograd::record(
        "dense", inputs, {out},
        [x, kernel, has_bias = bias.defined(), out, activation](const G& g) {
          const Tensor gp = activation == FusedActivation::relu ? relu_grad(g[0], out) : g[0];
          G grads{autograd::needs_input_gradient(0) ? matmul(gp, kernel, {.transpose_b = true})
                                                    : Tensor(),
                  Tensor()};
          // Both weight gradients from one call (the bias's reduced in cuBLASLt's epilogue on a
          // GPU), unless a tape records this backward pass for a second derivative.
          if (has_bias && autograd::needs_input_gradient(1) && autograd::needs_input_gradient(2) &&
              !autograd::is_recording()) {
            auto [dkernel, dbias] = kernels::dense_backward_weights_bias(x, gp);
            grads[1] = dkernel;
            grads.push_back(dbias);
            return grads;
          }
          if (autograd::needs_input_gradient(1)) grads[1] = matmul(x, gp, {.transpose_a = true});
          if (has_bias) grads.push_back(autograd::needs_input_gradient(2) ? sum(gp, 0) : Tensor());
          return grads;
        });
  }
  return out;
}

Tensor transpose(const Tensor& x, std::vector<int> perm) {
  Tensor out = kernels::transpose(x, perm);
  if (autograd::is_recording()) {
    const std::vector<int> p = normalized_perm(x, std::move(perm));
    std::vector<int> inverse(p.size());
    for (std::size_t i = 0; i < p.size(); ++i)
      inverse[static_cast<std::size_t>(p[i])] = static_cast<int>(i);
    autograd::record("transpose", {x}, {out},
                     [inverse](const G& g) { return G{transpose(g[0], inverse)}; });
  }
  return out;
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  return x.reshape(shape);
}

Tensor slice(const Tensor& x, std::int64_t start, std::int64_t stop) {
  return kernels::slice(x, start, stop);
}

Tensor concat(const std::vector<Tensor>& tensors, int axis) {
  Tensor out = kernels::concat(tensors, axis);
  if (autograd::is_recording()) {
    const int a = tensors[0].shape().normalize_axis(axis, "concat");
    std::vector<std::int64_t> lengths;
    for (const Tensor& t : tensors) lengths.push_back(t.shape()[a]);
    autograd::record("concat", tensors, {out}, [a, lengths](const G& g) {
      G grads;
      std::int64_t offset = 0;
      for (std::int64_t n : lengths) {
        grads.push_back(narrow(g[0], a, offset, n));
        offset += n;
      }
      return grads;
    });
  }
  return out;
}

Tensor narrow(const Tensor& x, int axis, std::int64_t start, std::int64_t length) {
  Tensor out = kernels::narrow(x, axis, start, length);
  if (autograd::is_recording()) {
    const int a = x.shape().normalize_axis(axis, "narrow");
    const std::int64_t after = x.shape()[a] - start - length;
    autograd::record("narrow", {x}, {out},
                     [a, start, after](const G& g) { return G{pad_axis(g[0], a, start, after)}; });
  }
  return out;
}

Tensor reverse(const Tensor& x, int axis) {
  Tensor out = kernels::reverse(x, axis);
  if (autograd::is_recording()) {
    autograd::record("reverse", {x}, {out}, [axis](const G& g) { return G{reverse(g[0], axis)}; });
  }
  return out;
}

std::vector<Tensor> unstack(const Tensor& x, int axis) {
  NEURONA_CHECK(x.rank() >= 1, ShapeError,
                "unstack: argument x needs at least one axis, got shape ", x.shape());
  const int a = x.shape().normalize_axis(axis, "unstack");
  std::vector<std::int64_t> dims = x.shape().dims();
  const std::int64_t n = dims[static_cast<std::size_t>(a)];
  dims.erase(dims.begin() + a);
  const Shape piece(dims);
  std::vector<Tensor> out;
  out.reserve(static_cast<std::size_t>(n));
  // Copies made by the kernel, not views: no slice or narrow is recorded for them, only the one
  // op below.
  for (std::int64_t i = 0; i < n; ++i) out.push_back(kernels::narrow(x, a, i, 1).reshape(piece));
  if (autograd::is_recording() && n > 0) {
    autograd::record("unstack", {x}, out, [a](const G& g) { return G{stack(g, a)}; });
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int axis) {
  NEURONA_CHECK(!tensors.empty(), ValueError, "stack: needs at least one tensor");
  const Shape& first = tensors[0].shape();
  for (std::size_t i = 1; i < tensors.size(); ++i) {
    NEURONA_CHECK(tensors[i].shape() == first, ShapeError, "stack: tensor ", i, " has shape ",
                  tensors[i].shape(), " but tensor 0 has shape ", first);
  }
  const int rank = first.rank() + 1;
  NEURONA_CHECK(axis >= -rank && axis < rank, ShapeError, "stack: axis ", axis,
                " is out of range for tensors of shape ", first);
  const int a = axis < 0 ? axis + rank : axis;
  std::vector<std::int64_t> dims = first.dims();
  dims.insert(dims.begin() + a, 1);
  const Shape one(dims);
  std::vector<Tensor> pieces;
  pieces.reserve(tensors.size());
  for (const Tensor& t : tensors) pieces.push_back(t.reshape(one));
  return concat(pieces, a);
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  Tensor out = kernels::broadcast_to(x, shape);
  if (autograd::is_recording()) {
    autograd::record("broadcast_to", {x}, {out},
                     [xs = x.shape()](const G& g) { return G{sum_to_shape(g[0], xs)}; });
  }
  return out;
}

Tensor gather(const Tensor& x, const Tensor& indices) {
  Tensor out = kernels::gather(x, indices);
  if (autograd::is_recording()) {
    autograd::record("gather", {x, indices}, {out}, [indices, rows = x.shape()[0]](const G& g) {
      return G{scatter_add_rows(indices, g[0], rows), Tensor()};
    });
  }
  return out;
}

Tensor scatter_add_rows(const Tensor& indices, const Tensor& updates, std::int64_t rows) {
  Tensor out = kernels::scatter_add_rows(indices, updates, rows);
  if (autograd::is_recording()) {
    autograd::record("scatter_add_rows", {indices, updates}, {out}, [indices](const G& g) {
      return G{Tensor(), gather(g[0], indices)};
    });
  }
  return out;
}

// ---- images ----------------------------------------------------------------------------

namespace {
const std::vector<int> kToNhwc = {0, 2, 3, 1}, kToNchw = {0, 3, 1, 2};

// Runs `f` on an NHWC view of x (transposing channels_first in and out, recorded).
template <typename F>
Tensor in_nhwc(const Tensor& x, DataFormat format, F&& f) {
  if (format == DataFormat::ChannelsLast) return f(x);
  NEURONA_CHECK(x.rank() == 4, ShapeError,
                "expected a 4-D input (batch, channels, height, width), got shape ", x.shape());
  return transpose(f(transpose(x, kToNhwc)), kToNchw);
}
}  // namespace

namespace {
// conv2d and conv2d_bias_activation: one recorded op, named after what was asked for (errors
// too), with the bias gradient from the kernel gradient's pass where there is a bias.
Tensor convolution(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                   FusedActivation activation, const ConvOptions& options) {
  const bool plain = !bias.defined() && activation == FusedActivation::linear;
  ConvOptions o = options;
  o.data_format = DataFormat::ChannelsLast;
  return in_nhwc(x, options.data_format, [&](const Tensor& xin) {
    Tensor out = plain ? kernels::conv2d(xin, kernel, o)
                       : kernels::conv2d_bias_activation(xin, kernel, bias, activation, o);
    if (autograd::is_recording()) {
      std::vector<Tensor> inputs{xin, kernel};
      if (bias.defined()) inputs.push_back(bias);
      autograd::record(
          plain ? "conv2d" : "conv2d_bias_activation", inputs, {out},
          [xin, kernel, has_bias = bias.defined(), out, activation, o](const G& g) {
            const Tensor gp =
                activation == FusedActivation::relu ? kernels::relu_grad(g[0], out) : g[0];
            const bool dk = autograd::needs_input_gradient(1);
            const bool db = has_bias && autograd::needs_input_gradient(2);
            // The input's gradient is skipped when nothing asked for depends on it (a
            // network's first layer): it costs as much as the kernel's.
            G grads{autograd::needs_input_gradient(0)
                        ? kernels::conv2d_backward_input(gp, kernel, xin.shape(), o)
                        : Tensor(),
                    Tensor()};
            if (has_bias) grads.emplace_back();
            if (dk && db) {
              std::tie(grads[1], grads[2]) =
                  kernels::conv2d_backward_filter_bias(xin, gp, kernel.shape(), o);
            } else if (dk) {
              grads[1] = kernels::conv2d_backward_filter(xin, gp, kernel.shape(), o);
            } else if (db) {
              grads[2] = kernels::sum(gp, {0, 1, 2});
            }
            return grads;
          },
          /*differentiable_backward=*/false);
    }
    return out;
  });
}
}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& kernel, const ConvOptions& options) {
  return convolution(x, kernel, Tensor(), FusedActivation::linear, options);
}

Tensor conv2d_bias_activation(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                              FusedActivation activation, const ConvOptions& options) {
  return convolution(x, kernel, bias, activation, options);
}

Tensor depthwise_conv2d(const Tensor& x, const Tensor& kernel, const ConvOptions& options) {
  NEURONA_CHECK(kernel.rank() == 4, ShapeError,
                "depthwise_conv2d: expected a 4-D kernel (kernel_h, kernel_w, channels, "
                "depth_multiplier), got shape ",
                kernel.shape());
  NEURONA_CHECK(x.rank() == 4, ShapeError, "depthwise_conv2d: expected a 4-D input, got shape ",
                x.shape());
  NEURONA_CHECK(options.groups == 1, ValueError,
                "depthwise_conv2d: groups is the number of channels here; leave it 1, got ",
                options.groups);
  const std::int64_t channels = x.shape()[options.data_format == DataFormat::ChannelsLast ? 3 : 1];
  const Shape& k = kernel.shape();
  NEURONA_CHECK(channels == k[2], ValueError,
                "depthwise_conv2d: the number of input channels must match the kernel's input "
                "channels. Received: input channels=",
                channels, ", kernel input channels=", k[2], " (input of shape ", x.shape(),
                ", kernel of shape ", k, ")");
  // The window, strides and output size checked under this op's name (conv2d's checks again).
  const Shape& xs = x.shape();
  (void)kernels::conv2d_geometry(
      "depthwise_conv2d",
      options.data_format == DataFormat::ChannelsLast ? xs : Shape({xs[0], xs[2], xs[3], xs[1]}),
      k[0], k[1], k[2] * k[3], options.strides, options.dilation_rate, options.padding, channels);
  ConvOptions o = options;
  o.groups = channels;
  // (kh, kw, c, m) is (kh, kw, 1, c * m) in memory: filter c * m + m' of group c.
  return conv2d(x, reshape(kernel, {k[0], k[1], 1, k[2] * k[3]}), o);
}

Tensor conv2d_transpose(const Tensor& x, const Tensor& kernel,
                        const ConvTransposeOptions& options) {
  ConvTransposeOptions o = options;
  o.data_format = DataFormat::ChannelsLast;
  return in_nhwc(x, options.data_format, [&](const Tensor& xin) {
    Tensor out = kernels::conv2d_transpose(xin, kernel, o);
    if (autograd::is_recording()) {
      autograd::record(
          "conv2d_transpose", {xin, kernel}, {out},
          [xin, kernel, o](const G& g) {
            return G{autograd::needs_input_gradient(0)
                         ? kernels::conv2d_transpose_backward_input(g[0], kernel, xin.shape(), o)
                         : Tensor(),
                     autograd::needs_input_gradient(1)
                         ? kernels::conv2d_transpose_backward_filter(xin, g[0], kernel.shape(), o)
                         : Tensor()};
          },
          /*differentiable_backward=*/false);
    }
    return out;
  });
}

namespace {
Tensor pool(const char* op, bool max, const Tensor& x, const Pool2DOptions& options) {
  Pool2DOptions o = options;
  o.data_format = DataFormat::ChannelsLast;
  return in_nhwc(x, options.data_format, [&](const Tensor& xin) {
    Tensor out = max ? kernels::max_pool2d(xin, o) : kernels::avg_pool2d(xin, o);
    if (autograd::is_recording()) {
      autograd::record(
          op, {xin}, {out},
          [xin, o, max](const G& g) { return G{kernels::pool2d_backward(max, xin, g[0], o)}; },
          /*differentiable_backward=*/false);
    }
    return out;
  });
}
}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2DOptions& options) {
  return pool("max_pool2d", true, x, options);
}
Tensor avg_pool2d(const Tensor& x, const Pool2DOptions& options) {
  return pool("avg_pool2d", false, x, options);
}

Tensor zero_pad2d(const Tensor& x, std::int64_t top, std::int64_t bottom, std::int64_t left,
                  std::int64_t right, DataFormat data_format) {
  if (data_format == DataFormat::ChannelsFirst) {
    NEURONA_CHECK(x.rank() == 4, ShapeError,
                  "zero_pad2d: expected a 4-D input (batch, channels, height, width), got shape ",
                  x.shape());
    // (n, c, h, w) is a batch of n * c one-channel NHWC images: one pass, no transposes.
    const Shape& s = x.shape();
    const Tensor y = zero_pad2d(x.reshape({s[0] * s[1], s[2], s[3], 1}), top, bottom, left, right,
                                DataFormat::ChannelsLast);
    return y.reshape({s[0], s[1], y.shape()[1], y.shape()[2]});
  }
  return in_nhwc(x, data_format, [&](const Tensor& xin) {
    Tensor out = kernels::pad2d(xin, top, bottom, left, right);
    if (autograd::is_recording()) {
      autograd::record("zero_pad2d", {xin}, {out}, [top, bottom, left, right](const G& g) {
        return G{zero_pad2d(g[0], -top, -bottom, -left, -right)};
      });
    }
    return out;
  });
}

namespace {
// The gradient of image_resize, recorded so that its own gradient (image_resize again) gives
// second derivatives.
Tensor image_resize_backward(const Tensor& grad_out, const Shape& images_shape,
                             const ResizeOptions& options) {
  Tensor out = kernels::resize_backward(grad_out, images_shape, options);
  if (autograd::is_recording()) {
    const int h =
        options.data_format == DataFormat::ChannelsLast ? grad_out.rank() - 3 : grad_out.rank() - 2;
    const std::array<std::int64_t, 2> size{grad_out.shape()[h], grad_out.shape()[h + 1]};
    autograd::record("image_resize_backward", {grad_out}, {out},
                     [size, options](const G& g) { return G{image_resize(g[0], size, options)}; });
  }
  return out;
}
}  // namespace

Tensor image_resize(const Tensor& images, const std::array<std::int64_t, 2>& size,
                    const ResizeOptions& options) {
  // Keras's window or frame (kernels::resize's), from recorded ops, then the plain resize.
  const kernels::AspectStep step =
      kernels::aspect_step("image_resize", images.shape(), size, options);
  if (step.kind == kernels::AspectStep::crop) {
    const kernels::ImageBox& b = step.box;
    return image_resize(
        narrow(narrow(images, step.h_axis, b.top, b.height), step.w_axis, b.left, b.width), size,
        step.plain);
  }
  if (step.kind == kernels::AspectStep::pad) {
    const Tensor band = kernels::fill(step.band_shape, options.fill_value,
                                      {.dtype = images.dtype(), .device = images.device()});
    return image_resize(concat({band, images, band}, step.band_axis), size, step.plain);
  }
  Tensor out = kernels::resize(images, size, step.plain);
  if (autograd::is_recording()) {
    autograd::record("image_resize", {images}, {out},
                     [shape = images.shape(), options = step.plain](const G& g) {
                       return G{image_resize_backward(g[0], shape, options)};
                     });
  }
  return out;
}

namespace {
// The gradient of affine_transform, recorded so that its own gradient (affine_transform
// again: the op is linear in the images) gives second derivatives.
Tensor affine_transform_backward(const Tensor& grad_out, const Tensor& transforms,
                                 const Shape& images_shape, const AffineTransformOptions& options) {
  Tensor out = kernels::affine_transform_backward(grad_out, transforms, images_shape, options);
  if (autograd::is_recording()) {
    const int h =
        options.data_format == DataFormat::ChannelsLast ? grad_out.rank() - 3 : grad_out.rank() - 2;
    AffineTransformOptions forward = options;
    forward.fill_value = 0.0;  // the gradient is linear: the fill's constant drops out
    forward.output_size = std::array<std::int64_t, 2>{grad_out.shape()[h], grad_out.shape()[h + 1]};
    autograd::record("affine_transform_backward", {grad_out}, {out},
                     [transforms, forward](const G& g) {
                       return G{affine_transform(g[0], transforms, forward)};
                     });
  }
  return out;
}
}  // namespace

Tensor affine_transform(const Tensor& images, const Tensor& transforms,
                        const AffineTransformOptions& options) {
  Tensor out = kernels::affine_transform(images, transforms, options);
  if (autograd::is_recording()) {
    autograd::record("affine_transform", {images}, {out},
                     [transforms, shape = images.shape(), options](const G& g) {
                       return G{affine_transform_backward(g[0], transforms, shape, options)};
                     });
  }
  return out;
}

// ---- operators --------------------------------------------------------------------------

Tensor operator+(const Tensor& x, const Tensor& y) {
  return add(x, y);
}
Tensor operator-(const Tensor& x, const Tensor& y) {
  return subtract(x, y);
}
Tensor operator*(const Tensor& x, const Tensor& y) {
  return multiply(x, y);
}
Tensor operator/(const Tensor& x, const Tensor& y) {
  return divide(x, y);
}
Tensor operator-(const Tensor& x) {
  return neg(x);
}
Tensor operator+(const Tensor& x, double y) {
  return add(x, operand("add", x, y));
}
Tensor operator-(const Tensor& x, double y) {
  return subtract(x, operand("subtract", x, y));
}
Tensor operator*(const Tensor& x, double y) {
  return multiply(x, operand("multiply", x, y));
}
Tensor operator/(const Tensor& x, double y) {
  // Integers divide into float32 (true division): so does the number, whatever it is.
  if (!is_floating(x.dtype())) return cast(x, DType::float32) / y;
  return divide(x, operand("divide", x, y));
}
Tensor operator+(double x, const Tensor& y) {
  return add(operand("add", y, x), y);
}
Tensor operator-(double x, const Tensor& y) {
  return subtract(operand("subtract", y, x), y);
}
Tensor operator*(double x, const Tensor& y) {
  return multiply(operand("multiply", y, x), y);
}
Tensor operator/(double x, const Tensor& y) {
  if (!is_floating(y.dtype())) return x / cast(y, DType::float32);
  return divide(operand("divide", y, x), y);
}

}  // namespace neurona
