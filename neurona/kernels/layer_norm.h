// Layer normalization as fused kernels: the front doors. Each example is normalized over its
// trailing axes (from `begin_axis` to the last, the common case of Keras's LayerNormalization
// and what transformers use: the features of each token) with its own mean and biased variance,
// in one kernel per direction: the forward pass takes a row's statistics and writes it
// normalized, the backward pass writes dx and the per-feature gradients of gamma and beta.
// What LayerNormalization runs for trailing axes, instead of a chain of about ten generic ops
// (issue 21). With `rms`, the same kernels compute RMS normalization (RMSNormalization,
// keras.ops.rms_normalization): the mean taken as 0, the variance as the mean square.
#pragma once

#include "neurona/core/tensor.h"

namespace neurona::kernels {

/// The per-row statistics of layer_norm_forward, shaped (rows,) where rows is the product of
/// x's axes before `begin_axis`, in the statistics' dtype (float32 for 16-bit inputs, else the
/// input's): the mean and 1 / sqrt(variance + epsilon), which the backward pass takes.
struct LayerNormStatistics {
  Tensor mean, inv_std;
};

/// Keras's layer normalization over the axes [begin_axis, rank) of x (negative counts from the
/// end): y = (x - mean) * inv + beta, inv = gamma / sqrt(variance + epsilon), with the
/// mean and the biased variance of each row (x's values sharing the leading axes). `gamma` and
/// `beta` have x's trailing shape (x.shape()[begin_axis:]) or are undefined for none. x is
/// float32, float64, bfloat16 or float16; the statistics, gamma and beta are float32 for 16-bit
/// x (computed in float32, the result rounded once), else x's dtype. Writes the statistics to
/// `statistics` when given. With `rms`: y = x * gamma / sqrt(mean(x^2) + epsilon), the mean
/// statistic 0 and beta undefined (ValueError otherwise).
///   kernels::LayerNormStatistics s;
///   Tensor y = kernels::layer_norm_forward(x, -1, gamma, beta, 1e-3, &s);
Tensor layer_norm_forward(const Tensor& x, int begin_axis, const Tensor& gamma, const Tensor& beta,
                          double epsilon, LayerNormStatistics* statistics = nullptr,
                          bool rms = false);

/// What layer_norm_backward computes; undefined where not asked for.
struct LayerNormGradients {
  Tensor dx, dgamma, dbeta;
};

/// Which gradients layer_norm_backward computes.
struct LayerNormWanted {
  bool dx = true, dgamma = true, dbeta = true;
};

/// The gradients of layer_norm_forward's y (through each row's statistics) given `grad`, the
/// gradient of y (x's shape and dtype), and the forward pass's per-row `mean` and `inv_std`:
/// dx (x's dtype), dgamma = sum over rows of grad * xhat and dbeta = sum over rows of grad (the
/// statistics' dtype, x's trailing shape), with xhat = (x - mean) * inv_std. `gamma` is the
/// forward pass's (undefined: none); dgamma needs no gamma. `rms` as the forward pass's (its
/// dx has no mean term; ValueError when dbeta is wanted).
LayerNormGradients layer_norm_backward(const Tensor& x, const Tensor& grad, const Tensor& mean,
                                       const Tensor& inv_std, int begin_axis, const Tensor& gamma,
                                       LayerNormWanted wanted = {}, bool rms = false);

}  // namespace neurona::kernels
