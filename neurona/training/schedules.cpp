// The schedules compute in float32, in Keras's order of operations, so that a float32 model
// sees the same learning rate here as under Keras (floatx float32).
#include "neurona/training/schedules.h"

#include <cmath>
#include <numbers>

#include "neurona/core/error.h"
#include "neurona/core/registry.h"

namespace neurona::optimizers::schedules {

namespace {
void check_decay_steps(const char* schedule, std::int64_t decay_steps) {
  NEURONA_CHECK(decay_steps > 0, ValueError, schedule,
                ": argument decay_steps must be > 0. Received: decay_steps=", decay_steps);
}

// ExponentialDecay's and InverseTimeDecay's config (the same arguments), read in Keras's
// order, so that the first missing one is the one named.
template <typename S, typename Options>
std::shared_ptr<S> decay_from_config(const Config& config, const char* class_name) {
  detail::ConfigReader r(config, class_name);
  const double initial = r.number("initial_learning_rate");
  const std::int64_t decay_steps = r.integer("decay_steps");
  const double decay_rate = r.number("decay_rate");
  const bool staircase = r.boolean("staircase", false);
  const std::string name = r.string("name", class_name);
  auto out = std::make_shared<S>(initial, decay_steps, decay_rate, Options{staircase, name});
  r.finish();
  return out;
}
}  // namespace

ExponentialDecay::ExponentialDecay(double initial_learning_rate, std::int64_t decay_steps,
                                   double decay_rate, ExponentialDecayOptions options)
    : initial_learning_rate_(initial_learning_rate),
      decay_steps_(decay_steps),
      decay_rate_(decay_rate),
      options_(std::move(options)) {
  check_decay_steps("ExponentialDecay", decay_steps);
}

double ExponentialDecay::operator()(std::int64_t step) const {
  float p = static_cast<float>(step) / static_cast<float>(decay_steps_);
  if (options_.staircase) p = std::floor(p);
  return static_cast<float>(initial_learning_rate_) * std::pow(static_cast<float>(decay_rate_), p);
}

Config ExponentialDecay::config() const {
  return {{"initial_learning_rate", initial_learning_rate_},
          {"decay_steps", decay_steps_},
          {"decay_rate", decay_rate_},
          {"staircase", options_.staircase},
          {"name", options_.name}};
}

std::shared_ptr<ExponentialDecay> ExponentialDecay::from_config(const Config& config) {
  return decay_from_config<ExponentialDecay, ExponentialDecayOptions>(config, "ExponentialDecay");
}

PiecewiseConstantDecay::PiecewiseConstantDecay(std::vector<std::int64_t> boundaries,
                                               std::vector<double> values, std::string name)
    : boundaries_(std::move(boundaries)), values_(std::move(values)), name_(std::move(name)) {
  NEURONA_CHECK(boundaries_.size() + 1 == values_.size(), ValueError,
                "PiecewiseConstantDecay: the length of boundaries should be 1 less than the "
                "length of values. Received: ",
                boundaries_.size(), " boundaries and ", values_.size(), " values");
}

double PiecewiseConstantDecay::operator()(std::int64_t step) const {
  std::size_t i = 0;
  while (i < boundaries_.size() && step > boundaries_[i]) ++i;
  return static_cast<float>(values_[i]);
}

Config PiecewiseConstantDecay::config() const {
  return {{"boundaries", boundaries_}, {"values", values_}, {"name", name_}};
}

std::shared_ptr<PiecewiseConstantDecay> PiecewiseConstantDecay::from_config(const Config& config) {
  detail::ConfigReader r(config, "PiecewiseConstantDecay");
  std::vector<std::int64_t> boundaries = r.integers("boundaries");
  std::vector<double> values = r.numbers("values");
  auto out = std::make_shared<PiecewiseConstantDecay>(std::move(boundaries), std::move(values),
                                                      r.string("name", "PiecewiseConstant"));
  r.finish();
  return out;
}

CosineDecay::CosineDecay(double initial_learning_rate, std::int64_t decay_steps,
                         CosineDecayOptions options)
    : initial_learning_rate_(initial_learning_rate),
      decay_steps_(decay_steps),
      options_(std::move(options)) {
  check_decay_steps("CosineDecay", decay_steps);
}

double CosineDecay::operator()(std::int64_t step_in) const {
  const float initial = static_cast<float>(initial_learning_rate_);
  const float decay_steps = static_cast<float>(decay_steps_);
  float step = static_cast<float>(step_in);
  // Keras's _decay_function: decay_from * ((1 - alpha) * 0.5 (1 + cos(pi * fraction)) + alpha).
  const auto decay = [&](float s, float from) {
    const float fraction = s / decay_steps;
    const float cosine = 0.5f * (1.0f + std::cos(std::numbers::pi_v<float> * fraction));
    const float decayed =
        static_cast<float>(1.0 - options_.alpha) * cosine + static_cast<float>(options_.alpha);
    return from * decayed;
  };
  if (!options_.warmup_target) return decay(std::min(step, decay_steps), initial);
  const float target = static_cast<float>(*options_.warmup_target);
  const float warmup_steps = static_cast<float>(options_.warmup_steps);
  step = std::min(step, decay_steps + warmup_steps);
  if (step < warmup_steps) {
    // Keras's _warmup_function: a straight line from initial to target.
    return (target - initial) * (step / warmup_steps) + initial;
  }
  return decay(step - warmup_steps, target);
}

Config CosineDecay::config() const {
  return {{"initial_learning_rate", initial_learning_rate_},
          {"decay_steps", decay_steps_},
          {"alpha", options_.alpha},
          {"name", options_.name},
          {"warmup_target",
           options_.warmup_target ? ConfigValue(*options_.warmup_target) : ConfigValue()},
          {"warmup_steps", options_.warmup_steps}};
}

std::shared_ptr<CosineDecay> CosineDecay::from_config(const Config& config) {
  detail::ConfigReader r(config, "CosineDecay");
  // Arguments read in Keras's order, so that the first missing one is the one named.
  const double initial = r.number("initial_learning_rate");
  const std::int64_t decay_steps = r.integer("decay_steps");
  auto out = std::make_shared<CosineDecay>(
      initial, decay_steps,
      CosineDecayOptions{.alpha = r.number("alpha", 0.0),
                         .warmup_target = r.optional_number("warmup_target"),
                         .warmup_steps = r.integer("warmup_steps", 0),
                         .name = r.string("name", "CosineDecay")});
  r.finish();
  return out;
}

InverseTimeDecay::InverseTimeDecay(double initial_learning_rate, std::int64_t decay_steps,
                                   double decay_rate, InverseTimeDecayOptions options)
    : initial_learning_rate_(initial_learning_rate),
      decay_steps_(decay_steps),
      decay_rate_(decay_rate),
      options_(std::move(options)) {
  check_decay_steps("InverseTimeDecay", decay_steps);
}

double InverseTimeDecay::operator()(std::int64_t step) const {
  float p = static_cast<float>(step) / static_cast<float>(decay_steps_);
  if (options_.staircase) p = std::floor(p);
  const float denominator = 1.0f + static_cast<float>(decay_rate_) * p;
  return static_cast<float>(initial_learning_rate_) / denominator;
}

Config InverseTimeDecay::config() const {
  return {{"initial_learning_rate", initial_learning_rate_},
          {"decay_steps", decay_steps_},
          {"decay_rate", decay_rate_},
          {"staircase", options_.staircase},
          {"name", options_.name}};
}

std::shared_ptr<InverseTimeDecay> InverseTimeDecay::from_config(const Config& config) {
  return decay_from_config<InverseTimeDecay, InverseTimeDecayOptions>(config, "InverseTimeDecay");
}

namespace {

// Class name -> its from_config.
using FromConfig = std::shared_ptr<const LearningRateSchedule> (*)(const Config& config);
template <typename S>
std::shared_ptr<const LearningRateSchedule> from_config_of(const Config& config) {
  return S::from_config(config);
}
const Registry<FromConfig>& from_config_registry() {
  // Never destroyed: outlives static models destroyed late.
  static const auto* r = new Registry<FromConfig>{
      {"ExponentialDecay", from_config_of<ExponentialDecay>},
      {"PiecewiseConstantDecay", from_config_of<PiecewiseConstantDecay>},
      {"CosineDecay", from_config_of<CosineDecay>},
      {"InverseTimeDecay", from_config_of<InverseTimeDecay>},
  };
  return *r;
}

}  // namespace

std::shared_ptr<const LearningRateSchedule> from_config(const std::string& class_name,
                                                        const Config& config) {
  const std::optional<FromConfig> factory = from_config_registry().find(class_name);
  if (!factory) {
    throw ValueError(neurona::detail::str(
        "unknown learning rate schedule class '", class_name, "'; neurona implements ",
        Registry<FromConfig>::join(from_config_registry().names(), " and ")));
  }
  return (*factory)(config);
}

ConfigValue serialize(const LearningRateSchedule& schedule) {
  return ConfigValue::Dict{{"module", "keras.optimizers.schedules"},
                           {"class_name", schedule.class_name()},
                           {"config", schedule.config()},
                           {"registered_name", nullptr}};
}

std::shared_ptr<const LearningRateSchedule> deserialize(const ConfigValue& serialized,
                                                        const std::string& who) {
  const ConfigValue* cls = serialized.find("class_name");
  NEURONA_CHECK(cls != nullptr && cls->kind() == ConfigValue::Kind::String, ValueError, who,
                ": expected a serialized Keras object with a 'class_name' string");
  const ConfigValue* config = serialized.find("config");
  if (config == nullptr || config->is_null()) return from_config(cls->as_string(), {});
  NEURONA_CHECK(config->kind() == ConfigValue::Kind::Dict, ValueError, who, ": the ",
                cls->as_string(), " object's 'config' must be a dict, got ", config->kind_name());
  return from_config(cls->as_string(), config->as_dict());
}

}  // namespace neurona::optimizers::schedules
