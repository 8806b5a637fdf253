// Per-GPU contexts (core/cuda/context.h): the stream and library handles of each GPU, made on
// first use and kept until exit.
#include "neurona/core/cuda/context.h"

#include <memory>
#include <vector>

#include "neurona/core/cuda/check.h"

namespace neurona::cuda {

int device_count() {
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      (void)cudaGetLastError();  // clear the sticky "no driver" error
      return 0;
    }
    return n;
  }();
  return count;
}

DeviceGuard::DeviceGuard(int index) {
  NEURONA_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != index) {
    NEURONA_CUDA_CHECK(cudaSetDevice(index));
    changed_ = true;
  }
}

DeviceGuard::~DeviceGuard() {
  if (changed_) (void)cudaSetDevice(previous_);
}

Context::Context(int index) : index_(index) {
  DeviceGuard guard(index);
  NEURONA_CUDA_CHECK(cudaGetDeviceProperties(&props_, index));
  NEURONA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

Context::~Context() {
  // Contexts live until exit, when the driver may already be shutting down: ignore errors.
  if (cublas_) (void)cublasDestroy(cublas_);
  if (cublas_lt_) (void)cublasLtDestroy(cublas_lt_);
  if (cudnn_) (void)cudnnDestroy(cudnn_);
  if (cublas_workspace_) (void)cudaFree(cublas_workspace_);
  if (stream_) (void)cudaStreamDestroy(stream_);
}

cublasHandle_t Context::cublas() {
  std::call_once(cublas_once_, [this] {
    DeviceGuard guard(index_);
    NEURONA_CUBLAS_CHECK(cublasCreate(&cublas_));
    NEURONA_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
    // A workspace of our own (cuBLAS's recommended 32 MiB on Hopper), so that a captured graph's
    // products use it rather than memory cuBLAS would allocate during the capture.
    constexpr std::size_t kWorkspace = std::size_t{32} << 20;
    NEURONA_CUDA_CHECK(cudaMalloc(&cublas_workspace_, kWorkspace));
    NEURONA_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, kWorkspace));
  });
  return cublas_;
}

cublasLtHandle_t Context::cublas_lt() {
  std::call_once(cublas_lt_once_, [this] {
    DeviceGuard guard(index_);
    NEURONA_CUBLAS_CHECK(cublasLtCreate(&cublas_lt_));
  });
  return cublas_lt_;
}

cudnnHandle_t Context::cudnn() {
  std::call_once(cudnn_once_, [this] {
    DeviceGuard guard(index_);
    NEURONA_CUDNN_CHECK(cudnnCreate(&cudnn_));
    NEURONA_CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
  });
  return cudnn_;
}

Context& context(int index) {
  static std::mutex mu;
  // Leaked on purpose: storage freed during static destruction may still need a stream.
  static auto* contexts =
      new std::vector<std::unique_ptr<Context>>(static_cast<std::size_t>(device_count()));
  NEURONA_CHECK(index >= 0 && index < device_count(), ValueError,
                "cuda context: device cuda:", index, " does not exist (", device_count(),
                " CUDA GPUs available)");
  std::lock_guard lock(mu);
  auto& c = (*contexts)[static_cast<std::size_t>(index)];
  if (!c) c = std::make_unique<Context>(index);
  return *c;
}

}  // namespace neurona::cuda
