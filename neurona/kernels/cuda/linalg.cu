// CUDA matmul on cuBLAS (strided-batched SGEMM/DGEMM; a row-major product is computed as the
// column-major product of the transposes, C^T = B^T A^T) and transpose.
#include "neurona/kernels/cuda/launch.cuh"
#include "neurona/kernels/math/impl.h"

namespace neurona::kernels::cuda {

namespace {

template <typename T>
void gemm(cublasHandle_t h, cublasOperation_t tb, cublasOperation_t ta, int n, int m, int k,
          const T* B, int ldb, long long sb, const T* A, int lda, long long sa, T* C, long long sc,
          int batch) {
  const T one = 1, zero = 0;
  if constexpr (std::is_same_v<T, float>) {
    NEURONA_CUBLAS_CHECK(cublasSgemmStridedBatched(h, tb, ta, n, m, k, &one, B, ldb, sb, A, lda, sa,
                                                   &zero, C, n, sc, batch));
  } else {
    NEURONA_CUBLAS_CHECK(cublasDgemmStridedBatched(h, tb, ta, n, m, k, &one, B, ldb, sb, A, lda, sa,
                                                   &zero, C, n, sc, batch));
  }
}

template <typename T>
void matmul_typed(const Tensor& a, const Tensor& b, const MatmulPlan& p, Tensor& out) {
  auto& ctx = neurona::cuda::context(out.device().index());
  neurona::cuda::DeviceGuard guard(ctx.index());
  cublasHandle_t h = ctx.cublas();
  NEURONA_CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
  const int m = static_cast<int>(p.m), n = static_cast<int>(p.n), k = static_cast<int>(p.k);
  const int lda = p.transpose_a ? m : k, ldb = p.transpose_b ? k : n;
  const auto ta = p.transpose_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  const auto tb = p.transpose_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const T* A = a.data<T>();
  const T* B = b.data<T>();
  T* C = out.data<T>();
  const long long mn = static_cast<long long>(p.m) * p.n;
  if (p.uniform) {
    // cuBLAS takes the batch count as int: split very large batches.
    for (std::int64_t start = 0; start < p.batch; start += INT_MAX) {
      const int count = static_cast<int>(std::min<std::int64_t>(p.batch - start, INT_MAX));
      gemm<T>(h, tb, ta, n, m, k, B + start * p.stride_b, ldb, p.stride_b, A + start * p.stride_a,
              lda, p.stride_a, C + start * mn, mn, count);
    }
  } else {
    for (std::int64_t i = 0; i < p.batch; ++i) {
      gemm<T>(h, tb, ta, n, m, k, B + p.offsets_b[static_cast<std::size_t>(i)], ldb, 0,
              A + p.offsets_a[static_cast<std::size_t>(i)], lda, 0, C + i * mn, mn, 1);
    }
  }
}

void matmul(const Tensor& a, const Tensor& b, const MatmulPlan& p, Tensor& out) {
  NEURONA_CHECK(p.m <= INT_MAX && p.n <= INT_MAX && p.k <= INT_MAX, ValueError,
                "matmul: dimensions (m=", p.m, ", n=", p.n, ", k=", p.k,
                ") exceed what cuBLAS accepts (2^31 - 1)");
  if (p.m == 0 || p.n == 0 || p.batch == 0) return;
  if (p.k == 0) {  // cuBLAS returns without writing C when k == 0
    auto& ctx = neurona::cuda::context(out.device().index());
    neurona::cuda::DeviceGuard guard(ctx.index());
    NEURONA_CUDA_CHECK(cudaMemsetAsync(out.raw_data(), 0, out.nbytes(), ctx.stream()));
    return;
  }
  if (a.dtype() == DType::float32) {
    matmul_typed<float>(a, b, p, out);
  } else {
    matmul_typed<double>(a, b, p, out);
  }
}

void strided_copy(const Tensor& x, const Indexer<1>& ix, Tensor& out) {
  strided_copy_impl(Launch(out.device()), x, ix, out);
}

}  // namespace

void register_linalg() {
  matmul_stub.cuda = matmul;
  strided_copy_stub.cuda = strided_copy;
}

}  // namespace neurona::kernels::cuda
