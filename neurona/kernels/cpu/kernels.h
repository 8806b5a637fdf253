// The CPU kernels that other CPU kernels call directly (kernels never call a front door: an op
// a kernel needs is the kernel itself, on the same device, with a plan the front doors' plan
// builders make: reduce_plan, permute_plan).
#pragma once

#include "neurona/core/tensor.h"
#include "neurona/kernels/reduction_stubs.h"

namespace neurona::kernels::cpu {

/// reduce_stub's CPU kernel (cpu/reduction.cpp).
void reduce(ReduceOp op, const Tensor& x, const ReducePlan& plan, Tensor& out);

}  // namespace neurona::kernels::cpu
