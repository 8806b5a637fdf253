// The errors the checks of core/cuda/check.h throw.
#include "neurona/core/cuda/check.h"

namespace neurona::cuda {

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  throw Error(detail::str(call, " failed: ", cudaGetErrorName(err), " (", cudaGetErrorString(err),
                          ") at ", file, ":", line));
}

void throw_cublas_error(cublasStatus_t st, const char* call, const char* file, int line) {
  throw Error(detail::str(call, " failed: ", cublasGetStatusName(st), " (",
                          cublasGetStatusString(st), ") at ", file, ":", line));
}

void throw_cudnn_error(cudnnStatus_t st, const char* call, const char* file, int line) {
  throw Error(detail::str(call, " failed: ", cudnnGetErrorString(st), " (status ",
                          static_cast<int>(st), ") at ", file, ":", line));
}

void check_launch(const char* kernel_name, const char* file, int line) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    throw Error(detail::str("launch of ", kernel_name, " failed: ", cudaGetErrorName(err), " (",
                            cudaGetErrorString(err), ") at ", file, ":", line));
  }
}

}  // namespace neurona::cuda
