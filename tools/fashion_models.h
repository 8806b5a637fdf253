// The Fashion-MNIST models of `neurona train` (DESIGN.md): the notebook's layer kinds with
// TensorFlow's tutorial sizes (`cnn`), a Dense 256-128-10 (`mlp`) and the CIFAR ResNet-20 on
// the images padded to 32x32 (`resnet`), compiled with Adam 1e-3 (for the resnet decayed along
// a cosine over the run), sparse categorical cross-entropy and accuracy. Shared by the `neurona`
// command and the benchmarks that must train exactly what it trains. The layers take the global
// dtype policy
// (`--dtype-policy`); the output layer computes in float32 whatever it is, as Keras's mixed
// precision guide advises.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "neurona/neurona.h"

namespace neurona::tools {

/// `kind` is "cnn", "mlp" or "resnet"; anything else throws ValueError naming the valid ones.
/// `synchronized_batch_norm`: the resnet's BatchNormalization layers synchronized (the others
/// have none: ValueError).
inline std::shared_ptr<Model> make_fashion_model(const std::string& kind,
                                                 bool synchronized_batch_norm = false) {
  NEURONA_CHECK(!synchronized_batch_norm || kind == "resnet", ValueError,
                "neurona: --sync-batch-norm synchronizes BatchNormalization, which only --model "
                "resnet has (got --model ",
                kind, ")");
  using Layers = std::vector<layers::AnyLayer>;
  if (kind == "cnn") {
    return std::make_shared<Sequential>(Layers{
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
    return std::make_shared<Sequential>(Layers{
        layers::Input({28, 28, 1}),
        layers::Flatten(),
        layers::Dense(256, {.activation = "relu"}),
        layers::Dense(128, {.activation = "relu"}),
        layers::Dense(10, {.activation = "softmax", .dtype = "float32"}),
    });
  }
  if (kind == "resnet") {
    // The 28x28 images padded with zeros to the 32x32 of CIFAR, inside the model.
    auto image = Input({28, 28, 1}, {.name = "image"});
    auto padded = layers::ZeroPadding2D(2, {.name = "pad"})(image);
    return applications::ResNet20({.input_tensor = padded, .name = "resnet20"},
                                  {.synchronized_batch_norm = synchronized_batch_norm});
  }
  throw ValueError("neurona: unknown --model '" + kind + "' (valid: cnn, mlp, resnet)");
}

/// Adam(1e-3), sparse_categorical_crossentropy, ["accuracy"]; for the resnet the learning rate
/// decays to 0 along a cosine over `steps` optimizer steps (the whole run; 0: constant).
inline void compile_fashion_model(Model& model, const std::string& kind = "cnn",
                                  std::int64_t steps = 0) {
  optimizers::OptimizerRef optimizer = optimizers::Adam(1e-3);
  if (kind == "resnet" && steps > 0) {
    optimizer = optimizers::Adam(optimizers::schedules::CosineDecay(1e-3, steps));
  }
  model.compile(
      {.optimizer = optimizer, .loss = "sparse_categorical_crossentropy", .metrics = {"accuracy"}});
}

}  // namespace neurona::tools
