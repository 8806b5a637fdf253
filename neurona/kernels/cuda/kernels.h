// The CUDA kernels that other CUDA kernels call directly (kernels never call a front door: an
// op a kernel needs is that op's kernel, queued on the same device's stream, with a plan the
// front doors' plan builders make: reduce_plan, permute_plan). Plain C++ declarations, for
// nvcc's and the host compiler's translation units alike.
#pragma once

#include <cstdint>

#include "neurona/core/tensor.h"
#include "neurona/kernels/math/indexer.h"
#include "neurona/kernels/reduction_stubs.h"

namespace neurona::kernels::cuda {

/// cast_stub's kernel: out = x converted to out's dtype (cuda/elementwise.cu).
void cast(const Tensor& x, Tensor& out);

/// pad2d_stub's kernel: x (n, h, w, c) into out, x's (0, 0) at out's (top, left); negative
/// offsets crop (cuda/pool.cu).
void pad2d(const Tensor& x, std::int64_t top, std::int64_t left, Tensor& out);

/// strided_copy_stub's kernel (cuda/linalg.cu).
void strided_copy(const Tensor& x, const Indexer<1>& ix, Tensor& out);

/// reduce_stub's kernel (cuda/reduction.cu).
void reduce(ReduceOp op, const Tensor& x, const ReducePlan& plan, Tensor& out);

}  // namespace neurona::kernels::cuda
