// The optimizers' shared step (filtering, clipping, weight decay, one fused kernel per
// variable) and each rule's per-step scalars. The scalars are computed on the host in the
// variable's dtype with Keras's order of operations (e.g. Adam's alpha in float32 for a
// float32 variable), so that the kernel rounds as keras.src.optimizers.*.update_step does.
#include "neurona/training/optimizers.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <type_traits>

#include "neurona/core/registry.h"
#include "neurona/kernels/creation.h"
#include "neurona/kernels/elementwise.h"
#include "neurona/kernels/optimizer.h"

namespace neurona::optimizers {

namespace {

// Keras's automatic names: backend.get_uid(prefix) gives "adam", "adam_1", "adam_2", ...
std::string auto_name(const std::string& prefix) {
  static std::mutex mu;
  static std::map<std::string, int> counts;
  std::lock_guard lock(mu);
  const int n = counts[prefix]++;
  return n == 0 ? prefix : prefix + "_" + std::to_string(n);
}

ConfigValue optional_value(const std::optional<double>& v) {
  return v ? ConfigValue(*v) : ConfigValue();
}

std::string describe(const std::optional<double>& v) {
  return v ? detail::str(*v) : std::string("None");
}

template <typename Options>
CommonOptions common_of(const Options& o) {
  return {o.weight_decay, o.clipnorm, o.clipvalue, o.global_clipnorm, o.name};
}

// Runs `f(T{})` with T the C++ type of a floating dtype.
template <typename F>
void with_float_type(DType dtype, F&& f) {
  if (dtype == DType::float64) {
    f(double{});
  } else {
    f(float{});
  }
}

LearningRate learning_rate_of(detail::ConfigReader& r, double def) {
  const ConfigValue* v = r.find("learning_rate");
  if (v == nullptr) return def;
  if (v->kind() == ConfigValue::Kind::Dict) {
    return LearningRate(schedules::deserialize(*v, r.who() + " learning_rate"));
  }
  if (v->kind() == ConfigValue::Kind::Float || v->kind() == ConfigValue::Kind::Int) {
    return v->as_double();
  }
  throw ValueError(
      detail::str(r.who(), ": 'learning_rate' must be a number or a learning rate schedule, got ",
                  v->kind_name()));
}

// The keyword arguments of Keras's base Optimizer; returns the ones neurona implements.
CommonOptions common_of(detail::ConfigReader& r) {
  CommonOptions c{.weight_decay = r.optional_number("weight_decay"),
                  .clipnorm = r.optional_number("clipnorm"),
                  .clipvalue = r.optional_number("clipvalue"),
                  .global_clipnorm = r.optional_number("global_clipnorm"),
                  .name = r.string("name", "")};
  r.require_bool("use_ema", false, "exponential moving averages of the weights (use_ema)");
  // Read by Keras only with use_ema.
  r.ignore("ema_momentum");
  r.ignore("ema_overwrite_frequency");
  r.require_none("loss_scale_factor", "loss scaling (loss_scale_factor)");
  r.require_none("gradient_accumulation_steps", "gradient accumulation");
  r.ignore("decay");  // Keras warns that it is no longer supported and ignores it
  return c;
}

// Reads an optimizer class's config in Keras's order: learning_rate (`default_lr` when
// absent), the base Optimizer's keyword arguments, then the class's own through
// `own(reader)`, which returns the class's options (read_config sets the base ones in them);
// then rejects the keys nothing read.
template <typename O, typename Own>
std::shared_ptr<O> read_config(const Config& config, const char* class_name, double default_lr,
                               Own own) {
  detail::ConfigReader r(config, class_name);
  const LearningRate lr = learning_rate_of(r, default_lr);
  const CommonOptions c = common_of(r);
  auto options = own(r);
  // The base Optimizer's options, the same fields in every class's options struct.
  if constexpr (std::is_same_v<decltype(options.weight_decay), double>) {
    options.weight_decay = c.weight_decay.value_or(options.weight_decay);  // AdamW's default
  } else {
    options.weight_decay = c.weight_decay;
  }
  options.clipnorm = c.clipnorm;
  options.clipvalue = c.clipvalue;
  options.global_clipnorm = c.global_clipnorm;
  options.name = c.name;
  auto out = std::make_shared<O>(lr, std::move(options));
  r.finish();
  return out;
}

}  // namespace

LearningRate::LearningRate(std::shared_ptr<const schedules::LearningRateSchedule> schedule)
    : schedule_(std::move(schedule)) {
  NEURONA_CHECK(schedule_ != nullptr, ValueError, "LearningRate: the schedule is null");
}

// ---------------------------------------------------------------------------------------------
// Optimizer

Optimizer::Optimizer(std::string class_name, const std::string& snake_name,
                     const LearningRate& learning_rate, CommonOptions common)
    : class_name_(std::move(class_name)),
      name_(common.name.empty() ? auto_name(snake_name) : common.name),
      common_(std::move(common)),
      schedule_(learning_rate.schedule()),
      // On the CPU whatever the model's device: the host reads and counts them each step
      // without touching a GPU.
      iterations_(kernels::fill({}, 0.0, {.dtype = DType::int64, .device = Device::cpu()}),
                  {.name = "iteration", .trainable = false}) {
  const int clip_args =
      (common_.clipnorm ? 1 : 0) + (common_.clipvalue ? 1 : 0) + (common_.global_clipnorm ? 1 : 0);
  NEURONA_CHECK(clip_args <= 1, ValueError, class_name_,
                ": only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                "Received: clipnorm=",
                describe(common_.clipnorm), ", clipvalue=", describe(common_.clipvalue),
                ", global_clipnorm=", describe(common_.global_clipnorm));
  if (!schedule_) {
    learning_rate_.emplace(kernels::fill({}, learning_rate.value(),
                                         {.dtype = DType::float32, .device = Device::cpu()}),
                           VariableOptions{.name = "learning_rate", .trainable = false});
  }
}

Optimizer::~Optimizer() = default;

std::int64_t Optimizer::iterations() const {
  return iterations_.value().data<std::int64_t>()[0];
}

double Optimizer::learning_rate() const {
  if (schedule_) return static_cast<float>((*schedule_)(iterations()));
  return learning_rate_->value().data<float>()[0];
}

void Optimizer::set_learning_rate(double learning_rate) {
  NEURONA_CHECK(!schedule_, ValueError, class_name(), " '", name_,
                "': this optimizer was created with a LearningRateSchedule as its "
                "learning_rate, hence its learning rate is not settable. Create it with a float "
                "learning_rate if you need to set it.");
  learning_rate_->value().data<float>()[0] = static_cast<float>(learning_rate);
  learning_rate_->value().bump_version();
}

void Optimizer::exclude_from_weight_decay(const std::vector<Variable>& var_list,
                                          const std::vector<std::string>& var_names) {
  NEURONA_CHECK(!built_, ValueError, class_name(), " '", name_,
                "': exclude_from_weight_decay() can only be configured before the optimizer is "
                "built.");
  excluded_ids_.clear();
  for (const Variable& v : var_list) excluded_ids_.push_back(v.value().id());
  excluded_names_ = var_names;
}

bool Optimizer::use_weight_decay(const Variable& v) const {
  if (std::find(excluded_ids_.begin(), excluded_ids_.end(), v.value().id()) !=
      excluded_ids_.end()) {
    return false;
  }
  // Keras searches the name with the regular expression "|".join(var_names); the names people
  // pass are plain parts of weight names ("bias", "layer_norm"), so this matches substrings
  // (std::regex trips GCC 12's -Wmaybe-uninitialized in the sanitizer build).
  for (const std::string& part : excluded_names_) {
    if (v.name().find(part) != std::string::npos) return false;
  }
  return true;
}

Optimizer::Entry& Optimizer::entry_for(const Variable& v) {
  const auto it = index_.find(v.value().id());
  if (it != index_.end()) return entries_[it->second];
  NEURONA_CHECK(v.dtype() == DType::float32 || v.dtype() == DType::float64, ValueError,
                class_name(), " '", name_, "': variable '", v.name(), "' has dtype ", v.dtype(),
                "; optimizers update float32 and float64 variables (a mixed precision policy keeps "
                "float32 variables: use \"mixed_bfloat16\" rather than \"bfloat16\")");
  if (!built_) build_extra(v);
  built_ = true;
  Entry e{v, {}, use_weight_decay(v)};
  for (const auto& group : slot_groups()) {
    for (const SlotSpec& spec : group) {
      e.slots[spec.index].emplace(
          kernels::fill(v.shape(), spec.initial_value, {.dtype = v.dtype(), .device = v.device()}),
          VariableOptions{.name = v.name() + "_" + spec.name, .trainable = false});
    }
  }
  index_.emplace(v.value().id(), entries_.size());
  entries_.push_back(std::move(e));
  return entries_.back();
}

void Optimizer::build(const std::vector<Variable>& variables) {
  for (const Variable& v : variables) entry_for(v);
}

kernels::GradientClip Optimizer::clip_kind(double* clip_value) const {
  // Keras clips only for a positive clip value ("if self.clipnorm and self.clipnorm > 0").
  const auto positive = [](const std::optional<double>& x) { return x && *x > 0; };
  *clip_value = 0.0;
  if (positive(common_.clipnorm)) {
    *clip_value = *common_.clipnorm;
    return kernels::GradientClip::norm;
  }
  if (positive(common_.global_clipnorm)) {
    *clip_value = *common_.global_clipnorm;
    return kernels::GradientClip::global_norm;
  }
  if (positive(common_.clipvalue)) {
    *clip_value = *common_.clipvalue;
    return kernels::GradientClip::value;
  }
  return kernels::GradientClip::none;
}

std::vector<Tensor> Optimizer::checked_gradients(const std::vector<Tensor>& grads,
                                                 const std::vector<Variable>& variables,
                                                 const char* caller) const {
  NEURONA_CHECK(grads.size() == variables.size(), ValueError, class_name(), " '", name_, "'.",
                caller, ": got ", grads.size(), " gradients for ", variables.size(), " variables");
  // Keras's _filter_empty_gradients, then the checks Keras leaves to broadcasting.
  std::vector<Tensor> g(grads.size());
  bool any = false;
  for (std::size_t i = 0; i < grads.size(); ++i) {
    if (!grads[i].defined()) continue;
    const Variable& v = variables[i];
    NEURONA_CHECK(grads[i].shape() == v.shape(), ShapeError, class_name(), " '", name_, "'.",
                  caller, ": the gradient for variable '", v.name(), "' has shape ",
                  grads[i].shape(), " but the variable has shape ", v.shape());
    NEURONA_CHECK(is_floating(grads[i].dtype()), ValueError, class_name(), " '", name_, "'.",
                  caller, ": the gradient for variable '", v.name(), "' has dtype ",
                  grads[i].dtype(), "; expected a float tensor");
    g[i] = kernels::cast(grads[i].to(v.device()), v.dtype());
    any = true;
  }
  NEURONA_CHECK(grads.empty() || any, ValueError, class_name(), " '", name_, "'.", caller,
                ": no gradients provided for any variable.");
  return g;
}

void Optimizer::apply_gradients(const std::vector<Tensor>& grads,
                                const std::vector<Variable>& variables) {
  const std::vector<Tensor> g = checked_gradients(grads, variables, "apply_gradients");
  if (grads.empty()) return;  // Keras: a no-op, not even counted
  prepare_step(variables);
  update_variables(g, variables);
}

void Optimizer::prepare_step(const std::vector<Variable>& variables) {
  build(variables);
  double clip_value = 0.0;
  const kernels::GradientClip clip = clip_kind(&clip_value);
  const std::int64_t iteration = iterations();
  // The count comes from files and assignments too; the rules compute iteration + 1 and
  // iteration + 2 (Nadam), which must not overflow.
  constexpr std::int64_t kMaxIteration = std::numeric_limits<std::int64_t>::max() - 2;
  NEURONA_CHECK(iteration >= 0 && iteration <= kMaxIteration, ValueError, class_name_, " '", name_,
                "': the iteration count (variable 'iterations') is ", iteration,
                "; it must be between 0 and ", kMaxIteration);
  const double lr = learning_rate();
  begin_step(iteration);
  for (const Variable& variable : variables) {
    const Variable& v = entry_for(variable).variable;
    const auto known = std::find_if(prepared_.begin(), prepared_.end(), [&](const Prepared& p) {
      return p.device == v.device() && p.dtype == v.dtype();
    });
    if (known == prepared_.end()) {
      prepared_.push_back(
          {v.device(), v.dtype(), {}, kernels::optimizer_coefficients_buffer(v.device()), -1});
    }
  }
  for (Prepared& p : prepared_) {
    p.step = {};
    fill_step(p.step, p.dtype, iteration, lr);
    auto& c = p.step.coefficients;
    with_float_type(p.dtype, [&](auto t) {
      using T = decltype(t);
      c.clip = clip;
      c.clip_value = static_cast<T>(clip_value);
      c.clip_inverse = static_cast<T>(1.0 / clip_value);  // Keras: 1.0 / clip_norm in Python
      c.decay = common_.weight_decay.has_value();
      c.weight_decay = static_cast<T>(common_.weight_decay.value_or(0.0));
    });
    kernels::write_optimizer_coefficients(p.step, p.dtype, p.coefficients);
    p.iteration = iteration;
  }
  iterations_.value().data<std::int64_t>()[0] = iteration + 1;
  iterations_.value().bump_version();
}

void Optimizer::apply_prepared(const std::vector<Tensor>& grads,
                               const std::vector<Variable>& variables) {
  update_variables(checked_gradients(grads, variables, "apply_prepared"), variables);
}

void Optimizer::update_variables(const std::vector<Tensor>& g,
                                 const std::vector<Variable>& variables) {
  std::vector<std::size_t> live;
  for (std::size_t i = 0; i < g.size(); ++i) {
    if (g[i].defined()) live.push_back(i);
  }
  if (live.empty()) return;
  double clip_value = 0.0;
  const kernels::GradientClip clip = clip_kind(&clip_value);
  // The global norm over every gradient, on the device(s) that hold them.
  std::vector<std::pair<Device, Tensor>> global_sum;  // the total, on each gradient device
  if (clip == kernels::GradientClip::global_norm) {
    std::vector<std::pair<Device, std::vector<Tensor>>> by_device;
    for (std::size_t i : live) {
      auto it = std::find_if(by_device.begin(), by_device.end(),
                             [&](const auto& p) { return p.first == g[i].device(); });
      if (it == by_device.end()) it = by_device.insert(by_device.end(), {g[i].device(), {}});
      it->second.push_back(g[i]);
    }
    Tensor total;
    for (const auto& [device, tensors] : by_device) {
      Tensor s = kernels::sum_of_squares(tensors);
      // Gradients on several devices: add the per-device sums on the first one (copies).
      total = total.defined() ? kernels::add(total, s.to(total.device())) : s;
    }
    for (const auto& [device, tensors] : by_device)
      global_sum.emplace_back(device, total.to(device));
  }

  // One fused update per device and dtype over all of its variables, with the coefficients
  // prepare_step() wrote for this step.
  std::vector<std::vector<kernels::OptimizerTensors>> items(prepared_.size());
  for (std::size_t i : live) {
    Entry& e = entry_for(variables[i]);
    const Variable& v = e.variable;
    const auto group = std::find_if(prepared_.begin(), prepared_.end(), [&](const Prepared& p) {
      return p.device == v.device() && p.dtype == v.dtype();
    });
    NEURONA_CHECK(group != prepared_.end() && group->iteration + 1 == iterations(), ValueError,
                  class_name(), " '", name_,
                  "'.apply_prepared: call prepare_step() with variable '", v.name(),
                  "' before each apply_prepared()");
    kernels::OptimizerTensors item{g[i], v.value(), {}, {}, e.use_weight_decay};
    for (std::size_t k = 0; k < 3; ++k) {
      if (e.slots[k]) item.slots[k] = e.slots[k]->value();
    }
    if (clip == kernels::GradientClip::norm) item.sum_squares = kernels::sum_of_squares({g[i]});
    if (clip == kernels::GradientClip::global_norm) {
      for (const auto& [device, total] : global_sum) {
        if (device == v.device()) item.sum_squares = total;
      }
    }
    items[static_cast<std::size_t>(group - prepared_.begin())].push_back(std::move(item));
  }
  for (std::size_t k = 0; k < prepared_.size(); ++k) {
    if (items[k].empty()) continue;
    kernels::optimizer_update(prepared_[k].step, items[k], prepared_[k].coefficients);
  }
}

std::vector<Variable> Optimizer::variables() const {
  std::vector<Variable> out{iterations_};
  if (learning_rate_) out.push_back(*learning_rate_);
  for (const auto& group : slot_groups()) {
    for (const Entry& e : entries_) {
      for (const SlotSpec& spec : group) out.push_back(*e.slots[spec.index]);
    }
  }
  for (Variable& v : extra_variables()) out.push_back(std::move(v));
  return out;
}

Config Optimizer::config() const {
  Config c{{"name", name_}};
  if (schedule_) {
    c.emplace_back("learning_rate", schedules::serialize(*schedule_));
  } else {
    c.emplace_back("learning_rate", learning_rate());
  }
  c.emplace_back("weight_decay", optional_value(common_.weight_decay));
  c.emplace_back("clipnorm", optional_value(common_.clipnorm));
  c.emplace_back("global_clipnorm", optional_value(common_.global_clipnorm));
  c.emplace_back("clipvalue", optional_value(common_.clipvalue));
  c.emplace_back("use_ema", false);
  c.emplace_back("ema_momentum", 0.99);
  c.emplace_back("ema_overwrite_frequency", nullptr);
  c.emplace_back("loss_scale_factor", nullptr);
  c.emplace_back("gradient_accumulation_steps", nullptr);
  for (auto& kv : own_config()) c.push_back(std::move(kv));
  return c;
}

// ---------------------------------------------------------------------------------------------
// The rules. Each fill_step computes in T what Keras computes in the variable's dtype; a
// Python float combined with a tensor (e.g. `1 - self.beta_1`) is computed in double first
// and then rounded to T, as JAX's weak typing does.

namespace {
using kernels::OptimizerRule;
}  // namespace

SGDOptimizer::SGDOptimizer(const LearningRate& learning_rate, SGDOptions options)
    : Optimizer("SGD", "sgd", learning_rate, common_of(options)), options_(std::move(options)) {
  NEURONA_CHECK(
      options_.momentum >= 0.0 && options_.momentum <= 1.0, ValueError,
      "SGD: `momentum` must be a float between [0, 1]. Received: momentum=", options_.momentum);
}

std::vector<std::vector<Optimizer::SlotSpec>> SGDOptimizer::slot_groups() const {
  if (options_.momentum == 0.0) return {};
  return {{{"momentum", 0, 0.0}}};
}

void SGDOptimizer::fill_step(kernels::OptimizerStep& step, DType dtype, std::int64_t,
                             double learning_rate) const {
  step.rule = OptimizerRule::sgd;
  with_float_type(dtype, [&](auto t) {
    using T = decltype(t);
    auto& c = step.coefficients;
    c.learning_rate = static_cast<T>(learning_rate);
    c.momentum = static_cast<T>(options_.momentum);
    c.use_momentum = options_.momentum != 0.0;
    c.nesterov = options_.nesterov;
  });
}

Config SGDOptimizer::own_config() const {
  return {{"momentum", options_.momentum}, {"nesterov", options_.nesterov}};
}
std::shared_ptr<SGDOptimizer> SGDOptimizer::from_config(const Config& config) {
  return read_config<SGDOptimizer>(config, "SGD", 0.01, [](auto& r) {
    return SGDOptions{.momentum = r.number("momentum", 0.0),
                      .nesterov = r.boolean("nesterov", false)};
  });
}

AdamOptimizer::AdamOptimizer(const LearningRate& learning_rate, AdamOptions options)
    : AdamOptimizer("Adam", "adam", learning_rate, std::move(options)) {}

AdamOptimizer::AdamOptimizer(std::string class_name, const std::string& snake_name,
                             const LearningRate& learning_rate, AdamOptions options)
    : Optimizer(std::move(class_name), snake_name, learning_rate, common_of(options)),
      options_(std::move(options)) {}

std::vector<std::vector<Optimizer::SlotSpec>> AdamOptimizer::slot_groups() const {
  std::vector<std::vector<SlotSpec>> groups{{{"momentum", 0, 0.0}, {"velocity", 1, 0.0}}};
  if (options_.amsgrad) groups.push_back({{"velocity_hat", 2, 0.0}});
  return groups;
}

void AdamOptimizer::fill_step(kernels::OptimizerStep& step, DType dtype, std::int64_t iteration,
                              double learning_rate) const {
  step.rule = OptimizerRule::adam;
  with_float_type(dtype, [&](auto t) {
    using T = decltype(t);
    auto& c = step.coefficients;
    const T lr = static_cast<T>(learning_rate);
    const T local_step = static_cast<T>(iteration + 1);
    const T beta_1_power = std::pow(static_cast<T>(options_.beta_1), local_step);
    const T beta_2_power = std::pow(static_cast<T>(options_.beta_2), local_step);
    c.learning_rate = lr;
    c.alpha = lr * std::sqrt(T(1) - beta_2_power) / (T(1) - beta_1_power);
    c.one_minus_beta_1 = static_cast<T>(1.0 - options_.beta_1);
    c.one_minus_beta_2 = static_cast<T>(1.0 - options_.beta_2);
    c.epsilon = static_cast<T>(options_.epsilon);
    c.amsgrad = options_.amsgrad;
  });
}

Config AdamOptimizer::own_config() const {
  return {{"beta_1", options_.beta_1},
          {"beta_2", options_.beta_2},
          {"epsilon", options_.epsilon},
          {"amsgrad", options_.amsgrad}};
}
std::shared_ptr<AdamOptimizer> AdamOptimizer::from_config(const Config& config) {
  return read_config<AdamOptimizer>(config, "Adam", 0.001, [](auto& r) {
    return AdamOptions{.beta_1 = r.number("beta_1", 0.9),
                       .beta_2 = r.number("beta_2", 0.999),
                       .epsilon = r.number("epsilon", 1e-7),
                       .amsgrad = r.boolean("amsgrad", false)};
  });
}

AdamWOptimizer::AdamWOptimizer(const LearningRate& learning_rate, AdamWOptions options)
    : AdamOptimizer("AdamW", "adam_w", learning_rate,
                    AdamOptions{.beta_1 = options.beta_1,
                                .beta_2 = options.beta_2,
                                .epsilon = options.epsilon,
                                .amsgrad = options.amsgrad,
                                .weight_decay = options.weight_decay,
                                .clipnorm = options.clipnorm,
                                .clipvalue = options.clipvalue,
                                .global_clipnorm = options.global_clipnorm,
                                .name = options.name}) {}

std::shared_ptr<AdamWOptimizer> AdamWOptimizer::from_config(const Config& config) {
  return read_config<AdamWOptimizer>(config, "AdamW", 0.001, [](auto& r) {
    return AdamWOptions{.beta_1 = r.number("beta_1", 0.9),
                        .beta_2 = r.number("beta_2", 0.999),
                        .epsilon = r.number("epsilon", 1e-7),
                        .amsgrad = r.boolean("amsgrad", false)};
  });
}

RMSpropOptimizer::RMSpropOptimizer(const LearningRate& learning_rate, RMSpropOptions options)
    : Optimizer("RMSprop", "rm_sprop", learning_rate, common_of(options)),
      options_(std::move(options)) {}

std::vector<std::vector<Optimizer::SlotSpec>> RMSpropOptimizer::slot_groups() const {
  std::vector<std::vector<SlotSpec>> groups{{{"velocity", 0, 0.0}}};
  if (options_.momentum > 0) groups.push_back({{"momentum", 1, 0.0}});
  if (options_.centered) groups.push_back({{"average_gradient", 2, 0.0}});
  return groups;
}

void RMSpropOptimizer::fill_step(kernels::OptimizerStep& step, DType dtype, std::int64_t,
                                 double learning_rate) const {
  step.rule = OptimizerRule::rmsprop;
  with_float_type(dtype, [&](auto t) {
    using T = decltype(t);
    auto& c = step.coefficients;
    c.learning_rate = static_cast<T>(learning_rate);
    c.rho = static_cast<T>(options_.rho);
    c.one_minus_rho = static_cast<T>(1.0 - options_.rho);
    c.momentum = static_cast<T>(options_.momentum);
    c.use_momentum = options_.momentum > 0;
    c.centered = options_.centered;
    c.epsilon = static_cast<T>(options_.epsilon);
  });
}

Config RMSpropOptimizer::own_config() const {
  return {{"rho", options_.rho},
          {"momentum", options_.momentum},
          {"epsilon", options_.epsilon},
          {"centered", options_.centered}};
}
std::shared_ptr<RMSpropOptimizer> RMSpropOptimizer::from_config(const Config& config) {
  return read_config<RMSpropOptimizer>(config, "RMSprop", 0.001, [](auto& r) {
    return RMSpropOptions{.rho = r.number("rho", 0.9),
                          .momentum = r.number("momentum", 0.0),
                          .epsilon = r.number("epsilon", 1e-7),
                          .centered = r.boolean("centered", false)};
  });
}

AdagradOptimizer::AdagradOptimizer(const LearningRate& learning_rate, AdagradOptions options)
    : Optimizer("Adagrad", "adagrad", learning_rate, common_of(options)),
      options_(std::move(options)) {}

std::vector<std::vector<Optimizer::SlotSpec>> AdagradOptimizer::slot_groups() const {
  return {{{"accumulator", 0, options_.initial_accumulator_value}}};
}

void AdagradOptimizer::fill_step(kernels::OptimizerStep& step, DType dtype, std::int64_t,
                                 double learning_rate) const {
  step.rule = OptimizerRule::adagrad;
  with_float_type(dtype, [&](auto t) {
    using T = decltype(t);
    step.coefficients.learning_rate = static_cast<T>(learning_rate);
    step.coefficients.epsilon = static_cast<T>(options_.epsilon);
  });
}

Config AdagradOptimizer::own_config() const {
  return {{"initial_accumulator_value", options_.initial_accumulator_value},
          {"epsilon", options_.epsilon}};
}
std::shared_ptr<AdagradOptimizer> AdagradOptimizer::from_config(const Config& config) {
  return read_config<AdagradOptimizer>(config, "Adagrad", 0.001, [](auto& r) {
    return AdagradOptions{.initial_accumulator_value = r.number("initial_accumulator_value", 0.1),
                          .epsilon = r.number("epsilon", 1e-7)};
  });
}

AdamaxOptimizer::AdamaxOptimizer(const LearningRate& learning_rate, AdamaxOptions options)
    : Optimizer("Adamax", "adamax", learning_rate, common_of(options)),
      options_(std::move(options)) {}

std::vector<std::vector<Optimizer::SlotSpec>> AdamaxOptimizer::slot_groups() const {
  return {{{"momentum", 0, 0.0}, {"norm", 1, 0.0}}};
}

void AdamaxOptimizer::fill_step(kernels::OptimizerStep& step, DType dtype, std::int64_t iteration,
                                double learning_rate) const {
  step.rule = OptimizerRule::adamax;
  with_float_type(dtype, [&](auto t) {
    using T = decltype(t);
    auto& c = step.coefficients;
    const T local_step = static_cast<T>(iteration + 1);
    c.learning_rate = static_cast<T>(learning_rate);
    c.one_minus_beta_1 = static_cast<T>(1.0 - options_.beta_1);
    c.beta_2 = static_cast<T>(options_.beta_2);
    c.one_minus_beta_1_power = T(1) - std::pow(static_cast<T>(options_.beta_1), local_step);
    c.epsilon = static_cast<T>(options_.epsilon);
  });
}

Config AdamaxOptimizer::own_config() const {
  return {{"beta_1", options_.beta_1}, {"beta_2", options_.beta_2}, {"epsilon", options_.epsilon}};
}
std::shared_ptr<AdamaxOptimizer> AdamaxOptimizer::from_config(const Config& config) {
  return read_config<AdamaxOptimizer>(config, "Adamax", 0.001, [](auto& r) {
    return AdamaxOptions{.beta_1 = r.number("beta_1", 0.9),
                         .beta_2 = r.number("beta_2", 0.999),
                         .epsilon = r.number("epsilon", 1e-7)};
  });
}

NadamOptimizer::NadamOptimizer(const LearningRate& learning_rate, NadamOptions options)
    : Optimizer("Nadam", "nadam", learning_rate, common_of(options)),
      options_(std::move(options)) {}

std::vector<std::vector<Optimizer::SlotSpec>> NadamOptimizer::slot_groups() const {
  return {{{"momentum", 0, 0.0}, {"velocity", 1, 0.0}}};
}

void NadamOptimizer::build_extra(const Variable& first) {
  // Keras: backend.Variable(1.0, dtype=var_list[0].dtype), on the host here since only the
  // host reads it.
  u_product_.emplace(kernels::fill({}, 1.0, {.dtype = first.dtype(), .device = Device::cpu()}),
                     VariableOptions{.name = "u_product", .trainable = false});
}

void NadamOptimizer::begin_step(std::int64_t iteration) {
  // Keras's _backend_update_step: u_product *= beta_1 * (1 - 0.5 * 0.96^(t + 1)), in its dtype.
  with_float_type(u_product_->dtype(), [&](auto t) {
    using T = decltype(t);
    T* u = u_product_->value().data<T>();
    const T factor = T(1) - T(0.5) * std::pow(static_cast<T>(0.96), static_cast<T>(iteration + 1));
    *u = *u * static_cast<T>(options_.beta_1) * factor;
  });
  u_product_->value().bump_version();
}

void NadamOptimizer::fill_step(kernels::OptimizerStep& step, DType dtype, std::int64_t iteration,
                               double learning_rate) const {
  step.rule = OptimizerRule::nadam;
  const double u_product = u_product_->value().item<double>();
  with_float_type(dtype, [&](auto t) {
    using T = decltype(t);
    auto& c = step.coefficients;
    const T local_step = static_cast<T>(iteration + 1);
    const T next_step = static_cast<T>(iteration + 2);
    const T decay = static_cast<T>(0.96);
    const T beta_1 = static_cast<T>(options_.beta_1);
    const T beta_2 = static_cast<T>(options_.beta_2);
    const T u_t = beta_1 * (T(1) - T(0.5) * std::pow(decay, local_step));
    const T u_t_1 = beta_1 * (T(1) - T(0.5) * std::pow(decay, next_step));
    const T u_product_t = static_cast<T>(u_product);
    const T u_product_t_1 = u_product_t * u_t_1;
    c.learning_rate = static_cast<T>(learning_rate);
    // Here beta_1 and beta_2 are tensors of the variable's dtype, so 1 - beta is computed in T.
    c.one_minus_beta_1 = T(1) - beta_1;
    c.one_minus_beta_2 = T(1) - beta_2;
    c.u_t_1 = u_t_1;
    c.one_minus_u_t = T(1) - u_t;
    c.one_minus_u_product_t = T(1) - u_product_t;
    c.one_minus_u_product_t_1 = T(1) - u_product_t_1;
    c.one_minus_beta_2_power = T(1) - std::pow(beta_2, local_step);
    c.epsilon = static_cast<T>(options_.epsilon);
  });
}

std::vector<Variable> NadamOptimizer::extra_variables() const {
  if (!u_product_) return {};
  return {*u_product_};
}

Config NadamOptimizer::own_config() const {
  return {{"beta_1", options_.beta_1}, {"beta_2", options_.beta_2}, {"epsilon", options_.epsilon}};
}
std::shared_ptr<NadamOptimizer> NadamOptimizer::from_config(const Config& config) {
  return read_config<NadamOptimizer>(config, "Nadam", 0.001, [](auto& r) {
    return NadamOptions{.beta_1 = r.number("beta_1", 0.9),
                        .beta_2 = r.number("beta_2", 0.999),
                        .epsilon = r.number("epsilon", 1e-7)};
  });
}

// ---------------------------------------------------------------------------------------------
// Handles, names and OptimizerRef

SGD::SGD(const LearningRate& learning_rate, SGDOptions options)
    : OptimizerHandle(std::make_shared<SGDOptimizer>(learning_rate, std::move(options))) {}
Adam::Adam(const LearningRate& learning_rate, AdamOptions options)
    : OptimizerHandle(std::make_shared<AdamOptimizer>(learning_rate, std::move(options))) {}
AdamW::AdamW(const LearningRate& learning_rate, AdamWOptions options)
    : OptimizerHandle(std::make_shared<AdamWOptimizer>(learning_rate, std::move(options))) {}
RMSprop::RMSprop(const LearningRate& learning_rate, RMSpropOptions options)
    : OptimizerHandle(std::make_shared<RMSpropOptimizer>(learning_rate, std::move(options))) {}
Adagrad::Adagrad(const LearningRate& learning_rate, AdagradOptions options)
    : OptimizerHandle(std::make_shared<AdagradOptimizer>(learning_rate, std::move(options))) {}
Adamax::Adamax(const LearningRate& learning_rate, AdamaxOptions options)
    : OptimizerHandle(std::make_shared<AdamaxOptimizer>(learning_rate, std::move(options))) {}
Nadam::Nadam(const LearningRate& learning_rate, NadamOptions options)
    : OptimizerHandle(std::make_shared<NadamOptimizer>(learning_rate, std::move(options))) {}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return s;
}

