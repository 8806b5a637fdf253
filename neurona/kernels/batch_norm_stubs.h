// The dispatch stubs of kernels/batch_norm.h's ops: the signatures the CPU and CUDA kernels
// implement, and the tables the front doors in kernels/batch_norm.cpp call (and define).
// Private to kernels/.
#pragma once

#include <cstdint>

#include "neurona/core/tensor.h"
#include "neurona/kernels/dispatch.h"

namespace neurona::kernels {

/// x viewed as (outer, channels, inner), the normalized axis in the middle: inner == 1 is
/// channels last (NHWC, or features last), the common case the kernels are written for.
struct BatchNormGeometry {
  std::int64_t outer = 1, channels = 1, inner = 1;
  /// Values per channel: what the statistics are taken over.
  std::int64_t rows() const { return outer * inner; }
};

/// Writes y and the per-channel mean, variance and inv_std. `offset` and `scale` may be
/// undefined (none). The front door has checked everything, and rows() > 0.
using BatchNormTrainingFn = void (*)(const Tensor& x, const BatchNormGeometry& g,
                                     const Tensor& offset, const Tensor& scale, double epsilon,
                                     Tensor& y, Tensor& mean, Tensor& variance, Tensor& inv_std);

/// Writes y from given statistics.
using BatchNormInferenceFn = void (*)(const Tensor& x, const BatchNormGeometry& g,
                                      const Tensor& mean, const Tensor& variance,
                                      const Tensor& offset, const Tensor& scale, double epsilon,
                                      Tensor& y);

/// Writes the gradients that are defined on entry (dx, dscale, doffset; at least one is).
using BatchNormBackwardFn = void (*)(const Tensor& x, const Tensor& grad,
                                     const BatchNormGeometry& g, const Tensor& mean,
                                     const Tensor& inv_std, const Tensor& scale, Tensor& dx,
                                     Tensor& dscale, Tensor& doffset);

extern DispatchStub<BatchNormTrainingFn> batch_norm_training_stub;
extern DispatchStub<BatchNormInferenceFn> batch_norm_inference_stub;
extern DispatchStub<BatchNormBackwardFn> batch_norm_backward_stub;

}  // namespace neurona::kernels
