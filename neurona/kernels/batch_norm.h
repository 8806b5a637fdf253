// Batch normalization as fused kernels: the front doors. Training normalizes with the batch's
// statistics (mean and biased variance over every axis but one) in one pass over the data for
// the statistics and one to normalize; its gradient is one pass of per-channel reductions and
// one for the input's gradient; inference is one elementwise pass. What BatchNormalization
// runs, instead of a chain of generic ops (issue 18).
#pragma once

#include "neurona/core/tensor.h"

namespace neurona::kernels {

/// The batch statistics of batch_norm_training, per channel, in the statistics' dtype (float32
/// for 16-bit inputs, else the input's dtype): the mean, the biased variance, and
/// 1 / sqrt(variance + epsilon), which the backward pass takes.
struct BatchNormStatistics {
  Tensor mean, variance, inv_std;
};

/// Keras's batch normalization with the batch's own statistics:
/// y = x * inv + (offset - mean * inv), inv = scale / sqrt(variance + epsilon), where mean and
/// variance (biased, divided by the count) are taken over every axis of x but `axis`
/// (negative counts from the end). `offset` (beta) and `scale` (gamma) have shape
/// (x.shape()[axis],) or are undefined for none. x is float32, float64, bfloat16 or float16;
/// the statistics, offset and scale are float32 for 16-bit x (computed in float32, the result
/// rounded once), else x's dtype. Writes the statistics to `statistics` when given.
///   kernels::BatchNormStatistics s;
///   Tensor y = kernels::batch_norm_training(x, -1, beta, gamma, 1e-3, &s);
Tensor batch_norm_training(const Tensor& x, int axis, const Tensor& offset, const Tensor& scale,
                           double epsilon, BatchNormStatistics* statistics = nullptr);

/// The same normalization with given statistics (the moving ones, in inference): `mean` and
/// `variance` of shape (x.shape()[axis],) in the statistics' dtype, as above.
Tensor batch_norm_inference(const Tensor& x, const Tensor& mean, const Tensor& variance, int axis,
                            const Tensor& offset, const Tensor& scale, double epsilon);

/// What batch_norm_backward computes; undefined where not asked for.
struct BatchNormGradients {
  Tensor dx, dscale, doffset;
};

/// Which gradients batch_norm_backward computes.
struct BatchNormWanted {
  bool dx = true, dscale = true, doffset = true;
};

/// The gradients of batch_norm_training's y (through the batch statistics) given `grad`, the
/// gradient of y (x's shape and dtype), and the forward pass's `mean` and `inv_std`: dx (x's
/// dtype), dscale = sum(grad * xhat) and doffset = sum(grad) (the statistics' dtype), with
/// xhat = (x - mean) * inv_std. `scale` is the forward pass's (undefined: none). dscale needs no
/// scale: it is the gradient the scale would have.
BatchNormGradients batch_norm_backward(const Tensor& x, const Tensor& grad, const Tensor& mean,
                                       const Tensor& inv_std, int axis, const Tensor& scale,
                                       BatchNormWanted wanted = {});

}  // namespace neurona::kernels
