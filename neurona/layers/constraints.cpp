// Keras 3's constraints (keras/src/constraints/constraints.py); epsilon is Keras's 1e-7.
#include "neurona/layers/constraints.h"

#include "neurona/autograd/ops.h"
#include "neurona/core/registry.h"
#include "neurona/layers/config_reader.h"

namespace neurona::constraints {

namespace {

constexpr double kEpsilon = 1e-7;

Tensor norms(const Tensor& w, const Axes& axis) {
  return sqrt(sum(square(w), axis, /*keepdims=*/true));
}

Tensor clip(const Tensor& x, double lo, double hi) {
  return minimum(maximum(x, scalar_like(x, lo)), scalar_like(x, hi));
}

using Factory = Constraint (*)();
const Registry<Factory>& registry() {
  // Never destroyed: outlives static layers destroyed late.
  static const auto* r = new Registry<Factory>{
      {{"MaxNorm", "max_norm"}, [] { return Constraint(MaxNorm()); }},
      {{"MinMaxNorm", "min_max_norm"}, [] { return Constraint(MinMaxNorm()); }},
      {{"NonNeg", "non_neg"}, [] { return Constraint(NonNeg()); }},
      {{"UnitNorm", "unit_norm"}, [] { return Constraint(UnitNorm()); }},
  };
  return *r;
}

}  // namespace

Constraint::Constraint(Fn fn, std::string name, ConfigValue config)
    : fn_(std::move(fn)), name_(std::move(name)), config_(std::move(config)) {
  if (config_.is_null()) config_ = ConfigValue::Dict{};
}
Constraint::Constraint(const char* identifier) : Constraint(std::string(identifier)) {}
Constraint::Constraint(const std::string& identifier) : Constraint(get(identifier)) {}

Tensor Constraint::operator()(const Tensor& w) const {
  NEURONA_CHECK(fn_ != nullptr, ValueError, "Constraint: called an empty constraint");
  return fn_(w);
}

std::vector<std::string> names() {
  return registry().names();
}

Constraint get(const std::string& identifier) {
  return registry().get(identifier, "Could not interpret constraint identifier: '",
                        "'. Valid names: ")();
}

namespace {
// Keras writes one axis as an int and several as a list.
ConfigValue axes_config(const Axes& axes) {
  if (axes.all()) return nullptr;
  if (axes.list().size() == 1) return axes.list()[0];
  ConfigValue::List out(axes.list().begin(), axes.list().end());
  return out;
}

// 'axis' as Keras writes it (an int or a list of ints); 0 when absent.
Axes axis_of(const layers::LayerConfigReader& c) {
  const ConfigValue* v = c.find("axis");
  if (v == nullptr) return Axes(0);
  if (v->kind() == ConfigValue::Kind::Int) return Axes(static_cast<int>(v->as_int()));
  std::vector<int> axes;
  for (std::int64_t a : c.ints("axis", *v)) axes.push_back(static_cast<int>(a));
  return Axes(std::move(axes));
}
}  // namespace

MaxNorm::MaxNorm(MaxNormOptions o)
    : Constraint(
          [o](const Tensor& w) {
            const Tensor n = norms(w, o.axis);
            const Tensor desired = clip(n, 0.0, o.max_value);
            return multiply(w, divide(desired, add(scalar_like(n, kEpsilon), n)));
          },
          "MaxNorm", ConfigValue::Dict{{"max_value", o.max_value}, {"axis", axes_config(o.axis)}}) {
}
MaxNorm MaxNorm::from_config(const layers::LayerConfigReader& c) {
  const Axes axis = axis_of(c);
  return MaxNorm({.max_value = c.number("max_value", 2.0), .axis = axis});
}

NonNeg::NonNeg()
    : Constraint(
          [](const Tensor& w) {
            return multiply(w, cast(greater_equal(w, scalar_like(w, 0.0)), w.dtype()));
          },
          "NonNeg") {}

UnitNorm::UnitNorm(UnitNormOptions o)
    : Constraint(
          [o](const Tensor& w) {
            return divide(w, add(scalar_like(w, kEpsilon), norms(w, o.axis)));
          },
          "UnitNorm", ConfigValue::Dict{{"axis", axes_config(o.axis)}}) {}
UnitNorm UnitNorm::from_config(const layers::LayerConfigReader& c) {
  return UnitNorm({.axis = axis_of(c)});
}

MinMaxNorm::MinMaxNorm(MinMaxNormOptions o)
    : Constraint(
          [o](const Tensor& w) {
            const Tensor n = norms(w, o.axis);
            const Tensor desired =
                add(multiply(scalar_like(n, o.rate), clip(n, o.min_value, o.max_value)),
                    multiply(scalar_like(n, 1.0 - o.rate), n));
            return multiply(w, divide(desired, add(scalar_like(n, kEpsilon), n)));
          },
          "MinMaxNorm",
          ConfigValue::Dict{{"min_value", o.min_value},
                            {"max_value", o.max_value},
                            {"rate", o.rate},
                            {"axis", axes_config(o.axis)}}) {}
MinMaxNorm MinMaxNorm::from_config(const layers::LayerConfigReader& c) {
  const Axes axis = axis_of(c);
  return MinMaxNorm({.min_value = c.number("min_value", 0.0),
                     .max_value = c.number("max_value", 1.0),
                     .rate = c.number("rate", 1.0),
                     .axis = axis});
}

namespace {

// The classes with arguments, by Keras class name.
using FromConfig = Constraint (*)(const layers::LayerConfigReader& config);
template <typename C>
Constraint from_config_of(const layers::LayerConfigReader& config) {
  return C::from_config(config);
}
const Registry<FromConfig>& from_config_registry() {
  // Never destroyed: outlives static layers destroyed late.
  static const auto* r = new Registry<FromConfig>{
      {"MaxNorm", from_config_of<MaxNorm>},
      {"UnitNorm", from_config_of<UnitNorm>},
      {"MinMaxNorm", from_config_of<MinMaxNorm>},
  };
  return *r;
}

}  // namespace

Constraint from_config(const std::string& class_name, const layers::LayerConfigReader& config) {
  if (const std::optional<FromConfig> f = from_config_registry().find(class_name)) {
    return (*f)(config);
  }
  // As before each class had its from_config: a malformed 'axis' is an error for any class.
  axis_of(config);
  return get(class_name);
}

}  // namespace neurona::constraints
