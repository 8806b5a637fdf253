// CPU kernels of the fused scaled dot-product attention (arithmetic in math/attention_ops.h): a
// blocked flash attention. Forward: one task per (batch, head, block of kQ query rows), OpenMP
// over the tasks; each walks the key blocks of kK keys, holding a kQ x kK block of logits, its
// rows' online-softmax state and output accumulators (with head dims up to 256, under 200 KiB in
// float32: the key and value rows of a block stay in L2 while the query block walks them).
// Backward, deterministic and without atomics: D = rowsum(dO * O), then, where the (batch, key
// head) pairs keep the threads busy, one pass per pair that owns its heads' dK, dV and dQ and
// computes each block's probabilities once from the lse (five block GEMMs a pair of blocks);
// where they are too few, two passes that split a head's keys and queries across the threads:
// one over (batch, key head, key block) for dK and dV (summing the group's query heads), one over
// (batch, head, query block) for dQ, each recomputing the probabilities (seven GEMMs a pair of
// blocks, the price of no shared accumulators). Both sum every gradient in the same order, so
// they give the same bits (where the inputs are finite: a pair of blocks whose keys are all
// hidden, which one path may visit and the other skip, adds 0 * dO and 0 * Q, NaN for an
// infinite dO or Q; and a gradient of exactly -0 may come out +0; with a BLAS whose results do
// not depend on where C lies, as OpenBLAS's). The block products (Q K^T, P V, dO V^T, dS^T Q, P^T
// dO, dS K) are OpenBLAS GEMMs on the task's thread (blas.h), the element-wise softmax, masking and
// dropout in between loops over the block. float32 (accumulated in float32) and float64; the front
// door widens 16-bit data.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "neurona/kernels/attention_stubs.h"
#include "neurona/kernels/cpu/blas.h"
#include "neurona/kernels/cpu/lanes.h"
#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/cpu/vector_math.h"
#include "neurona/kernels/math/attention_ops.h"

namespace neurona::kernels::cpu {

namespace {

constexpr std::int64_t kQ = 32;  // query rows per block
constexpr std::int64_t kK = 64;  // keys per block

std::int64_t blocks(std::int64_t n, std::int64_t b) {
  return (n + b - 1) / b;
}

// Runs body(task) for task in [0, tasks), in parallel when the work is worth the threads.
template <typename F>
void for_each_task(std::int64_t tasks, std::int64_t work, const F& body) {
#pragma omp parallel for schedule(dynamic, 1) if (tasks > 1 && work >= kParallelGrain)
  for (std::int64_t t = 0; t < tasks; ++t) body(t);
}

template <typename T>
T dot(const T* a, const T* b, std::int64_t n) {
  T s = 0;
  for (std::int64_t h = 0; h < n; ++h) s += a[h] * b[h];
  return s;
}

// The kernels' view of their arguments, and the row strides of the (B, T, heads, dim) tensors
// along T: the rows of one head are a strided matrix that GEMM reads in place.
template <typename T>
struct Args {
  const AttentionGeometry& g;
  const T* q;
  const T* k;
  const T* v;
  const std::uint8_t* mask;

