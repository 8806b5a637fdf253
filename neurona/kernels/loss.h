// Fused softmax cross-entropy: the front doors. The softmax of the logits and the cross-entropy
// with the labels are one kernel over each row of the last axis (logsumexp-based, stable for
// any magnitude), and the backward pass is one elementwise kernel (softmax - targets) * grad.
// Rows are every index of the leading axes: logits (..., classes) give losses (...).
#pragma once

#include <utility>

#include "neurona/core/tensor.h"

namespace neurona::kernels {

/// -log(softmax(logits)[label]) for each row: logits (..., classes) float32/float64, labels
/// (...) int32/int64/uint8 (float labels are truncated to integers, as Keras casts them).
/// Returns the losses (...) and, when given, writes each row's maximum and
/// log(sum(exp(x - max))) to `row_max` and `log_sum` (what the backward kernel needs; kept
/// apart because a float32 logsumexp of large logits has lost the bits the softmax needs). A label
/// outside [0, classes) is a ValueError on the CPU; on a GPU its row's loss is NaN (checking would
/// stall the GPU), and memory outside the row is never read.
Tensor sparse_softmax_cross_entropy(const Tensor& logits, const Tensor& labels,
                                    Tensor* row_max = nullptr, Tensor* log_sum = nullptr);

/// d loss / d logits = (softmax(logits) - one_hot(labels)) * grad[..., None], with `row_max`
/// and `log_sum` from the forward call and `grad` shaped like the losses. NaN rows for out-of-range
/// labels on a GPU, as the forward pass.
Tensor sparse_softmax_cross_entropy_backward(const Tensor& logits, const Tensor& labels,
                                             const Tensor& row_max, const Tensor& log_sum,
                                             const Tensor& grad);

/// -sum(targets * log_softmax(logits)) over the last axis, targets shaped like the logits
/// (one-hot, smoothed or any weights). When given, `row_max`, `log_sum` and `target_sum`
/// receive each row's maximum, log-sum and sum of targets for the backward kernel.
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& targets, Tensor* row_max = nullptr,
                             Tensor* log_sum = nullptr, Tensor* target_sum = nullptr);

/// The gradients of softmax_cross_entropy: with respect to the logits,
/// (softmax(logits) * sum(targets) - targets) * grad[..., None], and, when `targets_gradient`,
/// with respect to the targets, (logsumexp - logits) * grad[..., None] (else undefined).
std::pair<Tensor, Tensor> softmax_cross_entropy_backward(
    const Tensor& logits, const Tensor& targets, const Tensor& row_max, const Tensor& log_sum,
    const Tensor& target_sum, const Tensor& grad, bool targets_gradient);

}  // namespace neurona::kernels
