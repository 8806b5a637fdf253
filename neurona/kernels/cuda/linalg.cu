// CUDA matmul on cuBLAS (strided-batched SGEMM/DGEMM, and cublasGemmStridedBatchedEx for
// bfloat16 and float16 with float32 accumulation on the tensor cores; a row-major product is
// computed as the column-major product of the transposes, C^T = B^T A^T) and transpose. float32
// products use TF32 tensor cores while config::tensor_float_32_execution_enabled().
#include <cublasLt.h>

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>

#include "neurona/core/backend.h"
#include "neurona/core/config.h"
#include "neurona/kernels/cuda/epilogue.h"
#include "neurona/kernels/cuda/kernels.h"
#include "neurona/kernels/cuda/launch.cuh"
#include "neurona/kernels/linalg_stubs.h"
#include "neurona/kernels/math/impl.h"

namespace neurona::kernels::cuda {

namespace {

// cuBLAS's name for a dtype's elements.
cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::float32:
      return CUDA_R_32F;
    case DType::float64:
      return CUDA_R_64F;
    case DType::bfloat16:
      return CUDA_R_16BF;
    case DType::float16:
      return CUDA_R_16F;
    default:
      throw ValueError(detail::str("matmul: no cuBLAS type for ", t));
  }
}

template <typename T>
void gemm(cublasHandle_t h, cublasOperation_t tb, cublasOperation_t ta, int n, int m, int k,
          const T* B, int ldb, long long sb, const T* A, int lda, long long sa, T* C, long long sc,
          int batch) {
  if constexpr (!std::is_same_v<compute_t<T>, T>) {  // bfloat16, float16: float32 accumulation
    const float one = 1, zero = 0;
    const cudaDataType_t t = cuda_type(dtype_of<T>());
    NEURONA_CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, tb, ta, n, m, k, &one, B, t, ldb, sb, A, t,
                                                    lda, sa, &zero, C, t, n, sc, batch,
                                                    CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    return;
  }
  const T one = 1, zero = 0;
  if constexpr (std::is_same_v<T, float>) {
    NEURONA_CUBLAS_CHECK(cublasSgemmStridedBatched(h, tb, ta, n, m, k, &one, B, ldb, sb, A, lda, sa,
                                                   &zero, C, n, sc, batch));
  } else if constexpr (std::is_same_v<T, double>) {
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
  // TF32 tensor cores for float32 where the switch allows them (neurona/core/config.h).
  const bool tf32 = std::is_same_v<T, float> && config::tensor_float_32_execution_enabled();
  NEURONA_CUBLAS_CHECK(
      cublasSetMathMode(h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
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
  switch (a.dtype()) {
    case DType::float32:
      return matmul_typed<float>(a, b, p, out);
    case DType::float64:
      return matmul_typed<double>(a, b, p, out);
    case DType::bfloat16:
      return matmul_typed<bfloat16>(a, b, p, out);
    case DType::float16:
      return matmul_typed<float16>(a, b, p, out);
    default:
      throw ValueError(detail::str("matmul: no CUDA kernel for ", a.dtype()));
  }
}

// RAII for the cuBLASLt descriptors of one call.
struct LtDescriptors {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  ~LtDescriptors() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (c) cublasLtMatrixLayoutDestroy(c);
    if (b) cublasLtMatrixLayoutDestroy(b);
    if (a) cublasLtMatrixLayoutDestroy(a);
    if (op) cublasLtMatmulDescDestroy(op);
  }
};

// The compute type of float32 products (TF32 tensor cores unless switched off).
cublasComputeType_t float32_compute() {
  return config::tensor_float_32_execution_enabled() ? CUBLAS_COMPUTE_32F_FAST_TF32
                                                     : CUBLAS_COMPUTE_32F;
}

// The compute type of a product of `t`: float32 accumulation for the 16-bit types (their tensor
// cores), TF32 or float32 for float32.
cublasComputeType_t compute_type(DType t) {
  return t == DType::float32 ? float32_compute() : CUBLAS_COMPUTE_32F;
}

// The largest power of two up to 256 that divides `p`'s address. cuBLASLt's heuristic assumes
// 256-byte-aligned matrices unless its MIN_ALIGNMENT preferences say less, and may pick an
// algorithm that needs it; a view into a tensor (a data set slice's rows) starts anywhere.
std::uint32_t alignment_of(const void* p) {
  const auto address = reinterpret_cast<std::uintptr_t>(p);
  std::uint32_t align = 256;
  while (align > 1 && address % align != 0) align /= 2;
  return align;
}

// cuBLASLt documents no alignment for the bias pointer, but its users have seen the bias
// epilogues fail on biases less than 8-byte aligned (marian-nmt's prod.cpp asks for 16): a
// bias less aligned than this (a view; a weight's own buffer never is) goes through the plain
// epilogue and the bias kernel (forward) or the matmul and the sum (backward) instead.
constexpr std::uint32_t kLtBiasAlignment = 16;

// What decides cuBLASLt's choice of algorithm for one of the calls below: the device, the shape,
// the dtype, the compute type, the epilogue (with or without a bias) and the alignments of A,
// B and C (= D), which the preference passes on.
struct LtKey {
  int device;
  std::uint64_t m, n, k;
  DType dtype;
  cublasComputeType_t compute;
  cublasLtEpilogue_t epilogue;
  std::array<std::uint32_t, 3> alignment;  // A, B, C
  auto tie() const { return std::tie(device, m, n, k, dtype, compute, epilogue, alignment); }
  bool operator<(const LtKey& o) const { return tie() < o.tie(); }
};

// Sets `d`'s preference (up to 32 MiB of workspace) and asks cuBLASLt for its best algorithm;
// false where it has none for these descriptors (or does not support the epilogue). The answer
// is kept per key: the query costs host time on every eager call otherwise.
bool best_algorithm(neurona::cuda::Context& ctx, LtDescriptors& d, const LtKey& key,
                    cublasLtMatmulHeuristicResult_t* heuristic) {
  static std::mutex mu;
  static std::map<LtKey, std::optional<cublasLtMatmulHeuristicResult_t>> cache;
  {
    std::lock_guard lock(mu);
    if (const auto it = cache.find(key); it != cache.end()) {
      if (it->second) *heuristic = *it->second;
      return it->second.has_value();
    }
  }
  constexpr std::size_t kWorkspace = std::size_t{32} << 20;
  NEURONA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&d.pref));
  NEURONA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
      d.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &kWorkspace, sizeof kWorkspace));
  const std::pair<cublasLtMatmulPreferenceAttributes_t, std::uint32_t> alignments[] = {
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.alignment[0]},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.alignment[1]},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.alignment[2]},
      {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.alignment[2]}};
  for (const auto& [attribute, bytes] : alignments) {
    NEURONA_CUBLAS_CHECK(
        cublasLtMatmulPreferenceSetAttribute(d.pref, attribute, &bytes, sizeof bytes));
  }
  int found = 0;
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(ctx.cublas_lt(), d.op, d.a, d.b, d.c,
                                                           d.c, d.pref, 1, heuristic, &found);
  if (st != CUBLAS_STATUS_NOT_SUPPORTED) NEURONA_CUBLAS_CHECK(st);
  const bool ok = st == CUBLAS_STATUS_SUCCESS && found > 0;
  std::lock_guard lock(mu);
  cache[key] = ok ? std::optional(*heuristic) : std::nullopt;
  return ok;
}

