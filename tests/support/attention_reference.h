// A naive float64 scaled dot-product attention for the attention tests: the whole (Tq, Tk)
// softmax materialised per batch and head, Keras's semantics (masked logits replaced by a large
// negative number; causal = tril(ones(Tq, Tk))), dropout regenerated from Philox independently of
// the kernels' arithmetic, and the gradients written out from the materialised matrices.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "neurona/core/philox.h"

namespace neurona::testing {

struct AttentionCase {
  std::int64_t b, tq, tk, n, nk, h, hv;
  bool causal = false;
  /// The local window (jax's local_window_size): keys i - window_left .. i + window_right; -1:
  /// unbounded on that side.
  std::int64_t window_left = -1, window_right = -1;
  double scale = 0;  // 0: 1 / sqrt(h)
  double dropout = 0;
  RandomKey key{};
  /// The mask, already broadcast to (b, n, tq, tk); empty: none.
  std::vector<std::uint8_t> mask{};
};

struct AttentionReference {
  std::vector<double> out, lse, dq, dk, dv;
};

/// Dropout's multiplier of element e of the (b, n, tq, tk) matrix: word e % 4 of Philox counter
/// e / 4, kept below round((1 - rate) 2^24) in its top 24 bits.
inline double reference_dropout(const AttentionCase& c, std::uint64_t e) {
  if (c.dropout == 0) return 1.0;
  const Philox4x32 w = philox_words(c.key, e / 4, 0);
  const auto keep = static_cast<std::uint32_t>(std::llround((1.0 - c.dropout) * 16777216.0));
  return (w.v[e % 4] >> 8) < keep ? 1.0 / (1.0 - c.dropout) : 0.0;
}

inline AttentionReference attention_reference(const AttentionCase& c, const std::vector<double>& q,
                                              const std::vector<double>& k,
                                              const std::vector<double>& v,
                                              const std::vector<double>& dout) {
  const double scale = c.scale != 0 ? c.scale : 1.0 / std::sqrt(static_cast<double>(c.h));
  const std::int64_t group = c.n / c.nk;
  AttentionReference r;
  r.out.assign(static_cast<std::size_t>(c.b * c.tq * c.n * c.hv), 0.0);
  r.lse.assign(static_cast<std::size_t>(c.b * c.n * c.tq), 0.0);
  r.dq.assign(q.size(), 0.0);
  r.dk.assign(k.size(), 0.0);
  r.dv.assign(v.size(), 0.0);
  auto Q = [&](std::int64_t b, std::int64_t i, std::int64_t n, std::int64_t x) -> std::size_t {
    return static_cast<std::size_t>(((b * c.tq + i) * c.n + n) * c.h + x);
  };
  auto O = [&](std::int64_t b, std::int64_t i, std::int64_t n, std::int64_t x) -> std::size_t {
    return static_cast<std::size_t>(((b * c.tq + i) * c.n + n) * c.hv + x);
  };
  auto K = [&](std::int64_t b, std::int64_t j, std::int64_t n, std::int64_t x) -> std::size_t {
    return static_cast<std::size_t>(((b * c.tk + j) * c.nk + n) * c.h + x);
  };
  auto V = [&](std::int64_t b, std::int64_t j, std::int64_t n, std::int64_t x) -> std::size_t {
    return static_cast<std::size_t>(((b * c.tk + j) * c.nk + n) * c.hv + x);
  };
  const auto tk = static_cast<std::size_t>(c.tk);
  for (std::int64_t b = 0; b < c.b; ++b) {
    for (std::int64_t n = 0; n < c.n; ++n) {
      const std::int64_t nk = n / group;
      for (std::int64_t i = 0; i < c.tq; ++i) {
        const std::int64_t row = (b * c.n + n) * c.tq + i;
        std::vector<double> s(tk), p(tk), z(tk), dp(tk);
        std::vector<bool> visible(tk);
        double m = -1e300;
        for (std::int64_t j = 0; j < c.tk; ++j) {
          bool vis = !(c.causal && j > i);
          if (c.window_left >= 0 && j < i - c.window_left) vis = false;
          if (c.window_right >= 0 && j > i + c.window_right) vis = false;
          if (!c.mask.empty()) vis = vis && c.mask[static_cast<std::size_t>(row * c.tk + j)] != 0;
          double dot = 0;
          for (std::int64_t x = 0; x < c.h; ++x) dot += q[Q(b, i, n, x)] * k[K(b, j, nk, x)];
          const auto sj = static_cast<std::size_t>(j);
          visible[sj] = vis;
          s[sj] = vis ? dot * scale : -1e30;
          m = std::max(m, s[sj]);
        }
        double sum = 0;
        for (std::size_t j = 0; j < tk; ++j) sum += std::exp(s[j] - m);
        bool any = false;
        for (std::size_t j = 0; j < tk; ++j) any = any || visible[j];
        r.lse[static_cast<std::size_t>(row)] = any ? m + std::log(sum) : -INFINITY;
        double dsum = 0;
        for (std::int64_t j = 0; j < c.tk; ++j) {
          const auto sj = static_cast<std::size_t>(j);
          p[sj] = std::exp(s[sj] - m) / sum;
          z[sj] = reference_dropout(c, static_cast<std::uint64_t>(row * c.tk + j));
          for (std::int64_t x = 0; x < c.hv; ++x) {
            r.out[O(b, i, n, x)] += p[sj] * z[sj] * v[V(b, j, nk, x)];
          }
        }
        for (std::int64_t j = 0; j < c.tk; ++j) {
          const auto sj = static_cast<std::size_t>(j);
          double d = 0;
          for (std::int64_t x = 0; x < c.hv; ++x) d += dout[O(b, i, n, x)] * v[V(b, j, nk, x)];
          dp[sj] = d * z[sj];
          dsum += p[sj] * dp[sj];
          for (std::int64_t x = 0; x < c.hv; ++x) {
            r.dv[V(b, j, nk, x)] += p[sj] * z[sj] * dout[O(b, i, n, x)];
          }
        }
        for (std::int64_t j = 0; j < c.tk; ++j) {
          const auto sj = static_cast<std::size_t>(j);
          const double ds = visible[sj] ? p[sj] * (dp[sj] - dsum) * scale : 0.0;
          for (std::int64_t x = 0; x < c.h; ++x) {
            r.dq[Q(b, i, n, x)] += ds * k[K(b, j, nk, x)];
            r.dk[K(b, j, nk, x)] += ds * q[Q(b, i, n, x)];
          }
        }
      }
    }
  }
  return r;
}

}  // namespace neurona::testing
