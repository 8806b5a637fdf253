// DESIGN.md's "what a user writes", as a program: the notebook's CNN trained on Fashion-MNIST
// with compile/fit/evaluate and saved as a .keras file. Options shorten it for a quick look:
//   build/examples/fashion_mnist --epochs 1 --train-samples 5000
#include <CLI/CLI.hpp>
#include <cstdio>

#include "neurona/neurona.h"

namespace nr = neurona;

int main(int argc, char** argv) {
  CLI::App app{"Train the notebook's CNN on Fashion-MNIST"};
  int epochs = 5;
  std::int64_t train_samples = 0;
  std::string out = "fashion.keras";
  app.add_option("--epochs", epochs, "epochs")->capture_default_str();
  app.add_option("--train-samples", train_samples, "use only the first N training images");
  app.add_option("--out", out, "where to save the model")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    nr::set_seed(1);
    auto data = nr::datasets::fashion_mnist();  // Debian's dataset-fashion-mnist by default
    if (train_samples > 0) {
      data.x_train = data.x_train.slice(0, train_samples);
      data.y_train = data.y_train.slice(0, train_samples);
    }

    nr::Sequential model({
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
    model.summary();
    auto history = model.fit(data.x_train, data.y_train,
                             {.batch_size = 128, .epochs = epochs, .validation_split = 0.1});
    auto scores = model.evaluate(data.x_test, data.y_test);
    std::printf("test accuracy %.4f after %zu epochs\n", scores.at("accuracy"),
                history.epoch.size());
    model.save(out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fashion_mnist: %s\n", e.what());
    return 1;
  }
  return 0;
}
