// Numerical gradient checks: central differences in float64 on the CPU against the tape's
// gradients (eps 1e-6, atol 1e-5, rtol 1e-3), for first and second derivatives.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "support/test_util.h"

namespace neurona::testing {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

inline constexpr double kEps = 1e-6, kAtol = 1e-5, kRtol = 1e-3;

// A fixed random weighting of f's output makes the check cover every output element.
inline Tensor weighted(const Fn& f, const std::vector<Tensor>& in, const Tensor& w) {
  return sum(multiply(f(in), w));
}

/// d/dx_i of sum(w * f(x)) by central differences, for every element of every input.
inline std::vector<std::vector<double>> numeric_gradients(const Fn& scalar_fn,
                                                          const std::vector<Tensor>& inputs) {
  std::vector<std::vector<double>> grads;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    std::vector<double> base = inputs[i].to_vector<double>();
    std::vector<double> g(base.size());
    for (std::size_t j = 0; j < base.size(); ++j) {
      auto at = [&](double delta) {
        std::vector<double> v = base;
        v[j] += delta;
        std::vector<Tensor> in = inputs;
        in[i] = constant(v, inputs[i].shape(), Device::cpu());
        return scalar_fn(in).item<double>();
      };
      g[j] = (at(kEps) - at(-kEps)) / (2 * kEps);
    }
    grads.push_back(g);
  }
  return grads;
}

/// Checks the tape's gradient of sum(w * f(inputs)) against central differences.
inline ::testing::AssertionResult check_gradients(const std::string& name, const Fn& f,
                                                  const std::vector<Tensor>& inputs) {
  const Tensor out = f(inputs);
  const Tensor w = random_tensor(out.shape(), DType::float64, 0.5, 1.5, 99);
  GradientTape tape;
  for (const Tensor& t : inputs) tape.watch(t);
  const Tensor loss = weighted(f, inputs, w);
  const std::vector<Tensor> analytic = tape.gradient(loss, inputs);
  const auto numeric =
      numeric_gradients([&](const std::vector<Tensor>& in) { return weighted(f, in, w); }, inputs);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (!analytic[i].defined()) {
      return ::testing::AssertionFailure() << name << ": no gradient for input " << i;
    }
    if (analytic[i].shape() != inputs[i].shape()) {
      return ::testing::AssertionFailure()
             << name << ": gradient " << i << " has shape " << analytic[i].shape() << ", input "
             << inputs[i].shape();
    }
    auto r = all_close(analytic[i].to_vector<double>(), numeric[i], kAtol, kRtol);
    if (!r) return ::testing::AssertionFailure() << name << ", input " << i << ": " << r.message();
  }
  return ::testing::AssertionSuccess();
}

/// Checks second derivatives: d/dx sum(v * d/dx sum(w * f(x))) from nested tapes against
/// central differences of the inner (analytic) gradient. One input.
inline ::testing::AssertionResult check_second_derivative(const std::string& name, const Fn& f,
                                                          const Tensor& x) {
  const Tensor out = f({x});
  const Tensor w = random_tensor(out.shape(), DType::float64, 0.5, 1.5, 98);
  const Tensor v = random_tensor(x.shape(), DType::float64, 0.5, 1.5, 97);
  auto inner = [&](const Tensor& at) {  // sum(v * grad(at))
    GradientTape tape;
    tape.watch(at);
    const Tensor g = tape.gradient(weighted(f, {at}, w), at);
    return sum(multiply(g, v));
  };
  GradientTape outer;
  outer.watch(x);
  const Tensor hv = outer.gradient(inner(x), x);
  const auto numeric =
      numeric_gradients([&](const std::vector<Tensor>& in) { return inner(in[0]); }, {x});
  // A gradient that does not depend on x (linear and piecewise-linear ops) leaves the outer
  // target unconnected: the second derivative is zero.
  const std::vector<double> analytic =
      hv.defined() ? hv.to_vector<double>() : std::vector<double>(numeric[0].size(), 0.0);
  auto r = all_close(analytic, numeric[0], kAtol, kRtol);
  if (!r) return ::testing::AssertionFailure() << name << " (second derivative): " << r.message();
  return ::testing::AssertionSuccess();
}

}  // namespace neurona::testing
