// The dispatch stubs of kernels/linalg.h's ops: the signatures the CPU and CUDA kernels
// implement, and the tables the front doors in kernels/linalg.cpp call (and define).
// Private to kernels/.
#pragma once

#include <cstdint>
#include <vector>

#include "neurona/core/op_options.h"
#include "neurona/core/tensor.h"
#include "neurona/kernels/dispatch.h"
#include "neurona/kernels/math/indexer.h"

namespace neurona::kernels {

/// A (batched) row-major matrix product: C[b] = op(A[b]) op(B[b]), (m x k)(k x n) -> (m x n).
struct MatmulPlan {
  std::int64_t batch = 1, m = 0, n = 0, k = 0;
  bool transpose_a = false, transpose_b = false;
  /// Element offsets of each batch's A and B (C is contiguous); `uniform` when they are
  /// batch * stride_a / stride_b with constant strides (possibly 0 for a shared operand).
  bool uniform = true;
  std::int64_t stride_a = 0, stride_b = 0;
  std::vector<std::int64_t> offsets_a, offsets_b;
};

using MatmulFn = void (*)(const Tensor& a, const Tensor& b, const MatmulPlan& plan, Tensor& out);

/// out (m, n) = act(x (m, k) @ kernel (k, n) + bias (n,)); bias may be undefined.
using DenseFn = void (*)(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                         FusedActivation activation, Tensor& out);

/// dkernel (k, n) = x (m, k)^T grad (m, n) and dbias (n,) = grad's column sums; filled only
/// where that is one pass, for the dtypes it takes (elsewhere the front door runs a matmul and
/// a sum).
using DenseBackwardWeightsBiasFn = void (*)(const Tensor& x, const Tensor& grad, Tensor& dkernel,
                                            Tensor& dbias);

/// out[i] = x[offset of output index i under `ix`] (transpose and other gathers by stride).
using StridedCopyFn = void (*)(const Tensor& x, const Indexer<1>& ix, Tensor& out);

/// The strided copy that permutes the axes of a contiguous tensor of `shape` (`perm` valid and
/// normalised: transpose's checks): the result's shape and the copy's indexer.
struct PermutePlan {
  Shape shape;
  Indexer<1> ix;
};
PermutePlan permute_plan(const Shape& shape, const std::vector<int>& perm);

extern DispatchStub<MatmulFn> matmul_stub;

extern DispatchStub<DenseFn> dense_stub;

extern DispatchStub<DenseBackwardWeightsBiasFn> dense_backward_weights_bias_stub;

extern DispatchStub<StridedCopyFn> strided_copy_stub;

}  // namespace neurona::kernels