// Keras's lower-case names; get() lower-cases the identifier first, as keras.optimizers.get.
using Factory = std::shared_ptr<Optimizer> (*)();
const Registry<Factory>& registry() {
  // Never destroyed: outlives static models destroyed late.
  static const auto* r = new Registry<Factory>{
      {"sgd", []() -> std::shared_ptr<Optimizer> { return SGD().ptr(); }},
      {"adam", []() -> std::shared_ptr<Optimizer> { return Adam().ptr(); }},
      {"adamw", []() -> std::shared_ptr<Optimizer> { return AdamW().ptr(); }},
      {"rmsprop", []() -> std::shared_ptr<Optimizer> { return RMSprop().ptr(); }},
      {"adagrad", []() -> std::shared_ptr<Optimizer> { return Adagrad().ptr(); }},
      {"adamax", []() -> std::shared_ptr<Optimizer> { return Adamax().ptr(); }},
      {"nadam", []() -> std::shared_ptr<Optimizer> { return Nadam().ptr(); }},
  };
  return *r;
}

}  // namespace

std::vector<std::string> names() {
  return registry().names();
}

std::shared_ptr<Optimizer> get(const std::string& identifier) {
  if (const std::optional<Factory> factory = registry().find(lower(identifier))) {
    return (*factory)();
  }
  throw ValueError(detail::str("Could not interpret optimizer identifier: '", identifier,
                               "'. Valid names: ", registry().joined_names()));
}

