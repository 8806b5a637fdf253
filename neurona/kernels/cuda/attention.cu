// CUDA kernels of the fused scaled dot-product attention (arithmetic in math/attention_ops.h), in
// the FlashAttention-2 shape: the forward kernel gives each block a tile of query rows of one
// (batch, head), walks the key blocks with an online softmax (the mask, the causal mask, the
// window and dropout applied in the tile; key blocks the causal mask and the window hide
// skipped), and writes the output and each row's log-sum-exp. The backward pass recomputes the
// probabilities from the lse in two kernels, deterministic and without atomics: one block per
// (batch, key head, key block) for dK and dV (over the group's query heads and the query blocks),
// one per (batch, head, query block) for dQ; D = rowsum(dO * O) comes first. That recomputes Q K^T
// and dO V^T once more than FlashAttention-2's single pass with atomic dQ (7 matrix products per
// tile instead of 5).
//
// Tiles live in shared memory: Q, K, V (and dO) in the data's type, zero-padded to the head dim
// kD (64, 128 or 256; other head dims run in the next one up, slower), the logits and the
// accumulators in float32. bfloat16 and float16 multiply on tensor cores through WMMA (16x16x16,
// float32 accumulation; the probabilities and dS rounded to 16 bits for their products, as
// FlashAttention does); float32 through plain FMA loops over shared memory. Each product's
// accumulator goes through shared memory between steps (WMMA's fragment layout is opaque, so the
// online softmax rescales the output there), and a block has 4 warps.
//
// Expected performance limits (not measured yet: written without a GPU). The shared-memory round
// trips of the accumulators, WMMA's fragment loads from shared memory, element-wise (2-byte)
// global loads without cp.async double buffering, and one or two blocks of 4 warps per SM keep
// this well below FlashAttention-2 / cuDNN (a guess: 25-50% of their TFLOP/s with 16-bit data);
// the float32 path is bound by shared-memory bandwidth (a few TFLOP/s). Dropout costs one
// Philox4x32-10 call per probability (per four, shared, would need the lanes to cooperate).
// Meeting issue 19's 90%-of-PyTorch target needs register-resident mma.sync fragments,
// ldmatrix, cp.async pipelining (or Hopper's TMA and wgmma), or cuDNN's fused attention.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "neurona/kernels/attention_stubs.h"
#include "neurona/kernels/cuda/launch.cuh"
#include "neurona/kernels/math/attention_ops.h"

namespace neurona::kernels::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;

// ---- element types ---------------------------------------------------------------------------

// S: the element type in global and shared memory (float, __half or __nv_bfloat16).
template <typename S>
inline constexpr bool kTensorCores = !std::is_same_v<S, float>;

template <typename S>
__device__ __forceinline__ float to_float(S x) {
  if constexpr (std::is_same_v<S, __half>) {
    return __half2float(x);
  } else if constexpr (std::is_same_v<S, __nv_bfloat16>) {
    return __bfloat162float(x);
  } else {
    return x;
  }
}

template <typename S>
__device__ __forceinline__ S from_float(float x) {
  if constexpr (std::is_same_v<S, __half>) {
    return __float2half_rn(x);
  } else if constexpr (std::is_same_v<S, __nv_bfloat16>) {
    return __float2bfloat16_rn(x);
  } else {
    return x;
  }
}

// ---- tiles -----------------------------------------------------------------------------------

// Leading dimensions (elements) of the shared tiles: padded against bank conflicts, and for WMMA
// to multiples of 16 bytes with every 16-row or 16-column sub-tile 32-byte aligned.
template <typename S, int kCols>
inline constexpr int kLdData = kCols + (kTensorCores<S> ? 8 : 1);
template <typename S, int kCols>
inline constexpr int kLdFloat = kCols + (kTensorCores<S> ? 4 : 1);

constexpr std::size_t align128(std::size_t n) {
  return (n + 127) / 128 * 128;
}

// A region of `rows` x `ld` elements of type E, 128-byte aligned.
template <typename E>
constexpr std::size_t region(int rows, int ld) {
  return align128(static_cast<std::size_t>(rows) * static_cast<std::size_t>(ld) * sizeof(E));
}

// Loads rows [0, rows_valid) x columns [0, cols_valid) of a global matrix (row stride
// `row_stride`) into a kRows x kCols shared tile, zero elsewhere.
template <typename S, int kRows, int kCols>
__device__ void load_tile(S* tile, int ld, const S* base, std::int64_t row_stride, int rows_valid,
                          int cols_valid) {
  for (int idx = threadIdx.x; idx < kRows * kCols; idx += kThreads) {
    const int r = idx / kCols, c = idx % kCols;
    tile[r * ld + c] =
        r < rows_valid && c < cols_valid ? base[r * row_stride + c] : from_float<S>(0);
  }
}

