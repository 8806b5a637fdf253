// Sequential: construction from a list or add(), pop(), building from an Input or a call,
// weights, predict in batches, and errors.
#include <neurona/neurona.h>

#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;

TEST(Sequential, InputBuildsEveryLayerAtOnce) {
  nr::clear_session();
  nr::Sequential model({L::Input({28, 28, 1}), L::Flatten(), L::Dense(10)});
  EXPECT_EQ(model.name(), "sequential");
  EXPECT_TRUE(model.built());
  ASSERT_EQ(model.layers().size(), 2u);  // the Input is not a layer of the model
  EXPECT_EQ(model.layers()[1]->name(), "dense");
  EXPECT_EQ(model.weights().size(), 2u);
  EXPECT_EQ(model.weights()[0].shape(), (nr::Shape{784, 10}));
  EXPECT_EQ(model.count_params(), 7850);
  EXPECT_EQ(model.output_shape(), (nr::Shape{-1, 10}));
  EXPECT_EQ(*model.input_shape(), (nr::Shape{-1, 28, 28, 1}));
  EXPECT_EQ(model(nr::ones({3, 28, 28, 1})).shape(), (nr::Shape{3, 10}));
  NEURONA_EXPECT_THROW_MSG(model(nr::ones({3, 28, 28, 2})), nr::ShapeError, "InputLayer",
                           "(None, 28, 28, 1)", "(3, 28, 28, 2)");
}

TEST(Sequential, WithoutInputWeightsComeWithTheFirstCall) {
  nr::clear_session();
  nr::Sequential model({L::Dense(3), L::Dense(2)});
  EXPECT_FALSE(model.built());
  // As Keras 3: no weights yet, and count_params says the model is not built.
  EXPECT_TRUE(model.weights().empty());
  NEURONA_EXPECT_THROW_MSG(model.count_params(), nr::ValueError, "layer 'sequential'",
                           "isn't built", "layer.build(input_shape)");
  model(nr::ones({4, 5}));
  EXPECT_TRUE(model.built());
  EXPECT_EQ(model.count_params(), 5 * 3 + 3 + 3 * 2 + 2);
}

TEST(Sequential, AddAndPop) {
  nr::clear_session();
  nr::Sequential model;
  model.add(L::Input({4}));
  model.add(L::Dense(8));
  EXPECT_EQ(model.weights().size(), 2u);  // built as soon as added, the input being known
  model.add(L::Dense(2));
  EXPECT_EQ(model.output_shape(), (nr::Shape{-1, 2}));
  const L::AnyLayer popped = model.pop();
  EXPECT_EQ(popped->name(), "dense_1");
  EXPECT_EQ(model.layers().size(), 1u);
  EXPECT_EQ(model.output_shape(), (nr::Shape{-1, 8}));
  EXPECT_EQ(model(nr::ones({2, 4})).shape(), (nr::Shape{2, 8}));
  model.pop();
  NEURONA_EXPECT_THROW_MSG(model.pop(), nr::ValueError, "no layers");
  NEURONA_EXPECT_THROW_MSG(model.add(L::Input({3})), nr::ValueError, "Input", "first layer");
}

TEST(Sequential, SharesLayersWithTheUser) {
  auto dense = L::Dense(2);
  nr::Sequential model({L::Input({3}), dense});
  EXPECT_TRUE(dense->built());
  EXPECT_TRUE(model.weights()[0].is_same(dense->kernel()));
  dense->set_trainable(false);
  EXPECT_TRUE(model.trainable_weights().empty());
}

TEST(Sequential, CustomLayerWithoutComputeOutputShape) {
  class Double : public L::Layer {
   public:
    Double() : Layer("Double") {}
    nr::Tensor call(const nr::Tensor& x, bool) override { return nr::concat({x, x}, 1); }
  };
  nr::Sequential model({L::Input({3}), std::make_shared<Double>(), L::Dense(1)});
  // The shape was learnt by running the layer once: Dense is built for 6 inputs.
  EXPECT_EQ(model.weights()[0].shape(), (nr::Shape{6, 1}));
  EXPECT_EQ(model.output_shape(), (nr::Shape{-1, 1}));
}

