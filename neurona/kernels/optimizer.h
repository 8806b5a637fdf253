// Fused optimizer updates: one kernel per variable per step clips the gradient, applies
// decoupled weight decay and the optimizer's rule (SGD, Adam, RMSprop, Adagrad, Adamax, Nadam)
// to the variable and its slot variables in place, on the variable's device. The optimizers in
// training/optimizers.h compute the step's scalars on the host and call these front doors.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "neurona/core/tensor.h"
#include "neurona/kernels/dispatch.h"
#include "neurona/kernels/math/optimizer_ops.h"

namespace neurona::kernels {

/// One update of one variable. The coefficients hold values already rounded to the variable's
/// dtype (a float32 variable's coefficients are floats stored in doubles), so that the kernel
/// rounds exactly as Keras's update_step does in that dtype.
struct OptimizerStep {
  OptimizerRule rule = OptimizerRule::sgd;
  OptimizerCoefficients<double> coefficients = {};
};

/// Applies `step` in place to `variable` and its slots, reading the gradient `grad`.
/// `grad` and every defined slot must have the variable's shape, dtype (float32 or float64) and
/// device; the slots a rule reads are listed in kernels/math/optimizer_ops.h (undefined tensors
/// for the ones it does not). `sum_squares` is the float64 scalar from sum_of_squares() on the
/// same device when `step` clips by norm or global norm, else undefined. Throws ValueError or
/// ShapeError naming the argument otherwise. No host synchronisation.
///
///   kernels::optimizer_update(step, grad, w.value(), {m, v, {}}, {});
void optimizer_update(const OptimizerStep& step, const Tensor& grad, const Tensor& variable,
                      const std::array<Tensor, 3>& slots, const Tensor& sum_squares);

/// The sum of squares of the elements of `xs` (float32 or float64 tensors, all on one device),
/// accumulated in float64, as a float64 scalar tensor on that device (what clipping by norm
/// and by global norm read). Two passes of chunked partial sums; no host synchronisation.
Tensor sum_of_squares(const std::vector<Tensor>& xs);

/// x's elements are read with x's dtype; out[o] = sum over chunk o (of squares when `square`).
using OptimizerUpdateKernel = void (*)(const OptimizerStep& step, const Tensor& grad,
                                       const Tensor& variable, const std::array<Tensor, 3>& slots,
                                       const Tensor& sum_squares);
using SumSquaresKernel = void (*)(const Tensor& x, bool square, std::int64_t chunk,
                                  const Tensor& out);

extern DispatchStub<OptimizerUpdateKernel> optimizer_update_stub;
extern DispatchStub<SumSquaresKernel> sum_squares_stub;

}  // namespace neurona::kernels
