// Front doors of the fused optimizer update and of the sum of squares for gradient clipping.
#include "neurona/kernels/optimizer.h"

#include <algorithm>
#include <string>

#include "neurona/core/backend.h"
#include "neurona/kernels/checks.h"
#include "neurona/kernels/creation.h"

namespace neurona::kernels {

DispatchStub<OptimizerUpdateKernel> optimizer_update_stub{"optimizer_update"};
DispatchStub<SumSquaresKernel> sum_squares_stub{"sum_of_squares"};

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

void optimizer_update(const OptimizerStep& step, const Tensor& grad, const Tensor& variable,
                      const std::array<Tensor, 3>& slots, const Tensor& sum_squares) {
  constexpr const char* op = "optimizer_update";
  const Device d = check_same_device(op, {{"variable", &variable}, {"grad", &grad}});
  check_floating(op, "variable", variable);
  check_same_dtype(op, {{"variable", &variable}, {"grad", &grad}});
  NEURONA_CHECK(grad.shape() == variable.shape(), ShapeError, op, ": argument grad has shape ",
                grad.shape(), " but the variable has shape ", variable.shape());
  const char* slot_names[3] = {"slots[0]", "slots[1]", "slots[2]"};
  for (int k = 0; k < 3; ++k) {
    const Tensor& s = slots[static_cast<std::size_t>(k)];
    if (!s.defined()) continue;
    check_same_device(op, {{"variable", &variable}, {slot_names[k], &s}});
    check_same_dtype(op, {{"variable", &variable}, {slot_names[k], &s}});
    NEURONA_CHECK(s.shape() == variable.shape(), ShapeError, op, ": argument ", slot_names[k],
                  " has shape ", s.shape(), " but the variable has shape ", variable.shape());
  }
  // Which slots each rule reads, so that a missing one is an error here, not a null read.
  const OptimizerCoefficients<double>& c = step.coefficients;
  bool needs[3] = {false, false, false};
  switch (step.rule) {
    case OptimizerRule::sgd:
      needs[0] = c.use_momentum;
      break;
    case OptimizerRule::adam:
      needs[0] = needs[1] = true;
      needs[2] = c.amsgrad;
      break;
    case OptimizerRule::rmsprop:
      needs[0] = true;
      needs[1] = c.use_momentum;
      needs[2] = c.centered;
      break;
    case OptimizerRule::adagrad:
      needs[0] = true;
      break;
    case OptimizerRule::adamax:
    case OptimizerRule::nadam:
      needs[0] = needs[1] = true;
      break;
  }
  for (int k = 0; k < 3; ++k) {
    NEURONA_CHECK(!needs[k] || slots[static_cast<std::size_t>(k)].defined(), ValueError, op,
                  ": argument ", slot_names[k], " is undefined but this rule updates it");
  }
  if (c.clip == GradientClip::norm || c.clip == GradientClip::global_norm) {
    check_same_device(op, {{"variable", &variable}, {"sum_squares", &sum_squares}});
    NEURONA_CHECK(sum_squares.dtype() == DType::float64 && sum_squares.numel() == 1, ValueError, op,
                  ": argument sum_squares must be a float64 scalar, got ", sum_squares.dtype(),
                  " with shape ", sum_squares.shape());
  }
  if (variable.numel() == 0) return;
  optimizer_update_stub.get(d)(step, grad, variable, slots, sum_squares);
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
