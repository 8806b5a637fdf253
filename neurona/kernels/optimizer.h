// Fused optimizer updates: one kernel clips the gradient, applies decoupled weight decay and the
// optimizer's rule (SGD, Adam, RMSprop, Adagrad, Adamax, Nadam) to the variables and their slot
// variables in place, for many variables of one device and dtype at once (one launch per
// kMaxTensorsPerLaunch variables on a GPU). The optimizers in training/optimizers.h compute
// the step's scalars on the host; they reach the kernel through a small buffer on the device
// rather than as launch arguments, so that a captured CUDA graph replays with new values.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "neurona/core/tensor.h"

namespace neurona::kernels {

enum class OptimizerRule : std::uint8_t { sgd, adam, rmsprop, adagrad, adamax, nadam };
enum class GradientClip : std::uint8_t { none, value, norm, global_norm };

/// The scalars of one update, in the variable's element type T. Which fields a rule reads is
/// written beside each rule in OptimizerUpdateFunctor.
template <typename T>
struct OptimizerCoefficients {
  T learning_rate{}, weight_decay{};
  bool decay = false;
  GradientClip clip = GradientClip::none;
  T clip_value{}, clip_inverse{};
  T momentum{}, alpha{}, beta_2{}, rho{}, epsilon{};
  T one_minus_beta_1{}, one_minus_beta_2{}, one_minus_rho{};
  T one_minus_beta_1_power{}, one_minus_beta_2_power{};
  T u_t_1{}, one_minus_u_t{}, one_minus_u_product_t{}, one_minus_u_product_t_1{};
  bool nesterov = false, amsgrad = false, centered = false, use_momentum = false;
};

/// One update of one variable. The coefficients hold values already rounded to the variable's
/// dtype (a float32 variable's coefficients are floats stored in doubles), so that the kernel
/// rounds exactly as Keras's update_step does in that dtype.
struct OptimizerStep {
  OptimizerRule rule = OptimizerRule::sgd;
  OptimizerCoefficients<double> coefficients = {};
};

/// One variable of a multi-tensor update: its gradient, its value and its slots (undefined for
/// the slots the rule does not read), the float64 scalar from sum_of_squares() when the step
/// clips by norm or global norm (else undefined), and whether weight decay applies to it (the
/// step's weight decay applies only where this is true: Keras's exclude_from_weight_decay).
struct OptimizerTensors {
  Tensor grad;
  Tensor variable;
  std::array<Tensor, 3> slots;
  Tensor sum_squares;
  bool decay = true;
};

/// Variables a GPU updates in one launch (their pointers travel as launch arguments).
inline constexpr std::size_t kMaxTensorsPerLaunch = 32;

/// A buffer on `device` to hold a step's coefficients for optimizer_update (an optimizer keeps
/// one per device and dtype, so that its address is stable from step to step).
Tensor optimizer_coefficients_buffer(Device device);

/// Writes `step`'s coefficients, in the element type of `dtype`, into `coefficients` (a buffer
/// from optimizer_coefficients_buffer(); one small host-to-device copy on a GPU).
void write_optimizer_coefficients(const OptimizerStep& step, DType dtype,
                                  const Tensor& coefficients);

/// Applies a step in place to every item's variable and slots, reading its coefficients from
/// `coefficients` (written by write_optimizer_coefficients() with the same `step`; the kernel
/// takes its rule and its branch-free variant from `step` on the host). All items share one
/// device and one dtype (float32 or float64); each grad and slot has its variable's shape, dtype
/// and device; the slots a rule reads are listed in kernels/math/optimizer_ops.h. Throws
/// ValueError or ShapeError naming the item and the argument otherwise. Launches kernels only:
/// no host synchronisation, no copy from the host (so that it can be captured in a CUDA graph).
///
///   kernels::optimizer_update(step, {{g_w, w, {m_w, v_w, {}}, {}, true},
///                                    {g_b, b, {m_b, v_b, {}}, {}, false}},
///                             coefficients);
void optimizer_update(const OptimizerStep& step, const std::vector<OptimizerTensors>& items,
                      const Tensor& coefficients);

/// Applies `step` in place to `variable` and its slots, reading the gradient `grad`.
/// `grad` and every defined slot must have the variable's shape, dtype (float32 or float64) and
/// device; the slots a rule reads are listed in kernels/math/optimizer_ops.h (undefined tensors
/// for the ones it does not). `sum_squares` is the float64 scalar from sum_of_squares() on the
/// same device when `step` clips by norm or global norm, else undefined. Throws ValueError or
/// ShapeError naming the argument otherwise. No host synchronisation. (The list form above with
/// one item and a buffer of its own.)
///
///   kernels::optimizer_update(step, grad, w.value(), {m, v, {}}, {});
void optimizer_update(const OptimizerStep& step, const Tensor& grad, const Tensor& variable,
                      const std::array<Tensor, 3>& slots, const Tensor& sum_squares);

/// The sum of squares of the elements of `xs` (float32 or float64 tensors, all on one device),
/// accumulated in float64, as a float64 scalar tensor on that device (what clipping by norm
/// and by global norm read). Two passes of chunked partial sums; no host synchronisation.
Tensor sum_of_squares(const std::vector<Tensor>& xs);

}  // namespace neurona::kernels
