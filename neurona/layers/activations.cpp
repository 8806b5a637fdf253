// Keras 3's activations (keras/src/activations/activations.py) over neurona's differentiable
// ops; the ones Keras defines by composition are composed the same way here.
#include "neurona/layers/activations.h"

#include "neurona/autograd/ops.h"
#include "neurona/core/registry.h"

namespace neurona::activations {

namespace {

const Registry<Activation::Fn>& registry() {
  // Never destroyed: outlives static layers destroyed late.
  static const auto* r = new Registry<Activation::Fn>{
      {"elu", [](const Tensor& x) { return elu(x); }},
      {"exponential", [](const Tensor& x) { return exp(x); }},
      {"gelu", [](const Tensor& x) { return neurona::gelu(x); }},
      {"hard_sigmoid", [](const Tensor& x) { return hard_sigmoid(x); }},
      {"hard_silu", [](const Tensor& x) { return multiply(x, hard_sigmoid(x)); }},
      {"hard_swish", [](const Tensor& x) { return multiply(x, hard_sigmoid(x)); }},
      {"leaky_relu", [](const Tensor& x) { return leaky_relu(x); }},
      {"linear", [](const Tensor& x) { return x; }},
      {"log_sigmoid", [](const Tensor& x) { return neg(softplus(neg(x))); }},
      {"log_softmax", [](const Tensor& x) { return log_softmax(x, -1); }},
      {"mish", [](const Tensor& x) { return multiply(x, tanh(softplus(x))); }},
      {"relu", [](const Tensor& x) { return relu(x); }},
      {"relu6", [](const Tensor& x) { return minimum(relu(x), scalar_like(x, 6.0)); }},
      {"selu", [](const Tensor& x) { return selu(x); }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
      {"silu", [](const Tensor& x) { return silu(x); }},
      {"softmax", [](const Tensor& x) { return softmax(x, -1); }},
      {"softplus", [](const Tensor& x) { return softplus(x); }},
      {"softsign", [](const Tensor& x) { return softsign(x); }},
      {"swish", [](const Tensor& x) { return silu(x); }},
      {"tanh", [](const Tensor& x) { return tanh(x); }},
      {"tanh_shrink", [](const Tensor& x) { return subtract(x, tanh(x)); }},
  };
  return *r;
}

}  // namespace

Activation::Activation() : Activation("linear") {}
Activation::Activation(const char* identifier) : Activation(std::string(identifier)) {}
Activation::Activation(const std::string& identifier) : Activation(get(identifier)) {}
Activation::Activation(Fn fn, std::string name) : fn_(std::move(fn)), name_(std::move(name)) {
  NEURONA_CHECK(fn_ != nullptr, ValueError, "Activation '", name_, "': the function is empty");
}

std::vector<std::string> names() {
  return registry().names();
}

Activation get(const std::string& identifier) {
  return Activation(
      registry().get(identifier, "Could not interpret activation function identifier: '",
                     "'. Valid names: "),
      identifier);
}

Activation gelu(bool approximate) {
  if (!approximate) return get("gelu");
  return Activation([](const Tensor& x) { return gelu_approximate(x); }, "gelu(approximate=True)");
}

}  // namespace neurona::activations
