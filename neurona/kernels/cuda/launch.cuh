// Runs the shared functors on a GPU: a grid-stride kernel for elementwise work, and for
// reductions either a thread per output or, when outputs are few and long, a block per
// output with a shared-memory tree. Every launch goes on the device's one stream and is
// checked with cudaGetLastError.
#pragma once

#include <algorithm>
#include <cstdint>

#include "neurona/core/cuda/check.h"
#include "neurona/core/cuda/context.h"
#include "neurona/core/tensor.h"

namespace neurona::kernels::cuda {

inline constexpr int kThreads = 256;

template <typename F>
__global__ void __launch_bounds__(kThreads) elementwise_kernel(std::int64_t n, F f) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += stride) {
    f(i);
  }
}

template <typename F>
__global__ void __launch_bounds__(kThreads)
    reduce_thread_kernel(std::int64_t num_out, std::int64_t num_reduce, F f) {
  const std::int64_t stride = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t o = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
       o < num_out; o += stride) {
    f.finish(o, f.reduce_range(o, 0, num_reduce, 1));
  }
}

template <typename F>
__global__ void __launch_bounds__(kThreads)
    reduce_block_kernel(std::int64_t num_out, std::int64_t num_reduce, F f) {
  using Acc = typename F::Acc;
  __shared__ Acc partial[kThreads];
  for (std::int64_t o = blockIdx.x; o < num_out; o += gridDim.x) {
    partial[threadIdx.x] = f.reduce_range(o, threadIdx.x, num_reduce, kThreads);
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s /= 2) {
      if (static_cast<int>(threadIdx.x) < s) {
        partial[threadIdx.x] = f.combine(partial[threadIdx.x], partial[threadIdx.x + s]);
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) f.finish(o, partial[0]);
    __syncthreads();
  }
}

struct Launch {
  cudaStream_t stream;
  int sm_count;
  int device;

  explicit Launch(Device d) : Launch(neurona::cuda::context(d.index())) {}
  explicit Launch(neurona::cuda::Context& ctx)
      : stream(ctx.stream()), sm_count(ctx.properties().multiProcessorCount), device(ctx.index()) {}

  unsigned grid_for(std::int64_t n) const {
    const std::int64_t blocks = (n + kThreads - 1) / kThreads;
    return static_cast<unsigned>(std::min<std::int64_t>(blocks, std::int64_t{sm_count} * 32));
  }

  template <typename F>
  void operator()(std::int64_t n, const F& f) const {
    if (n <= 0) return;
    neurona::cuda::DeviceGuard guard(device);
    elementwise_kernel<<<grid_for(n), kThreads, 0, stream>>>(n, f);
    NEURONA_CUDA_CHECK_LAUNCH("elementwise_kernel");
  }

  /// The CPU Launch's form for functors whose index covers `work_per_index` elements (its
  /// threading grain counts them); a thread per index here, whatever the work.
  template <typename F>
  void operator()(std::int64_t n, std::int64_t /*work_per_index*/, const F& f) const {
    (*this)(n, f);
  }

  template <typename F>
  void reduce(std::int64_t num_out, std::int64_t num_reduce, const F& f) const {
    if (num_out <= 0) return;
    neurona::cuda::DeviceGuard guard(device);
    // Few long reductions: a block each. Many: a thread each (enough parallelism already).
    if (num_reduce >= 512 && num_out < std::int64_t{sm_count} * kThreads) {
      const auto grid = static_cast<unsigned>(std::min<std::int64_t>(num_out, 65535));
      reduce_block_kernel<<<grid, kThreads, 0, stream>>>(num_out, num_reduce, f);
      NEURONA_CUDA_CHECK_LAUNCH("reduce_block_kernel");
    } else {
      reduce_thread_kernel<<<grid_for(num_out), kThreads, 0, stream>>>(num_out, num_reduce, f);
      NEURONA_CUDA_CHECK_LAUNCH("reduce_thread_kernel");
    }
  }
};

}  // namespace neurona::kernels::cuda
