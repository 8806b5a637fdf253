// The dispatch stubs of kernels/layer_norm.h's ops: the signatures the CPU and CUDA kernels
// implement, and the tables the front doors in kernels/layer_norm.cpp call (and define).
// Private to kernels/.
#pragma once

#include <cstdint>

#include "neurona/core/tensor.h"
#include "neurona/kernels/dispatch.h"

namespace neurona::kernels {

/// x viewed as (rows, features): each row is normalized over its features.
struct LayerNormGeometry {
  std::int64_t rows = 1, features = 1;
  /// RMS normalization: no mean is subtracted (the mean statistic is written as 0) and the
  /// variance is the mean square; beta is undefined.
  bool rms = false;
};

/// Writes y and each row's mean and inv_std. `gamma` and `beta` may be undefined (none), else
/// hold `features` values. The front door has checked everything, and rows, features > 0.
using LayerNormForwardFn = void (*)(const Tensor& x, const LayerNormGeometry& g,
                                    const Tensor& gamma, const Tensor& beta, double epsilon,
                                    Tensor& y, Tensor& mean, Tensor& inv_std);

/// Writes the gradients that are defined on entry (dx, dgamma, dbeta; at least one is).
using LayerNormBackwardFn = void (*)(const Tensor& x, const Tensor& grad,
                                     const LayerNormGeometry& g, const Tensor& mean,
                                     const Tensor& inv_std, const Tensor& gamma, Tensor& dx,
                                     Tensor& dgamma, Tensor& dbeta);

extern DispatchStub<LayerNormForwardFn> layer_norm_forward_stub;
extern DispatchStub<LayerNormBackwardFn> layer_norm_backward_stub;

}  // namespace neurona::kernels
