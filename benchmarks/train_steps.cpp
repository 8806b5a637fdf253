// neurona's side of `benchmarks/keras_reference.py steps`: the `cnn` from Keras's initial
// weights, trained with train_on_batch on the first N batches of 128 in file order; prints
// each step's loss, as the script does, so that the two compare step by step.
#include <cstdio>
#include <exception>
#include <string>

#include "fashion_models.h"
#include "neurona/neurona.h"

namespace nr = neurona;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: train_steps INITIAL.weights.h5 STEPS\n");
    return 2;
  }
  try {
    const int steps = std::stoi(argv[2]);
    const auto model = nr::tools::make_fashion_model("cnn");
    nr::tools::compile_fashion_model(*model);
    model->load_weights(argv[1]);
    const auto data = nr::datasets::fashion_mnist();
    for (int i = 0; i < steps; ++i) {
      const auto logs = model->train_on_batch(data.x_train.slice(i * 128, (i + 1) * 128),
                                              data.y_train.slice(i * 128, (i + 1) * 128));
      std::printf("step %d loss %.7f\n", i, logs.at("loss"));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_steps: %s\n", e.what());
    return 1;
  }
  return 0;
}
