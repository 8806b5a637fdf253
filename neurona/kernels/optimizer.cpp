// Front doors of the fused optimizer update and of the sum of squares for gradient clipping.
#include "neurona/kernels/optimizer.h"

#include <algorithm>
#include <string>

#include "neurona/core/backend.h"
#include "neurona/kernels/checks.h"
#include "neurona/kernels/creation.h"
#include "neurona/kernels/math/optimizer_ops.h"
#include "neurona/kernels/optimizer_stubs.h"

namespace neurona::kernels {

DispatchStub<OptimizerUpdateFn> optimizer_update_stub{"optimizer_update"};
DispatchStub<SumSquaresFn> sum_squares_stub{"sum_of_squares"};

namespace {
// Partial sums of this many elements each: enough work per partial to hide its launch, and
// enough partials that a large gradient keeps every SM busy.
constexpr std::int64_t kChunk = 8192;

Tensor partial_sums(const Tensor& x, bool square) {
  const std::int64_t parts = std::max<std::int64_t>(1, (x.numel() + kChunk - 1) / kChunk);
  Tensor out = Tensor::empty({parts}, DType::float64, x.device());
  sum_squares_stub.get(x.device())(x, square, kChunk, out);
  return out;
}

// The float64 scalar sum of `partials`, by further passes of chunked sums.
Tensor total(Tensor partials) {
  while (partials.numel() > 1) partials = partial_sums(partials, false);
  return partials.reshape({});
}
}  // namespace

namespace {
// Which slots a rule reads, so that a missing one is an error at the front door, not a null
// read in the kernel.
std::array<bool, 3> slots_read(const OptimizerStep& step) {
  const OptimizerCoefficients<double>& c = step.coefficients;
  switch (step.rule) {
    case OptimizerRule::sgd:
      return {c.use_momentum, false, false};
    case OptimizerRule::adam:
      return {true, true, c.amsgrad};
    case OptimizerRule::rmsprop:
      return {true, c.use_momentum, c.centered};
    case OptimizerRule::adagrad:
      return {true, false, false};
    case OptimizerRule::adamax:
    case OptimizerRule::nadam:
      return {true, true, false};
  }
  return {false, false, false};
}

// The checks of one item; `prefix` names it in messages ("items[3]." or "" for one variable).
void check_item(const OptimizerStep& step, const OptimizerTensors& item,
                const std::string& prefix) {
  constexpr const char* op = "optimizer_update";
  const std::string var_name = prefix + "variable", grad_name = prefix + "grad";
  const Tensor& variable = item.variable;
  check_same_device(op, {{var_name.c_str(), &variable}, {grad_name.c_str(), &item.grad}});
  check_floating(op, var_name.c_str(), variable);
  check_same_dtype(op, {{var_name.c_str(), &variable}, {grad_name.c_str(), &item.grad}});
  NEURONA_CHECK(item.grad.shape() == variable.shape(), ShapeError, op, ": argument ", grad_name,
                " has shape ", item.grad.shape(), " but the variable has shape ", variable.shape());
  const std::array<bool, 3> needs = slots_read(step);
  for (std::size_t k = 0; k < 3; ++k) {
    const Tensor& s = item.slots[k];
    const std::string name = prefix + "slots[" + std::to_string(k) + "]";
    NEURONA_CHECK(!needs[k] || s.defined(), ValueError, op, ": argument ", name,
                  " is undefined but this rule updates it");
    if (!s.defined()) continue;
    check_same_device(op, {{var_name.c_str(), &variable}, {name.c_str(), &s}});
    check_same_dtype(op, {{var_name.c_str(), &variable}, {name.c_str(), &s}});
    NEURONA_CHECK(s.shape() == variable.shape(), ShapeError, op, ": argument ", name, " has shape ",
                  s.shape(), " but the variable has shape ", variable.shape());
  }
  const GradientClip clip = step.coefficients.clip;
  if (clip == GradientClip::norm || clip == GradientClip::global_norm) {
    const std::string name = prefix + "sum_squares";
    const Tensor& ss = item.sum_squares;
    check_same_device(op, {{var_name.c_str(), &variable}, {name.c_str(), &ss}});
    NEURONA_CHECK(ss.dtype() == DType::float64 && ss.numel() == 1, ValueError, op, ": argument ",
                  name, " must be a float64 scalar, got ", ss.dtype(), " with shape ", ss.shape());
  }
}

void update(const OptimizerStep& step, const std::vector<OptimizerTensors>& items,
            const Tensor& coefficients, const std::string& prefix_base) {
  constexpr const char* op = "optimizer_update";
  if (items.empty()) return;
  const Tensor& first = items.front().variable;
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string prefix = prefix_base.empty() ? "" : prefix_base + std::to_string(i) + "].";
    check_item(step, items[i], prefix);
    const std::string name = prefix + "variable";
    check_same_device(op, {{"items[0].variable", &first}, {name.c_str(), &items[i].variable}});
    check_same_dtype(op, {{"items[0].variable", &first}, {name.c_str(), &items[i].variable}});
  }
  check_same_device(op, {{"items[0].variable", &first}, {"coefficients", &coefficients}});
  NEURONA_CHECK(coefficients.dtype() == DType::uint8 &&
                    coefficients.nbytes() >= sizeof(OptimizerCoefficients<double>),
                ValueError, op,
                ": argument coefficients must come from optimizer_coefficients_buffer(), got ",
                coefficients.dtype(), " with shape ", coefficients.shape());

