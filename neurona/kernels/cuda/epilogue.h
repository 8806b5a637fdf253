// The GPU's epilogue for the fused ops where no library call covers bias and activation
// (16-bit convolutions, a convolution cuDNN's fused call refuses, float64 dense): one pass over
// the result, as the CPU's cpu/bias_activation.h.
#pragma once

#include "neurona/core/tensor.h"
#include "neurona/kernels/linalg.h"

namespace neurona::kernels::cuda {

/// y[..., j] = act(y[..., j] + bias[j]) in place, over y's last axis; `bias` may be undefined
/// (no bias). 16-bit values compute in float32 and round once; relu is the unfused relu's
/// formula (NaN stays NaN).
void bias_activation_rows(Tensor& y, const Tensor& bias, FusedActivation act);

}  // namespace neurona::kernels::cuda