template <int kRows, int kCols>
__device__ void zero_tile(float* tile, int ld) {
  for (int idx = threadIdx.x; idx < kRows * kCols; idx += kThreads) {
    tile[(idx / kCols) * ld + idx % kCols] = 0.0f;
  }
}

// C (M x N, float, row stride ldc) = [C +] A (M x K) B (K x N), A and B in shared memory: A is
// A[m * lda + k], or A[k * lda + m] with kATrans; B is B[k * ldb + n], or B[n * ldb + k] with
// kBTrans. All of the block's threads take part; the caller synchronises before and after.
template <typename S, int M, int N, int K, bool kATrans, bool kBTrans, bool kAccumulate>
__device__ void block_gemm(float* C, int ldc, const S* A, int lda, const S* B, int ldb) {
  if constexpr (kTensorCores<S>) {
    namespace wmma = nvcuda::wmma;
    static_assert(M % 16 == 0 && N % 16 == 0 && K % 16 == 0, "WMMA tiles are 16x16x16");
    using ALayout = std::conditional_t<kATrans, wmma::col_major, wmma::row_major>;
    using BLayout = std::conditional_t<kBTrans, wmma::col_major, wmma::row_major>;
    constexpr int kTilesN = N / 16;
    const int warp = static_cast<int>(threadIdx.x) / 32;
    for (int t = warp; t < (M / 16) * kTilesN; t += kWarps) {
      const int m0 = (t / kTilesN) * 16, n0 = (t % kTilesN) * 16;
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> c;
      if constexpr (kAccumulate) {
        wmma::load_matrix_sync(c, C + m0 * ldc + n0, ldc, wmma::mem_row_major);
      } else {
        wmma::fill_fragment(c, 0.0f);
      }
#pragma unroll 4
      for (int k0 = 0; k0 < K; k0 += 16) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, S, ALayout> a;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, S, BLayout> b;
        wmma::load_matrix_sync(a, kATrans ? A + k0 * lda + m0 : A + m0 * lda + k0, lda);
        wmma::load_matrix_sync(b, kBTrans ? B + n0 * ldb + k0 : B + k0 * ldb + n0, ldb);
        wmma::mma_sync(c, a, b, c);
      }
      wmma::store_matrix_sync(C + m0 * ldc + n0, c, ldc, wmma::mem_row_major);
    }
  } else {
    // Consecutive threads take consecutive n: B's reads are consecutive (or, transposed, an odd
    // stride apart), A's the same address (a broadcast).
    for (int idx = threadIdx.x; idx < M * N; idx += kThreads) {
      const int m = idx / N, n = idx % N;
      float s = kAccumulate ? C[m * ldc + n] : 0.0f;
#pragma unroll 8
      for (int k = 0; k < K; ++k) {
        const float a = kATrans ? A[k * lda + m] : A[m * lda + k];
        const float b = kBTrans ? B[n * ldb + k] : B[k * ldb + n];
        s = fmaf(a, b, s);
      }
      C[m * ldc + n] = s;
    }
  }
}

__device__ __forceinline__ float warp_max(float x) {
  for (int o = 16; o > 0; o /= 2) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}