// Row-major y (m, n) = x (m, k) W (k, n) is column-major y^T (n, m) = W^T (n, k) x^T (k, m):
// cuBLASLt's D = A B with A = W and B = x as stored, no transposes, and the bias (one value
// per row of D) and ReLU applied in the epilogue. false where cuBLASLt offers no algorithm
// (told the operands' real alignment, it may have none for a view): the caller runs cuBLAS's
// GEMM and the epilogue kernel.
bool dense_lt(const Tensor& x, const Tensor& kernel, const Tensor& bias, FusedActivation act,
              Tensor& out) {
  auto& ctx = neurona::cuda::context(out.device().index());
  neurona::cuda::DeviceGuard guard(ctx.index());
  const std::uint64_t m = static_cast<std::uint64_t>(x.shape()[0]);
  const std::uint64_t k = static_cast<std::uint64_t>(x.shape()[1]);
  const std::uint64_t n = static_cast<std::uint64_t>(kernel.shape()[1]);
  LtDescriptors d;
  NEURONA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d.op, compute_type(x.dtype()), CUDA_R_32F));
  const cudaDataType_t t = cuda_type(x.dtype());
  const bool relu = act == FusedActivation::relu;
  const bool bias_epilogue = bias.defined() && alignment_of(bias.raw_data()) >= kLtBiasAlignment;
  const cublasLtEpilogue_t epilogue =
      bias_epilogue
          ? (relu ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS)
          : (relu && !bias.defined() ? CUBLASLT_EPILOGUE_RELU : CUBLASLT_EPILOGUE_DEFAULT);
  NEURONA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                      &epilogue, sizeof epilogue));
  if (bias_epilogue) {
    const void* bias_ptr = bias.raw_data();
    NEURONA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                        &bias_ptr, sizeof bias_ptr));
  }
  NEURONA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.a, t, n, k, static_cast<std::int64_t>(n)));
  NEURONA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.b, t, k, m, static_cast<std::int64_t>(k)));
  NEURONA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.c, t, n, m, static_cast<std::int64_t>(n)));
  cublasLtMatmulHeuristicResult_t heuristic{};
  const LtKey key{
      ctx.index(),
      m,
      n,
      k,
      x.dtype(),
      compute_type(x.dtype()),
      epilogue,
      {alignment_of(kernel.raw_data()), alignment_of(x.raw_data()), alignment_of(out.raw_data())}};
  if (!best_algorithm(ctx, d, key, &heuristic)) return false;
  const Tensor workspace = Tensor::empty({static_cast<std::int64_t>(heuristic.workspaceSize)},
                                         DType::uint8, out.device());
  const float one = 1, zero = 0;
  NEURONA_CUBLAS_CHECK(cublasLtMatmul(ctx.cublas_lt(), d.op, &one, kernel.raw_data(), d.a,
                                      x.raw_data(), d.b, &zero, out.raw_data(), d.c, out.raw_data(),
                                      d.c, &heuristic.algo, workspace.raw_data(),
                                      heuristic.workspaceSize, ctx.stream()));
  if (bias.defined() && !bias_epilogue) bias_activation_rows(out, bias, act);
  return true;
}

