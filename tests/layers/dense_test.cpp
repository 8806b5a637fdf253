// Dense: values against a float64 reference, any-rank inputs, shape errors, and numerical
// gradient checks of the inputs, kernel and bias.
#include <neurona/neurona.h>

#include "layers/layer_gradcheck.h"
#include "support/gradcheck.h"

namespace nr = neurona;

namespace {
nr::Tensor f64(const nr::Shape& s, std::uint32_t seed) {
  return nr::testing::random_tensor(s, nr::float64, -1, 1, seed);
}
}  // namespace

TEST(Dense, ComputesActivationOfDotPlusBias) {
  auto dense = nr::layers::Dense(2, {.activation = "relu", .dtype = nr::float64});
  const nr::Tensor x =
      nr::constant({{1, 2, 3}, {-1, -2, -3.}}, {.dtype = nr::float64, .device = nr::Device::cpu()});
  dense->ensure_built(x.shape());
  dense->set_weights({nr::constant({{1, -1}, {0, 1}, {1, 0.5}}, {.dtype = nr::float64}),
                      nr::constant({0.5, -0.5}, {.dtype = nr::float64})});
  // Row 0: (4, 2.5) + (0.5, -0.5) = (4.5, 2); row 1: (-4, -2.5) + bias -> relu -> 0.
  EXPECT_TRUE(nr::testing::all_close(dense(x), {4.5, 2, 0, 0}));
}

TEST(Dense, AppliesToTheLastAxisOfAnyRank) {
  auto dense = nr::layers::Dense(4, {.use_bias = false, .dtype = nr::float64});
  const nr::Tensor x = f64({2, 3, 5}, 1);
  const nr::Tensor y = dense(x);
  EXPECT_EQ(y.shape(), (nr::Shape{2, 3, 4}));
  EXPECT_EQ(dense->weights().size(), 1u);
  const nr::Tensor ref = nr::matmul(x, dense->kernel());  // batched matmul as the reference
  EXPECT_TRUE(nr::testing::all_close(y, ref.to_vector<double>(), 1e-12));
  NEURONA_EXPECT_THROW_MSG(dense->bias(), nr::ValueError, "use_bias = false");
}

TEST(Dense, DefaultInitializersAreGlorotUniformAndZeros) {
  auto dense = nr::layers::Dense(300);
  dense->ensure_built({-1, 200});
  const std::vector<double> k = dense->kernel().value().to_vector<double>();
  const double limit = std::sqrt(6.0 / 500);
  double lo = 0, hi = 0;
  for (double v : k) lo = std::min(lo, v), hi = std::max(hi, v);
  EXPECT_GE(lo, -limit);
  EXPECT_LE(hi, limit);
  EXPECT_GT(hi, 0.99 * limit);
  EXPECT_TRUE(nr::testing::all_close(dense->bias().value(), std::vector<double>(300, 0.0)));
}

TEST(Dense, ShapeErrorsNameLayerAndShapes) {
  nr::clear_session();
  auto dense = nr::layers::Dense(3);
  NEURONA_EXPECT_THROW_MSG(dense(nr::ones({2}, {.device = nr::Device::cpu()})), nr::ShapeError,
                           "Dense 'dense'", "at least 2 dimensions", "(2,)");
  dense(nr::ones({4, 2}, {.device = nr::Device::cpu()}));
  NEURONA_EXPECT_THROW_MSG(dense(nr::ones({4, 5}, {.device = nr::Device::cpu()})), nr::ShapeError,
                           "Dense 'dense' (units=3)", "expected input with last dimension 2",
                           "got shape (4, 5)");
  NEURONA_EXPECT_THROW_MSG(nr::layers::Dense(0), nr::ValueError, "units=0");
  NEURONA_EXPECT_THROW_MSG(nr::layers::Dense(2, {.activation = "relu7"}), nr::ValueError,
                           "Could not interpret activation function identifier: 'relu7'", "relu6");
}

TEST(Dense, GradientsMatchNumericalInFloat64) {
  for (const char* activation : {"linear", "tanh", "softmax"}) {
    for (const nr::Shape& shape : {nr::Shape{3, 4}, nr::Shape{2, 3, 4}}) {
      auto dense = nr::layers::Dense(5, {.activation = activation, .dtype = nr::float64});
      dense->ensure_built(shape);
      const nr::Tensor k = f64({4, 5}, 2), b = f64({5}, 3);
      // Inputs, kernel and bias all as checked inputs: the layer's weights are set from them.
      const nr::testing::Fn f = [&](const std::vector<nr::Tensor>& in) {
        nr::Tensor y = nr::matmul(in[0].reshape({-1, 4}), in[1]) + in[2];
        return dense->activation()(y.reshape(dense->compute_output_shape(in[0].shape())));
      };
      EXPECT_TRUE(nr::testing::check_gradients(std::string("dense reference ") + activation, f,
                                               {f64(shape, 1), k, b}));
      // The layer itself, through its variables: tape gradients against central differences
      // computed by perturbing the weights through set_weights.
      dense->set_weights({k, b});
      EXPECT_TRUE(nr::testing::check_layer_gradients(
          std::string("dense layer ") + activation + " " + shape.str(), dense, f64(shape, 4)));
    }
  }
}
