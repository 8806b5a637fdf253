// CUDA kernels of the fused layer normalization (arithmetic in math/layer_norm_ops.h), float32,
// float64, and bfloat16 / float16 data with float32 statistics, gamma and beta. A warp per row:
// the forward pass reads the row three times (its mean, its variance as the mean of squared
// deviations, then y; the second and third reads come from the L1 cache at the widths
// transformers use) and reduces with warp shuffles, so one launch does everything. The backward
// pass is a warp per row for dx (the row's two sums, then dx) and two launches for dgamma and
// dbeta: per-column partial sums over bands of rows, then the partials combined in band order.
// RMS normalization (LayerNormGeometry::rms) runs the same kernels with the mean taken as 0.
// Accesses are 16 bytes wide where the row length and the pointers allow it. No atomics and no
// host synchronisation: the results do not depend on scheduling, and every launch can be
// captured into a CUDA graph. Not tuned on a GPU yet (kRowsPerBlock, the band count).
#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "neurona/kernels/cuda/launch.cuh"
#include "neurona/kernels/cuda/values.cuh"
#include "neurona/kernels/layer_norm_stubs.h"
#include "neurona/kernels/math/layer_norm_ops.h"

namespace neurona::kernels::cuda {

namespace {

constexpr int kWarp = 32;
// Warps, so rows, per block of the row kernels.
constexpr int kRowsPerBlock = 8;
// The parameter-gradient partials' block: 32 columns by 8 rows of threads.
constexpr int kParamRows = 8;
// Blocks per SM the launches aim for.
constexpr int kBlocksPerSm = 4;

// V consecutive values, loaded and stored as one access.
template <typename T, int V>
struct alignas(sizeof(T) * V) Pack {
  T v[V];
};

template <typename T, int V>
__device__ __forceinline__ Pack<T, V> load_pack(const T* p) {
  return *reinterpret_cast<const Pack<T, V>*>(p);
}

template <typename Acc>
__device__ __forceinline__ Acc warp_sum(Acc v) {
  // A butterfly: every lane ends with the same sum, bit for bit (each step adds the same two
  // values in either order).
  for (int offset = kWarp / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  }
  return v;
}

// This warp's first row and the stride to its next (the same for every lane of the warp, so
// the shuffles see all 32 lanes).
__device__ __forceinline__ std::int64_t first_row() {
  return static_cast<std::int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.y;
}
__device__ __forceinline__ std::int64_t row_stride() {
  return static_cast<std::int64_t>(gridDim.x) * kRowsPerBlock;
}

template <typename T, int V>
__global__ void __launch_bounds__(kWarp* kRowsPerBlock)
    layer_norm_forward_kernel(const T* __restrict__ x, T* __restrict__ y, std::int64_t rows,
                              std::int64_t n, const acc_t<T>* __restrict__ gamma,
                              const acc_t<T>* __restrict__ beta, acc_t<T> epsilon, bool rms,
                              acc_t<T>* __restrict__ mean_out, acc_t<T>* __restrict__ inv_out) {
  using Acc = acc_t<T>;
  const std::int64_t packs = n / V;
  const Acc count = static_cast<Acc>(n);
  for (std::int64_t r = first_row(); r < rows; r += row_stride()) {
    const T* xr = x + r * n;
    Acc s = 0;
    // RMS normalization: the mean is taken as 0 (the first pass skipped).
    for (std::int64_t p = rms ? packs : threadIdx.x; p < packs; p += kWarp) {
      const Pack<T, V> v = load_pack<T, V>(xr + p * V);
#pragma unroll
      for (int k = 0; k < V; ++k) s += load_value<T>(v.v[k]);
    }
    const Acc mu = warp_sum(s) / count;
    Acc q = 0;
    for (std::int64_t p = threadIdx.x; p < packs; p += kWarp) {
      const Pack<T, V> v = load_pack<T, V>(xr + p * V);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const Acc d = load_value<T>(v.v[k]) - mu;
        q += d * d;
      }
    }
    const Acc inv = layer_norm_inv_std<Acc>(warp_sum(q) / count, epsilon);
    if (threadIdx.x == 0) {
      mean_out[r] = mu;
      inv_out[r] = inv;
    }
    T* yr = y + r * n;
    for (std::int64_t p = threadIdx.x; p < packs; p += kWarp) {
      const Pack<T, V> v = load_pack<T, V>(xr + p * V);
      Pack<T, V> o;
#pragma unroll
      for (int k = 0; k < V; ++k) {
        o.v[k] = store_value<T>(
            layer_norm_output(load_value<T>(v.v[k]), mu, inv, gamma, beta, p * V + k));
      }
      *reinterpret_cast<Pack<T, V>*>(yr + p * V) = o;
    }
  }
}

template <typename T, int V>
__global__ void __launch_bounds__(kWarp* kRowsPerBlock)
    layer_norm_input_gradient_kernel(const T* __restrict__ x, const T* __restrict__ dy,
                                     T* __restrict__ dx, std::int64_t rows, std::int64_t n,
                                     const acc_t<T>* __restrict__ gamma,
                                     const acc_t<T>* __restrict__ mean,
                                     const acc_t<T>* __restrict__ inv_std, bool rms) {
  using Acc = acc_t<T>;
  const std::int64_t packs = n / V;
  const Acc count = static_cast<Acc>(n);
  for (std::int64_t r = first_row(); r < rows; r += row_stride()) {
    const T* xr = x + r * n;
    const T* dyr = dy + r * n;
    const Acc mu = mean[r], inv = inv_std[r];
    Acc s_dxhat = 0, s_dxhat_xhat = 0;
    for (std::int64_t p = threadIdx.x; p < packs; p += kWarp) {
      const Pack<T, V> xv = load_pack<T, V>(xr + p * V);
      const Pack<T, V> dv = load_pack<T, V>(dyr + p * V);
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const Acc xhat = (load_value<T>(xv.v[k]) - mu) * inv;
        const Acc g = load_value<T>(dv.v[k]);
        const Acc dxhat = gamma != nullptr ? g * gamma[p * V + k] : g;
        s_dxhat += dxhat;
        s_dxhat_xhat += dxhat * xhat;
      }
    }
    // RMS normalization subtracts no mean: no mean term in dx.
    const Acc a = rms ? Acc(0) : warp_sum(s_dxhat) / count;
    const Acc c = warp_sum(s_dxhat_xhat) / count;
    T* dxr = dx + r * n;
    for (std::int64_t p = threadIdx.x; p < packs; p += kWarp) {
      const Pack<T, V> xv = load_pack<T, V>(xr + p * V);
      const Pack<T, V> dv = load_pack<T, V>(dyr + p * V);
      Pack<T, V> o;
#pragma unroll
      for (int k = 0; k < V; ++k) {
        const Acc xhat = (load_value<T>(xv.v[k]) - mu) * inv;
        const Acc g = load_value<T>(dv.v[k]);
        const Acc dxhat = gamma != nullptr ? g * gamma[p * V + k] : g;
        o.v[k] = store_value<T>(layer_norm_input_gradient(dxhat, xhat, inv, a, c));
      }
      *reinterpret_cast<Pack<T, V>*>(dxr + p * V) = o;
    }
  }
}

