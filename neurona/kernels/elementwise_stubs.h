// The dispatch stubs of kernels/elementwise.h's ops: the signatures the CPU and CUDA kernels
// implement, and the tables the front doors in kernels/elementwise.cpp call (and define).
// Private to kernels/.
#pragma once

#include <cstdint>
#include <vector>

#include "neurona/core/tensor.h"
#include "neurona/kernels/dispatch.h"
#include "neurona/kernels/math/elementwise_ops.h"

namespace neurona::kernels {

using BinaryFn = void (*)(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out);

using UnaryFn = void (*)(UnaryOp op, double alpha, const Tensor& x, Tensor& out);

using WhereFn = void (*)(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out);

using CastFn = void (*)(const Tensor& x, Tensor& out);

extern DispatchStub<BinaryFn> binary_stub;

extern DispatchStub<UnaryFn> unary_stub;

extern DispatchStub<WhereFn> where_stub;

extern DispatchStub<CastFn> cast_stub;

}  // namespace neurona::kernels
