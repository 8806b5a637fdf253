// The Layer base through Dense and a custom layer: naming, building, weights, freezing,
// get/set_weights, losses and constraints.
#include <neurona/neurona.h>

#include <chrono>

#include "support/test_util.h"

namespace nr = neurona;

namespace {

// A custom layer as a Keras user writes one: weights in build(), the computation in call().
class Scale : public nr::layers::Layer {
 public:
  Scale() : Layer("Scale") {}
  nr::Tensor call(const nr::Tensor& x, bool) override { return nr::multiply(x, *scale_); }

 protected:
  void build(const nr::Shape& input_shape) override {
    scale_ = add_weight("scale", {input_shape[-1]}, {.initializer = "ones"});
    step_ = add_weight("step", {}, {.initializer = "zeros", .trainable = false});
  }

 private:
  std::optional<nr::Variable> scale_, step_;
};

nr::Tensor ones(const nr::Shape& s) {
  return nr::ones(s, {.device = nr::Device::cpu()});
}

}  // namespace

TEST(Layer, UniqueNamesPerClassAsKeras) {
  nr::clear_session();
  EXPECT_EQ(nr::layers::Dense(1)->name(), "dense");
  EXPECT_EQ(nr::layers::Dense(1)->name(), "dense_1");
  EXPECT_EQ(nr::layers::Flatten()->name(), "flatten");
  EXPECT_EQ(nr::layers::Dense(1, {.name = "head"})->name(), "head");
  EXPECT_EQ(nr::layers::Dense(1)->name(), "dense_2");
  EXPECT_EQ(nr::layers::Input({3})->name(), "input_layer");
  EXPECT_EQ(std::make_shared<Scale>()->name(), "scale");
  nr::clear_session();
  EXPECT_EQ(nr::layers::Dense(1)->name(), "dense");
  EXPECT_EQ(nr::layers::to_snake_case("MyDense2D"), "my_dense2d");
  EXPECT_EQ(nr::layers::to_snake_case("SubclassModel"), "subclass_model");
  EXPECT_EQ(nr::layers::to_snake_case("MaxPooling2D"), "max_pooling2d");
  EXPECT_EQ(nr::layers::to_snake_case("BatchNormalization"), "batch_normalization");
  EXPECT_EQ(nr::layers::to_snake_case("GlobalAveragePooling2D"), "global_average_pooling2d");
  EXPECT_EQ(nr::layers::to_snake_case("HTTPServer"), "http_server");
  EXPECT_EQ(nr::layers::to_snake_case("Conv2D"), "conv2d");
  EXPECT_EQ(nr::layers::to_snake_case("InputLayer"), "input_layer");
}

TEST(Layer, InputFromConfigRebuildsWhatGetConfigWrote) {
  auto input = nr::layers::Input({28, 28, 1},
                                 {.batch_size = 8, .name = "pixels", .dtype = nr::DType::float64});
  auto again = nr::layers::Input::from_config(input->get_config());
  EXPECT_EQ(again->batch_shape(), input->batch_shape());
  EXPECT_EQ(again->name(), "pixels");
  EXPECT_EQ(again->dtype(), nr::DType::float64);
  auto unknown_batch = nr::layers::Input::from_config(nr::layers::Input({3})->get_config());
  EXPECT_EQ(unknown_batch->batch_shape(), nr::Shape({-1, 3}));
  NEURONA_EXPECT_THROW_MSG(
      nr::layers::Input::from_config(nr::ConfigValue::Dict{{"name", std::string("x")}}),
      nr::ValueError, "InputLayer", "batch_shape");
}

TEST(Layer, BuildsOnFirstCallWithInputShape) {
  nr::clear_session();
  auto dense = nr::layers::Dense(3);
  EXPECT_FALSE(dense->built());
  EXPECT_TRUE(dense->weights().empty());
  NEURONA_EXPECT_THROW_MSG(dense->count_params(), nr::ValueError,
                           "You tried to call `count_params` on layer 'dense'", "isn't built");
  NEURONA_EXPECT_THROW_MSG(dense->output_shape(), nr::ValueError, "Dense 'dense'");
  const nr::Tensor y = dense(ones({4, 5}));
  EXPECT_TRUE(dense->built());
  EXPECT_EQ(y.shape(), (nr::Shape{4, 3}));
  EXPECT_EQ(dense->build_input_shape(), (nr::Shape{4, 5}));
  EXPECT_EQ(dense->output_shape(), (nr::Shape{4, 3}));
  EXPECT_EQ(dense->count_params(), 5 * 3 + 3);
  ASSERT_EQ(dense->weights().size(), 2u);
  EXPECT_EQ(dense->weights()[0].name(), "dense/kernel");
  EXPECT_EQ(dense->weights()[1].name(), "dense/bias");
  // A second call reuses the weights.
  dense(ones({2, 5}));
  EXPECT_EQ(dense->weights().size(), 2u);
  EXPECT_TRUE(dense->kernel().is_same(dense->weights()[0]));
}

