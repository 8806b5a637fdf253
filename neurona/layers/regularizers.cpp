// Keras 3's regularizers (keras/src/regularizers/regularizers.py).
#include "neurona/layers/regularizers.h"

#include <cmath>

#include "neurona/autograd/ops.h"
#include "neurona/core/registry.h"
#include "neurona/layers/config_reader.h"

namespace neurona::regularizers {

namespace {

// Keras's validate_float_arg.
double check_factor(double value, const char* arg) {
  NEURONA_CHECK(std::isfinite(value) && value >= 0.0, ValueError, "Invalid value for argument ",
                arg, ": expected a non-negative float. Received: ", arg, "=", value);
  return value;
}

Regularizer l1_l2(double l1, double l2, std::string name, ConfigValue config) {
  check_factor(l1, "l1");
  check_factor(l2, "l2");
  return Regularizer(
      [l1, l2](const Tensor& x) {
        Tensor penalty = zeros({}, {.dtype = x.dtype(), .device = x.device()});
        if (l1 != 0.0) penalty = add(penalty, multiply(scalar_like(x, l1), sum(abs(x))));
        if (l2 != 0.0) penalty = add(penalty, multiply(scalar_like(x, l2), sum(square(x))));
        return penalty;
      },
      std::move(name), std::move(config));
}

using Factory = Regularizer (*)();
const Registry<Factory>& registry() {
  // Never destroyed: outlives static layers destroyed late.
  static const auto* r = new Registry<Factory>{
      {{"L1", "l1"}, [] { return Regularizer(L1()); }},
      {{"L2", "l2"}, [] { return Regularizer(L2()); }},
      {{"L1L2", "l1l2"}, [] { return Regularizer(L1L2()); }},
      {"l1_l2", [] { return Regularizer(L1L2({.l1 = 0.01, .l2 = 0.01})); }},
  };
  return *r;
}

}  // namespace

Regularizer::Regularizer(Fn fn, std::string name, ConfigValue config)
    : fn_(std::move(fn)), name_(std::move(name)), config_(std::move(config)) {
  if (config_.is_null()) config_ = ConfigValue::Dict{};
}
Regularizer::Regularizer(const char* identifier) : Regularizer(std::string(identifier)) {}
Regularizer::Regularizer(const std::string& identifier) : Regularizer(get(identifier)) {}

Tensor Regularizer::operator()(const Tensor& x) const {
  NEURONA_CHECK(fn_ != nullptr, ValueError, "Regularizer: called an empty regularizer");
  return fn_(x);
}

std::vector<std::string> names() {
  return registry().names();
}

Regularizer get(const std::string& identifier) {
  return registry().get(identifier, "Could not interpret regularizer identifier: '",
                        "'. Valid names: ")();
}

L1::L1(double l1)
    : Regularizer(l1_l2(check_factor(l1, "l1"), 0.0, "L1", ConfigValue::Dict{{"l1", l1}})) {}
L1 L1::from_config(const layers::LayerConfigReader& c) {
  return L1(c.number("l1", 0.01));
}

L2::L2(double l2)
    : Regularizer(l1_l2(0.0, check_factor(l2, "l2"), "L2", ConfigValue::Dict{{"l2", l2}})) {}
L2 L2::from_config(const layers::LayerConfigReader& c) {
  return L2(c.number("l2", 0.01));
}

L1L2::L1L2(L1L2Options o)
    : Regularizer(l1_l2(o.l1, o.l2, "L1L2", ConfigValue::Dict{{"l1", o.l1}, {"l2", o.l2}})) {}
L1L2 L1L2::from_config(const layers::LayerConfigReader& c) {
  return L1L2({.l1 = c.number("l1", 0.0), .l2 = c.number("l2", 0.0)});
}

namespace {

// The classes with arguments, by Keras class name.
using FromConfig = Regularizer (*)(const layers::LayerConfigReader& config);
template <typename R>
Regularizer from_config_of(const layers::LayerConfigReader& config) {
  return R::from_config(config);
}
const Registry<FromConfig>& from_config_registry() {
  // Never destroyed: outlives static layers destroyed late.
  static const auto* r = new Registry<FromConfig>{
      {"L1", from_config_of<L1>},
      {"L2", from_config_of<L2>},
      {"L1L2", from_config_of<L1L2>},
  };
  return *r;
}

}  // namespace

Regularizer from_config(const std::string& class_name, const layers::LayerConfigReader& config) {
  if (const std::optional<FromConfig> f = from_config_registry().find(class_name)) {
    return (*f)(config);
  }
  return get(class_name);
}

}  // namespace neurona::regularizers
