// The dispatch stubs of kernels/loss.h's ops: the signatures the CPU and CUDA kernels
// implement, and the tables the front doors in kernels/loss.cpp call (and define).
// Private to kernels/.
#pragma once

#include <cstdint>
#include <vector>

#include "neurona/core/tensor.h"
#include "neurona/kernels/dispatch.h"

namespace neurona::kernels {

/// Fused softmax cross-entropy over the rows of the last axis (kernels/loss.h): losses and
/// each row's max and log(sum(exp(x - max))) (and, for dense targets, sum of targets) for the
/// backward kernels.
using SparseSoftmaxCrossEntropyFn = void (*)(const Tensor& logits, const Tensor& labels,
                                             Tensor& loss, Tensor& row_max, Tensor& log_sum);

using SparseSoftmaxCrossEntropyBackwardFn = void (*)(const Tensor& logits, const Tensor& labels,
                                                     const Tensor& row_max, const Tensor& log_sum,
                                                     const Tensor& grad, Tensor& dlogits);

using SoftmaxCrossEntropyFn = void (*)(const Tensor& logits, const Tensor& targets, Tensor& loss,
                                       Tensor& row_max, Tensor& log_sum, Tensor& target_sum);

/// `dtargets` may be undefined (no gradient for the targets).
using SoftmaxCrossEntropyBackwardFn = void (*)(const Tensor& logits, const Tensor& targets,
                                               const Tensor& row_max, const Tensor& log_sum,
                                               const Tensor& target_sum, const Tensor& grad,
                                               Tensor& dlogits, Tensor& dtargets);

extern DispatchStub<SparseSoftmaxCrossEntropyFn> sparse_softmax_cross_entropy_stub;

extern DispatchStub<SparseSoftmaxCrossEntropyBackwardFn> sparse_softmax_cross_entropy_backward_stub;

extern DispatchStub<SoftmaxCrossEntropyFn> softmax_cross_entropy_stub;

extern DispatchStub<SoftmaxCrossEntropyBackwardFn> softmax_cross_entropy_backward_stub;

}  // namespace neurona::kernels
