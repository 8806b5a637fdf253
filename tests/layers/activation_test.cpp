// The Activation layer and activation lookup: every Keras name against its op, and numerical
// gradient checks through the layer.
#include <neurona/neurona.h>

#include <cmath>
#include <limits>
#include <string>

#include "support/gradcheck.h"

namespace nr = neurona;

TEST(Activation, EveryNameMatchesItsDefinition) {
  const nr::Tensor x = nr::testing::random_tensor({3, 4}, nr::float64, -3, 3, 7);
  struct Case {
    const char* name;
    nr::Tensor expected;
  };
  const Case cases[] = {
      {"relu", nr::relu(x)},
      {"sigmoid", nr::sigmoid(x)},
      {"tanh", nr::tanh(x)},
      {"elu", nr::elu(x)},
      {"selu", nr::selu(x)},
      {"gelu", nr::gelu(x)},
      {"silu", nr::silu(x)},
      {"swish", nr::silu(x)},
      {"softplus", nr::softplus(x)},
      {"softsign", nr::softsign(x)},
      {"leaky_relu", nr::leaky_relu(x, 0.2)},
      {"hard_sigmoid", nr::hard_sigmoid(x)},
      {"softmax", nr::softmax(x, -1)},
      {"log_softmax", nr::log_softmax(x, -1)},
      {"exponential", nr::exp(x)},
      {"linear", x},
      {"relu6", nr::minimum(nr::relu(x), nr::scalar_like(x, 6))},
      {"hard_silu", x * nr::hard_sigmoid(x)},
      {"mish", x * nr::tanh(nr::softplus(x))},
      {"log_sigmoid", nr::log(nr::sigmoid(x))},
      {"tanh_shrink", x - nr::tanh(x)},
  };
  for (const Case& c : cases) {
    auto layer = nr::layers::Activation(c.name, {.dtype = nr::float64});
    EXPECT_TRUE(nr::testing::all_close(layer(x), c.expected.to_vector<double>(), 1e-12)) << c.name;
    EXPECT_EQ(layer->compute_output_shape({-1, 4}), (nr::Shape{-1, 4}));
    EXPECT_TRUE(layer->weights().empty());
  }
  EXPECT_TRUE(nr::activations::Activation().is_linear());
}

TEST(Activation, UnknownNameListsValidNames) {
  NEURONA_EXPECT_THROW_MSG(nr::layers::Activation("rellu"), nr::ValueError,
                           "Could not interpret activation function identifier: 'rellu'", "relu",
                           "softmax", "hard_sigmoid");
}

TEST(Activation, CustomFunction) {
  auto layer = nr::layers::Activation(
      nr::activations::Activation([](const nr::Tensor& t) { return t * 2.0; }, "double"));
  EXPECT_EQ(layer->activation().name(), "double");
  EXPECT_TRUE(nr::testing::all_close(layer(nr::constant({1, 2.})), {2, 4}));
}

TEST(Activation, GradientsMatchNumericalInFloat64) {
  for (const char* name : {"relu", "sigmoid", "tanh", "elu", "selu", "gelu", "silu", "softplus",
                           "softsign", "leaky_relu", "hard_sigmoid", "softmax", "mish"}) {
    auto layer = nr::layers::Activation(name, {.dtype = nr::float64});
    // Values away from the kinks of relu, leaky_relu and hard_sigmoid (0 and +-3).
    std::vector<double> v = nr::testing::uniform_values(12, 0.1, 2.5, 11);
    for (std::size_t i = 0; i < v.size(); i += 2) v[i] = -v[i];
    const nr::Tensor x = nr::constant(v, {3, 4}, nr::Device::cpu());
    EXPECT_TRUE(nr::testing::check_gradients(
        name, [&](const std::vector<nr::Tensor>& in) { return layer(in[0]); }, {x}));
  }
}

TEST(Activation, EveryActivationKeepsNaN) {
  // As Keras on TensorFlow: NaN in, NaN out, for every name (relu and relu6 once gave 0).
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (const nr::DType dt : {nr::float32, nr::float64}) {
    const nr::Tensor x = nr::testing::make_tensor({nan, -1, 2}, {1, 3}, dt);
    for (const std::string& name : nr::activations::names()) {
      auto layer = nr::layers::Activation(name, {.dtype = dt});
      EXPECT_TRUE(std::isnan(layer(x).to_vector<double>()[0])) << name << " " << nr::name(dt);
    }
  }
}

TEST(Activations, GeluTanhFormIsATypedActivationNotAString) {
  const nr::Tensor x = nr::testing::random_tensor({4, 5}, nr::float32, -3, 3, 6);
  EXPECT_EQ(nr::activations::gelu().name(), "gelu");
  EXPECT_EQ(nr::activations::gelu()(x).to_vector<float>(), nr::gelu(x).to_vector<float>());
  const nr::activations::Activation tanh_form = nr::activations::gelu(/*approximate=*/true);
  EXPECT_EQ(tanh_form.name(), "gelu(approximate=True)");
  EXPECT_EQ(tanh_form(x).to_vector<float>(), nr::gelu_approximate(x).to_vector<float>());
  auto dense = nr::layers::Dense(3, {.activation = tanh_form});
  EXPECT_EQ(dense(x).shape(), (nr::Shape{4, 3}));
  // Keras has no string for it (and cannot serialize it); the name is not one either.
  NEURONA_EXPECT_THROW_MSG(nr::activations::get("gelu(approximate=True)"), nr::ValueError,
                           "Could not interpret activation function identifier");
}