__device__ __forceinline__ float warp_sum(float x) {
  for (int o = 16; o > 0; o /= 2) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// The first key block that query rows [i0, ...) visit (the loops end at g.keys_end(i1)): blocks
// that the causal mask and the window hide are skipped (AttentionGeometry::keys_begin).
template <int kBk>
__device__ __forceinline__ std::int64_t first_key_block(const AttentionGeometry& g,
                                                        std::int64_t i0) {
  return g.keys_begin(i0) / kBk * kBk;
}

// The scaled logit of (i, j) from the raw product, hidden keys replaced (attention_ops.h).
__device__ __forceinline__ float logit(const AttentionGeometry& g, const std::uint8_t* mask,
                                       std::int64_t b, std::int64_t n, std::int64_t i,
                                       std::int64_t j, float product, bool& visible) {
  visible = attention_visible(g, mask, b, n, i, j);
  return visible ? product * static_cast<float>(g.scale) : attention_hidden_logit<float>();
}

// ---- tile sizes and shared-memory layouts ------------------------------------------------------
// Chosen to fit an A100's 163 KiB of shared memory per block (the build's sm_80) as well as an
// H100's 227 KiB; the float32 path, whose tiles are twice as large, takes smaller blocks.

template <typename S, int kD>
struct ForwardTiles {
  static constexpr bool tc = kTensorCores<S>;
  static constexpr int kBq = tc || kD <= 64 ? 64 : 32;
  static constexpr int kBk = tc ? (kD <= 128 ? 64 : 32) : (kD <= 64 ? 64 : 32);
  static constexpr int ld_in = kLdData<S, kD>, ld_s = kLdFloat<S, kBk>;
  static constexpr int ld_p = kLdData<S, kBk>, ld_acc = kLdFloat<S, kD>;
  static constexpr std::size_t q = 0;
  static constexpr std::size_t k = q + region<S>(kBq, ld_in);
  static constexpr std::size_t v = k + region<S>(kBk, ld_in);
  static constexpr std::size_t s = v + region<S>(kBk, ld_in);
  static constexpr std::size_t p = s + region<float>(kBq, ld_s);
  static constexpr std::size_t o = p + region<S>(kBq, ld_p);
  static constexpr std::size_t m = o + region<float>(kBq, ld_acc);
  static constexpr std::size_t l = m + region<float>(kBq, 1);
  static constexpr std::size_t bytes = l + region<float>(kBq, 1);
};

template <typename S, int kD>
struct DkvTiles {
  static constexpr bool tc = kTensorCores<S>;
  static constexpr int kBq = tc ? (kD <= 64 ? 64 : 32) : (kD <= 128 ? 32 : 16);
  static constexpr int kBk = tc ? (kD <= 128 ? 64 : 32) : (kD <= 128 ? 32 : 16);
  static constexpr int ld_in = kLdData<S, kD>, ld_s = kLdFloat<S, kBk>;
  static constexpr int ld_p = kLdData<S, kBk>, ld_acc = kLdFloat<S, kD>;
  static constexpr std::size_t k = 0;
  static constexpr std::size_t v = k + region<S>(kBk, ld_in);
  static constexpr std::size_t q = v + region<S>(kBk, ld_in);
  static constexpr std::size_t dout = q + region<S>(kBq, ld_in);
  static constexpr std::size_t s = dout + region<S>(kBq, ld_in);
  static constexpr std::size_t dp = s + region<float>(kBq, ld_s);
  static constexpr std::size_t pz = dp + region<float>(kBq, ld_s);
  static constexpr std::size_t ds = pz + region<S>(kBq, ld_p);
  static constexpr std::size_t dk = ds + region<S>(kBq, ld_p);
  static constexpr std::size_t dv = dk + region<float>(kBk, ld_acc);
  static constexpr std::size_t lse = dv + region<float>(kBk, ld_acc);
  static constexpr std::size_t dsum = lse + region<float>(kBq, 1);
  static constexpr std::size_t bytes = dsum + region<float>(kBq, 1);
};

template <typename S, int kD>
struct DqTiles {
  static constexpr bool tc = kTensorCores<S>;
  static constexpr int kBq = tc ? (kD <= 128 ? 64 : 32) : (kD <= 128 ? 32 : 16);
  static constexpr int kBk = kBq;
  static constexpr int ld_in = kLdData<S, kD>, ld_s = kLdFloat<S, kBk>;
  static constexpr int ld_p = kLdData<S, kBk>, ld_acc = kLdFloat<S, kD>;
  static constexpr std::size_t q = 0;
  static constexpr std::size_t dout = q + region<S>(kBq, ld_in);
  static constexpr std::size_t k = dout + region<S>(kBq, ld_in);
  static constexpr std::size_t v = k + region<S>(kBk, ld_in);
  static constexpr std::size_t s = v + region<S>(kBk, ld_in);
  static constexpr std::size_t dp = s + region<float>(kBq, ld_s);
  static constexpr std::size_t ds = dp + region<float>(kBq, ld_s);
  static constexpr std::size_t dq = ds + region<S>(kBq, ld_p);
  static constexpr std::size_t lse = dq + region<float>(kBq, ld_acc);
  static constexpr std::size_t dsum = lse + region<float>(kBq, 1);
  static constexpr std::size_t bytes = dsum + region<float>(kBq, 1);
};

template <typename E>
__device__ __forceinline__ E* at(unsigned char* smem, std::size_t offset) {
  return reinterpret_cast<E*>(smem + offset);
}

// ---- forward ---------------------------------------------------------------------------------

// One block per (batch, head, query block); the query blocks of a (batch, head) run heaviest
// first (the last ones see the most keys under the causal mask).
template <typename S, int kD>
__global__ void __launch_bounds__(kThreads)
    attention_forward_kernel(const S* __restrict__ q, const S* __restrict__ k,
                             const S* __restrict__ v, const std::uint8_t* __restrict__ mask,
                             AttentionGeometry g, S* __restrict__ out, float* __restrict__ lse) {
  using L = ForwardTiles<S, kD>;
  constexpr int kBq = L::kBq, kBk = L::kBk;
  extern __shared__ __align__(128) unsigned char smem[];
  S* const qs = at<S>(smem, L::q);
  S* const ks = at<S>(smem, L::k);
  S* const vs = at<S>(smem, L::v);
  float* const sf = at<float>(smem, L::s);
  S* const ps = at<S>(smem, L::p);
  float* const oacc = at<float>(smem, L::o);
  float* const row_max = at<float>(smem, L::m);
  float* const row_sum = at<float>(smem, L::l);

  const std::int64_t qblocks = (g.tq + kBq - 1) / kBq;
  const std::int64_t qb = qblocks - 1 - static_cast<std::int64_t>(blockIdx.x) % qblocks;
  const std::int64_t bn = static_cast<std::int64_t>(blockIdx.x) / qblocks;
  const std::int64_t b = bn / g.heads, n = bn % g.heads, nk = n / g.group();
  const std::int64_t i0 = qb * kBq, i1 = std::min<std::int64_t>(g.tq, i0 + kBq);
  const int rows = static_cast<int>(i1 - i0);
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int hd = static_cast<int>(g.head_dim), hv = static_cast<int>(g.value_dim);

  load_tile<S, kBq, kD>(qs, L::ld_in, q + g.q_offset(b, n, i0), g.heads * g.head_dim, rows, hd);
  zero_tile<kBq, kD>(oacc, L::ld_acc);
  for (int r = threadIdx.x; r < kBq; r += kThreads) {
    const OnlineSoftmax<float> start = online_softmax_start<float>();
    row_max[r] = start.max;
    row_sum[r] = start.sum;
  }
  const std::int64_t j_end = g.keys_end(i1);
  for (std::int64_t j0 = first_key_block<kBk>(g, i0); j0 < j_end; j0 += kBk) {
    const int cols = static_cast<int>(std::min<std::int64_t>(kBk, g.tk - j0));
    __syncthreads();  // the previous block's products are done with K, V and P
    load_tile<S, kBk, kD>(ks, L::ld_in, k + g.k_offset(b, nk, j0), g.kv_heads * g.head_dim, cols,
                          hd);
    load_tile<S, kBk, kD>(vs, L::ld_in, v + g.v_offset(b, nk, j0), g.kv_heads * g.value_dim, cols,
                          hv);
    __syncthreads();
    block_gemm<S, kBq, kBk, kD, false, true, false>(sf, L::ld_s, qs, L::ld_in, ks, L::ld_in);
    __syncthreads();
    // The online softmax: a warp per row, its lanes across the block's keys.
    for (int r = warp; r < kBq; r += kWarps) {
      float* srow = sf + r * L::ld_s;
      S* prow = ps + r * L::ld_p;
      float* orow = oacc + r * L::ld_acc;
      if (r >= rows) {
        for (int c = lane; c < kBk; c += 32) prow[c] = from_float<S>(0);
        continue;
      }
      const std::int64_t i = i0 + r, row = g.row(b, n, i);
      float x[kBk / 32];
      float block_max = -INFINITY;
#pragma unroll
      for (int t = 0; t < kBk / 32; ++t) {
        const int c = lane + 32 * t;
        bool visible = false;
        // Keys past the end do not exist: -inf gives them nothing, not even a uniform share.
        x[t] = c < cols ? logit(g, mask, b, n, i, j0 + c, srow[c], visible) : -INFINITY;
        block_max = fmaxf(block_max, x[t]);
      }
      block_max = warp_max(block_max);
      OnlineSoftmax<float> st{row_max[r], row_sum[r]};
      const float alpha = online_softmax_rescale(st, block_max);
      float sum = 0;
#pragma unroll
      for (int t = 0; t < kBk / 32; ++t) {
        const int c = lane + 32 * t;
        const float p = c < cols ? expf(x[t] - st.max) : 0.0f;
        sum += p;
        const float z =
            c < cols ? attention_dropout_factor<float>(g.dropout, row, g.tk, j0 + c) : 0.0f;
        prow[c] = from_float<S>(p * z);
      }
      st.sum += warp_sum(sum);
      for (int c = lane; c < kD; c += 32) orow[c] *= alpha;
      __syncwarp();
      if (lane == 0) {
        row_max[r] = st.max;
        row_sum[r] = st.sum;
      }
    }
    __syncthreads();
    block_gemm<S, kBq, kD, kBk, false, false, true>(oacc, L::ld_acc, ps, L::ld_p, vs, L::ld_in);
  }
  __syncthreads();
  for (int r = warp; r < rows; r += kWarps) {
    const std::int64_t i = i0 + r;
    const float inv = 1.0f / row_sum[r];
    S* orow = out + g.o_offset(b, n, i);
    for (int c = lane; c < hv; c += 32) orow[c] = from_float<S>(oacc[r * L::ld_acc + c] * inv);
    if (lane == 0)
      lse[g.row(b, n, i)] = online_softmax_lse(OnlineSoftmax<float>{row_max[r], row_sum[r]});
  }
}

// ---- backward --------------------------------------------------------------------------------

// D = rowsum(dO * O) per query row, a warp per row.
template <typename S>
__global__ void __launch_bounds__(kThreads)
    attention_backward_dot_kernel(const S* __restrict__ dout, const S* __restrict__ out,
                                  AttentionGeometry g, float* __restrict__ dsum) {
  const std::int64_t rows = g.batch * g.heads * g.tq;
  const std::int64_t r = static_cast<std::int64_t>(blockIdx.x) * kWarps + threadIdx.x / 32;
  if (r >= rows) return;
  const int lane = static_cast<int>(threadIdx.x) % 32;
  const std::int64_t i = r % g.tq, bn = r / g.tq;
  const std::int64_t at_row = g.o_offset(bn / g.heads, bn % g.heads, i);
  float s = 0;
  for (std::int64_t c = lane; c < g.value_dim; c += 32) {
    s += to_float(dout[at_row + c]) * to_float(out[at_row + c]);
  }
  s = warp_sum(s);
  if (lane == 0) dsum[g.row(bn / g.heads, bn % g.heads, i)] = s;
}

// The probabilities and the logits' gradients of a (query block, key block) tile from the
// products in sf (Q K^T) and dpf (dO V^T): into pz (p * dropout, for dV) where given, and ds.
template <typename S, int kBq, int kBk, int kLdS, int kLdP>
__device__ void tile_gradients(const AttentionGeometry& g, const std::uint8_t* mask, std::int64_t b,
                               std::int64_t n, std::int64_t i0, int rows, std::int64_t j0, int cols,
                               const float* sf, const float* dpf, const float* lse_s,
                               const float* dsum_s, S* pz, S* ds) {
  const float uniform = 1.0f / static_cast<float>(g.tk);
  for (int idx = threadIdx.x; idx < kBq * kBk; idx += kThreads) {
    const int r = idx / kBk, c = idx % kBk;
    float p = 0, d = 0, z = 0;
    if (r < rows && c < cols) {
      const std::int64_t i = i0 + r, j = j0 + c;
      bool visible = false;
      const float x = logit(g, mask, b, n, i, j, sf[r * kLdS + c], visible);
      p = attention_probability(x, lse_s[r], uniform);
      z = attention_dropout_factor<float>(g.dropout, g.row(b, n, i), g.tk, j);
      d = attention_logit_gradient(visible, p, dpf[r * kLdS + c], z, dsum_s[r]);
    }
    if (pz != nullptr) pz[r * kLdP + c] = from_float<S>(p * z);
    ds[r * kLdP + c] = from_float<S>(d);
  }
}

// Loads a query block's lse and D (rows past the end: 0, unused).
template <int kBq>
__device__ void load_row_statistics(const AttentionGeometry& g, const float* lse, const float* dsum,
                                    std::int64_t b, std::int64_t n, std::int64_t i0, int rows,
                                    float* lse_s, float* dsum_s) {
  for (int r = threadIdx.x; r < kBq; r += kThreads) {
    lse_s[r] = r < rows ? lse[g.row(b, n, i0 + r)] : 0.0f;
    dsum_s[r] = r < rows ? dsum[g.row(b, n, i0 + r)] : 0.0f;
  }
}

// dK and dV: one block per (batch, key head, key block), over the group's query heads.
template <typename S, int kD>
__global__ void __launch_bounds__(kThreads)
    attention_backward_dkdv_kernel(const S* __restrict__ q, const S* __restrict__ k,
                                   const S* __restrict__ v, const S* __restrict__ dout,
                                   const float* __restrict__ lse, const float* __restrict__ dsum,
                                   const std::uint8_t* __restrict__ mask, AttentionGeometry g,
                                   S* __restrict__ dk, S* __restrict__ dv) {
  using L = DkvTiles<S, kD>;
  constexpr int kBq = L::kBq, kBk = L::kBk;
  extern __shared__ __align__(128) unsigned char smem[];
  S* const ks = at<S>(smem, L::k);
  S* const vs = at<S>(smem, L::v);
  S* const qs = at<S>(smem, L::q);
  S* const dos = at<S>(smem, L::dout);
  float* const sf = at<float>(smem, L::s);
  float* const dpf = at<float>(smem, L::dp);
  S* const pzs = at<S>(smem, L::pz);
  S* const dss = at<S>(smem, L::ds);
  float* const dkacc = at<float>(smem, L::dk);
  float* const dvacc = at<float>(smem, L::dv);
  float* const lse_s = at<float>(smem, L::lse);
  float* const dsum_s = at<float>(smem, L::dsum);

  const std::int64_t kblocks = (g.tk + kBk - 1) / kBk;
  const std::int64_t kb = static_cast<std::int64_t>(blockIdx.x) % kblocks;
  const std::int64_t bnk = static_cast<std::int64_t>(blockIdx.x) / kblocks;
  const std::int64_t b = bnk / g.kv_heads, nk = bnk % g.kv_heads;
  const std::int64_t j0 = kb * kBk;
  const int cols = static_cast<int>(std::min<std::int64_t>(kBk, g.tk - j0));
  const int hd = static_cast<int>(g.head_dim), hv = static_cast<int>(g.value_dim);

  load_tile<S, kBk, kD>(ks, L::ld_in, k + g.k_offset(b, nk, j0), g.kv_heads * g.head_dim, cols, hd);
  load_tile<S, kBk, kD>(vs, L::ld_in, v + g.v_offset(b, nk, j0), g.kv_heads * g.value_dim, cols,
                        hv);
  zero_tile<kBk, kD>(dkacc, L::ld_acc);
  zero_tile<kBk, kD>(dvacc, L::ld_acc);
  // Only the query blocks that see this key block (causal mask, window).
  const std::int64_t i_begin = g.queries_begin(j0) / kBq * kBq;
  const std::int64_t i_end = g.queries_end(j0 + cols);
  for (std::int64_t n = nk * g.group(); n < (nk + 1) * g.group(); ++n) {
    for (std::int64_t i0 = i_begin; i0 < i_end; i0 += kBq) {
      const int rows = static_cast<int>(std::min<std::int64_t>(kBq, g.tq - i0));
      __syncthreads();  // the previous tile's products are done with Q, dO, P and dS
      load_tile<S, kBq, kD>(qs, L::ld_in, q + g.q_offset(b, n, i0), g.heads * g.head_dim, rows, hd);
      load_tile<S, kBq, kD>(dos, L::ld_in, dout + g.o_offset(b, n, i0), g.heads * g.value_dim, rows,
                            hv);
      load_row_statistics<kBq>(g, lse, dsum, b, n, i0, rows, lse_s, dsum_s);
      __syncthreads();
      block_gemm<S, kBq, kBk, kD, false, true, false>(sf, L::ld_s, qs, L::ld_in, ks, L::ld_in);
      block_gemm<S, kBq, kBk, kD, false, true, false>(dpf, L::ld_s, dos, L::ld_in, vs, L::ld_in);
      __syncthreads();
      tile_gradients<S, kBq, kBk, L::ld_s, L::ld_p>(g, mask, b, n, i0, rows, j0, cols, sf, dpf,
                                                    lse_s, dsum_s, pzs, dss);
      __syncthreads();
      // dV += (P z)^T dO, dK += dS^T Q (scaled at the end).
      block_gemm<S, kBk, kD, kBq, true, false, true>(dvacc, L::ld_acc, pzs, L::ld_p, dos, L::ld_in);
      block_gemm<S, kBk, kD, kBq, true, false, true>(dkacc, L::ld_acc, dss, L::ld_p, qs, L::ld_in);
    }
  }
  __syncthreads();
  const float scale = static_cast<float>(g.scale);
  for (int idx = threadIdx.x; idx < cols * kD; idx += kThreads) {
    const int r = idx / kD, c = idx % kD;
    if (c < hd) dk[g.k_offset(b, nk, j0 + r) + c] = from_float<S>(dkacc[r * L::ld_acc + c] * scale);
    if (c < hv) dv[g.v_offset(b, nk, j0 + r) + c] = from_float<S>(dvacc[r * L::ld_acc + c]);
  }
}

// dQ: one block per (batch, head, query block).
template <typename S, int kD>
__global__ void __launch_bounds__(kThreads)
    attention_backward_dq_kernel(const S* __restrict__ q, const S* __restrict__ k,
                                 const S* __restrict__ v, const S* __restrict__ dout,
                                 const float* __restrict__ lse, const float* __restrict__ dsum,
                                 const std::uint8_t* __restrict__ mask, AttentionGeometry g,
                                 S* __restrict__ dq) {
  using L = DqTiles<S, kD>;
  constexpr int kBq = L::kBq, kBk = L::kBk;
  extern __shared__ __align__(128) unsigned char smem[];
  S* const qs = at<S>(smem, L::q);
  S* const dos = at<S>(smem, L::dout);
  S* const ks = at<S>(smem, L::k);
  S* const vs = at<S>(smem, L::v);
  float* const sf = at<float>(smem, L::s);
  float* const dpf = at<float>(smem, L::dp);
  S* const dss = at<S>(smem, L::ds);
  float* const dqacc = at<float>(smem, L::dq);
  float* const lse_s = at<float>(smem, L::lse);
  float* const dsum_s = at<float>(smem, L::dsum);

  const std::int64_t qblocks = (g.tq + kBq - 1) / kBq;
  const std::int64_t qb = qblocks - 1 - static_cast<std::int64_t>(blockIdx.x) % qblocks;
  const std::int64_t bn = static_cast<std::int64_t>(blockIdx.x) / qblocks;
  const std::int64_t b = bn / g.heads, n = bn % g.heads, nk = n / g.group();
  const std::int64_t i0 = qb * kBq, i1 = std::min<std::int64_t>(g.tq, i0 + kBq);
  const int rows = static_cast<int>(i1 - i0);
  const int hd = static_cast<int>(g.head_dim), hv = static_cast<int>(g.value_dim);

  load_tile<S, kBq, kD>(qs, L::ld_in, q + g.q_offset(b, n, i0), g.heads * g.head_dim, rows, hd);
  load_tile<S, kBq, kD>(dos, L::ld_in, dout + g.o_offset(b, n, i0), g.heads * g.value_dim, rows,
                        hv);
  load_row_statistics<kBq>(g, lse, dsum, b, n, i0, rows, lse_s, dsum_s);
  zero_tile<kBq, kD>(dqacc, L::ld_acc);
  const std::int64_t j_end = g.keys_end(i1);
  for (std::int64_t j0 = first_key_block<kBk>(g, i0); j0 < j_end; j0 += kBk) {
    const int cols = static_cast<int>(std::min<std::int64_t>(kBk, g.tk - j0));
    __syncthreads();
    load_tile<S, kBk, kD>(ks, L::ld_in, k + g.k_offset(b, nk, j0), g.kv_heads * g.head_dim, cols,
                          hd);
    load_tile<S, kBk, kD>(vs, L::ld_in, v + g.v_offset(b, nk, j0), g.kv_heads * g.value_dim, cols,
                          hv);
    __syncthreads();
    block_gemm<S, kBq, kBk, kD, false, true, false>(sf, L::ld_s, qs, L::ld_in, ks, L::ld_in);
    block_gemm<S, kBq, kBk, kD, false, true, false>(dpf, L::ld_s, dos, L::ld_in, vs, L::ld_in);
    __syncthreads();
    tile_gradients<S, kBq, kBk, L::ld_s, L::ld_p>(g, mask, b, n, i0, rows, j0, cols, sf, dpf, lse_s,
                                                  dsum_s, static_cast<S*>(nullptr), dss);
    __syncthreads();
    block_gemm<S, kBq, kD, kBk, false, false, true>(dqacc, L::ld_acc, dss, L::ld_p, ks, L::ld_in);
  }
  __syncthreads();
  const float scale = static_cast<float>(g.scale);
  for (int idx = threadIdx.x; idx < rows * hd; idx += kThreads) {
    const int r = idx / hd, c = idx % hd;
    dq[g.q_offset(b, n, i0 + r) + c] = from_float<S>(dqacc[r * L::ld_acc + c] * scale);
  }
}

// ---- launchers -------------------------------------------------------------------------------

// Calls f(S{}, integral_constant<kD>) for the data's element type and padded head dim.
template <typename F>
void visit(const char* op, DType dtype, const AttentionGeometry& g, F&& f) {
  const std::int64_t d = std::max(g.head_dim, g.value_dim);
  NEURONA_CHECK(d <= 256, ValueError, op, ": head dims up to 256 run on a GPU, got head_dim ",
                g.head_dim, " and value_dim ", g.value_dim);
  auto by_dim = [&](auto s) {
    if (d <= 64) return f(s, std::integral_constant<int, 64>{});
    if (d <= 128) return f(s, std::integral_constant<int, 128>{});
    return f(s, std::integral_constant<int, 256>{});
  };
  switch (dtype) {
    case DType::float32:
      return by_dim(float{});
    case DType::float16:
      return by_dim(__half{});
    case DType::bfloat16:
      return by_dim(__nv_bfloat16{});
    default:
      NEURONA_CHECK(false, ValueError, op, ": ", dtype,
                    " data have no CUDA kernel (float32, bfloat16 and float16 do); run float64 "
                    "on the CPU");
  }
}

template <typename S>
const S* data_of(const Tensor& t) {
  return reinterpret_cast<const S*>(t.raw_data());
}

template <typename S>
S* mutable_data_of(Tensor& t) {
  return reinterpret_cast<S*>(t.raw_data());
}

// Opts the kernel in to `bytes` of dynamic shared memory, checking that the device has them.
template <typename Kernel>
void prepare(const char* op, const char* kernel_name, Kernel kernel, std::size_t bytes,
             const Launch& launch) {
  const auto& props = neurona::cuda::context(launch.device).properties();
  NEURONA_CHECK(bytes <= props.sharedMemPerBlockOptin, ValueError, op, ": ", kernel_name, " needs ",
                bytes, " bytes of shared memory per block, the GPU allows ",
                props.sharedMemPerBlockOptin);
  NEURONA_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                          static_cast<int>(bytes)));
}