TEST(Layer, ExplicitBuildWithUnknownBatch) {
  auto dense = nr::layers::Dense(4);
  dense->ensure_built({-1, 7});
  EXPECT_EQ(dense->kernel().shape(), (nr::Shape{7, 4}));
  EXPECT_EQ(nr::layers::shape_str(dense->output_shape()), "(None, 4)");
  EXPECT_EQ(nr::layers::shape_str({5}), "(5,)");
}

TEST(Layer, TrainableAndNonTrainableWeights) {
  nr::clear_session();
  auto scale = std::make_shared<Scale>();
  (*scale)(ones({2, 3}));
  ASSERT_EQ(scale->trainable_weights().size(), 1u);
  EXPECT_EQ(scale->trainable_weights()[0].name(), "scale/scale");
  ASSERT_EQ(scale->non_trainable_weights().size(), 1u);
  EXPECT_EQ(scale->count_params(), 4);
  // Freezing moves every weight to the non-trainable list, and the tape stops watching it.
  scale->set_trainable(false);
  EXPECT_TRUE(scale->trainable_weights().empty());
  EXPECT_EQ(scale->non_trainable_weights().size(), 2u);
  EXPECT_FALSE(scale->weights()[0].trainable());
  {
    nr::GradientTape tape;
    const nr::Tensor y = nr::sum((*scale)(ones({2, 3})));
    EXPECT_TRUE(tape.watched_variables().empty());
  }
  // Unfreezing restores each weight as it was created.
  scale->set_trainable(true);
  EXPECT_TRUE(scale->weights()[0].trainable());
  EXPECT_FALSE(scale->weights()[1].trainable());
}

TEST(Layer, GetAndSetWeightsCheckCountAndShapes) {
  nr::clear_session();
  auto dense = nr::layers::Dense(2);
  dense(ones({1, 3}));
  std::vector<nr::Tensor> ws = dense->get_weights();
  ASSERT_EQ(ws.size(), 2u);
  const nr::Tensor k = nr::constant({1, 2, 3, 4, 5, 6.}, {3, 2}, {.device = nr::Device::cpu()});
  const nr::Tensor b = nr::constant({10, 20.}, {.device = nr::Device::cpu()});
  dense->set_weights({k, b});
  EXPECT_TRUE(nr::testing::all_close(dense(ones({1, 3})), {1 + 3 + 5 + 10, 2 + 4 + 6 + 20}));
  // get_weights returns copies.
  EXPECT_TRUE(nr::testing::all_close(dense->get_weights()[1], {10, 20}));
  NEURONA_EXPECT_THROW_MSG(dense->set_weights({k}), nr::ValueError, "Dense 'dense'",
                           "weight list of length 1", "expecting 2 weights");
  NEURONA_EXPECT_THROW_MSG(dense->set_weights({k.reshape({2, 3}), b}), nr::ShapeError,
                           "Dense 'dense'", "dense/kernel", "(3, 2)", "(2, 3)");
}

TEST(Layer, LossesFromRegularizers) {
  auto dense = nr::layers::Dense(2, {.kernel_initializer = "ones",
                                     .kernel_regularizer = nr::regularizers::L2(0.5),
                                     .bias_regularizer = "l1",
                                     .activity_regularizer = nr::regularizers::L1(1.0)});
  EXPECT_TRUE(dense->losses().empty());
  dense(ones({4, 3}));  // outputs all 3: activity penalty sum |y| / batch = 24 / 4
  const std::vector<nr::Tensor> losses = dense->losses();
  ASSERT_EQ(losses.size(), 3u);
  EXPECT_NEAR(losses[0].item<double>(), 6.0, 1e-5);      // activity
  EXPECT_NEAR(losses[1].item<double>(), 0.5 * 6, 1e-5);  // kernel: 6 ones
  EXPECT_NEAR(losses[2].item<double>(), 0.0, 1e-7);      // bias: zeros
  // The next call replaces the activity loss instead of adding to it.
  dense(ones({2, 3}));
  EXPECT_EQ(dense->losses().size(), 3u);
  // Penalties are differentiable with respect to the weights.
  nr::GradientTape tape;
  const nr::Tensor kernel_penalty = dense->losses()[1];
  EXPECT_TRUE(nr::testing::all_close(tape.gradient(kernel_penalty, dense->kernel()),
                                     std::vector<double>(6, 1.0), 1e-6));
  // Frozen weights are not regularized, as in Keras.
  dense->set_trainable(false);
  EXPECT_EQ(dense->losses().size(), 1u);
}

