// CPU matmul on OpenBLAS (cblas_sgemm / cblas_dgemm, one call per batch) and transpose.
#include <cblas.h>

#include <climits>
#include <cstring>

#include "neurona/kernels/cpu/bias_activation.h"
#include "neurona/kernels/cpu/blas.h"
#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/linalg_stubs.h"
#include "neurona/kernels/math/impl.h"

namespace neurona::kernels::cpu {

namespace {

template <typename T>
void gemm_batches(const Tensor& a, const Tensor& b, const MatmulPlan& p, Tensor& out) {
  const T* A = a.data<T>();
  const T* B = b.data<T>();
  T* C = out.data<T>();
  const std::int64_t mn = p.m * p.n;
  if (p.k == 0) {  // an empty inner dimension gives zeros; BLAS may leave C untouched
    std::memset(C, 0, static_cast<std::size_t>(p.batch * mn) * sizeof(T));
    return;
  }
  const auto m = static_cast<blasint>(p.m), n = static_cast<blasint>(p.n),
             k = static_cast<blasint>(p.k);
  const blasint lda = p.transpose_a ? m : k, ldb = p.transpose_b ? k : n;
  const auto ta = p.transpose_a ? CblasTrans : CblasNoTrans;
  const auto tb = p.transpose_b ? CblasTrans : CblasNoTrans;
  for (std::int64_t i = 0; i < p.batch; ++i) {
    const std::int64_t oa = p.uniform ? i * p.stride_a : p.offsets_a[static_cast<std::size_t>(i)];
    const std::int64_t ob = p.uniform ? i * p.stride_b : p.offsets_b[static_cast<std::size_t>(i)];
    if constexpr (std::is_same_v<T, float>) {
      cblas_sgemm(CblasRowMajor, ta, tb, m, n, k, 1.0f, A + oa, lda, B + ob, ldb, 0.0f, C + i * mn,
                  n);
    } else {
      cblas_dgemm(CblasRowMajor, ta, tb, m, n, k, 1.0, A + oa, lda, B + ob, ldb, 0.0, C + i * mn,
                  n);
    }
  }
}

void matmul(const Tensor& a, const Tensor& b, const MatmulPlan& p, Tensor& out) {
  NEURONA_CHECK(p.m <= INT_MAX && p.n <= INT_MAX && p.k <= INT_MAX, ValueError,
                "matmul: dimensions (m=", p.m, ", n=", p.n, ", k=", p.k,
                ") exceed what the CPU BLAS accepts (2^31 - 1)");
  if (p.m == 0 || p.n == 0 || p.batch == 0) return;
  if (a.dtype() == DType::float32) {
    gemm_batches<float>(a, b, p, out);
  } else {
    gemm_batches<double>(a, b, p, out);
  }
}

// With a bias and no activation, the result starts as the bias rows and the GEMM adds the
// product to it (beta = 1): OpenBLAS then skips the pass that zeroes the result for beta = 0,
// and the bias costs a write of the result instead of a read and a write (1.05-1.31x at
// charlm's shapes, benchmarks/results/2026-12-07-cpu-dense-bias-beta.md). With relu that
// saves no pass and costs a parallel region more (0.82x at 1024 x 128 -> 128): GEMM, then
// bias and activation in one pass, as without a bias.
template <typename T>
void dense_typed(const Tensor& x, const Tensor& kernel, const Tensor& bias, FusedActivation act,
                 Tensor& out) {
  MatmulPlan p;
  p.m = x.shape()[0];
  p.k = x.shape()[1];
  p.n = kernel.shape()[1];
  NEURONA_CHECK(p.m <= INT_MAX && p.n <= INT_MAX && p.k <= INT_MAX, ValueError,
                "dense: dimensions (rows=", p.m, ", units=", p.n, ", input_dim=", p.k,
                ") exceed what the CPU BLAS accepts (2^31 - 1)");
  T* y = out.data<T>();
  if (!bias.defined() || act != FusedActivation::linear || p.k == 0) {
    matmul(x, kernel, p, out);
    bias_activation_rows(y, p.m, p.n, bias.defined() ? bias.data<T>() : nullptr, act);
    return;
  }
  const T* b = bias.data<T>();
  const std::int64_t n = p.n;
  Launch{}(p.m, n, [=](std::int64_t i) {
    std::memcpy(y + i * n, b, sizeof(T) * static_cast<std::size_t>(n));
  });
  gemm<T>(false, false, p.m, p.n, p.k, T(1), x.data<T>(), p.k, kernel.data<T>(), p.n, T(1), y, p.n);
}

void dense(const Tensor& x, const Tensor& kernel, const Tensor& bias, FusedActivation act,
           Tensor& out) {
  if (x.dtype() == DType::float32) {
    dense_typed<float>(x, kernel, bias, act, out);
  } else {
    dense_typed<double>(x, kernel, bias, act, out);
  }
}

void strided_copy(const Tensor& x, const Indexer<1>& ix, Tensor& out) {
  strided_copy_impl(Launch{}, x, ix, out);
}

}  // namespace

void register_linalg() {
  matmul_stub.cpu = matmul;
  dense_stub.cpu = dense;
  // BLAS: float32 and float64 (the front doors widen 16-bit data).
  matmul_stub.cpu_dtypes = kFloat32And64;
  dense_stub.cpu_dtypes = kFloat32And64;
  strided_copy_stub.cpu = strided_copy;
}

}  // namespace neurona::kernels::cpu
