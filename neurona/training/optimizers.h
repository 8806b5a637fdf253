// Optimizers with Keras 3's update rules, defaults, state and names (keras.optimizers): SGD,
// Adam, AdamW, RMSprop, Adagrad, Adamax, Nadam, with clipnorm / clipvalue / global_clipnorm
// and decoupled weight decay. A step is one fused multi-tensor kernel per device and dtype over
// all the variables (kernels/optimizer.h), with no host synchronisation: the step's scalars
// (learning rate, bias corrections) are computed on the host from the step count it keeps and
// copied to a buffer on the device that the kernel reads.
//
//   auto opt = nr::optimizers::Adam(1e-3, {.beta_1 = 0.8, .clipnorm = 1.0});
//   opt->apply_gradients(tape.gradient(loss, weights), weights);
#pragma once

#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "neurona/autograd/variable.h"
#include "neurona/core/tensor.h"
#include "neurona/training/schedules.h"

#include "neurona/kernels/optimizer.h"

namespace neurona::optimizers {

/// An optimizer's learning_rate argument: a constant, or a schedule of the step.
class LearningRate {
 public:
  LearningRate(double value) : value_(value) {}  // NOLINT: implicit by design
  /// Any schedule, copied: `Adam(schedules::CosineDecay(1e-3, 1000))`.
  template <typename S>
  requires std::derived_from<S, schedules::LearningRateSchedule> LearningRate(
      S schedule)  // NOLINT: implicit by design
      : schedule_(std::make_shared<S>(std::move(schedule))) {}
  /// A shared schedule (ValueError when null).
  LearningRate(std::shared_ptr<const schedules::LearningRateSchedule>
                   schedule);  // NOLINT: implicit by design

  double value() const { return value_; }
  const std::shared_ptr<const schedules::LearningRateSchedule>& schedule() const {
    return schedule_;
  }

 private:
  double value_ = 0.0;
  std::shared_ptr<const schedules::LearningRateSchedule> schedule_;
};

/// The keyword arguments every Keras optimizer takes (the ones neurona implements).
struct CommonOptions {
  std::optional<double> weight_decay = std::nullopt;
  std::optional<double> clipnorm = std::nullopt;
  std::optional<double> clipvalue = std::nullopt;
  std::optional<double> global_clipnorm = std::nullopt;
  /// Empty: Keras's automatic name ("adam", then "adam_1", ...).
  std::string name = "";
};

/// The state and the step shared by all optimizers (keras.optimizers.Optimizer).
///
/// State: `iterations` (the number of steps, an int64 CPU variable), `learning_rate` (a
/// float32 CPU variable, absent with a schedule) and slot variables (momentum, velocity, ...)
/// made on each model variable's device the first time apply_gradients or build sees it.
/// variables() lists them in Keras 3's order, so optimizer.variables[k] of a Keras file is
/// variables()[k] here.
///
/// Unlike Keras's Optimizer.apply, apply_gradients does not apply the variables' constraints
/// after the update: the training loop does that (Layer::apply_constraints), once per step.
class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One step: updates each variable with its gradient (grads[i] for variables[i]) after
  /// clipping and weight decay, then counts the step. An undefined gradient is skipped, as
  /// Keras skips None; empty lists do nothing. Gradients are cast to the variable's dtype and
  /// moved to its device. Throws ShapeError naming the optimizer, the variable and both
  /// shapes when a gradient does not fit its variable, and ValueError when the lists' lengths
  /// differ or every gradient is undefined.
  ///
  ///   opt->apply_gradients(tape.gradient(loss, {w, b}), {w, b});
  void apply_gradients(const std::vector<Tensor>& grads, const std::vector<Variable>& variables);

  /// apply_gradients in two halves, for a training step captured into a CUDA graph (whose
  /// replays run no host code). prepare_step() is the host's half: it computes the next step's
  /// scalars (learning rate, bias corrections), writes them to a buffer on each device and dtype
  /// of `variables` (one small copy each) and counts the step. apply_prepared() is the device's
  /// half: the clipping and the fused update, reading those buffers; it launches kernels and does
  /// nothing on the host that a replay would miss. apply_gradients(g, v) is
  /// prepare_step(v) then apply_prepared(g, v).
  ///
  ///   opt->prepare_step(weights);                    // before each replay
  ///   opt->apply_prepared(tape.gradient(loss, weights), weights);  // captured once
  void prepare_step(const std::vector<Variable>& variables);
  void apply_prepared(const std::vector<Tensor>& grads, const std::vector<Variable>& variables);

