// The CPU runs the bfloat16 and float16 ops that have no 16-bit kernel of their own (the BLAS
// GEMMs, the convolutions, pooling) in float32: widen the inputs, run the float32 kernel, round
// the result once into the 16-bit output. This is what cuBLAS and cuDNN do on the GPU (16-bit
// operands, float32 arithmetic), so both devices give the same values up to summation order.
#pragma once

#include "neurona/core/tensor.h"

namespace neurona::kernels::cpu {

/// A float32 copy of a bfloat16 or float16 tensor; any other tensor (or an undefined one) as it
/// is.
Tensor widen(const Tensor& t);

/// Rounds the float32 `wide` into the 16-bit `out` (same shape).
void narrow_into(const Tensor& wide, Tensor& out);

}  // namespace neurona::kernels::cpu
