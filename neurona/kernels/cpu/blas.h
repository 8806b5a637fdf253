// One row-major GEMM call of OpenBLAS for float and double, as the CPU kernels that multiply
// blocks use it (the convolutions' im2col, the fused attention). Called inside an OpenMP
// parallel region, OpenBLAS (its OpenMP flavour) runs it on the calling thread. Private to
// kernels/cpu/.
#pragma once

#include <cblas.h>

#include <cstdint>
#include <type_traits>

namespace neurona::kernels::cpu {

/// c = alpha * op(a) op(b) + beta * c, op(x) = x or x transposed (ta, tb); op(a) is m x k, op(b)
/// k x n, c m x n; lda, ldb, ldc the row strides of a, b, c as stored. Empty products are
/// allowed: k = 0 gives beta * c (0 where beta is 0, whatever c held), as BLAS defines it.
template <typename T>
void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
          std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>);
  if (m == 0 || n == 0) return;
  if (k == 0) {  // BLAS would refuse the leading dimensions of empty a and b
    for (std::int64_t i = 0; i < m; ++i) {
      for (std::int64_t j = 0; j < n; ++j)
        c[i * ldc + j] = beta == T(0) ? T(0) : beta * c[i * ldc + j];
    }
    return;
  }
  const auto oa = ta ? CblasTrans : CblasNoTrans, ob = tb ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>) {
    cblas_sgemm(CblasRowMajor, oa, ob, static_cast<blasint>(m), static_cast<blasint>(n),
                static_cast<blasint>(k), alpha, a, static_cast<blasint>(lda), b,
                static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, oa, ob, static_cast<blasint>(m), static_cast<blasint>(n),
                static_cast<blasint>(k), alpha, a, static_cast<blasint>(lda), b,
                static_cast<blasint>(ldb), beta, c, static_cast<blasint>(ldc));
  }
}

}  // namespace neurona::kernels::cpu
