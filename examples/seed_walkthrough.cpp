// The Keras notebook neurona started from, cell by cell, in C++: a custom layer, Dense's
// weights before and after its first call, Sequential, a subclassed model, IdentityModel,
// the gradient tape, and a Conv2D stack. docs/from-keras.md puts each cell's Python beside
// this C++.
#include <iostream>

#include <neurona/neurona.h>

namespace nr = neurona;
namespace L = nr::layers;

namespace {

// sigmoid(x W + b), with W and b made by add_weight when the input size is known.
class OurDenseLayer : public L::Layer {
 public:
  explicit OurDenseLayer(std::int64_t n_output_nodes)
      : L::Layer("OurDenseLayer"), n_output_nodes_(n_output_nodes) {}

  nr::Tensor call(const nr::Tensor& x, bool /*training*/) override {
    return nr::sigmoid(nr::matmul(x, *w_) + *b_);
  }

 protected:
  void build(const nr::Shape& input_shape) override {
    const std::int64_t d = input_shape[-1];
    w_ = add_weight("weight", {d, n_output_nodes_});
    b_ = add_weight("bias", {1, n_output_nodes_});
  }

 private:
  std::int64_t n_output_nodes_;
  std::optional<nr::Variable> w_, b_;
};

class SubclassModel : public nr::Model {
 public:
  explicit SubclassModel(std::int64_t n_output_nodes)
      : nr::Model("SubclassModel"),
        dense_(track(L::Dense(n_output_nodes, {.activation = "sigmoid"}))) {}
  nr::Tensor call(const nr::Tensor& inputs, bool training) override {
    return dense_(inputs, training);
  }

 private:
  L::Dense dense_;
};

// Returns its inputs unchanged when called with isidentity, else a Dense of them.
class IdentityModel : public nr::Model {
 public:
  explicit IdentityModel(std::int64_t n_output_nodes)
      : nr::Model("IdentityModel"),
        dense_(track(L::Dense(n_output_nodes, {.activation = "sigmoid"}))) {}
  nr::Tensor call(const nr::Tensor& inputs, bool training) override {
    return call(inputs, training, false);
  }
  nr::Tensor call(const nr::Tensor& inputs, bool training, bool isidentity) {
    return isidentity ? inputs : dense_(inputs, training);
  }

 private:
  L::Dense dense_;
};

void heading(const char* title) {
  std::cout << "\n== " << title << "\n";
}

}  // namespace

int main() {
  try {
    heading("OurDenseLayer(3) with seed 1 on [[1, 2]]");
    nr::set_seed(1);
    auto layer = std::make_shared<OurDenseLayer>(3);
    layer->ensure_built({1, 2});
    const nr::Tensor x_input = nr::constant({{1, 2.}}, {1, 2});
    std::cout << layer->call(x_input, false) << "\n";

    heading("Dense: no weights before the first call, kernel and bias after");
    L::Dense dense(3, {.activation = "sigmoid"});
    std::cout << "weights before: " << dense->weights().size() << "\n";
    const nr::Tensor y = dense(x_input);
    std::cout << "weights after: " << dense->weights().size() << "\n";
    for (const nr::Variable& w : dense->weights()) std::cout << w << "\n";
    std::cout << "output: " << y << "\n";

    heading("Sequential: add, pop, weights, predict, summary, layers");
    nr::Sequential model;
    model.add(L::Input({2}));
    model.add(L::Dense(3, {.activation = "sigmoid"}));
    model.add(L::Dense(8));
    model.pop();
    std::cout << "weights: " << model.weights().size() << "\n";
    std::cout << "predict: " << model.predict(x_input) << "\n";
    model.summary();
    for (const auto& l : model.layers()) std::cout << "layer: " << l->name() << "\n";

    heading("SubclassModel");
    SubclassModel subclass(3);
    std::cout << subclass(x_input) << "\n";

    heading("IdentityModel, both ways");
    IdentityModel identity(3);
    std::cout << "isidentity=false: " << identity.call(x_input, false, false) << "\n";
    std::cout << "isidentity=true:  " << identity.call(x_input, false, true) << "\n";

    heading("Gradient tape: dy/dx of x^2 at 3, then gradient descent on (x - 4)^2");
    nr::Variable x(3.0f);
    {
      nr::GradientTape tape;
      const nr::Tensor y2 = x * x;
      std::cout << "dy/dx = " << tape.gradient(y2, x) << "\n";
    }
    nr::Variable w(nr::random_normal({1}));
    for (int i = 0; i < 500; ++i) {
      nr::GradientTape tape;
      const nr::Tensor grad = tape.gradient(nr::square(w - 4.0), w);
      w.assign_sub(grad * 1e-2);
    }
    std::cout << "x after 500 steps: " << w.value().item() << "\n";

    heading("Conv2D / MaxPooling2D / Flatten / ZeroPadding2D shapes");
    const nr::Tensor image = nr::random_uniform({1, 28, 28, 1});
    nr::Tensor t = image;
    std::cout << "input " << t.shape() << "\n";
    t = L::Conv2D(32, 3, {.activation = "relu"})(t);
    std::cout << "Conv2D(32, 3) " << t.shape() << "\n";
    t = L::MaxPooling2D(2)(t);
    std::cout << "MaxPooling2D(2) " << t.shape() << "\n";
    t = L::ZeroPadding2D(1)(t);
    std::cout << "ZeroPadding2D(1) " << t.shape() << "\n";
    t = L::Conv2D(64, 3, {.strides = 2, .padding = "same"})(t);
    std::cout << "Conv2D(64, 3, strides 2, same) " << t.shape() << "\n";
    t = L::Flatten()(t);
    std::cout << "Flatten " << t.shape() << "\n";
  } catch (const nr::Error& e) {
    std::cerr << "seed_walkthrough: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