void dense(const Tensor& x, const Tensor& kernel, const Tensor& bias, FusedActivation act,
           Tensor& out) {
  if (x.dtype() != DType::float64 && x.shape()[1] > 0 && dense_lt(x, kernel, bias, act, out)) {
    return;
  }
  // float64, an empty inner dimension, or no cuBLASLt algorithm: cuBLAS's GEMM, then the
  // epilogue.
  MatmulPlan p;
  p.m = x.shape()[0];
  p.k = x.shape()[1];
  p.n = kernel.shape()[1];
  matmul(x, kernel, p, out);
  bias_activation_rows(out, bias, act);
}

// Row-major dkernel (k, n) = x^T (k, m) grad (m, n) is column-major dkernel^T (n, k) =
// grad^T (n, m) x (m, k): cuBLASLt's D = A op(B) with A = grad as stored (n x m, column-major),
// B = x as stored (k x m) transposed, and the BGRADA epilogue reducing A over the product's
// inner dimension (the m samples) into dbias, one value per row of D. false where cuBLASLt
// offers no algorithm for it (the caller then runs a matmul and a sum).
bool dense_backward_weights_bias_lt(const Tensor& x, const Tensor& grad, Tensor& dkernel,
                                    Tensor& dbias) {
  // A guard: dbias is a fresh buffer (256-byte aligned), never a view.
  if (alignment_of(dbias.raw_data()) < kLtBiasAlignment) return false;
  auto& ctx = neurona::cuda::context(x.device().index());
  neurona::cuda::DeviceGuard guard(ctx.index());
  const std::uint64_t m = static_cast<std::uint64_t>(x.shape()[0]);
  const std::uint64_t k = static_cast<std::uint64_t>(x.shape()[1]);
  const std::uint64_t n = static_cast<std::uint64_t>(grad.shape()[1]);
  LtDescriptors d;
  NEURONA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&d.op, compute_type(x.dtype()), CUDA_R_32F));
  const cudaDataType_t t = cuda_type(x.dtype());
  const cublasOperation_t transpose = CUBLAS_OP_T;
  NEURONA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_TRANSB, &transpose,
                                                      sizeof transpose));
  const cublasLtEpilogue_t epilogue = CUBLASLT_EPILOGUE_BGRADA;
  NEURONA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_EPILOGUE,
                                                      &epilogue, sizeof epilogue));
  void* bias_ptr = dbias.raw_data();
  NEURONA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(d.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                      &bias_ptr, sizeof bias_ptr));
  NEURONA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.a, t, n, m, static_cast<std::int64_t>(n)));
  NEURONA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.b, t, k, m, static_cast<std::int64_t>(k)));
  NEURONA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&d.c, t, n, k, static_cast<std::int64_t>(n)));
  cublasLtMatmulHeuristicResult_t heuristic{};
  const LtKey key{ctx.index(),
                  m,
                  n,
                  k,
                  x.dtype(),
                  compute_type(x.dtype()),
                  epilogue,
                  {alignment_of(grad.raw_data()), alignment_of(x.raw_data()),
                   alignment_of(dkernel.raw_data())}};
  if (!best_algorithm(ctx, d, key, &heuristic)) return false;
  const Tensor workspace =
      Tensor::empty({static_cast<std::int64_t>(heuristic.workspaceSize)}, DType::uint8, x.device());
  const float one = 1, zero = 0;
  NEURONA_CUBLAS_CHECK(cublasLtMatmul(ctx.cublas_lt(), d.op, &one, grad.raw_data(), d.a,
                                      x.raw_data(), d.b, &zero, dkernel.raw_data(), d.c,
                                      dkernel.raw_data(), d.c, &heuristic.algo,
                                      workspace.raw_data(), heuristic.workspaceSize, ctx.stream()));
  return true;
}