TEST(Sequential, PredictInBatchesEqualsOneCall) {
  nr::Sequential model({L::Input({5}), L::Dense(4, {.activation = "tanh"}), L::Dropout(0.5),
                        L::Dense(3, {.activation = "softmax"})});
  const nr::Tensor x = nr::testing::random_tensor({70, 5});
  const nr::Tensor all = model(x);  // training = false: Dropout is the identity
  const nr::Tensor batched = model.predict(x, {.batch_size = 32});  // 32 + 32 + 6 rows
  EXPECT_EQ(batched.shape(), (nr::Shape{70, 3}));
  EXPECT_TRUE(nr::testing::all_close(batched, all.to_vector<double>(), 1e-6));
  EXPECT_EQ(model.predict(x.slice(0, 3)).shape(), (nr::Shape{3, 3}));
  NEURONA_EXPECT_THROW_MSG(model.predict(x, {.batch_size = 0}), nr::ValueError, "batch_size");
}

TEST(Sequential, GradientsReachEveryTrainableWeight) {
  nr::Sequential model({L::Input({3}), L::Dense(4, {.activation = "relu"}), L::Dense(1)});
  nr::GradientTape tape;
  const nr::Tensor loss = nr::mean(nr::square(model(nr::testing::random_tensor({8, 3}))));
  const std::vector<nr::Tensor> grads = tape.gradient(loss, model.trainable_weights());
  ASSERT_EQ(grads.size(), 4u);
  for (std::size_t i = 0; i < grads.size(); ++i) {
    EXPECT_TRUE(grads[i].defined()) << i;
    EXPECT_EQ(grads[i].shape(), model.trainable_weights()[i].shape());
  }
}

TEST(Sequential, InputShapeOnTheFirstLayerStartsTheModel) {
  nr::clear_session();
  nr::Sequential model({L::Dense(3, {.input_shape = nr::Shape{4}}), L::Dense(2)});
  EXPECT_TRUE(model.built());
  EXPECT_EQ(model.weights().size(), 4u);
  EXPECT_EQ(model.count_params(), 4 * 3 + 3 + 3 * 2 + 2);
  EXPECT_EQ(model.output_shape(), nr::Shape({-1, 2}));
  ASSERT_EQ(model.layers().size(), 2u);  // the implicit Input is not a layer, as in Keras
  nr::Sequential cnn;
  cnn.add(L::Conv2D(8, 3, {.input_shape = nr::Shape{28, 28, 1}}));
  cnn.add(L::Flatten());
  EXPECT_EQ(cnn.output_shape(), nr::Shape({-1, 26 * 26 * 8}));
}

namespace {

// A layer that cannot compute its output shape (Sequential learns it by a call on zeros),
// counting its calls.
class CountedCalls : public L::Layer {
 public:
  CountedCalls() : Layer("CountedCalls") {}
  nr::Tensor call(const nr::Tensor& x, bool) override {
    ++calls;
    return x;
  }
  static inline int calls = 0;
};

}  // namespace

TEST(Sequential, BuildsEachLayerOnceHoweverManyLayers) {
  // Built once at the end, not on each add: the 200 layers are each run once to learn their
  // output shape (rebuilding the model on each add ran them 20100 times).
  std::vector<L::AnyLayer> layers = {L::Input({3})};
  for (int i = 0; i < 200; ++i) layers.push_back(std::make_shared<CountedCalls>());
  CountedCalls::calls = 0;
  nr::Sequential model(layers);
  EXPECT_EQ(CountedCalls::calls, 200);
  EXPECT_EQ(model.output_shape(), (nr::Shape{-1, 3}));
  // A layer added to the built model is built alone, for the output of the one before it.
  model.add(std::make_shared<CountedCalls>());
  model.add(L::Dense(2));
  EXPECT_EQ(CountedCalls::calls, 201);
  EXPECT_EQ(model.output_shape(), (nr::Shape{-1, 2}));
  EXPECT_EQ(model.weights()[0].shape(), (nr::Shape{3, 2}));
}
