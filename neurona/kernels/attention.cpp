// Front doors of the fused scaled dot-product attention: argument checks (naming the op, the
// argument and the shapes), the mask made uint8 with broadcast strides, the dropout key and
// threshold, the 16-bit widening where a device's kernel takes float32 and float64 only (the
// CPU's), and dispatch.
#include "neurona/kernels/attention.h"

#include <cmath>
#include <limits>

#include "neurona/kernels/attention_stubs.h"
#include "neurona/kernels/checks.h"
#include "neurona/kernels/creation.h"
#include "neurona/kernels/elementwise.h"
#include "neurona/kernels/widen.h"

namespace neurona::kernels {

DispatchStub<AttentionForwardFn> attention_forward_stub{"dot_product_attention"};
DispatchStub<AttentionBackwardFn> attention_backward_stub{"dot_product_attention_backward"};

namespace {

DType lse_dtype(DType x) {
  return x == DType::float64 ? DType::float64 : DType::float32;
}

void check_rank4(const char* op, const char* arg, const Tensor& t) {
  NEURONA_CHECK(t.rank() == 4, ShapeError, op, ": argument ", arg,
                " must have rank 4 (batch, sequence, heads, head_dim), got shape ", t.shape());
}

// The geometry of (query, key, value), checked; the mask's strides are filled by prepare_mask.
AttentionGeometry geometry(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                           const AttentionOptions& o) {
  check_rank4(op, "query", q);
  check_rank4(op, "key", k);
  check_rank4(op, "value", v);
  NEURONA_CHECK(is_floating(q.dtype()), ValueError, op,
                ": argument query must be float32, float64, bfloat16 or float16, got ", q.dtype());
  check_same_dtype(op, {{"query", &q}, {"key", &k}, {"value", &v}});
  const Shape& qs = q.shape();
  const Shape& ks = k.shape();
  const Shape& vs = v.shape();
  NEURONA_CHECK(ks[0] == qs[0] && vs[0] == qs[0], ShapeError, op,
                ": query, key and value must have the same batch size, got shapes ", qs, ", ", ks,
                " and ", vs);
  NEURONA_CHECK(ks[1] == vs[1] && ks[2] == vs[2], ShapeError, op,
                ": key and value must have the same sequence length and number of heads, got "
                "shapes ",
                ks, " and ", vs);
  NEURONA_CHECK(ks[3] == qs[3], ShapeError, op, ": query and key must have the same head_dim, got ",
                "shapes ", qs, " and ", ks);
  NEURONA_CHECK(qs[3] > 0, ShapeError, op,
                ": query and key need a head_dim (their last axis) above 0, got shapes ", qs,
                " and ", ks);
  NEURONA_CHECK(ks[2] > 0 && qs[2] % ks[2] == 0, ShapeError, op,
                ": query's number of heads must be a multiple of key's (grouped-query "
                "attention), got shapes ",
                qs, " and ", ks);
  AttentionGeometry g;
  g.batch = qs[0];
  g.tq = qs[1];
  g.heads = qs[2];
  g.head_dim = qs[3];
  g.tk = ks[1];
  g.kv_heads = ks[2];
  g.value_dim = vs[3];
  g.causal = o.is_causal;
  if (o.local_window_size) {
    const auto [left, right] = *o.local_window_size;
    NEURONA_CHECK(left >= 0 && right >= 0, ValueError, op,
                  ": local_window_size must be two non-negative ints (left, right), got (", left,
                  ", ", right, ")");
    g.window_left = left;
    g.window_right = right;
  }
  g.scale = o.scale ? *o.scale : 1.0 / std::sqrt(static_cast<double>(g.head_dim));
  NEURONA_CHECK(std::isfinite(g.scale), ValueError, op, ": scale must be finite, got ", g.scale);
  NEURONA_CHECK(std::isfinite(o.dropout_rate) && o.dropout_rate >= 0 && o.dropout_rate < 1,
                ValueError, op, ": dropout rate must be in [0, 1), got ", o.dropout_rate);
  if (o.dropout_rate > 0) {
    g.dropout.enabled = true;
    g.dropout.keep_below =
        static_cast<std::uint32_t>(std::llround((1.0 - o.dropout_rate) * double(1u << 24)));
    g.dropout.scale = 1.0 / (1.0 - o.dropout_rate);
    g.dropout.key = o.dropout_key;
    g.dropout.offset = o.dropout_offset;
    if (o.dropout_key_state.defined()) {
      const Tensor& s = o.dropout_key_state;
      NEURONA_CHECK(s.dtype() == DType::int64 && s.shape() == Shape({2}), ValueError, op,
                    ": argument dropout_key_state must be int64 of shape (2,) (seed, counter), "
                    "got ",
                    s.dtype(), " of shape ", s.shape());
      NEURONA_CHECK(s.device() == q.device(), ValueError, op, ": argument dropout_key_state is on ",
                    s.device(), " but query is on ", q.device(), "; move one with .to(device)");
      g.dropout.key_state = s.data<std::int64_t>();
    }
  }
  NEURONA_CHECK(o.dropout_offset >= 0, ValueError, op, ": dropout_offset must be >= 0, got ",
                o.dropout_offset);
  return g;
}

// The mask as uint8 (1: attend) and its strides over (B, N, Tq, Tk), or undefined.
Tensor prepare_mask(const char* op, const Tensor& mask, Device d, AttentionGeometry& g) {
  if (!mask.defined()) return Tensor();
  NEURONA_CHECK(mask.device() == d, ValueError, op, ": argument mask is on ", mask.device(),
                " but query is on ", d, "; move one with .to(device)");
  const Shape target{g.batch, g.heads, g.tq, g.tk};
  const Shape& ms = mask.shape();
  NEURONA_CHECK(mask.rank() <= 4, ShapeError, op, ": argument mask of shape ", ms,
                " must broadcast to (batch, heads, query length, key length) = ", target);
  std::int64_t dims[4] = {1, 1, 1, 1};
  for (int a = 0; a < mask.rank(); ++a) dims[4 - mask.rank() + a] = ms[a];
  std::int64_t strides[4];
  std::int64_t stride = 1;
  for (int a = 3; a >= 0; --a) {
    NEURONA_CHECK(dims[a] == 1 || dims[a] == target[a], ShapeError, op, ": argument mask of shape ",
                  ms, " does not broadcast to (batch, heads, query length, key length) = ", target);
    strides[a] = dims[a] == 1 ? 0 : stride;
    stride *= dims[a];
  }
  g.has_mask = true;
  g.mask = {strides[0], strides[1], strides[2], strides[3]};
  if (mask.dtype() == DType::uint8) return mask;
  return not_equal(mask, scalar_like(mask, 0.0));
}

void check_like(const char* op, const char* arg, const Tensor& t, const Shape& shape, DType dtype,
                Device d) {
  NEURONA_CHECK(t.defined(), ValueError, op, ": argument ", arg, " is an undefined tensor");
  NEURONA_CHECK(t.shape() == shape && t.dtype() == dtype, ShapeError, op, ": argument ", arg,
                " has shape ", t.shape(), " and dtype ", t.dtype(), "; expected shape ", shape,
                " and dtype ", dtype);
  NEURONA_CHECK(t.device() == d, ValueError, op, ": argument ", arg, " is on ", t.device(),
                " but query is on ", d, "; move one with .to(device)");
}

Shape out_shape(const AttentionGeometry& g) {
  return {g.batch, g.tq, g.heads, g.value_dim};
}

}  // namespace

AttentionForward attention_forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const AttentionOptions& options) {
  constexpr const char* op = "dot_product_attention";
  const Device d = check_same_device(op, {{"query", &query}, {"key", &key}, {"value", &value}});
  AttentionGeometry g = geometry(op, query, key, value, options);
  const Tensor mask = prepare_mask(op, options.mask, d, g);
  AttentionForward r;
  r.out = Tensor::empty(out_shape(g), query.dtype(), d);
  if (g.batch * g.heads * g.tq == 0 || g.tk == 0) {
    // No queries, or no keys: the sums over none are 0 (Keras's einsum over an empty axis).
    r.out = zeros(out_shape(g), {.dtype = query.dtype(), .device = d});
    r.lse = fill({g.batch, g.heads, g.tq}, -std::numeric_limits<double>::infinity(),
                 {.dtype = lse_dtype(query.dtype()), .device = d});
    return r;
  }
  // (head_dim 0 gives logits 0, value_dim 0 an empty output but the lse: the kernels take both.)
  r.lse = Tensor::empty({g.batch, g.heads, g.tq}, lse_dtype(query.dtype()), d);
  if (attention_forward_stub.widens(d, query.dtype())) {
    Tensor wide = wide_like(r.out);
    attention_forward_stub.get(d, DType::float32)(widen(query), widen(key), widen(value), mask, g,
                                                  wide, r.lse);
    narrow_into(wide, r.out);
  } else {
    attention_forward_stub.get(d, query.dtype())(query, key, value, mask, g, r.out, r.lse);
  }
  return r;
}

