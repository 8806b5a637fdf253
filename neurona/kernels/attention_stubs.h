// The dispatch stubs of kernels/attention.h's ops: the signatures the CPU and CUDA kernels
// implement, and the tables the front doors in kernels/attention.cpp call (and define).
// Private to kernels/.
#pragma once

#include "neurona/core/tensor.h"
#include "neurona/kernels/dispatch.h"
#include "neurona/kernels/math/attention_ops.h"

namespace neurona::kernels {

/// Writes out and lse. `mask` is uint8 (strides in g.mask) or undefined. The front door has
/// checked everything; every size in g is > 0.
using AttentionForwardFn = void (*)(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& mask, const AttentionGeometry& g, Tensor& out,
                                    Tensor& lse);

/// Writes dq, dk and dv (allocated, not zeroed).
using AttentionBackwardFn = void (*)(const Tensor& grad_out, const Tensor& q, const Tensor& k,
                                     const Tensor& v, const Tensor& out, const Tensor& lse,
                                     const Tensor& mask, const AttentionGeometry& g, Tensor& dq,
                                     Tensor& dk, Tensor& dv);

extern DispatchStub<AttentionForwardFn> attention_forward_stub;
extern DispatchStub<AttentionBackwardFn> attention_backward_stub;

}  // namespace neurona::kernels
