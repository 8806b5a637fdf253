// CPU kernels for reductions and softmax: one output (or line) per loop iteration.
#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/math/impl.h"

namespace neurona::kernels::cpu {

namespace {
void reduce(ReduceOp op, const Tensor& x, const ReducePlan& plan, Tensor& out) {
  reduce_impl(Launch{}, op, x, plan, out);
}
void softmax(bool log, const Tensor& x, std::int64_t outer, std::int64_t n, std::int64_t inner,
             Tensor& out) {
  softmax_impl(Launch{}, log, x, outer, n, inner, out);
}
}  // namespace

void register_reduction() {
  reduce_stub.cpu = reduce;
  softmax_stub.cpu = softmax;
}

}  // namespace neurona::kernels::cpu