// Per-column sums of dy * xhat and dy over this block's band of rows (rows blockIdx.y *
// kParamRows + threadIdx.y, then every gridDim.y * kParamRows), combined over the block's rows
// of threads in order: partial_g[blockIdx.y * n + column], partial_b likewise.
template <typename T>
__global__ void __launch_bounds__(kWarp* kParamRows)
    layer_norm_param_partials_kernel(const T* __restrict__ x, const T* __restrict__ dy,
                                     std::int64_t rows, std::int64_t n,
                                     const acc_t<T>* __restrict__ mean,
                                     const acc_t<T>* __restrict__ inv_std,
                                     acc_t<T>* __restrict__ partial_g,
                                     acc_t<T>* __restrict__ partial_b) {
  using Acc = acc_t<T>;
  __shared__ Acc s_g[kParamRows][kWarp];
  __shared__ Acc s_b[kParamRows][kWarp];
  const std::int64_t column = static_cast<std::int64_t>(blockIdx.x) * kWarp + threadIdx.x;
  Acc g = 0, b = 0;
  if (column < n) {
    for (std::int64_t r = static_cast<std::int64_t>(blockIdx.y) * kParamRows + threadIdx.y;
         r < rows; r += static_cast<std::int64_t>(gridDim.y) * kParamRows) {
      const Acc d = load_value<T>(dy[r * n + column]);
      g += d * ((load_value<T>(x[r * n + column]) - mean[r]) * inv_std[r]);
      b += d;
    }
  }
  s_g[threadIdx.y][threadIdx.x] = g;
  s_b[threadIdx.y][threadIdx.x] = b;
  __syncthreads();
  if (threadIdx.y == 0 && column < n) {
    for (int k = 1; k < kParamRows; ++k) {
      g += s_g[k][threadIdx.x];
      b += s_b[k][threadIdx.x];
    }
    partial_g[blockIdx.y * n + column] = g;
    partial_b[blockIdx.y * n + column] = b;
  }
}

