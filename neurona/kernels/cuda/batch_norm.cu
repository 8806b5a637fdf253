// CUDA kernels of the fused batch normalization (arithmetic in math/batch_norm_ops.h): two
// launches for training's forward pass (per-channel partial statistics; then the partials
// combined and the data normalized), two for its backward pass (partial sums of dy and
// dy * (x - mean); then the sums combined and dx written), one for inference. NHWC first:
// each thread loads up to 16 bytes of consecutive channels at once; other axes walk the
// (outer, channel, inner) layout one value at a time. float32, float64, and bfloat16 / float16
// data with float32 statistics. No atomics and no host synchronisation: the results do not
// depend on scheduling, and every launch can be captured into a CUDA graph (the partials come
// from the caching allocator, or the graph's pool while capturing).
//
// Why not cuDNN's cudnnBatchNormalizationForwardTrainingEx / BackwardEx: cuDNN 9 marks its whole
// batch-normalization API deprecated (the backend graph API replaces it); its running variance
// is the unbiased one, where Keras's moving variance averages the biased one, and it saves
// the inverse standard deviation rather than the variance the layer needs, so the layer's
// update would need another pass or a lossy 1 / inv^2 - epsilon; it wants scale and offset
// tensors where Keras has none (center or scale false) and the channel at dimension 1 of a 4-D
// or 5-D descriptor; and its fast NHWC mode (CUDNN_BATCHNORM_SPATIAL_PERSISTENT) "imposes some
// limits on the range of values". Both directions are memory-bound passes that custom kernels
// run at the copy bandwidth's pace (bench_ops_gpu's batch_norm rows measure it), with the same
// arithmetic as the CPU's kernels.
//
// The block shape: tx threads across channel groups (of V channels each, channels last) by ty
// threads across rows; a grid of grid_x channel tiles by grid_rows block rows. The first launch
// of each direction leaves one partial result per (block row, channel); the second launch's
// blocks each combine the partials of their channel tile (the same way in every block, so all
// agree to the bit) before their pass over the data. Not tuned on a GPU yet: kBlocksPerSm and
// kUnroll are first guesses (two 256-thread blocks per SM with four 16-byte loads in flight per
// thread cover an H100's or H200's memory latency on paper).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "neurona/kernels/batch_norm_stubs.h"
#include "neurona/kernels/cuda/launch.cuh"
#include "neurona/kernels/cuda/values.cuh"
#include "neurona/kernels/math/batch_norm_ops.h"

