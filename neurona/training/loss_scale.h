// Dynamic loss scaling for float16 training (keras.optimizers.LossScaleOptimizer).
//
// float16 gradients underflow: values below 2^-24 become 0. The loss is multiplied by a large
// scale before the gradient is taken, and the gradients are divided by it before the update.
// When a gradient overflows (inf or NaN), the step is skipped and the scale halved; after
// `dynamic_growth_steps` good steps in a row it is doubled. bfloat16 has float32's range and
// needs none of this.
//
//   nr::mixed_precision::LossScaleOptimizer opt(nr::optimizers::Adam(1e-3));
//   {
//     nr::GradientTape tape;
//     loss = ...;
//     grads = tape.gradient(opt.scale_loss(loss), weights);
//   }
//   opt.apply_gradients(grads, weights);  // unscales; skips the step on an overflow
//
// Model::compile wraps the optimizer in one when the model's policy is "mixed_float16", as
// Keras does (CompileOptions::auto_scale_loss).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "neurona/autograd/variable.h"
#include "neurona/core/tensor.h"
#include "neurona/training/optimizers.h"

namespace neurona::mixed_precision {

/// keras.optimizers.LossScaleOptimizer's arguments and defaults.
struct LossScaleOptions {
  double initial_scale = 32768.0;  // 2^15
  std::int64_t dynamic_growth_steps = 2000;
};

class LossScaleOptimizer {
 public:
  /// ValueError for a scale that is not positive and finite or growth steps below 1.
  explicit LossScaleOptimizer(optimizers::OptimizerRef inner, LossScaleOptions options = {});

  /// loss * scale(), for the tape to differentiate.
  Tensor scale_loss(const Tensor& loss) const;
  /// Divides the gradients by scale(); if all are finite, applies them with the inner optimizer
  /// and returns true, doubling the scale after dynamic_growth_steps such steps in a row;
  /// otherwise leaves the variables and the inner optimizer alone, halves the scale and returns
  /// false. Reads one scalar back from the device per call.
  bool apply_gradients(const std::vector<Tensor>& grads, const std::vector<Variable>& variables);

  double scale() const { return state_->scale; }
  /// Good steps since the scale last changed.
  std::int64_t step_counter() const { return state_->good_steps; }
  const std::shared_ptr<optimizers::Optimizer>& inner_optimizer() const { return state_->inner; }

 private:
  struct State {
    std::shared_ptr<optimizers::Optimizer> inner;
    LossScaleOptions options;
    double scale;
    std::int64_t good_steps = 0;
  };
  std::shared_ptr<State> state_;  // copies share the scale, as optimizer handles share state
};

}  // namespace neurona::mixed_precision