// dgamma and dbeta (either may be null): each column's partials summed in band order.
template <typename Acc>
__global__ void __launch_bounds__(kThreads)
    layer_norm_param_finish_kernel(const Acc* __restrict__ partial_g,
                                   const Acc* __restrict__ partial_b, int bands, std::int64_t n,
                                   Acc* __restrict__ dgamma, Acc* __restrict__ dbeta) {
  const std::int64_t column = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (column >= n) return;
  Acc g = 0, b = 0;
  for (int k = 0; k < bands; ++k) {
    g += partial_g[k * n + column];
    b += partial_b[k * n + column];
  }
  if (dgamma != nullptr) dgamma[column] = g;
  if (dbeta != nullptr) dbeta[column] = b;
}

// 16 bytes per access when a row's length and every pointer allow it, else one value.
template <typename T>
int vector_width(std::int64_t n, std::initializer_list<const void*> pointers) {
  constexpr int wide = static_cast<int>(16 / sizeof(T));
  if (n % wide != 0) return 1;
  for (const void* p : pointers) {
    if (p != nullptr && reinterpret_cast<std::uintptr_t>(p) % 16 != 0) return 1;
  }
  return wide;
}

// Calls f with std::integral_constant<int, V> for V = `width` (1 or 16 bytes of T).
template <typename T, typename F>
void visit_width(int width, F&& f) {
  constexpr int wide = static_cast<int>(16 / sizeof(T));
  if (width == wide) return f(std::integral_constant<int, wide>{});
  f(std::integral_constant<int, 1>{});
}

// The front door lets only float data through.
template <typename F>
void visit_float_data(DType d, F&& f) {
  NEURONA_CHECK(visit_float_dtype(d, std::forward<F>(f)), ValueError, "layer_norm: ", d,
                " data reach the CUDA kernel (front door bug)");
}

template <typename Acc>
const Acc* optional_data(const Tensor& t) {
  return t.defined() ? t.data<Acc>() : nullptr;
}

unsigned row_grid(std::int64_t rows, int sm_count) {
  const std::int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  return static_cast<unsigned>(
      std::min<std::int64_t>(blocks, std::int64_t{sm_count} * kBlocksPerSm * 4));
}