  /// Makes the slot variables of the variables not seen before (apply_gradients does it on
  /// first use; call it to have variables() complete before the first step, e.g. to load).
  void build(const std::vector<Variable>& variables);

  /// The number of steps applied.
  std::int64_t iterations() const;
  /// The learning rate of the next step: the schedule at iterations(), or the constant (as
  /// the float32 value Keras keeps).
  double learning_rate() const;
  /// Sets a constant learning rate; ValueError when the optimizer was made with a schedule.
  void set_learning_rate(double learning_rate);
  /// The schedule, or null for a constant learning rate.
  const std::shared_ptr<const schedules::LearningRateSchedule>& learning_rate_schedule() const {
    return schedule_;
  }

  /// The name given or made ("adam", "adam_1", ...).
  const std::string& name() const { return name_; }
  /// Keras's class name: "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adamax", "Nadam".
  const std::string& class_name() const { return class_name_; }

  /// The state in Keras 3's order: iterations, learning_rate (unless a schedule is used), then
  /// the slot variables (e.g. Adam: each variable's momentum and velocity in turn, then each
  /// velocity_hat with amsgrad), then any optimizer-wide variable (Nadam's u_product).
  /// Assigning to them (e.g. when loading) changes the optimizer's state.
  std::vector<Variable> variables() const;

  /// Keras's get_config(): name, learning_rate (a float or the schedule), weight_decay,
  /// clipnorm, global_clipnorm, clipvalue, the EMA / loss-scale / accumulation options at
  /// their defaults (neurona implements no other values), then the optimizer's own.
  Config config() const;

  /// Variables, or variables whose name contains one of `var_names` (plain text, where Keras
  /// takes regular expressions), that weight decay leaves alone (Keras's
  /// exclude_from_weight_decay). Only
  /// before the first step or build (ValueError after).
  void exclude_from_weight_decay(const std::vector<Variable>& var_list = {},
                                 const std::vector<std::string>& var_names = {});

  const CommonOptions& common_options() const { return common_; }

 protected:
  /// `snake_name` is Keras's automatic name prefix ("adam", "rm_sprop").
  Optimizer(std::string class_name, const std::string& snake_name,
            const LearningRate& learning_rate, CommonOptions common);

  /// A slot variable: its Keras name suffix, which of the fused kernel's three slots it is,
  /// and its initial value.
  struct SlotSpec {
    std::string name;
    int index = 0;
    double initial_value = 0.0;
  };
  /// The slots in Keras's creation order: groups made one after another, each group's slots
  /// interleaved per variable (Adam: {{momentum, velocity}, {velocity_hat}}).
  virtual std::vector<std::vector<SlotSpec>> slot_groups() const = 0;
  /// Fills the rule and its coefficients for a variable of `dtype` at step `iteration` (the
  /// count before this step) with learning rate `learning_rate` (a float32 value).
  virtual void fill_step(kernels::OptimizerStep& step, DType dtype, std::int64_t iteration,
                         double learning_rate) const = 0;
  /// Called once per step before the variables are updated (Nadam's u_product).
  virtual void begin_step(std::int64_t /*iteration*/) {}
  /// Called at the first build with the first variable (Nadam makes u_product then).
  virtual void build_extra(const Variable& /*first*/) {}
  /// Optimizer-wide variables listed after the slots.
  virtual std::vector<Variable> extra_variables() const { return {}; }
  /// The optimizer's own config entries, after the common ones.
  virtual Config own_config() const = 0;

 private:
  struct Entry {
    Variable variable;
    std::optional<Variable> slots[3];
    bool use_weight_decay = true;
  };
  Entry& entry_for(const Variable& v);
  bool use_weight_decay(const Variable& v) const;
  kernels::GradientClip clip_kind(double* clip_value) const;
  /// The gradients cast to their variables' dtypes and devices (undefined ones kept undefined),
  /// after apply_gradients' checks.
  std::vector<Tensor> checked_gradients(const std::vector<Tensor>& grads,
                                        const std::vector<Variable>& variables,
                                        const char* caller) const;
  /// apply_prepared's work on gradients from checked_gradients().
  void update_variables(const std::vector<Tensor>& g, const std::vector<Variable>& variables);

  std::string class_name_;
  std::string name_;
  CommonOptions common_;
  std::shared_ptr<const schedules::LearningRateSchedule> schedule_;
  Variable iterations_;
  std::optional<Variable> learning_rate_;
  std::vector<Entry> entries_;
  std::unordered_map<std::uint64_t, std::size_t> index_;
  std::vector<std::uint64_t> excluded_ids_;
  std::vector<std::string> excluded_names_;
  /// A step's scalars per device and dtype, and the buffer on that device the fused update reads
  /// them from (kept, so that its address does not change from step to step).
  struct Prepared {
    Device device;
    DType dtype;
    kernels::OptimizerStep step;
    Tensor coefficients;
    std::int64_t iteration = -1;  ///< the step they were computed for
  };
  std::vector<Prepared> prepared_;
  bool built_ = false;
};