TEST(Layer, ApplyConstraintsProjectsWeights) {
  auto dense =
      nr::layers::Dense(2, {.kernel_initializer = nr::initializers::Constant(-1),
                            .bias_initializer = "ones",
                            .kernel_constraint = "non_neg",
                            .bias_constraint = nr::constraints::MaxNorm({.max_value = 1})});
  dense(ones({1, 2}));
  dense->apply_constraints();
  EXPECT_TRUE(nr::testing::all_close(dense->kernel().value(), {0, 0, 0, 0}));
  const double n = std::sqrt(2.0);
  EXPECT_TRUE(
      nr::testing::all_close(dense->bias().value(), {1 / (n + 1e-7), 1 / (n + 1e-7)}, 1e-6));
}

TEST(Layer, HandlesShareTheLayer) {
  auto dense = nr::layers::Dense(2);
  nr::layers::AnyLayer any = dense;
  EXPECT_EQ(any.ptr().get(), dense.ptr().get());
  any(ones({1, 4}));
  EXPECT_TRUE(dense->built());
  EXPECT_EQ(dense->kernel().shape(), (nr::Shape{4, 2}));
}

TEST(Layer, CastsFloatInputsToTheLayerDtype) {
  auto dense = nr::layers::Dense(2, {.dtype = nr::float64});
  const nr::Tensor y = dense(ones({1, 3}));  // float32 in
  EXPECT_EQ(y.dtype(), nr::float64);
  EXPECT_EQ(dense->kernel().dtype(), nr::float64);
}