AttentionGradients attention_backward(const Tensor& grad_out, const Tensor& query,
                                      const Tensor& key, const Tensor& value, const Tensor& out,
                                      const Tensor& lse, const AttentionOptions& options) {
  constexpr const char* op = "dot_product_attention_backward";
  const Device d = check_same_device(op, {{"query", &query}, {"key", &key}, {"value", &value}});
  AttentionGeometry g = geometry(op, query, key, value, options);
  const Tensor mask = prepare_mask(op, options.mask, d, g);
  check_like(op, "grad_out", grad_out, out_shape(g), query.dtype(), d);
  check_like(op, "out", out, out_shape(g), query.dtype(), d);
  check_like(op, "lse", lse, Shape{g.batch, g.heads, g.tq}, lse_dtype(query.dtype()), d);
  AttentionGradients r;
  if (g.batch * g.heads * g.tq == 0 || g.tk == 0) {
    r.dquery = zeros(query.shape(), {.dtype = query.dtype(), .device = d});
    r.dkey = zeros(key.shape(), {.dtype = key.dtype(), .device = d});
    r.dvalue = zeros(value.shape(), {.dtype = value.dtype(), .device = d});
    return r;
  }
  r.dquery = Tensor::empty(query.shape(), query.dtype(), d);
  r.dkey = Tensor::empty(key.shape(), key.dtype(), d);
  r.dvalue = Tensor::empty(value.shape(), value.dtype(), d);
  if (attention_backward_stub.widens(d, query.dtype())) {
    Tensor dq = wide_like(r.dquery), dk = wide_like(r.dkey), dv = wide_like(r.dvalue);
    attention_backward_stub.get(d, DType::float32)(widen(grad_out), widen(query), widen(key),
                                                   widen(value), widen(out), lse, mask, g, dq, dk,
                                                   dv);
    narrow_into(dq, r.dquery);
    narrow_into(dk, r.dkey);
    narrow_into(dv, r.dvalue);
  } else {
    attention_backward_stub.get(d, query.dtype())(grad_out, query, key, value, out, lse, mask, g,
                                                  r.dquery, r.dkey, r.dvalue);
  }
  return r;
}

}  // namespace neurona::kernels