/// A handle to an optimizer of type T: copies share the optimizer, `->` reaches it.
template <typename T>
class OptimizerHandle {
 public:
  explicit OptimizerHandle(std::shared_ptr<T> optimizer) : optimizer_(std::move(optimizer)) {}
  T* operator->() const { return optimizer_.get(); }
  T& operator*() const { return *optimizer_; }
  const std::shared_ptr<T>& ptr() const { return optimizer_; }

 private:
  std::shared_ptr<T> optimizer_;
};

/// keras.optimizers.SGD's keyword arguments.
struct SGDOptions {
  double momentum = 0.0;
  bool nesterov = false;
  std::optional<double> weight_decay = std::nullopt;
  std::optional<double> clipnorm = std::nullopt;
  std::optional<double> clipvalue = std::nullopt;
  std::optional<double> global_clipnorm = std::nullopt;
  std::string name = "";
};

/// Gradient descent, with (Nesterov) momentum when momentum > 0, in Keras's form:
/// m = momentum m - lr g; w += m (or w += momentum m - lr g with nesterov).
class SGDOptimizer : public Optimizer {
 public:
  explicit SGDOptimizer(const LearningRate& learning_rate = 0.01, SGDOptions options = {});
  /// Keras's from_config: the optimizer config() describes (see optimizers::from_config).
  static std::shared_ptr<SGDOptimizer> from_config(const Config& config);
  const SGDOptions& options() const { return options_; }

 protected:
  std::vector<std::vector<SlotSpec>> slot_groups() const override;
  void fill_step(kernels::OptimizerStep& step, DType dtype, std::int64_t iteration,
                 double learning_rate) const override;
  Config own_config() const override;

 private:
  SGDOptions options_;
};

/// keras.optimizers.Adam's keyword arguments.
struct AdamOptions {
  double beta_1 = 0.9;
  double beta_2 = 0.999;
  /// Keras's "epsilon hat", added to sqrt(v) rather than inside the bias correction.
  double epsilon = 1e-7;
  bool amsgrad = false;
  std::optional<double> weight_decay = std::nullopt;
  std::optional<double> clipnorm = std::nullopt;
  std::optional<double> clipvalue = std::nullopt;
  std::optional<double> global_clipnorm = std::nullopt;
  std::string name = "";
};

/// Adam in Keras 3's form: alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t);
/// m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2); w -= alpha m / (sqrt(v) + epsilon)
/// (v replaced by the running maximum of v with amsgrad).
class AdamOptimizer : public Optimizer {
 public:
  explicit AdamOptimizer(const LearningRate& learning_rate = 0.001, AdamOptions options = {});
  /// Keras's from_config: the optimizer config() describes (see optimizers::from_config).
  static std::shared_ptr<AdamOptimizer> from_config(const Config& config);
  const AdamOptions& options() const { return options_; }

 protected:
  AdamOptimizer(std::string class_name, const std::string& snake_name,
                const LearningRate& learning_rate, AdamOptions options);
  std::vector<std::vector<SlotSpec>> slot_groups() const override;
  void fill_step(kernels::OptimizerStep& step, DType dtype, std::int64_t iteration,
                 double learning_rate) const override;
  Config own_config() const override;

 private:
  AdamOptions options_;
};

/// keras.optimizers.AdamW's keyword arguments (weight decay on by default).
struct AdamWOptions {
  double weight_decay = 0.004;
  double beta_1 = 0.9;
  double beta_2 = 0.999;
  double epsilon = 1e-7;
  bool amsgrad = false;
  std::optional<double> clipnorm = std::nullopt;
  std::optional<double> clipvalue = std::nullopt;
  std::optional<double> global_clipnorm = std::nullopt;
  std::string name = "";
};

/// Adam with decoupled weight decay w -= w * weight_decay * lr before each update.
class AdamWOptimizer : public AdamOptimizer {
 public:
  explicit AdamWOptimizer(const LearningRate& learning_rate = 0.001, AdamWOptions options = {});
  /// Keras's from_config: the optimizer config() describes (see optimizers::from_config).
  static std::shared_ptr<AdamWOptimizer> from_config(const Config& config);
};

