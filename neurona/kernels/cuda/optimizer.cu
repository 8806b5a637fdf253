// CUDA kernels of the fused optimizer update and of the sum of squares: the shared functors
// (kernels/math/optimizer_ops.h) run by a grid-stride kernel, on the device's stream.
#include "neurona/kernels/cuda/launch.cuh"
#include "neurona/kernels/optimizer.h"

namespace neurona::kernels::cuda {

namespace {
void optimizer_update(const OptimizerStep& step, const Tensor& grad, const Tensor& variable,
                      const std::array<Tensor, 3>& slots, const Tensor& sum_squares) {
  optimizer_update_impl(Launch(variable.device()), step.rule, step.coefficients, grad, variable,
                        slots, sum_squares);
}
void sum_squares(const Tensor& x, bool square, std::int64_t chunk, const Tensor& out) {
  sum_squares_impl(Launch(x.device()), x, square, chunk, out);
}
}  // namespace

void register_optimizer() {
  optimizer_update_stub.cuda = optimizer_update;
  sum_squares_stub.cuda = sum_squares;
}

}  // namespace neurona::kernels::cuda