// Keras's ops promote int32 x float32 to float32, so its Dense, convolutions, recurrent layers
// and BatchNormalization take integer inputs (uint8 images, int32 features) as they are; the
// layers here cast them to the compute dtype, eagerly and symbolically.
TEST(Layer, LayersWithFloatWeightsPromoteIntegerInputsAsKeras) {
  using nr::testing::all_close;
  using nr::testing::random_tensor;
  const nr::TensorOptions i32{.dtype = nr::DType::int32, .device = nr::Device::cpu()};
  // Integer-valued floats, so that the float call is the reference exactly.
  const auto same_as_float = [](nr::layers::AnyLayer layer, const nr::Tensor& ints) {
    SCOPED_TRACE(layer->describe());
    const nr::Tensor y = layer(ints);
    EXPECT_EQ(y.dtype(), nr::float32);
    EXPECT_TRUE(all_close(y, layer(nr::cast(ints, nr::float32)).to_vector<double>(), 0.0, 0.0));
  };
  const nr::Tensor features = nr::cast(random_tensor({4, 3}, nr::float32, -5, 5, 1), i32.dtype);
  same_as_float(nr::layers::Dense(2), features);
  const nr::Tensor pixels = random_tensor({2, 5, 5, 3}, nr::DType::uint8, 0, 256, 2);
  same_as_float(nr::layers::Conv2D(4, {3, 3}), pixels);
  same_as_float(nr::layers::DepthwiseConv2D({3, 3}), pixels);
  same_as_float(nr::layers::BatchNormalization(), pixels);
  const nr::Tensor sequences = random_tensor({2, 4, 3}, i32.dtype, -3, 3, 3);
  same_as_float(nr::layers::LSTM(2), sequences);
  same_as_float(nr::layers::Bidirectional(nr::layers::GRU(2)), sequences);
  auto mha = nr::layers::MultiHeadAttention(2, 2);
  const nr::Tensor floats = nr::cast(sequences, nr::float32);
  EXPECT_TRUE(all_close(mha->attend(sequences, sequences)[0],
                        mha->attend(floats, floats)[0].to_vector<double>(), 0.0, 0.0));
  // Attention and AdditiveAttention: Keras's matmul and softmax turn the integers into floats.
  for (const nr::layers::AnyLayer& attention :
       {nr::layers::AnyLayer(nr::layers::Attention()),
        nr::layers::AnyLayer(nr::layers::AdditiveAttention())}) {
    SCOPED_TRACE(attention->describe());
    const nr::Tensor y = attention({sequences, sequences});
    EXPECT_EQ(y.dtype(), nr::float32);
    EXPECT_TRUE(all_close(y, attention({floats, floats}).to_vector<double>(), 0.0, 0.0));
    const nr::layers::KerasTensor ids = nr::Input({4, 3}, {.dtype = nr::DType::int32});
    EXPECT_EQ(attention({ids, ids}).dtype(), nr::float32);
  }

  // The cast keeps the mask a tensor carries.
  nr::Tensor masked = random_tensor({2, 4, 3}, i32.dtype, -3, 3, 5);
  const nr::Tensor mask =
      nr::testing::make_tensor({1, 1, 0, 0, 1, 0, 0, 0}, {2, 4}, nr::DType::uint8);
  masked.set_keras_mask(mask);
  const nr::Tensor y_masked = nr::layers::Dense(2)(masked);
  ASSERT_TRUE(y_masked.keras_mask().defined());
  EXPECT_EQ(y_masked.keras_mask().to_vector<int>(), mask.to_vector<int>());

  // To the compute dtype, whatever it is; and a symbolic call says so.
  auto wide = nr::layers::Dense(2, {.dtype = nr::float64});
  EXPECT_EQ(wide(nr::ones({1, 3}, i32)).dtype(), nr::float64);
  const nr::layers::KerasTensor in = nr::Input({3}, {.dtype = nr::DType::int32});
  const nr::layers::KerasTensor out = nr::layers::Dense(2)(in);
  EXPECT_EQ(out.dtype(), nr::float32);
  nr::Model model(in, out);
  EXPECT_EQ(model.predict(nr::ones({2, 3}, i32)).dtype(), nr::float32);
  // TimeDistributed's dtype is its wrapped layer's: promoted by Dense, an Embedding's floats.
  const nr::layers::KerasTensor steps = nr::Input({4, 3}, {.dtype = nr::DType::int32});
  EXPECT_EQ(nr::layers::TimeDistributed(nr::layers::Dense(2))(steps).dtype(), nr::float32);
  EXPECT_EQ(nr::layers::TimeDistributed(nr::layers::Embedding(10, 2))(steps).dtype(), nr::float32);
  // LayerNormalization and GroupNormalization (autocast off, as Keras) return the compute dtype
  // for any input, and a symbolic call says so.
  const nr::layers::KerasTensor images = nr::Input({5, 5, 3}, {.dtype = nr::DType::uint8});
  const nr::layers::KerasTensor wide_in = nr::Input({5, 5, 3}, {.dtype = nr::float64});
  for (const nr::layers::AnyLayer& norm :
       {nr::layers::AnyLayer(nr::layers::LayerNormalization()),
        nr::layers::AnyLayer(nr::layers::GroupNormalization({.groups = 3}))}) {
    SCOPED_TRACE(norm->describe());
    EXPECT_EQ(norm(pixels).dtype(), nr::float32);
    EXPECT_EQ(norm(images).dtype(), nr::float32);
    EXPECT_EQ(norm(nr::cast(pixels, nr::float64)).dtype(), nr::float32);
    EXPECT_EQ(norm(wide_in).dtype(), nr::float32);
  }
  // A float Input converts integer data as Keras's functional models do, so a layer that
  // keeps integers (Flatten) sees floats behind it; an integer Input keeps them.
  nr::Sequential flat({nr::layers::Input({5, 5, 3}), nr::layers::Flatten()});
  const nr::Tensor flattened = flat.predict(pixels);
  EXPECT_EQ(flattened.dtype(), nr::float32);
  EXPECT_TRUE(all_close(flattened, pixels.to_vector<double>(), 0.0, 0.0));
  nr::Sequential flat_ints(
      {nr::layers::Input({5, 5, 3}, {.dtype = nr::DType::uint8}), nr::layers::Flatten()});
  EXPECT_EQ(flat_ints.predict(pixels).dtype(), nr::DType::uint8);
  // Without an Input, Keras's build makes one in the first layer's compute dtype and converts
  // the data to it: integer data comes out of a Flatten as floats there too.
  nr::Sequential no_input({nr::layers::Flatten()});
  const nr::Tensor flattened_too = no_input.predict(pixels);
  EXPECT_EQ(flattened_too.dtype(), nr::float32);
  EXPECT_TRUE(all_close(flattened_too, pixels.to_vector<double>(), 0.0, 0.0));
  EXPECT_EQ(no_input(pixels).dtype(), nr::float32);
  // Called symbolically (nested in a functional model), it says so too.
  auto nested =
      std::make_shared<nr::Sequential>(std::vector<nr::layers::AnyLayer>{nr::layers::Flatten()});
  const nr::layers::KerasTensor bytes = nr::Input({5, 5, 3}, {.dtype = nr::DType::uint8});
  const nr::layers::KerasTensor nested_out = (*nested)(bytes);
  EXPECT_EQ(nested_out.dtype(), nr::float32);
  EXPECT_EQ(nr::Model(bytes, nested_out).predict(pixels).dtype(), nr::float32);
  // Under a mixed policy the integers go as float32, not as the 16-bit compute dtype of the made
  // Input: Keras's float16 there turns id 4097 into 4096 before the Embedding reads it.
  nr::mixed_precision::set_global_policy("mixed_float16");
  nr::layers::Embedding table(5000, 2);
  nr::Sequential lookup({table});
  nr::mixed_precision::set_global_policy(nr::float32);
  const nr::Tensor rows =
      lookup.predict(nr::testing::make_tensor({4097, 4095}, {1, 2}, nr::DType::int32));
  EXPECT_EQ(rows.dtype(), nr::DType::float16);
  const nr::Tensor want =
      nr::cast(nr::narrow(table->embeddings().value(), 0, 4095, 3), nr::DType::float16);
  const std::vector<double> w = want.to_vector<double>();
  EXPECT_EQ(rows.to_vector<double>(), (std::vector<double>{w[4], w[5], w[0], w[1]}));

  // A layer that does not promote keeps integers (Keras's autocast casts floats only): the
  // custom one's multiply refuses int32 x float32, Flatten passes them on.
  auto scale = std::make_shared<Scale>();
  EXPECT_THROW((*scale)(nr::ones({1, 3}, i32)), nr::ValueError);
  EXPECT_EQ(nr::layers::Flatten()(nr::ones({1, 3}, i32)).dtype(), nr::DType::int32);
}

