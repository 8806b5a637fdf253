// The front doors' widening: a 16-bit call whose kernel does not take 16-bit data
// (DispatchStub::widens) runs in float32 as cuBLAS and cuDNN run 16-bit data: the inputs
// widened, the float32 kernel, the result rounded once into the 16-bit output. Both devices
// then give the same values up to summation order. Private to kernels/; kernels do not widen.
#pragma once

#include "neurona/core/tensor.h"

namespace neurona::kernels {

/// A float32 copy of a bfloat16 or float16 tensor; any other tensor (or an undefined one) as it
/// is.
Tensor widen(const Tensor& t);

/// An uninitialised float32 tensor of `out`'s shape and device, for a widened kernel to write.
Tensor wide_like(const Tensor& out);

/// Rounds the float32 `wide` into the 16-bit `out` (same shape and device).
void narrow_into(const Tensor& wide, Tensor& out);

}  // namespace neurona::kernels