  std::vector<OptimizerTensors> live;
  bool decays = false;
  for (const OptimizerTensors& item : items) {
    if (item.variable.numel() == 0) continue;
    live.push_back(item);
    decays = decays || item.decay;
  }
  if (live.empty()) return;
  const OptimizerCoefficients<double>& c = step.coefficients;
  const bool plain = c.clip == GradientClip::none && !(c.decay && decays) && !c.amsgrad;
  optimizer_update_stub.get(first.device())(step.rule, plain, coefficients, live);
  // Updated in place: what was cached from the old values (Tensor::cached_derived) is stale.
  for (const OptimizerTensors& item : live) {
    item.variable.bump_version();
    for (const Tensor& slot : item.slots) {
      if (slot.defined()) slot.bump_version();
    }
  }
}
}  // namespace

void write_optimizer_coefficients(const OptimizerStep& step, DType dtype,
                                  const Tensor& coefficients) {
  constexpr const char* op = "write_optimizer_coefficients";
  NEURONA_CHECK(dtype == DType::float32 || dtype == DType::float64, ValueError, op,
                ": argument dtype must be float32 or float64, got ", dtype);
  NEURONA_CHECK(coefficients.defined() && coefficients.dtype() == DType::uint8 &&
                    coefficients.nbytes() >= sizeof(OptimizerCoefficients<double>),
                ValueError, op,
                ": argument coefficients must come from optimizer_coefficients_buffer()");
  const Device d = coefficients.device();
  if (dtype == DType::float64) {
    copy_bytes(coefficients.raw_data(), d, &step.coefficients, Device::cpu(),
               sizeof(step.coefficients));
  } else {
    const OptimizerCoefficients<float> cf = convert_coefficients<float>(step.coefficients);
    copy_bytes(coefficients.raw_data(), d, &cf, Device::cpu(), sizeof(cf));
  }
}

Tensor optimizer_coefficients_buffer(Device device) {
  return Tensor::empty({static_cast<std::int64_t>(sizeof(OptimizerCoefficients<double>))},
                       DType::uint8, device);
}

void optimizer_update(const OptimizerStep& step, const std::vector<OptimizerTensors>& items,
                      const Tensor& coefficients) {
  update(step, items, coefficients, "items[");
}

void optimizer_update(const OptimizerStep& step, const Tensor& grad, const Tensor& variable,
                      const std::array<Tensor, 3>& slots, const Tensor& sum_squares) {
  NEURONA_CHECK(variable.defined(), ValueError,
                "optimizer_update: argument variable is an undefined tensor");
  const Tensor coefficients = optimizer_coefficients_buffer(variable.device());
  write_optimizer_coefficients(step, variable.dtype(), coefficients);
  update(step, {{grad, variable, slots, sum_squares, true}}, coefficients, "");
}

Tensor sum_of_squares(const std::vector<Tensor>& xs) {
  constexpr const char* op = "sum_of_squares";
  NEURONA_CHECK(!xs.empty(), ValueError, op, ": no tensors given");
  const Device d = check_same_device(op, {{"xs[0]", &xs[0]}});
  std::vector<Tensor> partials;
  std::int64_t count = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    const std::string name = "xs[" + std::to_string(i) + "]";
    check_same_device(op, {{"xs[0]", &xs[0]}, {name.c_str(), &x}});
    check_floating(op, name.c_str(), x);
    if (x.numel() == 0) continue;
    partials.push_back(partial_sums(x, true));
    count += partials.back().numel();
  }
  if (partials.empty()) return fill({}, 0.0, {.dtype = DType::float64, .device = d});
  if (partials.size() == 1) return total(partials[0]);
  // Gather every tensor's partial sums into one buffer and reduce that.
  Tensor all = Tensor::empty({count}, DType::float64, d);
  std::int64_t at = 0;
  for (const Tensor& p : partials) {
    copy_bytes(static_cast<double*>(all.raw_data()) + at, d, p.raw_data(), d, p.nbytes());
    at += p.numel();
  }
  return total(all);
}

}  // namespace neurona::kernels
