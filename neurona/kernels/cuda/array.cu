// CUDA kernels for concat (cudaMemcpy2DAsync), gather and one_hot. A gather index out of
// range yields a row of zeros, as TensorFlow does on GPUs: checking it would need a
// host synchronisation in every training step.
#include "neurona/core/config.h"
#include "neurona/kernels/array_stubs.h"
#include "neurona/kernels/cuda/launch.cuh"
#include "neurona/kernels/math/impl.h"

namespace neurona::kernels::cuda {

namespace {

void copy2d(Device d, void* dst, std::int64_t dpitch, const void* src, std::int64_t spitch,
            std::int64_t width, std::int64_t height) {
  if (width == 0 || height == 0) return;
  auto& ctx = neurona::cuda::context(d.index());
  neurona::cuda::DeviceGuard guard(d.index());
  NEURONA_CUDA_CHECK(
      cudaMemcpy2DAsync(dst, static_cast<std::size_t>(dpitch), src,
                        static_cast<std::size_t>(spitch), static_cast<std::size_t>(width),
                        static_cast<std::size_t>(height), cudaMemcpyDeviceToDevice, ctx.stream()));
}

void gather(const Tensor& x, const Tensor& indices, Tensor& out) {
  gather_impl(Launch(out.device()), x, indices, out);
}

template <typename T, typename I>
struct ScatterAddFunctor {
  const I* indices;
  const T* updates;
  T* out;
  std::int64_t rows, row_size;
  __device__ void operator()(std::int64_t i) const {
    const std::int64_t r = static_cast<std::int64_t>(indices[i / row_size]);
    if (r >= 0 && r < rows) atomicAdd(out + r * row_size + i % row_size, updates[i]);
  }
};

void scatter_add(const Tensor& indices, const Tensor& updates, Tensor& out) {
  NEURONA_CHECK(!config::op_determinism_enabled(), NotImplementedError,
                "scatter_add_rows (the gradient of gather) on CUDA sums with atomicAdd, whose "
                "order varies from run to run, and op determinism is enabled "
                "(config::enable_op_determinism); run it on the CPU or disable op determinism");
  const std::int64_t rows = out.shape()[0];
  const std::int64_t row_size = out.numel() / rows;
  visit_dtype(updates.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    visit_dtype(indices.dtype(), [&](auto it) {
      using I = std::decay_t<decltype(it)>;
      if constexpr (std::is_floating_point_v<T> && std::is_integral_v<I>) {
        Launch(out.device())(updates.numel(),
                             ScatterAddFunctor<T, I>{indices.data<I>(), updates.data<T>(),
                                                     out.data<T>(), rows, row_size});
      }
    });
  });
}

void one_hot(const Tensor& indices, double on, double off, Tensor& out) {
  one_hot_impl(Launch(out.device()), indices, on, off, out);
}

}  // namespace

void register_array() {
  copy2d_stub.cuda = copy2d;
  gather_stub.cuda = gather;
  scatter_add_stub.cuda = scatter_add;
  one_hot_stub.cuda = one_hot;
}

}  // namespace neurona::kernels::cuda