namespace neurona::kernels::cuda {

namespace {

constexpr int kBlock = 256;
constexpr int kUnroll = 4;
constexpr int kBlocksPerSm = 2;
// Rows a thread walks at least: fewer block rows for small batches.
constexpr std::int64_t kMinRowsPerThread = 4;

// V consecutive values, loaded and stored as one access.
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

// The launch geometry (see the file's header).
struct Tiling {
  std::int64_t rows, channels, inner;
  int tx, ty;
  // Channels per block column: tx * V channels last, 1 otherwise.
  int tile;
  // A thread's next row is `stride` further: grid_rows * ty, and its (outer, inner) parts.
  std::int64_t stride, stride_outer, stride_inner;
};

// One thread's rows r0, r0 + stride, ... of its channel, as element offsets.
template <bool kLast>
struct RowWalker {
  std::int64_t r, o = 0, i = 0;
  __device__ RowWalker(const Tiling& t, std::int64_t r0) : r(r0) {
    if constexpr (!kLast) {
      o = r0 / t.inner;
      i = r0 - o * t.inner;
    }
  }
  __device__ std::int64_t offset(const Tiling& t, std::int64_t c) const {
    if constexpr (kLast) {
      return r * t.channels + c;
    } else {
      return (o * t.channels + c) * t.inner + i;
    }
  }
  __device__ void advance(const Tiling& t) {
    r += t.stride;
    if constexpr (!kLast) {
      o += t.stride_outer;
      i += t.stride_inner;
      if (i >= t.inner) {
        i -= t.inner;
        ++o;
      }
    }
  }
};

// The first channel of this thread (channels last: its group's first; else the block's).
template <bool kLast, int V>
__device__ __forceinline__ std::int64_t thread_channel(const Tiling& t) {
  if constexpr (kLast) {
    return (static_cast<std::int64_t>(blockIdx.x) * t.tx + threadIdx.x) * V;
  } else {
    return blockIdx.x;
  }
}

// The first channel of this block's tile.
template <bool kLast>
__device__ __forceinline__ std::int64_t tile_channel(const Tiling& t) {
  return kLast ? static_cast<std::int64_t>(blockIdx.x) * t.tile : blockIdx.x;
}

__device__ __forceinline__ int thread_index() {
  return static_cast<int>(threadIdx.y * blockDim.x + threadIdx.x);
}

template <typename T, int V>
__device__ __forceinline__ Pack<T, V> load_pack(const T* p) {
  return *reinterpret_cast<const Pack<T, V>*>(p);
}

template <typename T, int V>
__device__ __forceinline__ void store_pack(T* p, const Pack<T, V>& v) {
  *reinterpret_cast<Pack<T, V>*>(p) = v;
}

// Calls body(at, n) for this thread's rows of channel c0 in batches: `at` holds the element
// offsets of n <= kUnroll rows, so that the body issues all their loads before it uses one
// (kUnroll accesses in flight per thread hide the memory's latency).
template <bool kLast, typename Body>
__device__ __forceinline__ void for_each_row_batch(const Tiling& t, std::int64_t c0, Body&& body) {
  RowWalker<kLast> w(t, static_cast<std::int64_t>(blockIdx.y) * t.ty + threadIdx.y);
  while (w.r < t.rows) {
    std::int64_t at[kUnroll];
    int n = 0;
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (w.r < t.rows) {
        at[u] = w.offset(t, c0);
        ++n;
        w.advance(t);
      }
    }
    body(at, n);
  }
}

// ---- forward, training: partial statistics ---------------------------------------------------

// Combines the threads of each block column (the same channels, other rows) into its first
// row of threads, through shared memory.
template <typename Acc, int V>
__device__ void block_combine_welford(Acc& count, Acc (&mean)[V], Acc (&m2)[V]) {
  __shared__ Acc s_count[kBlock];
  __shared__ Acc s_mean[kBlock * V];
  __shared__ Acc s_m2[kBlock * V];
  const int me = thread_index();
  s_count[me] = count;
  for (int k = 0; k < V; ++k) {
    s_mean[me * V + k] = mean[k];
    s_m2[me * V + k] = m2[k];
  }
  __syncthreads();
  for (unsigned half = blockDim.y / 2; half > 0; half /= 2) {
    if (threadIdx.y < half) {
      const int other = me + static_cast<int>(half * blockDim.x);
      for (int k = 0; k < V; ++k) {
        const Welford<Acc> c = welford_combine(
            Welford<Acc>{s_count[me], s_mean[me * V + k], s_m2[me * V + k]},
            Welford<Acc>{s_count[other], s_mean[other * V + k], s_m2[other * V + k]});
        s_mean[me * V + k] = c.mean;
        s_m2[me * V + k] = c.m2;
      }
      s_count[me] += s_count[other];
    }
    __syncthreads();
  }
  count = s_count[me];
  for (int k = 0; k < V; ++k) {
    mean[k] = s_mean[me * V + k];
    m2[k] = s_m2[me * V + k];
  }
}

// Each block's count, mean and M2 per channel over its rows: partial_mean and partial_m2 are
// (grid_rows, channels), partial_count (grid_rows,) (the same for every channel).
template <typename T, int V, bool kLast>
__global__ void __launch_bounds__(kBlock)
    batch_norm_statistics_kernel(const T* __restrict__ x, Tiling t, acc_t<T>* partial_mean,
                                 acc_t<T>* partial_m2, acc_t<T>* partial_count) {
  using Acc = acc_t<T>;
  const std::int64_t c0 = thread_channel<kLast, V>(t);
  Acc count = 0, mean[V], m2[V];
  for (int k = 0; k < V; ++k) mean[k] = m2[k] = 0;
  if (c0 < t.channels) {
    for_each_row_batch<kLast>(t, c0, [&](const std::int64_t(&at)[kUnroll], int n) {
      Pack<T, V> p[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (u < n) p[u] = load_pack<T, V>(x + at[u]);
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (u < n) {
          count += 1;
          const Acc inv_count = Acc(1) / count;
          for (int k = 0; k < V; ++k) welford_add(mean[k], m2[k], load_value(p[u].v[k]), inv_count);
        }
      }
    });
  }
  block_combine_welford<Acc, V>(count, mean, m2);
  if (threadIdx.y == 0 && c0 < t.channels) {
    const std::int64_t row = static_cast<std::int64_t>(blockIdx.y) * t.channels + c0;
    for (int k = 0; k < V; ++k) {
      partial_mean[row + k] = mean[k];
      partial_m2[row + k] = m2[k];
    }
    if (blockIdx.x == 0 && threadIdx.x == 0) partial_count[blockIdx.y] = count;
  }
}

// ---- forward: normalize ---------------------------------------------------------------------

// Where the apply kernel's statistics come from: training's partials (its outputs written by
// the first block row), or given ones (inference).
template <typename Acc>
struct ApplyArgs {
  const Acc* partial_mean = nullptr;
  const Acc* partial_m2 = nullptr;
  const Acc* partial_count = nullptr;
  int partial_rows = 0;
  const Acc* mean = nullptr;
  const Acc* variance = nullptr;
  const Acc* scale = nullptr;   // null: none
  const Acc* offset = nullptr;  // null: none
  Acc epsilon = 0;
  Acc* out_mean = nullptr;
  Acc* out_variance = nullptr;
  Acc* out_inv_std = nullptr;
};

// The statistics of channel tile_channel + j, for j < tile, from the partials of every block
// row: thread (j, part) combines rows part, part + parts, ...; then the parts are combined in
// a tree. Every block of a column does the same steps, so all get the same bits. The threads
// with index j < tile (part 0) return channel j's statistics.
template <typename Acc>
__device__ Welford<Acc> combine_partial_statistics(const Tiling& t, const ApplyArgs<Acc>& a,
                                                   std::int64_t first) {
  __shared__ Acc s_count[kBlock], s_mean[kBlock], s_m2[kBlock];
  const int me = thread_index();
  const int j = me % t.tile, part = me / t.tile, parts = kBlock / t.tile;
  const std::int64_t c = first + j;
  Welford<Acc> s{0, 0, 0};
  if (c < t.channels) {
    // Unrolled so that the loads of several rows are in flight at once (they do not depend on
    // the running result): a block row reads its partials from L2 before it can start.
#pragma unroll 8
    for (int row = part; row < a.partial_rows; row += parts) {
      const std::int64_t at = static_cast<std::int64_t>(row) * t.channels + c;
      s = welford_combine(s,
                          Welford<Acc>{a.partial_count[row], a.partial_mean[at], a.partial_m2[at]});
    }
  }
  s_count[me] = s.count;
  s_mean[me] = s.mean;
  s_m2[me] = s.m2;
  __syncthreads();
  for (int half = parts / 2; half > 0; half /= 2) {
    if (part < half) {
      const int other = me + half * t.tile;
      const Welford<Acc> r =
          welford_combine(Welford<Acc>{s_count[me], s_mean[me], s_m2[me]},
                          Welford<Acc>{s_count[other], s_mean[other], s_m2[other]});
      s_count[me] = r.count;
      s_mean[me] = r.mean;
      s_m2[me] = r.m2;
    }
    __syncthreads();
  }
  return Welford<Acc>{s_count[me], s_mean[me], s_m2[me]};
}

// y = x * mul + add per channel, the channel constants made first by each block (for its tile)
// in shared memory: from the partials (training) or from given statistics (inference).
template <typename T, int V, bool kLast, bool kFromPartials>
__global__ void __launch_bounds__(kBlock)
    batch_norm_apply_kernel(const T* __restrict__ x, T* __restrict__ y, Tiling t,
                            ApplyArgs<acc_t<T>> a) {
  using Acc = acc_t<T>;
  __shared__ Acc s_mul[kBlock], s_add[kBlock];
  const int me = thread_index();
  const std::int64_t first = tile_channel<kLast>(t);
  Acc mean = 0, variance = 0;
  if constexpr (kFromPartials) {
    const Welford<Acc> s = combine_partial_statistics(t, a, first);
    mean = s.mean;
    variance = s.m2 / s.count;
  } else if (me < t.tile && first + me < t.channels) {
    mean = a.mean[first + me];
    variance = a.variance[first + me];
  }
  if (me < t.tile && first + me < t.channels) {
    const std::int64_t c = first + me;
    const Acc inv_std = batch_norm_inv_std(variance, a.epsilon);
    const BatchNormAffine<Acc> f = batch_norm_affine(mean, inv_std, a.scale, a.offset, c);
    s_mul[me] = f.mul;
    s_add[me] = f.add;
    if (kFromPartials && blockIdx.y == 0) {
      a.out_mean[c] = mean;
      a.out_variance[c] = variance;
      a.out_inv_std[c] = inv_std;
    }
  }
  __syncthreads();
  const std::int64_t c0 = thread_channel<kLast, V>(t);
  if (c0 >= t.channels) return;
  const int j0 = kLast ? static_cast<int>(threadIdx.x) * V : 0;
  Acc mul[V], add[V];
  for (int k = 0; k < V; ++k) {
    mul[k] = s_mul[j0 + k];
    add[k] = s_add[j0 + k];
  }
  for_each_row_batch<kLast>(t, c0, [&](const std::int64_t(&at)[kUnroll], int n) {
    Pack<T, V> p[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (u < n) p[u] = load_pack<T, V>(x + at[u]);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (u < n) {
        Pack<T, V> q;
        for (int k = 0; k < V; ++k) {
          q.v[k] = store_value<T>(load_value(p[u].v[k]) * mul[k] + add[k]);
        }
        store_pack<T, V>(y + at[u], q);
      }
    }
  });
}

// ---- backward -------------------------------------------------------------------------------

template <typename Acc, int V>
__device__ void block_sum(Acc (&a)[V], Acc (&b)[V]) {
  __shared__ Acc s_a[kBlock * V], s_b[kBlock * V];
  const int me = thread_index();
  for (int k = 0; k < V; ++k) {
    s_a[me * V + k] = a[k];
    s_b[me * V + k] = b[k];
  }
  __syncthreads();
  for (unsigned half = blockDim.y / 2; half > 0; half /= 2) {
    if (threadIdx.y < half) {
      const int other = me + static_cast<int>(half * blockDim.x);
      for (int k = 0; k < V; ++k) {
        s_a[me * V + k] += s_a[other * V + k];
        s_b[me * V + k] += s_b[other * V + k];
      }
    }
    __syncthreads();
  }
  for (int k = 0; k < V; ++k) {
    a[k] = s_a[me * V + k];
    b[k] = s_b[me * V + k];
  }
}

// Each block's sums of dy and dy * (x - mean) per channel: (grid_rows, channels) each.
template <typename T, int V, bool kLast>
__global__ void __launch_bounds__(kBlock)
    batch_norm_backward_reduce_kernel(const T* __restrict__ x, const T* __restrict__ dy, Tiling t,
                                      const acc_t<T>* __restrict__ mean, acc_t<T>* partial_dy,
                                      acc_t<T>* partial_dy_xmu) {
  using Acc = acc_t<T>;
  const std::int64_t c0 = thread_channel<kLast, V>(t);
  Acc sum_dy[V], sum_dy_xmu[V], mu[V];
  for (int k = 0; k < V; ++k) sum_dy[k] = sum_dy_xmu[k] = mu[k] = 0;
  if (c0 < t.channels) {
    for (int k = 0; k < V; ++k) mu[k] = mean[c0 + k];
    for_each_row_batch<kLast>(t, c0, [&](const std::int64_t(&at)[kUnroll], int n) {
      Pack<T, V> px[kUnroll], pd[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (u < n) {
          px[u] = load_pack<T, V>(x + at[u]);
          pd[u] = load_pack<T, V>(dy + at[u]);
        }
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        if (u < n) {
          for (int k = 0; k < V; ++k) {
            const Acc d = load_value(pd[u].v[k]);
            sum_dy[k] += d;
            sum_dy_xmu[k] += d * (load_value(px[u].v[k]) - mu[k]);
          }
        }
      }
    });
  }
  block_sum<Acc, V>(sum_dy, sum_dy_xmu);
  if (threadIdx.y == 0 && c0 < t.channels) {
    const std::int64_t row = static_cast<std::int64_t>(blockIdx.y) * t.channels + c0;
    for (int k = 0; k < V; ++k) {
      partial_dy[row + k] = sum_dy[k];
      partial_dy_xmu[row + k] = sum_dy_xmu[k];
    }
  }
}

template <typename Acc>
struct BackwardArgs {
  const Acc* partial_dy = nullptr;
  const Acc* partial_dy_xmu = nullptr;
  int partial_rows = 0;
  const Acc* mean = nullptr;
  const Acc* inv_std = nullptr;
  const Acc* scale = nullptr;  // null: none
  Acc* dscale = nullptr;       // null: not wanted
  Acc* doffset = nullptr;      // null: not wanted
};

// Combines the partial sums of each channel of the block's tile (as combine_partial_statistics
// does), writes dscale and doffset from the first block row, then dx (when not null) from
// the per-channel constants of batch_norm_backward_coefficients.
template <typename T, int V, bool kLast>
__global__ void __launch_bounds__(kBlock)
    batch_norm_backward_apply_kernel(const T* __restrict__ x, const T* __restrict__ dy,
                                     T* __restrict__ dx, Tiling t, BackwardArgs<acc_t<T>> a) {
  using Acc = acc_t<T>;
  __shared__ Acc s_dy[kBlock], s_dy_xmu[kBlock];
  __shared__ BatchNormBackwardCoefficients<Acc> s_coefficients[kBlock];
  const int me = thread_index();
  const std::int64_t first = tile_channel<kLast>(t);
  const int j = me % t.tile, part = me / t.tile, parts = kBlock / t.tile;
  Acc sum_dy = 0, sum_dy_xmu = 0;
  if (first + j < t.channels) {
#pragma unroll 8
    for (int row = part; row < a.partial_rows; row += parts) {
      const std::int64_t at = static_cast<std::int64_t>(row) * t.channels + first + j;
      sum_dy += a.partial_dy[at];
      sum_dy_xmu += a.partial_dy_xmu[at];
    }
  }
  s_dy[me] = sum_dy;
  s_dy_xmu[me] = sum_dy_xmu;
  __syncthreads();
  for (int half = parts / 2; half > 0; half /= 2) {
    if (part < half) {
      s_dy[me] += s_dy[me + half * t.tile];
      s_dy_xmu[me] += s_dy_xmu[me + half * t.tile];
    }
    __syncthreads();
  }
  if (me < t.tile && first + me < t.channels) {
    const std::int64_t c = first + me;
    const Acc inv_std = a.inv_std[c];
    s_coefficients[me] = batch_norm_backward_coefficients(a.mean[c], inv_std, a.scale, c, s_dy[me],
                                                          s_dy_xmu[me], static_cast<Acc>(t.rows));
    if (blockIdx.y == 0) {
      if (a.dscale != nullptr) a.dscale[c] = s_dy_xmu[me] * inv_std;
      if (a.doffset != nullptr) a.doffset[c] = s_dy[me];
    }
  }
  __syncthreads();
  const std::int64_t c0 = thread_channel<kLast, V>(t);
  if (dx == nullptr || c0 >= t.channels) return;
  const int j0 = kLast ? static_cast<int>(threadIdx.x) * V : 0;
  BatchNormBackwardCoefficients<Acc> k[V];
  for (int v = 0; v < V; ++v) k[v] = s_coefficients[j0 + v];
  for_each_row_batch<kLast>(t, c0, [&](const std::int64_t(&at)[kUnroll], int n) {
    Pack<T, V> px[kUnroll], pd[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (u < n) {
        px[u] = load_pack<T, V>(x + at[u]);
        pd[u] = load_pack<T, V>(dy + at[u]);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (u < n) {
        Pack<T, V> q;
        for (int v = 0; v < V; ++v) {
          q.v[v] = store_value<T>(
              batch_norm_input_gradient(k[v], load_value(px[u].v[v]), load_value(pd[u].v[v])));
        }
        store_pack<T, V>(dx + at[u], q);
      }
    }
  });
}

// ---- launches -------------------------------------------------------------------------------

// How a call is cut into blocks.
struct Plan {
  Tiling t;
  unsigned grid_x = 1;
  int grid_rows = 1;
  bool last = true;
  int vector = 1;
};

// The widest access (up to 16 bytes) that divides the channels and every pointer's alignment:
// channels last only.
template <typename T>
int vector_width(const BatchNormGeometry& g, std::initializer_list<const void*> pointers) {
  if (g.inner != 1) return 1;
  for (int v = static_cast<int>(16 / sizeof(T)); v > 1; v /= 2) {
    if (g.channels % v != 0) continue;
    bool aligned = true;
    for (const void* p : pointers) {
      aligned = aligned && reinterpret_cast<std::uintptr_t>(p) % (v * sizeof(T)) == 0;
    }
    if (aligned) return v;
  }
  return 1;
}

Plan make_plan(const BatchNormGeometry& g, int vector, int sm_count) {
  Plan p;
  p.last = g.inner == 1;
  p.vector = vector;
  Tiling& t = p.t;
  t.rows = g.rows();
  t.channels = g.channels;
  t.inner = g.inner;
  if (p.last) {
    const std::int64_t groups = g.channels / vector;
    int tx = 1;
    while (tx < groups && tx < 32) tx *= 2;
    t.tx = tx;
    t.ty = kBlock / tx;
    t.tile = tx * vector;
    p.grid_x = static_cast<unsigned>((groups + tx - 1) / tx);
  } else {
    t.tx = 1;
    t.ty = kBlock;
    t.tile = 1;
    p.grid_x = static_cast<unsigned>(g.channels);
  }
  const std::int64_t useful = std::max<std::int64_t>(
      1, (t.rows + t.ty * kMinRowsPerThread - 1) / (t.ty * kMinRowsPerThread));
  const std::int64_t wanted =
      std::max<std::int64_t>(1, (std::int64_t{kBlocksPerSm} * sm_count + p.grid_x - 1) / p.grid_x);
  p.grid_rows = static_cast<int>(std::min<std::int64_t>({useful, wanted, 65535}));
  t.stride = std::int64_t{p.grid_rows} * t.ty;
  t.stride_outer = t.stride / t.inner;
  t.stride_inner = t.stride % t.inner;
  return p;
}

// The front door lets only float data through.
template <typename F>
void visit_float_data(DType d, F&& f) {
  NEURONA_CHECK(visit_float_dtype(d, std::forward<F>(f)), ValueError, "batch_norm: ", d,
                " data reach the CUDA kernel (front door bug)");
}

// Calls f with std::integral_constant<int, V> for the plan's vector width and channels-last flag.
template <typename T, typename F>
void visit_layout(const Plan& p, F&& f) {
  if (!p.last) return f(std::integral_constant<int, 1>{}, std::false_type{});
  switch (p.vector) {
    case 1:
      return f(std::integral_constant<int, 1>{}, std::true_type{});
    case 2:
      return f(std::integral_constant<int, 2>{}, std::true_type{});
    case 4:
      if constexpr (sizeof(T) <= 4) return f(std::integral_constant<int, 4>{}, std::true_type{});
      break;
    case 8:
      if constexpr (sizeof(T) <= 2) return f(std::integral_constant<int, 8>{}, std::true_type{});
      break;
    default:
      break;
  }
  throw ValueError(detail::str("batch_norm: no kernel for vectors of ", p.vector, " values"));
}

template <typename Acc>
const Acc* optional_data(const Tensor& t) {
  return t.defined() ? t.data<Acc>() : nullptr;
}

dim3 grid_of(const Plan& p) {
  return dim3(p.grid_x, static_cast<unsigned>(p.grid_rows));
}
dim3 block_of(const Plan& p) {
  return dim3(static_cast<unsigned>(p.t.tx), static_cast<unsigned>(p.t.ty));
}

void training(const Tensor& x, const BatchNormGeometry& g, const Tensor& offset,
              const Tensor& scale, double epsilon, Tensor& y, Tensor& mean, Tensor& variance,
              Tensor& inv_std) {
  const Launch launch(x.device());
  visit_float_data(x.dtype(), [&](auto type_tag) {
    using T = decltype(type_tag);
    using Acc = acc_t<T>;
    const Plan plan =
        make_plan(g, vector_width<T>(g, {x.raw_data(), y.raw_data()}), launch.sm_count);
    const std::int64_t cells = std::int64_t{plan.grid_rows} * g.channels;
    const Tensor partials =
        Tensor::empty({2 * cells + plan.grid_rows}, dtype_of<Acc>(), x.device());
    Acc* part = partials.data<Acc>();
    ApplyArgs<Acc> a;
    a.partial_mean = part;
    a.partial_m2 = part + cells;
    a.partial_count = part + 2 * cells;
    a.partial_rows = plan.grid_rows;
    a.scale = optional_data<Acc>(scale);
    a.offset = optional_data<Acc>(offset);
    a.epsilon = static_cast<Acc>(epsilon);
    a.out_mean = mean.data<Acc>();
    a.out_variance = variance.data<Acc>();
    a.out_inv_std = inv_std.data<Acc>();
    neurona::cuda::DeviceGuard guard(launch.device);
    visit_layout<T>(plan, [&](auto v, auto last) {
      constexpr int V = decltype(v)::value;
      constexpr bool kLast = decltype(last)::value;
      batch_norm_statistics_kernel<T, V, kLast>
          <<<grid_of(plan), block_of(plan), 0, launch.stream>>>(x.data<T>(), plan.t, part,
                                                                part + cells, part + 2 * cells);
      NEURONA_CUDA_CHECK_LAUNCH("batch_norm_statistics_kernel");
      batch_norm_apply_kernel<T, V, kLast, true>
          <<<grid_of(plan), block_of(plan), 0, launch.stream>>>(x.data<T>(), y.data<T>(), plan.t,
                                                                a);
      NEURONA_CUDA_CHECK_LAUNCH("batch_norm_apply_kernel");
    });
  });
}

void inference(const Tensor& x, const BatchNormGeometry& g, const Tensor& mean,
               const Tensor& variance, const Tensor& offset, const Tensor& scale, double epsilon,
               Tensor& y) {
  const Launch launch(x.device());
  visit_float_data(x.dtype(), [&](auto type_tag) {
    using T = decltype(type_tag);
    using Acc = acc_t<T>;
    const Plan plan =
        make_plan(g, vector_width<T>(g, {x.raw_data(), y.raw_data()}), launch.sm_count);
    ApplyArgs<Acc> a;
    a.mean = mean.data<Acc>();
    a.variance = variance.data<Acc>();
    a.scale = optional_data<Acc>(scale);
    a.offset = optional_data<Acc>(offset);
    a.epsilon = static_cast<Acc>(epsilon);
    neurona::cuda::DeviceGuard guard(launch.device);
    visit_layout<T>(plan, [&](auto v, auto last) {
      constexpr int V = decltype(v)::value;
      constexpr bool kLast = decltype(last)::value;
      batch_norm_apply_kernel<T, V, kLast, false>
          <<<grid_of(plan), block_of(plan), 0, launch.stream>>>(x.data<T>(), y.data<T>(), plan.t,
                                                                a);
      NEURONA_CUDA_CHECK_LAUNCH("batch_norm_apply_kernel");
    });
  });
}

void backward(const Tensor& x, const Tensor& grad, const BatchNormGeometry& g, const Tensor& mean,
              const Tensor& inv_std, const Tensor& scale, Tensor& dx, Tensor& dscale,
              Tensor& doffset) {
  const Launch launch(x.device());
  visit_float_data(x.dtype(), [&](auto type_tag) {
    using T = decltype(type_tag);
    using Acc = acc_t<T>;
    const Plan reduce_plan = make_plan(
        g,
        vector_width<T>(g, {x.raw_data(), grad.raw_data(), dx.defined() ? dx.raw_data() : nullptr}),
        launch.sm_count);
    // Without dx the second launch only combines the partials: one block row.
    Plan apply_plan = reduce_plan;
    if (!dx.defined()) apply_plan.grid_rows = 1;
    const std::int64_t cells = std::int64_t{reduce_plan.grid_rows} * g.channels;
    const Tensor partials = Tensor::empty({2 * cells}, dtype_of<Acc>(), x.device());
    Acc* part = partials.data<Acc>();
    BackwardArgs<Acc> a;
    a.partial_dy = part;
    a.partial_dy_xmu = part + cells;
    a.partial_rows = reduce_plan.grid_rows;
    a.mean = mean.data<Acc>();
    a.inv_std = inv_std.data<Acc>();
    a.scale = optional_data<Acc>(scale);
    a.dscale = dscale.defined() ? dscale.data<Acc>() : nullptr;
    a.doffset = doffset.defined() ? doffset.data<Acc>() : nullptr;
    neurona::cuda::DeviceGuard guard(launch.device);
    visit_layout<T>(reduce_plan, [&](auto v, auto last) {
      constexpr int V = decltype(v)::value;
      constexpr bool kLast = decltype(last)::value;
      batch_norm_backward_reduce_kernel<T, V, kLast>
          <<<grid_of(reduce_plan), block_of(reduce_plan), 0, launch.stream>>>(
              x.data<T>(), grad.data<T>(), reduce_plan.t, a.mean, part, part + cells);
      NEURONA_CUDA_CHECK_LAUNCH("batch_norm_backward_reduce_kernel");
      batch_norm_backward_apply_kernel<T, V, kLast>
          <<<grid_of(apply_plan), block_of(apply_plan), 0, launch.stream>>>(
              x.data<T>(), grad.data<T>(), dx.defined() ? dx.data<T>() : nullptr, apply_plan.t, a);
      NEURONA_CUDA_CHECK_LAUNCH("batch_norm_backward_apply_kernel");
    });
  });
}

}  // namespace

void register_batch_norm() {
  batch_norm_training_stub.cuda = training;
  batch_norm_inference_stub.cuda = inference;
  batch_norm_backward_stub.cuda = backward;
}

}  // namespace neurona::kernels::cuda
