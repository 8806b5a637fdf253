// Direct cuBLAS SGEMM and bfloat16 GEMM: the ceilings neurona's GPU matmul is measured against.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "reference.h"
#include "reference_cuda.h"

namespace neurona::bench {

namespace {

using ::neurona::bench::check;  // with this file's own overload below
void check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) {
    throw std::runtime_error(std::string(what) + ": " + cublasGetStatusString(s));
  }
}
}  // namespace

namespace {
// Median seconds of `reps` synchronised runs of `run` after one warm-up.
template <typename F>
double median_run_seconds(int reps, F&& run) {
  run();
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

// Three n x n device matrices of `elem`-byte elements (a and b zeroed) and a cuBLAS handle, for
// the life of one measurement.
struct GemmOperands {
  void *a = nullptr, *b = nullptr, *c = nullptr;
  cublasHandle_t h = nullptr;
  GemmOperands(int n, std::size_t elem) {
    const std::size_t bytes = elem * static_cast<std::size_t>(n) * n;
    check(cudaMalloc(&a, bytes), "cudaMalloc");
    check(cudaMalloc(&b, bytes), "cudaMalloc");
    check(cudaMalloc(&c, bytes), "cudaMalloc");
    check(cudaMemset(a, 0, bytes), "cudaMemset");
    check(cudaMemset(b, 0, bytes), "cudaMemset");
    check(cublasCreate(&h), "cublasCreate");
  }
  ~GemmOperands() {
    if (h) cublasDestroy(h);
    cudaFree(a);
    cudaFree(b);
    cudaFree(c);
  }
  GemmOperands(const GemmOperands&) = delete;
  GemmOperands& operator=(const GemmOperands&) = delete;
};
}  // namespace

double cublas_gemm_bf16_seconds(int n, int reps) {
  if (!have_gpu()) return -1.0;
  GemmOperands m(n, 2);
  // What neurona's matmul calls for bfloat16: GemmEx, float32 accumulation, default algorithm.
  const float one = 1, zero = 0;
  return median_run_seconds(reps, [&] {
    check(cublasGemmEx(m.h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, m.b, CUDA_R_16BF, n, m.a,
                       CUDA_R_16BF, n, &zero, m.c, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT),
          "cublasGemmEx");
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  });
}

double cublas_sgemm_seconds(int n, int reps, bool tf32) {
  if (!have_gpu()) return -1.0;
  GemmOperands m(n, sizeof(float));
  // The same math mode as neurona's matmul under config::tensor_float_32_execution_enabled().
  check(cublasSetMathMode(m.h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
        "cublasSetMathMode");
  const float one = 1, zero = 0;
  return median_run_seconds(reps, [&] {
    check(cublasSgemm(m.h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, static_cast<float*>(m.b), n,
                      static_cast<float*>(m.a), n, &zero, static_cast<float*>(m.c), n),
          "cublasSgemm");
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  });
}

std::string cublas_description() {
  if (!have_gpu()) return "no CUDA GPU";
  cudaDeviceProp p{};
  check(cudaGetDeviceProperties(&p, 0), "cudaGetDeviceProperties");
  int version = 0;
  cublasHandle_t h;
  check(cublasCreate(&h), "cublasCreate");
  check(cublasGetVersion(h, &version), "cublasGetVersion");
  cublasDestroy(h);
  return std::string(p.name) + ", cuBLAS " + std::to_string(version);
}

}  // namespace neurona::bench
