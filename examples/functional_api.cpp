// The functional API as docs/from-keras.md shows it beside Keras: a small residual network
// (a layer graph with a skip connection) trained on synthetic data, and a model with two
// inputs, a shared layer and two outputs, trained with a loss and a metric per output.
#include <iostream>

#include <neurona/neurona.h>

namespace nr = neurona;
namespace L = nr::layers;

int main() {
  nr::set_seed(1);

  // A residual block: y = relu(x + dense(relu(dense(x)))).
  auto inputs = nr::Input({16});
  auto h = L::Dense(16, {.activation = "relu"})(inputs);
  h = L::Dense(16)(h);
  h = L::Add()({inputs, h});
  h = L::Activation("relu")(h);
  auto outputs = L::Dense(1, {.activation = "sigmoid"})(h);
  nr::Model model(inputs, outputs, {.name = "residual"});
  model.summary();

  // Labels: whether the first two features sum to more than zero.
  const nr::Tensor x = nr::random_uniform({512, 16}, {.minval = -1.0, .maxval = 1.0});
  const nr::Tensor y =
      nr::cast(nr::greater(nr::narrow(x, 1, 0, 1) + nr::narrow(x, 1, 1, 1), nr::zeros({512, 1})),
               nr::DType::float32);
  model.compile({.optimizer = nr::optimizers::Adam(1e-2),
                 .loss = "binary_crossentropy",
                 .metrics = {"accuracy"}});
  const auto history = model.fit(x, y, {.batch_size = 32, .epochs = 5, .verbose = 2});
  std::cout << "residual accuracy " << history.history.at("accuracy").back() << "\n";

  // Two inputs, one layer applied to both, two outputs.
  auto a = nr::Input({8}, {.name = "a"});
  auto b = nr::Input({8}, {.name = "b"});
  auto encoder = L::Dense(4, {.activation = "tanh", .name = "encoder"});
  auto ea = encoder(a);
  auto eb = encoder(b);
  auto similarity = L::Dot(1, /*normalize=*/true)({ea, eb});
  auto joined = L::Concatenate()({ea, eb});
  nr::Model siamese({a, b}, {similarity, L::Dense(2, {.name = "head"})(joined)});
  siamese.summary();
  // Losses, weights and metrics per output by name (or as lists, by position), as Keras takes
  // them; the targets: the cosine similarity of a and b (the first sees the second through
  // noise) and which of the two has the larger sum.
  siamese.compile(
      {.optimizer = nr::optimizers::Adam(1e-2),
       .loss = {{"dot", "mse"},
                {"head", nr::losses::SparseCategoricalCrossentropy({.from_logits = true})}},
       .metrics = {{"head", {"accuracy"}}},
       .loss_weights = {{"dot", 0.5}}});
  const nr::Tensor xa = nr::random_uniform({256, 8}, {.minval = -1.0, .maxval = 1.0});
  const nr::Tensor xb = xa + nr::random_uniform({256, 8}, {.minval = -0.5, .maxval = 0.5});
  const nr::Tensor cosine = nr::sum(xa * xb, {1}, /*keepdims=*/true) /
                            nr::sqrt(nr::sum(xa * xa, {1}, true) * nr::sum(xb * xb, {1}, true));
  const nr::Tensor larger =
      nr::cast(nr::greater(nr::sum(xb, {1}), nr::sum(xa, {1})), nr::DType::int32);
  const auto logs = siamese.fit({{"a", xa}, {"b", xb}}, {cosine, larger},
                                {.batch_size = 32, .epochs = 5, .verbose = 2});
  std::cout << "siamese loss " << logs.history.at("loss").back() << " (dot_loss "
            << logs.history.at("dot_loss").back() << ", head_loss "
            << logs.history.at("head_loss").back() << ", head_accuracy "
            << logs.history.at("head_accuracy").back() << ")\n";
  const auto outs = siamese.predict(std::vector{xa.slice(0, 3), xb.slice(0, 3)});
  std::cout << "siamese outputs " << L::shape_str(outs[0].shape()) << " "
            << L::shape_str(outs[1].shape()) << "\n";
  return 0;
}