  std::int64_t ldq() const { return g.heads * g.head_dim; }
  std::int64_t ldk() const { return g.kv_heads * g.head_dim; }
  std::int64_t ldv() const { return g.kv_heads * g.value_dim; }
  std::int64_t ldo() const { return g.heads * g.value_dim; }
};

// Logits of query rows [i0, i1) of (b, n) against keys [j0, j1) into s (row stride kK): scale *
// Q K^T, hidden keys replaced by attention_hidden_logit.
template <typename T>
void block_logits(const Args<T>& a, std::int64_t b, std::int64_t n, std::int64_t i0,
                  std::int64_t i1, std::int64_t j0, std::int64_t j1, T* s) {
  const AttentionGeometry& g = a.g;
  const std::int64_t nk = n / g.group();
  gemm<T>(false, true, i1 - i0, j1 - j0, g.head_dim, static_cast<T>(g.scale),
          a.q + g.q_offset(b, n, i0), a.ldq(), a.k + g.k_offset(b, nk, j0), a.ldk(), T(0), s, kK);
  if (!g.causal && !g.windowed() && a.mask == nullptr) return;
  const T hidden = attention_hidden_logit<T>();
  for (std::int64_t i = i0; i < i1; ++i) {
    T* si = s + (i - i0) * kK;
    const auto [lo, hi] = attention_unhidden_keys(g, i, j0, j1);
    std::fill(si, si + (lo - j0), hidden);
    std::fill(si + (hi - j0), si + (j1 - j0), hidden);
    if (a.mask == nullptr) continue;
    for (std::int64_t j = lo; j < hi; ++j) {
      if (!attention_visible(g, a.mask, b, n, i, j)) si[j - j0] = hidden;
    }
  }
}

// row[j] = attention_exp(row[j] - shift) for j < n: float32 on glibc's SIMD expf
// (cpu/vector_math.h), float64 with the scalar exp.
template <typename T>
void row_exp(T* row, T shift, std::int64_t n) {
  if constexpr (std::is_same_v<T, float>) {
    vector_attention_exp(row, shift, row, n);
  } else {
    for (std::int64_t j = 0; j < n; ++j) row[j] = attention_exp(row[j] - shift);
  }
}

// The first key block that query rows [i0, ...) visit: blocks before it are hidden from them
// by the window (AttentionGeometry::keys_begin; the loops end at keys_end).
std::int64_t first_key_block(const AttentionGeometry& g, std::int64_t i0) {
  return g.keys_begin(i0) / kK * kK;
}

template <typename T>
void forward_typed(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                   const AttentionGeometry& g, Tensor& out, Tensor& lse) {
  const Args<T> a{g, q.data<T>(), k.data<T>(), v.data<T>(),
                  mask.defined() ? mask.data<std::uint8_t>() : nullptr};
  T* const o = out.data<T>();
  T* const lse_p = lse.data<T>();
  const std::int64_t qblocks = blocks(g.tq, kQ);
  const std::int64_t tasks = g.batch * g.heads * qblocks;
  const std::int64_t hv = g.value_dim;
  for_each_task(tasks, g.batch * g.heads * g.tq * g.tk * (g.head_dim + hv), [&](std::int64_t t) {
    const std::int64_t qb = t % qblocks, bn = t / qblocks;
    const std::int64_t b = bn / g.heads, n = bn % g.heads, nk = n / g.group();
    const std::int64_t i0 = qb * kQ, i1 = std::min(g.tq, i0 + kQ), rows = i1 - i0;
    std::vector<T> s(static_cast<std::size_t>(kQ * kK));
    std::vector<T> acc(static_cast<std::size_t>(rows * hv), T(0));
    std::vector<OnlineSoftmax<T>> state(static_cast<std::size_t>(rows), online_softmax_start<T>());
    for (std::int64_t j0 = first_key_block(g, i0); j0 < g.keys_end(i1); j0 += kK) {
      const std::int64_t j1 = std::min(g.tk, j0 + kK), cols = j1 - j0;
      block_logits(a, b, n, i0, i1, j0, j1, s.data());
      // Each row: the online softmax moved to the block's maximum, the accumulator rescaled,
      // and the logits replaced by the (dropped-out) probabilities that multiply V.
      for (std::int64_t r = 0; r < rows; ++r) {
        T* sr = s.data() + r * kK;
        T* ar = acc.data() + r * hv;
        OnlineSoftmax<T>& st = state[static_cast<std::size_t>(r)];
        const T alpha = online_softmax_rescale(st, lane_max(sr, cols));
        for (std::int64_t c = 0; c < hv; ++c) ar[c] *= alpha;
        row_exp(sr, st.max, cols);
        st.sum += lane_sum<T>(cols, [sr](std::int64_t j) { return sr[j]; });
        if (g.dropout.enabled) {
          const std::int64_t row = g.row(b, n, i0 + r);
          for (std::int64_t j = 0; j < cols; ++j) {
            sr[j] *= attention_dropout_factor<T>(g.dropout, row, g.tk, j0 + j);
          }
        }
      }
      // acc (rows x hv) += P (rows x cols) V (cols x hv)
      gemm<T>(false, false, rows, hv, cols, T(1), s.data(), kK, a.v + g.v_offset(b, nk, j0),
              a.ldv(), T(1), acc.data(), hv);
    }
    for (std::int64_t r = 0; r < rows; ++r) {
      const OnlineSoftmax<T>& st = state[static_cast<std::size_t>(r)];
      const T inv = T(1) / st.sum;
      T* orow = o + g.o_offset(b, n, i0 + r);
      for (std::int64_t c = 0; c < hv; ++c)
        orow[c] = acc[static_cast<std::size_t>(r * hv + c)] * inv;
      lse_p[g.row(b, n, i0 + r)] = online_softmax_lse(st);
    }
  });
}

// For query rows [i0, i1) of (b, n) and keys [j0, j1): the logits' gradients ds (row stride kK,
// unscaled: the logit is scale * q.k) and, where pz is given, the dropped-out probabilities p * z
// that dV needs. s is scratch of kQ x kK.
template <typename T>
void block_logit_gradients(const Args<T>& a, const T* dout, const T* lse, const T* dsum,
                           std::int64_t b, std::int64_t n, std::int64_t i0, std::int64_t i1,
                           std::int64_t j0, std::int64_t j1, T* s, T* ds, T* pz) {
  const AttentionGeometry& g = a.g;
  const std::int64_t nk = n / g.group();
  const T uniform = T(1) / static_cast<T>(g.tk);
  block_logits(a, b, n, i0, i1, j0, j1, s);
  // dP = dO V^T (rows x cols), into ds.
  gemm<T>(false, true, i1 - i0, j1 - j0, g.value_dim, T(1), dout + g.o_offset(b, n, i0), a.ldo(),
          a.v + g.v_offset(b, nk, j0), a.ldv(), T(0), ds, kK);
  for (std::int64_t i = i0; i < i1; ++i) {
    const std::int64_t row = g.row(b, n, i);
    // The probabilities, in place of the logits (attention_probability).
    T* si = s + (i - i0) * kK;
    if (lse[row] == -std::numeric_limits<T>::infinity()) {
      std::fill_n(si, j1 - j0, uniform);
    } else {
      row_exp(si, lse[row], j1 - j0);
    }
    if (a.mask == nullptr && !g.dropout.enabled) {
      // The hidden keys a range (attention_unhidden_keys), z = 1: loops the compiler vectorizes.
      const auto [lo, hi] = attention_unhidden_keys(g, i, j0, j1);
      T* dsi = ds + (i - i0) * kK;
      const T d = dsum[row];
      std::fill(dsi, dsi + (lo - j0), T(0));
      for (std::int64_t j = lo - j0; j < hi - j0; ++j) {
        dsi[j] = attention_logit_gradient(true, si[j], dsi[j], T(1), d);
      }
      std::fill(dsi + (hi - j0), dsi + (j1 - j0), T(0));
      if (pz != nullptr) std::copy(si, si + (j1 - j0), pz + (i - i0) * kK);
      continue;
    }
    for (std::int64_t j = j0; j < j1; ++j) {
      const std::int64_t at = (i - i0) * kK + (j - j0);
      const T p = s[at];
      const T z = attention_dropout_factor<T>(g.dropout, row, g.tk, j);
      ds[at] = attention_logit_gradient(attention_visible(g, a.mask, b, n, i, j), p, ds[at], z,
                                        dsum[row]);
      if (pz != nullptr) pz[at] = p * z;
    }
  }
}

// Whether the backward pass's one pass (a task per (batch, key head) pair: five block GEMMs
// where the two passes take seven, so about 5/7 of their work) beats the two passes, whose
// tasks split the pairs' keys and queries across the threads: the one pass's busiest thread
// does ceil(pairs / threads) pairs' work at 5/7, the two passes share the work evenly. The one
// pass also holds a pair's dK and dV for every key, `accumulator_bytes` a task: above 16 MiB
// (tk = 32768 at head dims of 64 in float32) the two passes' block-sized ones are taken.
bool one_pass_pays(std::int64_t pairs, std::int64_t threads, std::int64_t accumulator_bytes) {
  if (accumulator_bytes > (std::int64_t{16} << 20)) return false;
  const std::int64_t rounds = (pairs + threads - 1) / threads;
  return 5 * rounds * threads <= 7 * pairs;
}

template <typename T>
void backward_typed(const Tensor& grad_out, const Tensor& q, const Tensor& k, const Tensor& v,
                    const Tensor& out, const Tensor& lse, const Tensor& mask,
                    const AttentionGeometry& g, Tensor& dq, Tensor& dk, Tensor& dv) {
  const Args<T> a{g, q.data<T>(), k.data<T>(), v.data<T>(),
                  mask.defined() ? mask.data<std::uint8_t>() : nullptr};
  const T* const dout = grad_out.data<T>();
  const T* const o = out.data<T>();
  const T* const lse_p = lse.data<T>();
  const std::int64_t h = g.head_dim, hv = g.value_dim, group = g.group();
  const T scale = static_cast<T>(g.scale);
  const std::int64_t work = g.batch * g.heads * g.tq * g.tk * (h + hv);

  // D = rowsum(dO * O), per query row.
  std::vector<T> dsum(static_cast<std::size_t>(g.batch * g.heads * g.tq));
  Launch{}(g.batch * g.heads * g.tq, hv, [&](std::int64_t r) {
    const std::int64_t i = r % g.tq, bn = r / g.tq;
    const std::int64_t b = bn / g.heads, n = bn % g.heads;
    dsum[static_cast<std::size_t>(r)] =
        dot(dout + g.o_offset(b, n, i), o + g.o_offset(b, n, i), hv);
  });

  const std::int64_t kblocks = blocks(g.tk, kK), qblocks = blocks(g.tq, kQ);
  T* const dq_p = dq.data<T>();
  T* const dk_p = dk.data<T>();
  T* const dv_p = dv.data<T>();
  // Writes dK and dV of key rows [j0, j0 + cols) of (b, nk) from their accumulators (dK scaled).
  const auto store_dk_dv = [&](std::int64_t b, std::int64_t nk, std::int64_t j0, std::int64_t cols,
                               const T* dk_acc, const T* dv_acc) {
    for (std::int64_t c = 0; c < cols; ++c) {
      T* dkr = dk_p + g.k_offset(b, nk, j0 + c);
      T* dvr = dv_p + g.v_offset(b, nk, j0 + c);
      for (std::int64_t x = 0; x < h; ++x) dkr[x] = dk_acc[c * h + x] * scale;
      for (std::int64_t x = 0; x < hv; ++x) dvr[x] = dv_acc[c * hv + x];
    }
  };
  // Writes dQ of query rows [i0, i0 + rows) of (b, n) from its accumulator (scaled).
  const auto store_dq = [&](std::int64_t b, std::int64_t n, std::int64_t i0, std::int64_t rows,
                            const T* dq_acc) {
    for (std::int64_t r = 0; r < rows; ++r) {
      T* dqr = dq_p + g.q_offset(b, n, i0 + r);
      for (std::int64_t x = 0; x < h; ++x) dqr[x] = dq_acc[r * h + x] * scale;
    }
  };

  // One pass: a task per (b, key head) over the group's heads, their query blocks and, in each,
  // the key blocks it sees (the dQ pass's order below, which visits the same pairs of blocks as
  // the dK/dV pass's up to pairs whose keys are all hidden, which add zeros).
  const std::int64_t pairs = g.batch * g.kv_heads;
  // The threads for_each_task runs on: none beside this one inside a parallel region.
  const std::int64_t threads =
      work >= kParallelGrain && !omp_in_parallel() ? omp_get_max_threads() : 1;
  const auto accumulator_bytes = static_cast<std::int64_t>(g.tk * (h + hv) * sizeof(T));
  if (one_pass_pays(pairs, threads, accumulator_bytes)) {
    for_each_task(pairs, work, [&](std::int64_t t) {
      const std::int64_t b = t / g.kv_heads, nk = t % g.kv_heads;
      std::vector<T> s(static_cast<std::size_t>(kQ * kK)), ds(s.size()), pz(s.size());
      std::vector<T> dk_acc(static_cast<std::size_t>(g.tk * h), T(0));
      std::vector<T> dv_acc(static_cast<std::size_t>(g.tk * hv), T(0));
      std::vector<T> dq_acc(static_cast<std::size_t>(kQ * h));
      for (std::int64_t n = nk * group; n < (nk + 1) * group; ++n) {
        for (std::int64_t qb = 0; qb < qblocks; ++qb) {
          const std::int64_t i0 = qb * kQ, i1 = std::min(g.tq, i0 + kQ), rows = i1 - i0;
          std::fill(dq_acc.begin(), dq_acc.end(), T(0));
          for (std::int64_t j0 = first_key_block(g, i0); j0 < g.keys_end(i1); j0 += kK) {
            const std::int64_t j1 = std::min(g.tk, j0 + kK), cols = j1 - j0;
            block_logit_gradients(a, dout, lse_p, dsum.data(), b, n, i0, i1, j0, j1, s.data(),
                                  ds.data(), pz.data());
            // dV += (P Z)^T dO, dK += dS^T Q, dQ += dS K (dK and dQ scaled at the end).
            gemm<T>(true, false, cols, hv, rows, T(1), pz.data(), kK, dout + g.o_offset(b, n, i0),
                    a.ldo(), T(1), dv_acc.data() + j0 * hv, hv);
            gemm<T>(true, false, cols, h, rows, T(1), ds.data(), kK, a.q + g.q_offset(b, n, i0),
                    a.ldq(), T(1), dk_acc.data() + j0 * h, h);
            gemm<T>(false, false, rows, h, cols, T(1), ds.data(), kK, a.k + g.k_offset(b, nk, j0),
                    a.ldk(), T(1), dq_acc.data(), h);
          }
          store_dq(b, n, i0, rows, dq_acc.data());
        }
      }
      store_dk_dv(b, nk, 0, g.tk, dk_acc.data(), dv_acc.data());
    });
    return;
  }

  // Two passes. dK and dV: one task per (b, key head, key block), over the group's query heads.
  for_each_task(pairs * kblocks, work, [&](std::int64_t t) {
    const std::int64_t kb = t % kblocks, bnk = t / kblocks;
    const std::int64_t b = bnk / g.kv_heads, nk = bnk % g.kv_heads;
    const std::int64_t j0 = kb * kK, j1 = std::min(g.tk, j0 + kK), cols = j1 - j0;
    std::vector<T> s(static_cast<std::size_t>(kQ * kK)), ds(s.size()), pz(s.size());
    std::vector<T> dk_acc(static_cast<std::size_t>(cols * h), T(0));
    std::vector<T> dv_acc(static_cast<std::size_t>(cols * hv), T(0));
    for (std::int64_t n = nk * group; n < (nk + 1) * group; ++n) {
      // The query blocks that see this key block (all where none are skipped).
      const std::int64_t qb_end = blocks(g.queries_end(j1), kQ);
      for (std::int64_t qb = g.queries_begin(j0) / kQ; qb < qb_end; ++qb) {
        const std::int64_t i0 = qb * kQ, i1 = std::min(g.tq, i0 + kQ), rows = i1 - i0;
        block_logit_gradients(a, dout, lse_p, dsum.data(), b, n, i0, i1, j0, j1, s.data(),
                              ds.data(), pz.data());
        // dV (cols x hv) += (P Z)^T dO, dK (cols x h) += dS^T Q (scaled at the end).
        gemm<T>(true, false, cols, hv, rows, T(1), pz.data(), kK, dout + g.o_offset(b, n, i0),
                a.ldo(), T(1), dv_acc.data(), hv);
        gemm<T>(true, false, cols, h, rows, T(1), ds.data(), kK, a.q + g.q_offset(b, n, i0),
                a.ldq(), T(1), dk_acc.data(), h);
      }
    }
    store_dk_dv(b, nk, j0, cols, dk_acc.data(), dv_acc.data());
  });

  // dQ: one task per (b, head, query block).
  for_each_task(g.batch * g.heads * qblocks, work, [&](std::int64_t t) {
    const std::int64_t qb = t % qblocks, bn = t / qblocks;
    const std::int64_t b = bn / g.heads, n = bn % g.heads, nk = n / group;
    const std::int64_t i0 = qb * kQ, i1 = std::min(g.tq, i0 + kQ), rows = i1 - i0;
    std::vector<T> s(static_cast<std::size_t>(kQ * kK)), ds(s.size());
    std::vector<T> dq_acc(static_cast<std::size_t>(rows * h), T(0));
    for (std::int64_t j0 = first_key_block(g, i0); j0 < g.keys_end(i1); j0 += kK) {
      const std::int64_t j1 = std::min(g.tk, j0 + kK);
      block_logit_gradients<T>(a, dout, lse_p, dsum.data(), b, n, i0, i1, j0, j1, s.data(),
                               ds.data(), nullptr);
      // dQ (rows x h) += dS K (scaled at the end).
      gemm<T>(false, false, rows, h, j1 - j0, T(1), ds.data(), kK, a.k + g.k_offset(b, nk, j0),
              a.ldk(), T(1), dq_acc.data(), h);
    }
    store_dq(b, n, i0, rows, dq_acc.data());
  });
}

// float32 and float64 (the front door widens 16-bit data; other dtypes never get here).
template <typename F>
void visit_float32_64(DType d, F&& f) {
  if (d == DType::float64) return f(double{});
  NEURONA_CHECK(d == DType::float32, ValueError, "dot_product_attention: ", d,
                " data reach the CPU kernel (front door bug)");
  f(float{});
}

void forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
             const AttentionGeometry& g, Tensor& out, Tensor& lse) {
  visit_float32_64(q.dtype(),
                   [&](auto t) { forward_typed<decltype(t)>(q, k, v, mask, g, out, lse); });
}

void backward(const Tensor& grad_out, const Tensor& q, const Tensor& k, const Tensor& v,
              const Tensor& out, const Tensor& lse, const Tensor& mask, const AttentionGeometry& g,
              Tensor& dq, Tensor& dk, Tensor& dv) {
  visit_float32_64(q.dtype(), [&](auto t) {
    backward_typed<decltype(t)>(grad_out, q, k, v, out, lse, mask, g, dq, dk, dv);
  });
}

}  // namespace

void register_attention() {
  attention_forward_stub.cpu = forward;
  attention_forward_stub.cpu_dtypes = kFloat32And64;
  attention_backward_stub.cpu = backward;
  attention_backward_stub.cpu_dtypes = kFloat32And64;
}

}  // namespace neurona::kernels::cpu
