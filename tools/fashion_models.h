// The Fashion-MNIST models of `neurona train` (DESIGN.md): the notebook's layer kinds with
// TensorFlow's tutorial sizes (`cnn`) and a Dense 256-128-10 (`mlp`), compiled with Adam 1e-3,
// sparse categorical cross-entropy and accuracy. Shared by the `neurona` command and the
// benchmarks that must train exactly what it trains. The layers take the global dtype policy
// (`--dtype-policy`); the output layer computes in float32 whatever it is, as Keras's mixed
// precision guide advises.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "neurona/neurona.h"

namespace neurona::tools {

/// `kind` is "cnn" or "mlp"; anything else throws ValueError naming the valid ones.
inline std::unique_ptr<Sequential> make_fashion_model(const std::string& kind) {
  using Layers = std::vector<layers::AnyLayer>;
  if (kind == "cnn") {
    return std::make_unique<Sequential>(Layers{
        layers::Input({28, 28, 1}),
        layers::Conv2D(32, {3, 3}, {.activation = "relu"}),
        layers::MaxPooling2D({2, 2}),
        layers::Conv2D(64, {3, 3}, {.activation = "relu"}),
        layers::MaxPooling2D({2, 2}),
        layers::Flatten(),
        layers::Dense(128, {.activation = "relu"}),
        layers::Dense(10, {.activation = "softmax", .dtype = "float32"}),
    });
  }
  if (kind == "mlp") {
    return std::make_unique<Sequential>(Layers{
        layers::Input({28, 28, 1}),
        layers::Flatten(),
        layers::Dense(256, {.activation = "relu"}),
        layers::Dense(128, {.activation = "relu"}),
        layers::Dense(10, {.activation = "softmax", .dtype = "float32"}),
    });
  }
  throw ValueError("neurona: unknown --model '" + kind + "' (valid: cnn, mlp)");
}

/// Adam(1e-3), sparse_categorical_crossentropy, ["accuracy"].
inline void compile_fashion_model(Model& model) {
  model.compile({.optimizer = optimizers::Adam(1e-3),
                 .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"}});
}

}  // namespace neurona::tools
