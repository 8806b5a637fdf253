// CUDA kernels for concat (cudaMemcpy2DAsync), gather and one_hot. A gather index out of
// range yields a row of zeros, as TensorFlow does on GPUs: checking it would need a
// host synchronisation in every training step.
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

void one_hot(const Tensor& indices, double on, double off, Tensor& out) {
  one_hot_impl(Launch(out.device()), indices, on, off, out);
}

}  // namespace

void register_array() {
  copy2d_stub.cuda = copy2d;
  gather_stub.cuda = gather;
  one_hot_stub.cuda = one_hot;
}

}  // namespace neurona::kernels::cuda
