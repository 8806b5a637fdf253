// RematScope: which layers rematerialize (Keras's modes), and a model made in one trains to
// the weights of a model made without it, dropout, moving statistics and the losses of
// sublayers included.
#include <neurona/neurona.h>

#include <gtest/gtest.h>

#include "support/test_util.h"

namespace nr = neurona;

namespace {

// Counts its calls: a rematerialized call runs again in the backward pass.
class Counting : public nr::layers::Layer {
 public:
  explicit Counting(nr::layers::LayerOptions options = {})
      : Layer("Counting", std::move(options)) {}
  nr::Tensor call(const nr::Tensor& x, bool) override {
    ++calls;
    return nr::tanh(x * 2.0);
  }
  nr::Shape compute_output_shape(const nr::Shape& s) const override { return s; }
  int calls = 0;
};

nr::Tensor inputs(const nr::Shape& shape) {
  return nr::random_uniform(shape, {.device = nr::Device::cpu(), .seed = 1});
}

// Calls the layer under a tape and takes the gradient; returns how often it ran.
int calls_for_one_gradient(Counting& layer, const nr::Tensor& x) {
  nr::GradientTape tape;
  tape.watch(x);
  (void)tape.gradient(layer(x), x);
  return layer.calls;
}

}  // namespace

TEST(RematScope, FullModeRecomputesEveryLayer) {
  std::shared_ptr<Counting> layer;
  {
    nr::RematScope scope("full");
    layer = std::make_shared<Counting>();
  }
  ASSERT_TRUE(layer->remat_mode().has_value());
  EXPECT_EQ(calls_for_one_gradient(*layer, inputs({4, 3})), 2);
  // Without a tape nothing is recomputed.
  (void)(*layer)(inputs({4, 3}));
  EXPECT_EQ(layer->calls, 3);
}

TEST(RematScope, ListOfLayersRecomputesThoseNamed) {
  nr::RematScope scope({.mode = "list_of_layers", .layer_names = {"keep_me"}});
  auto named = std::make_shared<Counting>(nr::layers::LayerOptions{.name = "keep_me"});
  auto other = std::make_shared<Counting>();
  EXPECT_EQ(calls_for_one_gradient(*named, inputs({2, 2})), 2);
  EXPECT_EQ(calls_for_one_gradient(*other, inputs({2, 2})), 1);
}

TEST(RematScope, LargerThanRecomputesLargeOutputsOnly) {
  nr::RematScope scope({.mode = "larger_than", .output_size_threshold = 100});
  auto large = std::make_shared<Counting>();
  auto small = std::make_shared<Counting>();
  EXPECT_EQ(calls_for_one_gradient(*large, inputs({4, 30})), 2);  // 120 elements
  EXPECT_EQ(calls_for_one_gradient(*small, inputs({4, 25})), 1);  // 100: not more
}

TEST(RematScope, ActivationsModeRecomputesTheActivationOnly) {
  int activation_calls = 0;
  const nr::activations::Activation counted(
      [&activation_calls](const nr::Tensor& v) {
        ++activation_calls;
        return nr::tanh(v);
      },
      "counted");
  nr::RematScope scope("activations");
  auto dense = nr::layers::Dense(3, {.activation = counted});
  auto plain = std::make_shared<Counting>();
  const nr::Tensor x = inputs({2, 4});
  nr::GradientTape tape;
  tape.watch(x);
  (void)tape.gradient(dense(x), x);
  EXPECT_EQ(activation_calls, 2);
  EXPECT_EQ(calls_for_one_gradient(*plain, x), 1);  // no activation: not recomputed
}

TEST(RematScope, NoneModeInsideTurnsItOff) {
  nr::RematScope full("full");
  std::shared_ptr<Counting> layer;
  {
    nr::RematScope off(nr::RematOptions{.mode = std::nullopt});
    layer = std::make_shared<Counting>();
  }
  EXPECT_EQ(calls_for_one_gradient(*layer, inputs({2, 2})), 1);
  EXPECT_EQ(nr::current_remat_mode()->mode, "full");
}

TEST(RematScope, RefusesAnUnknownModeAsKeras) {
  NEURONA_EXPECT_THROW_MSG(nr::RematScope("everything"), nr::ValueError,
                           "Invalid mode 'everything'. Supported modes are: 'full', 'activations', "
                           "'larger_than', 'list_of_layers', or  None.");
}

namespace {

// A residual block whose Dense has an activity regularizer: under "full" the block and its
// Dense both rematerialize, and the Dense's loss is made inside the block's recomputation.
class Block : public nr::layers::Layer {
 public:
  Block() : Layer("Block") {}
  nr::Tensor call(const nr::Tensor& x, bool training) override { return x + dense_(x, training); }
  nr::Shape compute_output_shape(const nr::Shape& s) const override { return s; }

 private:
  nr::layers::AnyLayer dense_ =
      track(nr::layers::Dense(16, {.activation = "gelu", .activity_regularizer = "l2"}));
};

std::vector<nr::Tensor> trained_weights(bool in_remat_scope) {
  nr::clear_session();
  nr::set_seed(3);
  std::optional<nr::RematScope> scope;
  if (in_remat_scope) scope.emplace("full");
  std::vector<nr::layers::AnyLayer> layers{
      nr::layers::Input({8}),           nr::layers::Dense(16, {.activation = "relu"}),
      nr::layers::BatchNormalization(), nr::layers::Dropout(0.3, {.seed = 1}),
      std::make_shared<Block>(),        nr::layers::Dense(1)};
  scope.reset();
  // The model itself outside the scope: rematerializing its whole call would only double it.
  nr::Sequential model(layers);
  model.compile({.optimizer = nr::optimizers::SGD(0.05), .loss = "mse"});
  const nr::Tensor x = nr::random_normal({64, 8}, {.seed = 4});
  const nr::Tensor y = nr::sum(x, {1}, true) * 0.3;
  (void)model.fit(x, y, {.batch_size = 16, .epochs = 2, .verbose = 0, .shuffle = false});
  return model.get_weights();
}

}  // namespace

TEST(RematScope, AModelMadeInOneTrainsToTheSameWeights) {
  const auto plain = trained_weights(false);
  const auto kept = trained_weights(true);
  ASSERT_EQ(plain.size(), kept.size());
  for (std::size_t i = 0; i < plain.size(); ++i) {
    // Moving statistics included: each batch updates them once.
    EXPECT_LT(nr::max(nr::abs(plain[i] - kept[i])).item<float>(), 1e-6f) << "weight " << i;
  }
}
