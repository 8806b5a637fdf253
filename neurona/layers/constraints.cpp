// Keras 3's constraints (keras/src/constraints/constraints.py); epsilon is Keras's 1e-7.
#include "neurona/layers/constraints.h"

#include "neurona/autograd/ops.h"
#include "neurona/core/registry.h"

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

}  // namespace neurona::constraints