namespace {

// Class name -> its from_config, for configs that `.keras` files hold.
using FromConfig = std::shared_ptr<Optimizer> (*)(const Config& config);
template <typename O>
std::shared_ptr<Optimizer> from_config_of(const Config& config) {
  return O::from_config(config);
}
const Registry<FromConfig>& from_config_registry() {
  // Never destroyed: outlives static models destroyed late.
  static const auto* r = new Registry<FromConfig>{
      {"SGD", from_config_of<SGDOptimizer>},         {"Adam", from_config_of<AdamOptimizer>},
      {"AdamW", from_config_of<AdamWOptimizer>},     {"RMSprop", from_config_of<RMSpropOptimizer>},
      {"Adagrad", from_config_of<AdagradOptimizer>}, {"Adamax", from_config_of<AdamaxOptimizer>},
      {"Nadam", from_config_of<NadamOptimizer>},
  };
  return *r;
}

}  // namespace

std::shared_ptr<Optimizer> from_config(const std::string& class_name, const Config& config) {
  // Class names match in any case, as get()'s names do.
  const std::vector<std::string> classes = from_config_registry().names();
  const std::string key = lower(class_name);
  for (const std::string& cls : classes) {
    if (lower(cls) == key) return (*from_config_registry().find(cls))(config);
  }
  throw ValueError(detail::str("unknown optimizer class '", class_name, "'; neurona implements ",
                               Registry<FromConfig>::join(classes, " and ")));
}

OptimizerRef::OptimizerRef(const char* identifier) : OptimizerRef(std::string(identifier)) {}
OptimizerRef::OptimizerRef(const std::string& identifier)
    : optimizer_(optimizers::get(identifier)) {}
OptimizerRef::OptimizerRef(std::shared_ptr<Optimizer> optimizer)
    : optimizer_(std::move(optimizer)) {
  NEURONA_CHECK(optimizer_ != nullptr, ValueError, "OptimizerRef: the optimizer is null");
}

}  // namespace neurona::optimizers
