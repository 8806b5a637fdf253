// Learning-rate schedules with Keras 3's formulas and defaults
// (keras.optimizers.schedules): a schedule maps the optimizer's step (its iterations) to the
// learning rate of that step. Pass one wherever an optimizer takes a learning rate:
// `nr::optimizers::SGD(nr::optimizers::schedules::ExponentialDecay(0.1, 100, 0.9))`.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "neurona/training/config.h"

namespace neurona::optimizers {

namespace schedules {

/// Base of the schedules: a callable of the step. Derive from it for a schedule of your own.
class LearningRateSchedule {
 public:
  virtual ~LearningRateSchedule() = default;
  /// The learning rate at `step` (the optimizer's iterations before the update). The built-in
  /// schedules compute in float32, as Keras does with floatx float32, and return that value.
  virtual double operator()(std::int64_t step) const = 0;
  /// Keras's class name, e.g. "ExponentialDecay".
  virtual std::string class_name() const = 0;
  /// Keras's get_config(), in its key order.
  virtual Config config() const = 0;
};

/// keras.optimizers.schedules.ExponentialDecay's keyword arguments.
struct ExponentialDecayOptions {
  bool staircase = false;
  std::string name = "ExponentialDecay";
};

/// initial_learning_rate * decay_rate ^ (step / decay_steps), the exponent floored when
/// staircase: `ExponentialDecay(0.1, 1000, 0.96, {.staircase = true})`. Throws ValueError when
/// decay_steps <= 0 (where Keras would return inf or NaN).
class ExponentialDecay : public LearningRateSchedule {
 public:
  ExponentialDecay(double initial_learning_rate, std::int64_t decay_steps, double decay_rate,
                   ExponentialDecayOptions options = {});
  double operator()(std::int64_t step) const override;
  std::string class_name() const override { return "ExponentialDecay"; }
  Config config() const override;
  /// Keras's from_config: the schedule config() describes (see schedules::from_config).
  static std::shared_ptr<ExponentialDecay> from_config(const Config& config);

 private:
  double initial_learning_rate_;
  std::int64_t decay_steps_;
  double decay_rate_;
  ExponentialDecayOptions options_;
};

/// values[0] while step <= boundaries[0], values[i + 1] while boundaries[i] < step <=
/// boundaries[i + 1], values.back() after the last boundary:
/// `PiecewiseConstantDecay({100000, 110000}, {1.0, 0.5, 0.1})`. Throws ValueError unless
/// there is one more value than boundaries.
class PiecewiseConstantDecay : public LearningRateSchedule {
 public:
  PiecewiseConstantDecay(std::vector<std::int64_t> boundaries, std::vector<double> values,
                         std::string name = "PiecewiseConstant");
  double operator()(std::int64_t step) const override;
  std::string class_name() const override { return "PiecewiseConstantDecay"; }
  Config config() const override;
  /// Keras's from_config: the schedule config() describes (see schedules::from_config).
  static std::shared_ptr<PiecewiseConstantDecay> from_config(const Config& config);

 private:
  std::vector<std::int64_t> boundaries_;
  std::vector<double> values_;
  std::string name_;
};

/// keras.optimizers.schedules.CosineDecay's keyword arguments.
struct CosineDecayOptions {
  /// The floor of the decay, as a fraction of the rate it decays from.
  double alpha = 0.0;
  /// With a target, the rate first rises linearly from initial_learning_rate to warmup_target
  /// over warmup_steps, then decays from warmup_target.
  std::optional<double> warmup_target = std::nullopt;
  std::int64_t warmup_steps = 0;
  std::string name = "CosineDecay";
};

/// Cosine decay from initial_learning_rate (or from warmup_target after a linear warmup) to
/// alpha times it over decay_steps, then constant, with Keras 3's formulas:
/// `CosineDecay(0.0, 1000, {.warmup_target = 0.1, .warmup_steps = 100})`. Throws ValueError
/// when decay_steps <= 0, as Keras.
class CosineDecay : public LearningRateSchedule {
 public:
  CosineDecay(double initial_learning_rate, std::int64_t decay_steps,
              CosineDecayOptions options = {});
  double operator()(std::int64_t step) const override;
  std::string class_name() const override { return "CosineDecay"; }
  Config config() const override;
  /// Keras's from_config: the schedule config() describes (see schedules::from_config).
  static std::shared_ptr<CosineDecay> from_config(const Config& config);

 private:
  double initial_learning_rate_;
  std::int64_t decay_steps_;
  CosineDecayOptions options_;
};

/// keras.optimizers.schedules.InverseTimeDecay's keyword arguments.
struct InverseTimeDecayOptions {
  bool staircase = false;
  std::string name = "InverseTimeDecay";
};

/// initial_learning_rate / (1 + decay_rate * step / decay_steps), the quotient floored when
/// staircase: `InverseTimeDecay(0.1, 1000, 0.5)`. Throws ValueError when decay_steps <= 0.
class InverseTimeDecay : public LearningRateSchedule {
 public:
  InverseTimeDecay(double initial_learning_rate, std::int64_t decay_steps, double decay_rate,
                   InverseTimeDecayOptions options = {});
  double operator()(std::int64_t step) const override;
  std::string class_name() const override { return "InverseTimeDecay"; }
  Config config() const override;
  /// Keras's from_config: the schedule config() describes (see schedules::from_config).
  static std::shared_ptr<InverseTimeDecay> from_config(const Config& config);

 private:
  double initial_learning_rate_;
  std::int64_t decay_steps_;
  double decay_rate_;
  InverseTimeDecayOptions options_;
};

/// The schedule a Keras class name and get_config() describe, as
/// keras.optimizers.schedules.deserialize makes it: ExponentialDecay, PiecewiseConstantDecay,
/// CosineDecay or InverseTimeDecay, with Keras's defaults for absent arguments. Throws
/// ValueError for another class (naming it), a missing or mistyped argument, or a key the
/// class does not take.
///   auto s = schedules::from_config("ExponentialDecay", {{"initial_learning_rate", 0.1},
///                                                        {"decay_steps", std::int64_t{100}},
///                                                        {"decay_rate", 0.9}});
std::shared_ptr<const LearningRateSchedule> from_config(const std::string& class_name,
                                                        const Config& config);

/// Keras's serialize_keras_object of a schedule, as an optimizer's config holds it:
/// {"module": "keras.optimizers.schedules", "class_name": ..., "config": {...},
/// "registered_name": None}.
ConfigValue serialize(const LearningRateSchedule& schedule);
/// The schedule a serialized schedule ({"class_name": ..., "config": {...}}) describes, through
/// from_config; ValueErrors name `who`.
std::shared_ptr<const LearningRateSchedule> deserialize(const ConfigValue& serialized,
                                                        const std::string& who);

}  // namespace schedules
}  // namespace neurona::optimizers
