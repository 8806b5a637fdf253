// Gradients of every differentiable op on a GPU against the same gradients on the CPU
// (float32, random inputs). Skipped where no GPU is present.
#include <neurona/neurona.h>

#include <functional>
#include <string>

#include "support/gpu_test.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::random_tensor;

namespace {

using Fn = std::function<nr::Tensor(const std::vector<nr::Tensor>&)>;

class GpuAutograd : public nr::testing::GpuTest {};

// Gradients of sum(w * f(inputs)) with respect to every input, on `device`.
std::vector<nr::Tensor> grads_on(nr::Device device, const Fn& f,
                                 const std::vector<nr::Tensor>& inputs) {
  std::vector<nr::Tensor> in;
  for (const auto& t : inputs) in.push_back(t.to(device));
  nr::GradientTape tape;
  for (const auto& t : in) tape.watch(t);
  const nr::Tensor out = f(in);
  const nr::Tensor w = random_tensor(out.shape(), out.dtype(), 0.5, 1.5, 77).to(device);
  const nr::Tensor loss = nr::sum(out * w);
  std::vector<nr::Tensor> g = tape.gradient(loss, in);
  for (auto& t : g) t = t.to(nr::Device::cpu());
  return g;
}

::testing::AssertionResult grad_parity(const std::string& name, const Fn& f,
                                       const std::vector<nr::Tensor>& inputs) {
  const auto c = grads_on(nr::Device::cpu(), f, inputs);
  const auto g = grads_on(nr::Device::cuda(0), f, inputs);
  for (std::size_t i = 0; i < c.size(); ++i) {
    if (c[i].defined() != g[i].defined()) {
      return ::testing::AssertionFailure() << name << ": gradient " << i << " defined on one "
                                           << "device only";
    }
    if (!c[i].defined()) continue;
    auto r = all_close(g[i].to_vector<double>(), c[i].to_vector<double>(), 1e-4, 1e-4);
    if (!r) return ::testing::AssertionFailure() << name << ", input " << i << ": " << r.message();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace

TEST_F(GpuAutograd, EveryOpsGradientMatchesCpu) {
  const nr::Tensor a = random_tensor({6, 7}, nr::float32, 0.2, 2, 1);
  const nr::Tensor b = random_tensor({7}, nr::float32, 0.2, 2, 2);
  const nr::Tensor m = random_tensor({7, 5}, nr::float32, -1, 1, 3);
  const std::vector<std::pair<const char*, Fn>> unary = {
      {"neg", [](const auto& in) { return nr::neg(in[0]); }},
      {"abs", [](const auto& in) { return nr::abs(in[0] - 1.0); }},
      {"square", [](const auto& in) { return nr::square(in[0]); }},
      {"exp", [](const auto& in) { return nr::exp(in[0]); }},
      {"log", [](const auto& in) { return nr::log(in[0]); }},
      {"sqrt", [](const auto& in) { return nr::sqrt(in[0]); }},
      {"erf", [](const auto& in) { return nr::erf(in[0]); }},
      {"sin", [](const auto& in) { return nr::sin(in[0]); }},
      {"cos", [](const auto& in) { return nr::cos(in[0]); }},
      {"relu", [](const auto& in) { return nr::relu(in[0] - 1.0); }},
      {"sigmoid", [](const auto& in) { return nr::sigmoid(in[0]); }},
      {"tanh", [](const auto& in) { return nr::tanh(in[0]); }},
      {"elu", [](const auto& in) { return nr::elu(in[0] - 1.0); }},
      {"selu", [](const auto& in) { return nr::selu(in[0] - 1.0); }},
      {"gelu", [](const auto& in) { return nr::gelu(in[0] - 1.0); }},
      {"gelu_approximate", [](const auto& in) { return nr::gelu_approximate(in[0] - 1.0); }},
      {"silu", [](const auto& in) { return nr::silu(in[0]); }},
      {"softplus", [](const auto& in) { return nr::softplus(in[0]); }},
      {"softsign", [](const auto& in) { return nr::softsign(in[0]); }},
      {"leaky_relu", [](const auto& in) { return nr::leaky_relu(in[0] - 1.0); }},
      {"hard_sigmoid", [](const auto& in) { return nr::hard_sigmoid(in[0] * 4.0 - 4.0); }},
      {"softmax", [](const auto& in) { return nr::softmax(in[0]); }},
      {"log_softmax", [](const auto& in) { return nr::log_softmax(in[0], 0); }},
      {"sum", [](const auto& in) { return nr::sum(in[0], 1, true); }},
      {"mean", [](const auto& in) { return nr::mean(in[0], 0); }},
      {"max", [](const auto& in) { return nr::max(in[0], 1); }},
      {"min", [](const auto& in) { return nr::min(in[0]); }},
      {"transpose", [](const auto& in) { return nr::transpose(in[0]); }},
      {"reshape+slice",
       [](const auto& in) {
         return in[0].reshape({7, 6}).slice(2, 5);
       }},
      {"narrow", [](const auto& in) { return nr::narrow(in[0], 1, 2, 3); }},
      {"broadcast_to",
       [](const auto& in) {
         return nr::broadcast_to(in[0], {3, 6, 7});
       }},
      {"concat",
       [](const auto& in) {
         return nr::concat({in[0], nr::square(in[0])}, 1);
       }},
      {"gather",
       [](const auto& in) {
         return nr::gather(
             in[0], nr::constant({5, 0, 5, 2}, {.dtype = nr::int64, .device = in[0].device()}));
       }},
      {"cast", [](const auto& in) { return nr::cast(in[0], nr::float64); }},
  };
  for (const auto& [name, f] : unary) EXPECT_TRUE(grad_parity(name, f, {a}));

  const std::vector<std::pair<const char*, Fn>> binary = {
      {"add", [](const auto& in) { return in[0] + in[1]; }},
      {"subtract", [](const auto& in) { return in[0] - in[1]; }},
      {"multiply", [](const auto& in) { return in[0] * in[1]; }},
      {"divide", [](const auto& in) { return in[0] / in[1]; }},
      {"pow", [](const auto& in) { return nr::pow(in[0], in[1]); }},
      {"maximum", [](const auto& in) { return nr::maximum(in[0], in[1]); }},
      {"minimum", [](const auto& in) { return nr::minimum(in[0], in[1]); }},
      {"where", [](const auto& in) { return nr::where(nr::greater(in[0], in[1]), in[0], in[1]); }},
  };
  for (const auto& [name, f] : binary) EXPECT_TRUE(grad_parity(name, f, {a, b}));

  EXPECT_TRUE(
      grad_parity("matmul", [](const auto& in) { return nr::matmul(in[0], in[1]); }, {a, m}));
  EXPECT_TRUE(
      grad_parity("matmul transposed batched",
                  [](const auto& in) {
                    return nr::matmul(in[0].reshape({2, 3, 7}), in[1], {.transpose_b = true});
                  },
                  {a, random_tensor({5, 7}, nr::float32, -1, 1, 4)}));
}

TEST_F(GpuAutograd, SecondDerivativesMatchCpu) {
  auto second = [](nr::Device d) {
    nr::Variable x(nr::constant({0.5, -1.0, 2.0}, {.device = d}));
    nr::GradientTape outer;
    nr::Tensor g;
    {
      nr::GradientTape inner;
      g = inner.gradient(nr::sum(nr::tanh(x) * nr::square(x)), x);
    }
    return outer.gradient(g, x).to_vector<double>();
  };
  EXPECT_TRUE(all_close(second(nr::Device::cuda(0)), second(nr::Device::cpu()), 1e-5, 1e-5));
}

TEST_F(GpuAutograd, SgdLoopOnTheGpu) {
  nr::Variable x(nr::constant({-1.0}, {.device = nr::Device::cuda(0)}));
  for (int i = 0; i < 500; ++i) {
    nr::GradientTape tape;
    const nr::Tensor grad = tape.gradient(nr::square(x - 4.0), x);
    x.assign_sub(grad * 1e-2);
  }
  EXPECT_EQ(x.device(), nr::Device::cuda(0));
  EXPECT_NEAR(x.value().item(), 4.0f, 1e-3);
}

TEST_F(GpuAutograd, GradientFlowsAcrossDeviceCopies) {
  nr::Variable x(nr::constant({1, 2, 3}));  // on the CPU
  nr::GradientTape tape;
  const nr::Tensor y = nr::square(x.value().to(nr::Device::cuda(0)));
  const nr::Tensor g = tape.gradient(y, x);
  EXPECT_EQ(g.device(), nr::Device::cpu());
  EXPECT_EQ(g.to_vector<float>(), (std::vector<float>{2, 4, 6}));
}