unsigned grid_of(std::int64_t blocks) {
  NEURONA_CHECK(blocks < (std::int64_t{1} << 31), ValueError,
                "dot_product_attention: too many blocks (", blocks, ") for one launch");
  return static_cast<unsigned>(blocks);
}

void forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
             const AttentionGeometry& g, Tensor& out, Tensor& lse) {
  constexpr const char* op = "dot_product_attention";
  const Launch launch(q.device());
  neurona::cuda::DeviceGuard guard(launch.device);
  const std::uint8_t* m = mask.defined() ? mask.data<std::uint8_t>() : nullptr;
  visit(op, q.dtype(), g, [&](auto s, auto d) {
    using S = decltype(s);
    constexpr int kD = decltype(d)::value;
    using L = ForwardTiles<S, kD>;
    auto kernel = attention_forward_kernel<S, kD>;
    prepare(op, "attention_forward_kernel", kernel, L::bytes, launch);
    const std::int64_t blocks = g.batch * g.heads * ((g.tq + L::kBq - 1) / L::kBq);
    kernel<<<grid_of(blocks), kThreads, L::bytes, launch.stream>>>(
        data_of<S>(q), data_of<S>(k), data_of<S>(v), m, g, mutable_data_of<S>(out),
        lse.data<float>());
    NEURONA_CUDA_CHECK_LAUNCH("attention_forward_kernel");
  });
}

