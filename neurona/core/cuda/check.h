// Checks for every CUDA, cuBLAS and cuDNN call: a failure throws neurona::Error naming the
// call, the library's own error name and text, and the file and line.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "neurona/core/error.h"

namespace neurona::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t st, const char* call, const char* file,
                                     int line);
[[noreturn]] void throw_cudnn_error(cudnnStatus_t st, const char* call, const char* file, int line);

}  // namespace neurona::cuda

#define NEURONA_CUDA_CHECK(call)                                                  \
  do {                                                                            \
    const cudaError_t neurona_err_ = (call);                                      \
    if (neurona_err_ != cudaSuccess)                                              \
      ::neurona::cuda::throw_cuda_error(neurona_err_, #call, __FILE__, __LINE__); \
  } while (0)

#define NEURONA_CUBLAS_CHECK(call)                                                 \
  do {                                                                             \
    const cublasStatus_t neurona_st_ = (call);                                     \
    if (neurona_st_ != CUBLAS_STATUS_SUCCESS)                                      \
      ::neurona::cuda::throw_cublas_error(neurona_st_, #call, __FILE__, __LINE__); \
  } while (0)

#define NEURONA_CUDNN_CHECK(call)                                                 \
  do {                                                                            \
    const cudnnStatus_t neurona_st_ = (call);                                     \
    if (neurona_st_ != CUDNN_STATUS_SUCCESS)                                      \
      ::neurona::cuda::throw_cudnn_error(neurona_st_, #call, __FILE__, __LINE__); \
  } while (0)

/// Checks the launch that just happened (bad configuration, missing kernel image).
#define NEURONA_CUDA_CHECK_LAUNCH(kernel_name) \
  ::neurona::cuda::check_launch(kernel_name, __FILE__, __LINE__)

namespace neurona::cuda {
void check_launch(const char* kernel_name, const char* file, int line);
}
