// CPU kernels of the fused optimizer update and of the sum of squares: the shared functors
// (kernels/math/optimizer_ops.h) run by an OpenMP loop.
#include "neurona/kernels/optimizer.h"
#include "neurona/kernels/cpu/launch.h"

namespace neurona::kernels::cpu {

namespace {
void optimizer_update(const OptimizerStep& step, const Tensor& grad, const Tensor& variable,
                      const std::array<Tensor, 3>& slots, const Tensor& sum_squares) {
  optimizer_update_impl(Launch{}, step.rule, step.coefficients, grad, variable, slots, sum_squares);
}
void sum_squares(const Tensor& x, bool square, std::int64_t chunk, const Tensor& out) {
  sum_squares_impl(Launch{}, x, square, chunk, out);
}
}  // namespace

void register_optimizer() {
  optimizer_update_stub.cpu = optimizer_update;
  sum_squares_stub.cpu = sum_squares;
}

}  // namespace neurona::kernels::cpu