namespace {

// A layer that tracks what it is given, as a subclassed model's constructor does.
class Tracker : public nr::layers::Layer {
 public:
  Tracker() : Layer("Tracker") {}
  void add(const nr::layers::AnyLayer& layer, std::string attribute = "") {
    track(layer, std::move(attribute));
  }
  void remove(const nr::layers::AnyLayer& layer) { untrack_layer(layer.ptr()); }
  nr::Tensor call(const nr::Tensor& x, bool) override { return x; }
  std::vector<std::string> attributes() const {
    std::vector<std::string> out;
    for (const auto& t : tracked_layers()) out.push_back(t.attribute);
    return out;
  }
};

}  // namespace

TEST(Layer, TrackedLayersTakeTheFirstFreeKerasListName) {
  // Keras's _get_unique_name for the items of a list: base, then the first free base_n.
  Tracker t;
  t.add(nr::layers::Dense(1));
  t.add(nr::layers::Dense(1), "dense_2");
  t.add(nr::layers::Flatten());
  t.add(nr::layers::Dense(1));
  t.add(nr::layers::Dense(1));
  const auto gone = nr::layers::Dense(1);
  t.add(gone);
  EXPECT_EQ(t.attributes(), (std::vector<std::string>{"dense", "dense_2", "flatten", "dense_1",
                                                      "dense_3", "dense_4"}));
  // A name freed by untracking is the first free one again.
  t.remove(gone);
  t.add(nr::layers::Dense(1));
  EXPECT_EQ(t.attributes().back(), "dense_4");
  NEURONA_EXPECT_THROW_MSG(t.add(nr::layers::Dense(1), "dense_1"), nr::ValueError,
                           "'dense_1' is already taken");
}

TEST(Layer, TrackingThousandsOfLayersOfOneClassTakesLinearTime) {
  // The k-th Dense probed dense_1 .. dense_k, each against every attribute so far (k^3 / 6
  // string comparisons): 5000 took 8 minutes on the 2-core machine. Now each name costs O(1)
  // hash lookups: 30 ms; the limit leaves a wide margin (sanitizers, a busy machine).
  std::vector<nr::layers::AnyLayer> layers;
  for (int i = 0; i < 5000; ++i) layers.push_back(nr::layers::Dense(1));
  const auto start = std::chrono::steady_clock::now();
  Tracker t;
  for (const auto& layer : layers) t.add(layer);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(t.attributes().back(), "dense_4999");
  EXPECT_LT(seconds, 5.0);
}
