// Numerical gradient checks through a layer: the tape's gradients of sum(w * layer(x)) with
// respect to the inputs and every trainable weight, against central differences that perturb
// the weights through set_weights (float64 layers). A list of inputs is one list call
// (layer->apply(xs), its first output): merging and attention layers.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "support/gradcheck.h"

namespace neurona::testing {

namespace detail {
inline ::testing::AssertionResult check_layer_gradients(
    const std::string& name, const layers::AnyLayer& layer, const std::vector<Tensor>& xs,
    const std::function<Tensor(const std::vector<Tensor>&)>& run) {
  const std::vector<Variable> all = layer->weights();
  const std::vector<Tensor> values = layer->get_weights();
  std::vector<std::size_t> trainable;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].trainable()) trainable.push_back(i);
  }
  const Tensor w = random_tensor(run(xs).shape(), DType::float64, 0.5, 1.5, 5);
  std::vector<Tensor> sources = xs;
  for (std::size_t i : trainable) sources.push_back(all[i].value());
  GradientTape tape;
  for (const Tensor& x : xs) tape.watch(x);
  const Tensor loss = sum(multiply(run(xs), w));
  const std::vector<Tensor> analytic = tape.gradient(loss, sources);
  std::vector<Tensor> inputs = xs;
  for (std::size_t i : trainable) inputs.push_back(values[i]);
  const auto numeric = numeric_gradients(
      [&](const std::vector<Tensor>& in) {
        std::vector<Tensor> ws = values;
        for (std::size_t k = 0; k < trainable.size(); ++k) ws[trainable[k]] = in[xs.size() + k];
        layer->set_weights(ws);
        return sum(multiply(run(std::vector<Tensor>(in.begin(), in.begin() + xs.size())), w));
      },
      inputs);
  layer->set_weights(values);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::string what = i < xs.size() ? (xs.size() == 1 ? std::string("the input")
                                                             : neurona::detail::str("input ", i))
                                           : all[trainable[i - xs.size()]].name();
    if (!analytic[i].defined()) {
      return ::testing::AssertionFailure() << name << ": no gradient for " << what;
    }
    auto r = all_close(analytic[i].to_vector<double>(), numeric[i], kAtol, kRtol);
    if (!r)
      return ::testing::AssertionFailure()
             << name << ", gradient of " << what << ": " << r.message();
  }
  return ::testing::AssertionSuccess();
}
}  // namespace detail

inline ::testing::AssertionResult check_layer_gradients(const std::string& name,
                                                        const layers::AnyLayer& layer,
                                                        const Tensor& x, bool training = false) {
  layer->ensure_built(x.shape());
  return detail::check_layer_gradients(
      name, layer, {x}, [&](const std::vector<Tensor>& in) { return layer(in[0], training); });
}

/// The list call layer->apply(xs)[0].
inline ::testing::AssertionResult check_layer_gradients(const std::string& name,
                                                        const layers::AnyLayer& layer,
                                                        const std::vector<Tensor>& xs,
                                                        bool training = false) {
  std::vector<Shape> shapes;
  for (const Tensor& x : xs) shapes.push_back(x.shape());
  layer->ensure_built(shapes);
  return detail::check_layer_gradients(name, layer, xs, [&](const std::vector<Tensor>& in) {
    return layer->apply(in, training)[0];
  });
}

}  // namespace neurona::testing