void forward(const Tensor& x, const LayerNormGeometry& g, const Tensor& gamma, const Tensor& beta,
             double epsilon, Tensor& y, Tensor& mean, Tensor& inv_std) {
  const Launch launch(x.device());
  visit_float_data(x.dtype(), [&](auto type_tag) {
    using T = decltype(type_tag);
    using Acc = acc_t<T>;
    neurona::cuda::DeviceGuard guard(launch.device);
    visit_width<T>(vector_width<T>(g.features, {x.raw_data(), y.raw_data()}), [&](auto v) {
      constexpr int V = decltype(v)::value;
      layer_norm_forward_kernel<T, V>
          <<<row_grid(g.rows, launch.sm_count), dim3(kWarp, kRowsPerBlock), 0, launch.stream>>>(
              x.data<T>(), y.data<T>(), g.rows, g.features, optional_data<Acc>(gamma),
              optional_data<Acc>(beta), static_cast<Acc>(epsilon), g.rms, mean.data<Acc>(),
              inv_std.data<Acc>());
      NEURONA_CUDA_CHECK_LAUNCH("layer_norm_forward_kernel");
    });
  });
}

void backward(const Tensor& x, const Tensor& grad, const LayerNormGeometry& g, const Tensor& mean,
              const Tensor& inv_std, const Tensor& gamma, Tensor& dx, Tensor& dgamma,
              Tensor& dbeta) {
  const Launch launch(x.device());
  visit_float_data(x.dtype(), [&](auto type_tag) {
    using T = decltype(type_tag);
    using Acc = acc_t<T>;
    neurona::cuda::DeviceGuard guard(launch.device);
    if (dx.defined()) {
      const int width = vector_width<T>(g.features, {x.raw_data(), grad.raw_data(), dx.raw_data()});
      visit_width<T>(width, [&](auto v) {
        constexpr int V = decltype(v)::value;
        layer_norm_input_gradient_kernel<T, V>
            <<<row_grid(g.rows, launch.sm_count), dim3(kWarp, kRowsPerBlock), 0, launch.stream>>>(
                x.data<T>(), grad.data<T>(), dx.data<T>(), g.rows, g.features,
                optional_data<Acc>(gamma), mean.data<Acc>(), inv_std.data<Acc>(), g.rms);
        NEURONA_CUDA_CHECK_LAUNCH("layer_norm_input_gradient_kernel");
      });
    }
    if (!dgamma.defined() && !dbeta.defined()) return;
    // Bands of rows: enough blocks to fill the GPU, each thread walking a few rows at least.
    const std::int64_t column_tiles = (g.features + kWarp - 1) / kWarp;
    const std::int64_t useful = (g.rows + kParamRows - 1) / kParamRows;
    const std::int64_t wanted = std::max<std::int64_t>(
        1, (std::int64_t{kBlocksPerSm} * launch.sm_count + column_tiles - 1) / column_tiles);
    const int bands = static_cast<int>(std::min<std::int64_t>({useful, wanted, 65535}));
    const Tensor partials = Tensor::empty({2 * bands * g.features}, dtype_of<Acc>(), x.device());
    Acc* const pg = partials.data<Acc>();
    Acc* const pb = pg + bands * g.features;
    layer_norm_param_partials_kernel<T>
        <<<dim3(static_cast<unsigned>(column_tiles), static_cast<unsigned>(bands)),
           dim3(kWarp, kParamRows), 0, launch.stream>>>(x.data<T>(), grad.data<T>(), g.rows,
                                                        g.features, mean.data<Acc>(),
                                                        inv_std.data<Acc>(), pg, pb);
    NEURONA_CUDA_CHECK_LAUNCH("layer_norm_param_partials_kernel");
    const auto finish_grid = static_cast<unsigned>((g.features + kThreads - 1) / kThreads);
    layer_norm_param_finish_kernel<Acc><<<finish_grid, kThreads, 0, launch.stream>>>(
        pg, pb, bands, g.features, dgamma.defined() ? dgamma.data<Acc>() : nullptr,
        dbeta.defined() ? dbeta.data<Acc>() : nullptr);
    NEURONA_CUDA_CHECK_LAUNCH("layer_norm_param_finish_kernel");
  });
}

}  // namespace

void register_layer_norm() {
  layer_norm_forward_stub.cuda = forward;
  layer_norm_backward_stub.cuda = backward;
}

}  // namespace neurona::kernels::cuda
