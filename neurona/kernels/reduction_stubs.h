// The dispatch stubs of kernels/reduction.h's ops: the signatures the CPU and CUDA kernels
// implement, and the tables the front doors in kernels/reduction.cpp call (and define).
// Private to kernels/.
#pragma once

#include <cstdint>
#include <vector>

#include "neurona/core/tensor.h"
#include "neurona/kernels/dispatch.h"
#include "neurona/kernels/math/indexer.h"

namespace neurona::kernels {

enum class ReduceOp : std::uint8_t { sum, mean, max, min, argmax, argmin };

/// How a reduction walks its input: `kept` maps an output index to the offset of its first
/// input element, `reduced` maps a position within the reduced elements to an offset.
struct ReducePlan {
  Indexer<1> kept;
  Indexer<1> reduced;
  std::int64_t num_out = 0;
  std::int64_t num_reduce = 0;
};

/// The plan of a reduction over the axes `mask` marks of a contiguous tensor of `shape`
/// (`op` names the operation in errors).
ReducePlan reduce_plan(const Shape& shape, const std::vector<bool>& mask, const char* op);

using ReduceFn = void (*)(ReduceOp op, const Tensor& x, const ReducePlan& plan, Tensor& out);

using SoftmaxFn = void (*)(bool log, const Tensor& x, std::int64_t outer, std::int64_t n,
                           std::int64_t inner, Tensor& out);

extern DispatchStub<ReduceFn> reduce_stub;

extern DispatchStub<SoftmaxFn> softmax_stub;

}  // namespace neurona::kernels
