// Per-GPU state: the one stream every launcher uses, and the cuBLAS and cuDNN handles bound
// to it, created on first use. Internal to core/ and kernels/cuda/.
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <mutex>

namespace neurona::cuda {

class Context {
 public:
  explicit Context(int index);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  int index() const { return index_; }
  cudaStream_t stream() const { return stream_; }
  cublasHandle_t cublas();
  cublasLtHandle_t cublas_lt();
  cudnnHandle_t cudnn();
  const cudaDeviceProp& properties() const { return props_; }

 private:
  int index_;
  cudaStream_t stream_ = nullptr;
  cudaDeviceProp props_{};
  std::once_flag cublas_once_, cublas_lt_once_, cudnn_once_;
  cublasLtHandle_t cublas_lt_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  void* cublas_workspace_ = nullptr;
};

/// Number of GPUs the driver reports, asked once: 0 when cudaGetDeviceCount fails for any
/// reason (no driver, a driver too old, no GPU), never an error.
int device_count();

/// The context of GPU `index` (created on first use; ValueError if the device does not exist).
Context& context(int index);

/// Makes GPU `index` current for the lifetime of the guard.
class DeviceGuard {
 public:
  explicit DeviceGuard(int index);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

}  // namespace neurona::cuda
