// What the direct CUDA references (reference_cublas.cu, reference_cudnn.cu) share: a check that
// throws with the failing call's name, and whether a GPU is there.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace neurona::bench {

inline void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
}

/// Any failure of cudaGetDeviceCount (no driver, a driver too old) means no GPU.
inline bool have_gpu() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return n > 0;
}

}  // namespace neurona::bench
