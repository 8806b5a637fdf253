// CUDA kernels for elementwise ops: the shared functors run by a grid-stride kernel.
#include "neurona/kernels/cuda/kernels.h"
#include "neurona/kernels/cuda/launch.cuh"
#include "neurona/kernels/elementwise_stubs.h"
#include "neurona/kernels/math/impl.h"

namespace neurona::kernels::cuda {

namespace {
void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  binary_impl(Launch(out.device()), op, a, b, out);
}
void unary(UnaryOp op, double alpha, const Tensor& x, Tensor& out) {
  unary_impl(Launch(out.device()), op, alpha, x, out);
}
void where(const Tensor& c, const Tensor& a, const Tensor& b, Tensor& out) {
  where_impl(Launch(out.device()), c, a, b, out);
}
}  // namespace

void cast(const Tensor& x, Tensor& out) {
  cast_impl(Launch(out.device()), x, out);
}

void register_elementwise() {
  binary_stub.cuda = binary;
  unary_stub.cuda = unary;
  where_stub.cuda = where;
  cast_stub.cuda = cast;
}

}  // namespace neurona::kernels::cuda