void backward(const Tensor& grad_out, const Tensor& q, const Tensor& k, const Tensor& v,
              const Tensor& out, const Tensor& lse, const Tensor& mask, const AttentionGeometry& g,
              Tensor& dq, Tensor& dk, Tensor& dv) {
  constexpr const char* op = "dot_product_attention_backward";
  const Launch launch(q.device());
  neurona::cuda::DeviceGuard guard(launch.device);
  const std::uint8_t* m = mask.defined() ? mask.data<std::uint8_t>() : nullptr;
  Tensor dsum = Tensor::empty({g.batch, g.heads, g.tq}, DType::float32, q.device());
  visit(op, q.dtype(), g, [&](auto s, auto d) {
    using S = decltype(s);
    constexpr int kD = decltype(d)::value;
    const std::int64_t rows = g.batch * g.heads * g.tq;
    attention_backward_dot_kernel<S>
        <<<grid_of((rows + kWarps - 1) / kWarps), kThreads, 0, launch.stream>>>(
            data_of<S>(grad_out), data_of<S>(out), g, dsum.data<float>());
    NEURONA_CUDA_CHECK_LAUNCH("attention_backward_dot_kernel");

    using Lkv = DkvTiles<S, kD>;
    auto dkdv = attention_backward_dkdv_kernel<S, kD>;
    prepare(op, "attention_backward_dkdv_kernel", dkdv, Lkv::bytes, launch);
    const std::int64_t kv_blocks = g.batch * g.kv_heads * ((g.tk + Lkv::kBk - 1) / Lkv::kBk);
    dkdv<<<grid_of(kv_blocks), kThreads, Lkv::bytes, launch.stream>>>(
        data_of<S>(q), data_of<S>(k), data_of<S>(v), data_of<S>(grad_out), lse.data<float>(),
        dsum.data<float>(), m, g, mutable_data_of<S>(dk), mutable_data_of<S>(dv));
    NEURONA_CUDA_CHECK_LAUNCH("attention_backward_dkdv_kernel");

    using Lq = DqTiles<S, kD>;
    auto dq_kernel = attention_backward_dq_kernel<S, kD>;
    prepare(op, "attention_backward_dq_kernel", dq_kernel, Lq::bytes, launch);
    const std::int64_t q_blocks = g.batch * g.heads * ((g.tq + Lq::kBq - 1) / Lq::kBq);
    dq_kernel<<<grid_of(q_blocks), kThreads, Lq::bytes, launch.stream>>>(
        data_of<S>(q), data_of<S>(k), data_of<S>(v), data_of<S>(grad_out), lse.data<float>(),
        dsum.data<float>(), m, g, mutable_data_of<S>(dq));
    NEURONA_CUDA_CHECK_LAUNCH("attention_backward_dq_kernel");
  });
}

}  // namespace

void register_attention() {
  attention_forward_stub.cuda = forward;
  attention_forward_stub.cuda_dtypes = {DType::float32, DType::bfloat16, DType::float16};
  attention_backward_stub.cuda = backward;
  attention_backward_stub.cuda_dtypes = {DType::float32, DType::bfloat16, DType::float16};
}

}  // namespace neurona::kernels::cuda