/// keras.optimizers.RMSprop's keyword arguments.
struct RMSpropOptions {
  double rho = 0.9;
  double momentum = 0.0;
  double epsilon = 1e-7;
  bool centered = false;
  std::optional<double> weight_decay = std::nullopt;
  std::optional<double> clipnorm = std::nullopt;
  std::optional<double> clipvalue = std::nullopt;
  std::optional<double> global_clipnorm = std::nullopt;
  std::string name = "";
};

/// RMSprop: v = rho v + (1 - rho) g^2; w -= lr g / sqrt(v + epsilon) (v - mean(g)^2 when
/// centered), through a momentum accumulator when momentum > 0.
class RMSpropOptimizer : public Optimizer {
 public:
  explicit RMSpropOptimizer(const LearningRate& learning_rate = 0.001, RMSpropOptions options = {});
  /// Keras's from_config: the optimizer config() describes (see optimizers::from_config).
  static std::shared_ptr<RMSpropOptimizer> from_config(const Config& config);
  const RMSpropOptions& options() const { return options_; }

 protected:
  std::vector<std::vector<SlotSpec>> slot_groups() const override;
  void fill_step(kernels::OptimizerStep& step, DType dtype, std::int64_t iteration,
                 double learning_rate) const override;
  Config own_config() const override;

 private:
  RMSpropOptions options_;
};

/// keras.optimizers.Adagrad's keyword arguments.
struct AdagradOptions {
  double initial_accumulator_value = 0.1;
  double epsilon = 1e-7;
  std::optional<double> weight_decay = std::nullopt;
  std::optional<double> clipnorm = std::nullopt;
  std::optional<double> clipvalue = std::nullopt;
  std::optional<double> global_clipnorm = std::nullopt;
  std::string name = "";
};

/// Adagrad: a += g^2; w -= lr g / sqrt(a + epsilon).
class AdagradOptimizer : public Optimizer {
 public:
  explicit AdagradOptimizer(const LearningRate& learning_rate = 0.001, AdagradOptions options = {});
  /// Keras's from_config: the optimizer config() describes (see optimizers::from_config).
  static std::shared_ptr<AdagradOptimizer> from_config(const Config& config);
  const AdagradOptions& options() const { return options_; }

 protected:
  std::vector<std::vector<SlotSpec>> slot_groups() const override;
  void fill_step(kernels::OptimizerStep& step, DType dtype, std::int64_t iteration,
                 double learning_rate) const override;
  Config own_config() const override;

 private:
  AdagradOptions options_;
};

/// keras.optimizers.Adamax's keyword arguments.
struct AdamaxOptions {
  double beta_1 = 0.9;
  double beta_2 = 0.999;
  double epsilon = 1e-7;
  std::optional<double> weight_decay = std::nullopt;
  std::optional<double> clipnorm = std::nullopt;
  std::optional<double> clipvalue = std::nullopt;
  std::optional<double> global_clipnorm = std::nullopt;
  std::string name = "";
};

/// Adamax: m += (g - m)(1 - beta_1); u = max(beta_2 u, |g|);
/// w -= lr m / ((1 - beta_1^t)(u + epsilon)).
class AdamaxOptimizer : public Optimizer {
 public:
  explicit AdamaxOptimizer(const LearningRate& learning_rate = 0.001, AdamaxOptions options = {});
  /// Keras's from_config: the optimizer config() describes (see optimizers::from_config).
  static std::shared_ptr<AdamaxOptimizer> from_config(const Config& config);
  const AdamaxOptions& options() const { return options_; }

 protected:
  std::vector<std::vector<SlotSpec>> slot_groups() const override;
  void fill_step(kernels::OptimizerStep& step, DType dtype, std::int64_t iteration,
                 double learning_rate) const override;
  Config own_config() const override;

 private:
  AdamaxOptions options_;
};

/// keras.optimizers.Nadam's keyword arguments.
struct NadamOptions {
  double beta_1 = 0.9;
  double beta_2 = 0.999;
  double epsilon = 1e-7;
  std::optional<double> weight_decay = std::nullopt;
  std::optional<double> clipnorm = std::nullopt;
  std::optional<double> clipvalue = std::nullopt;
  std::optional<double> global_clipnorm = std::nullopt;
  std::string name = "";
};

/// Nadam (Adam with Nesterov momentum) with Keras's momentum schedule
/// u_t = beta_1 (1 - 0.5 * 0.96^t) and its running product u_product (an optimizer variable
/// of the first variable's dtype, listed last in variables()).
class NadamOptimizer : public Optimizer {
 public:
  explicit NadamOptimizer(const LearningRate& learning_rate = 0.001, NadamOptions options = {});
  /// Keras's from_config: the optimizer config() describes (see optimizers::from_config).
  static std::shared_ptr<NadamOptimizer> from_config(const Config& config);
  const NadamOptions& options() const { return options_; }

