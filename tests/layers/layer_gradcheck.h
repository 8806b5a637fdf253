// Numerical gradient checks through a layer: the tape's gradients of sum(w * layer(x)) with
// respect to x and every trainable weight, against central differences that perturb the
// weights through set_weights (float64 layers).
#pragma once

#include <string>
#include <vector>

#include "support/gradcheck.h"

namespace neurona::testing {

inline ::testing::AssertionResult check_layer_gradients(const std::string& name,
                                                        const layers::AnyLayer& layer,
                                                        const Tensor& x, bool training = false) {
  layer->ensure_built(x.shape());
  const std::vector<Variable> all = layer->weights();
  const std::vector<Tensor> values = layer->get_weights();
  std::vector<std::size_t> trainable;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (all[i].trainable()) trainable.push_back(i);
  }
  const Tensor w = random_tensor(layer(x, training).shape(), DType::float64, 0.5, 1.5, 5);
  std::vector<Tensor> sources{x};
  for (std::size_t i : trainable) sources.push_back(all[i].value());
  GradientTape tape;
  tape.watch(x);
  const Tensor loss = sum(multiply(layer(x, training), w));
  const std::vector<Tensor> analytic = tape.gradient(loss, sources);
  std::vector<Tensor> inputs{x};
  for (std::size_t i : trainable) inputs.push_back(values[i]);
  const auto numeric = numeric_gradients(
      [&](const std::vector<Tensor>& in) {
        std::vector<Tensor> ws = values;
        for (std::size_t k = 0; k < trainable.size(); ++k) ws[trainable[k]] = in[k + 1];
        layer->set_weights(ws);
        return sum(multiply(layer(in[0], training), w));
      },
      inputs);
  layer->set_weights(values);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const std::string what = i == 0 ? "the input" : all[trainable[i - 1]].name();
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

}  // namespace neurona::testing
