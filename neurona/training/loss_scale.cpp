// Dynamic loss scaling.
#include "neurona/training/loss_scale.h"

#include <cmath>

#include "neurona/autograd/ops.h"
#include "neurona/core/error.h"
#include "neurona/kernels/creation.h"

namespace neurona::mixed_precision {

LossScaleOptimizer::LossScaleOptimizer(optimizers::OptimizerRef inner, LossScaleOptions options)
    : state_(std::make_shared<State>()) {
  NEURONA_CHECK(std::isfinite(options.initial_scale) && options.initial_scale > 0, ValueError,
                "LossScaleOptimizer: initial_scale must be positive and finite, got ",
                options.initial_scale);
  NEURONA_CHECK(options.dynamic_growth_steps >= 1, ValueError,
                "LossScaleOptimizer: dynamic_growth_steps must be at least 1, got ",
                options.dynamic_growth_steps);
  state_->inner = inner.get();
  state_->options = options;
  state_->scale = options.initial_scale;
}

Tensor LossScaleOptimizer::scale_loss(const Tensor& loss) const {
  NEURONA_CHECK(loss.defined(), ValueError, "LossScaleOptimizer.scale_loss: undefined loss");
  return loss * state_->scale;
}

bool LossScaleOptimizer::apply_gradients(const std::vector<Tensor>& grads,
                                         const std::vector<Variable>& variables) {
  State& s = *state_;
  std::vector<Tensor> unscaled;
  unscaled.reserve(grads.size());
  // sum(g * 0) is 0 for finite gradients and NaN as soon as one element is inf or NaN; one sum
  // per gradient, added up on the device, and one scalar read back.
  Tensor nonfinite;
  for (const Tensor& g : grads) {
    if (!g.defined()) {
      unscaled.emplace_back();
      continue;
    }
    unscaled.push_back(g * (1.0 / s.scale));
    const Tensor probe = cast(sum(g * 0.0), DType::float64);
    nonfinite = nonfinite.defined() ? nonfinite + probe.to(nonfinite.device()) : probe;
  }
  const bool finite = !nonfinite.defined() || std::isfinite(nonfinite.item<double>());
  if (!finite) {
    s.scale /= 2;
    s.good_steps = 0;
    return false;
  }
  s.inner->apply_gradients(unscaled, variables);
  if (++s.good_steps >= s.options.dynamic_growth_steps) {
    s.scale *= 2;
    s.good_steps = 0;
  }
  return true;
}

}  // namespace neurona::mixed_precision