// Takes float32, bfloat16 and float16 (the front door runs float64 as a matmul and a sum).
void dense_backward_weights_bias(const Tensor& x, const Tensor& grad, Tensor& dkernel,
                                 Tensor& dbias) {
  if (dense_backward_weights_bias_lt(x, grad, dkernel, dbias)) return;
  // No cuBLASLt algorithm for this shape: the kernels of the ops the front door would run,
  // x^T grad and grad's column sums.
  MatmulPlan p;
  p.m = x.shape()[1];
  p.k = x.shape()[0];
  p.n = grad.shape()[1];
  p.transpose_a = true;
  p.stride_a = p.m * p.k;
  p.stride_b = p.k * p.n;
  matmul(x, grad, p, dkernel);
  reduce(ReduceOp::sum, grad, reduce_plan(grad.shape(), {true, false}, "dense_backward"), dbias);
}

}  // namespace

void strided_copy(const Tensor& x, const Indexer<1>& ix, Tensor& out) {
  strided_copy_impl(Launch(out.device()), x, ix, out);
}

// y[i] = act(y[i] + bias[i % n]): the result's rows are contiguous, n values each.
template <typename T>
struct BiasActivationFunctor {
  T* y;
  const T* bias;  // null: no bias
  std::int64_t n;
  bool relu;
  __device__ void operator()(std::int64_t i) const {
    using C = compute_t<T>;
    C v = static_cast<C>(y[i]);
    if (bias != nullptr) v += static_cast<C>(bias[i % n]);
    y[i] = static_cast<T>(relu ? unary_apply<UnaryOp::relu, C>(v, C(0)) : v);
  }
};

void bias_activation_rows(Tensor& y, const Tensor& bias, FusedActivation act) {
  if (!bias.defined() && act == FusedActivation::linear) return;
  const std::int64_t n = y.shape()[y.rank() - 1];
  const bool known = visit_float_dtype(y.dtype(), [&](auto v) {
    using T = decltype(v);
    Launch(y.device())(
        y.numel(), BiasActivationFunctor<T>{y.data<T>(), bias.defined() ? bias.data<T>() : nullptr,
                                            n, act == FusedActivation::relu});
  });
  NEURONA_CHECK(known, ValueError, "bias_activation: no CUDA kernel for ", y.dtype());
}

void register_linalg() {
  matmul_stub.cuda = matmul;
  dense_stub.cuda = dense;
  dense_backward_weights_bias_stub.cuda = dense_backward_weights_bias;
  dense_backward_weights_bias_stub.cuda_dtypes = {DType::float32, DType::bfloat16, DType::float16};
  strided_copy_stub.cuda = strided_copy;
}

}  // namespace neurona::kernels::cuda
