// CPU kernels for elementwise ops: the shared functors run by an OpenMP loop.
#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/math/impl.h"

namespace neurona::kernels::cpu {

namespace {
void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  binary_impl(Launch{}, op, a, b, out);
}
void unary(UnaryOp op, double alpha, const Tensor& x, Tensor& out) {
  unary_impl(Launch{}, op, alpha, x, out);
}
void where(const Tensor& c, const Tensor& a, const Tensor& b, Tensor& out) {
  where_impl(Launch{}, c, a, b, out);
}
void cast(const Tensor& x, Tensor& out) {
  cast_impl(Launch{}, x, out);
}
}  // namespace

void register_elementwise() {
  binary_stub.cpu = binary;
  unary_stub.cpu = unary;
  where_stub.cpu = where;
  cast_stub.cpu = cast;
}

}  // namespace neurona::kernels::cpu
