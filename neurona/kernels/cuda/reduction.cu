// CUDA kernels for reductions and softmax.
#include "neurona/kernels/cuda/kernels.h"
#include "neurona/kernels/cuda/launch.cuh"
#include "neurona/kernels/math/impl.h"
#include "neurona/kernels/reduction_stubs.h"

namespace neurona::kernels::cuda {

void reduce(ReduceOp op, const Tensor& x, const ReducePlan& plan, Tensor& out) {
  reduce_impl(Launch(out.device()), op, x, plan, out);
}

namespace {
void softmax(bool log, const Tensor& x, std::int64_t outer, std::int64_t n, std::int64_t inner,
             Tensor& out) {
  softmax_impl(Launch(out.device()), log, x, outer, n, inner, out);
}
}  // namespace

void register_reduction() {
  reduce_stub.cuda = reduce;
  softmax_stub.cuda = softmax;
}

}  // namespace neurona::kernels::cuda
