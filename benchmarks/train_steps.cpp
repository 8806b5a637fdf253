// neurona's side of `benchmarks/keras_reference.py steps`: the `cnn` from Keras's initial
// weights, trained with train_on_batch on the first N batches of 128 in file order; prints
// each step's loss, as the script does, so that the two compare step by step.
#include <cstdio>
#include <exception>
#include <string>

#include "neurona/neurona.h"

namespace nr = neurona;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: train_steps INITIAL.weights.h5 STEPS\n");
    return 2;
  }
  try {
    const int steps = std::stoi(argv[2]);
    using Layers = std::vector<nr::layers::AnyLayer>;
    nr::Sequential model(Layers{
        nr::layers::Input({28, 28, 1}),
        nr::layers::Conv2D(32, {3, 3}, {.activation = "relu"}),
        nr::layers::MaxPooling2D({2, 2}),
        nr::layers::Conv2D(64, {3, 3}, {.activation = "relu"}),
        nr::layers::MaxPooling2D({2, 2}),
        nr::layers::Flatten(),
        nr::layers::Dense(128, {.activation = "relu"}),
        nr::layers::Dense(10, {.activation = "softmax"}),
    });
    model.compile({.optimizer = nr::optimizers::Adam(1e-3),
                   .loss = "sparse_categorical_crossentropy",
                   .metrics = {"accuracy"}});
    model.load_weights(argv[1]);
    const auto data = nr::datasets::fashion_mnist();
    for (int i = 0; i < steps; ++i) {
      const auto logs = model.train_on_batch(data.x_train.slice(i * 128, (i + 1) * 128),
                                             data.y_train.slice(i * 128, (i + 1) * 128));
      std::printf("step %d loss %.7f\n", i, logs.at("loss"));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_steps: %s\n", e.what());
    return 1;
  }
  return 0;
}
