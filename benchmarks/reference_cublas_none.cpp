// The CUDA reference in a build without CUDA.
#include "reference.h"

namespace neurona::bench {
double cublas_sgemm_seconds(int, int, bool) {
  return -1.0;
}
double cublas_gemm_bf16_seconds(int, int) {
  return -1.0;
}
std::string cublas_description() {
  return "CUDA not built";
}
}  // namespace neurona::bench