 protected:
  std::vector<std::vector<SlotSpec>> slot_groups() const override;
  void fill_step(kernels::OptimizerStep& step, DType dtype, std::int64_t iteration,
                 double learning_rate) const override;
  void begin_step(std::int64_t iteration) override;
  void build_extra(const Variable& first) override;
  std::vector<Variable> extra_variables() const override;
  Config own_config() const override;

 private:
  NadamOptions options_;
  std::optional<Variable> u_product_;
};

/// `nr::optimizers::SGD(0.1, {.momentum = 0.9, .nesterov = true})`.
class SGD : public OptimizerHandle<SGDOptimizer> {
 public:
  explicit SGD(const LearningRate& learning_rate = 0.01, SGDOptions options = {});
};
/// `nr::optimizers::Adam(1e-3, {.beta_1 = 0.8, .clipnorm = 1.0})`.
class Adam : public OptimizerHandle<AdamOptimizer> {
 public:
  explicit Adam(const LearningRate& learning_rate = 0.001, AdamOptions options = {});
};
/// `nr::optimizers::AdamW(1e-3, {.weight_decay = 0.01})`.
class AdamW : public OptimizerHandle<AdamWOptimizer> {
 public:
  explicit AdamW(const LearningRate& learning_rate = 0.001, AdamWOptions options = {});
};
/// `nr::optimizers::RMSprop(1e-3, {.rho = 0.9, .centered = true})`.
class RMSprop : public OptimizerHandle<RMSpropOptimizer> {
 public:
  explicit RMSprop(const LearningRate& learning_rate = 0.001, RMSpropOptions options = {});
};
/// `nr::optimizers::Adagrad(1e-2)`.
class Adagrad : public OptimizerHandle<AdagradOptimizer> {
 public:
  explicit Adagrad(const LearningRate& learning_rate = 0.001, AdagradOptions options = {});
};
/// `nr::optimizers::Adamax(2e-3)`.
class Adamax : public OptimizerHandle<AdamaxOptimizer> {
 public:
  explicit Adamax(const LearningRate& learning_rate = 0.001, AdamaxOptions options = {});
};
/// `nr::optimizers::Nadam(2e-3)`.
class Nadam : public OptimizerHandle<NadamOptimizer> {
 public:
  explicit Nadam(const LearningRate& learning_rate = 0.001, NadamOptions options = {});
};

/// An optimizer by Keras name ("adam", "sgd", "rmsprop", "adagrad", "adamax", "nadam",
/// "adamw"; any case) with Keras's defaults, as keras.optimizers.get. Throws ValueError
/// listing the valid names otherwise.
std::shared_ptr<Optimizer> get(const std::string& identifier);
/// The names get() accepts.
std::vector<std::string> names();

/// The optimizer a Keras class name (any case, as keras.optimizers.deserialize takes it) and
/// get_config() describe: the inverse of class_name() and config(), for the seven optimizers
/// neurona implements. `learning_rate` is a number or a schedule (schedules::from_config
/// makes one from Keras's serialization); absent keys take Keras's defaults; `decay` is
/// ignored, as Keras ignores it. Throws ValueError for an unknown class (naming it), a mistyped
/// value, a key the class does not take, or a Keras option neurona does not implement at a
/// value other than its default (use_ema, loss_scale_factor, gradient_accumulation_steps),
/// naming the optimizer and the key.
///   auto opt = nr::optimizers::from_config("Adam", {{"learning_rate", 0.01}, {"amsgrad", true}});
std::shared_ptr<Optimizer> from_config(const std::string& class_name, const Config& config);

/// What `model.compile({.optimizer = ...})` takes: a Keras name or any optimizer handle (the
/// caller's handle and the model then share one optimizer).
class OptimizerRef {
 public:
  OptimizerRef(const char* identifier);         // NOLINT: implicit by design
  OptimizerRef(const std::string& identifier);  // NOLINT: implicit by design
  template <typename T>
  requires std::derived_from<T, Optimizer> OptimizerRef(
      const OptimizerHandle<T>& handle)  // NOLINT: implicit by design
      : OptimizerRef(std::shared_ptr<Optimizer>(handle.ptr())) {}
  /// ValueError when null.
  OptimizerRef(std::shared_ptr<Optimizer> optimizer);  // NOLINT: implicit by design

  std::shared_ptr<Optimizer> get() const { return optimizer_; }
  Optimizer* operator->() const { return optimizer_.get(); }

 private:
  std::shared_ptr<Optimizer> optimizer_;
};

}  // namespace neurona::optimizers
