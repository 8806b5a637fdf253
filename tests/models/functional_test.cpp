// The functional API: models made from symbolic inputs and outputs run their graph as the
// layers called one by one would, share layers and nest models, check their graph as Keras
// does, train, and save and load within neurona.
#include <neurona/neurona.h>

#include <filesystem>

#include "neurona/models/keras_config.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;
using nr::testing::random_tensor;

namespace {

::testing::AssertionResult same(const nr::Tensor& a, const nr::Tensor& b, double tol = 1e-6) {
  if (a.shape() != b.shape()) {
    return ::testing::AssertionFailure() << "shape " << a.shape() << " vs " << b.shape();
  }
  return nr::testing::all_close(a, b.to_vector<double>(), tol, tol);
}

std::filesystem::path temp_file(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / "neurona_functional_test";
  std::filesystem::create_directories(dir);
  return dir / name;
}

}  // namespace

TEST(Functional, SymbolicCallsInferShapesAndRememberTheirLayer) {
  nr::clear_session();
  auto x = nr::Input({28, 28, 1});
  EXPECT_EQ(x.shape(), nr::Shape({-1, 28, 28, 1}));
  EXPECT_EQ(x.layer().class_name(), "InputLayer");
  auto conv = L::Conv2D(8, {3, 3});
  auto y = conv(x);
  EXPECT_EQ(y.shape(), nr::Shape({-1, 26, 26, 8}));
  EXPECT_EQ(&y.layer(), conv.ptr().get());
  EXPECT_EQ(y.node_index(), 0);
  EXPECT_EQ(conv(x).node_index(), 1);  // a second call is a second node
  EXPECT_TRUE(conv->built());
  EXPECT_EQ(L::Flatten()(y).shape(), nr::Shape({-1, 26 * 26 * 8}));
}

TEST(Functional, PredictsWhatCallingTheLayersInTurnGives) {
  auto x = nr::Input({5});
  auto d1 = L::Dense(4, {.activation = "relu"});
  auto d2 = L::Dense(3);
  nr::Model model(x, d2(d1(x)));
  EXPECT_EQ(model.class_name(), "Functional");
  EXPECT_EQ(model.name().rfind("functional", 0), 0u);
  const auto data = random_tensor({7, 5});
  EXPECT_TRUE(same(model.predict(data, {.batch_size = 3}), d2(d1(data))));
  EXPECT_TRUE(same(model(data), d2(d1(data))));
  EXPECT_EQ(model.weights().size(), 4u);
  EXPECT_EQ(model.count_params(), 5 * 4 + 4 + 4 * 3 + 3);
}

TEST(Functional, SharedLayerKeepsOneSetOfWeightsAndSeveralInputsAndOutputsRun) {
  nr::clear_session();
  auto a = nr::Input({4}, {.name = "a"});
  auto b = nr::Input({4}, {.name = "b"});
  auto shared = L::Dense(3, {.name = "shared"});
  auto sa = shared(a);
  auto sb = shared(b);
  auto sum = L::Add()({sa, sb});
  auto head = L::Dense(1, {.name = "head"});
  nr::Model model({a, b}, {sum, head(sum)});
  EXPECT_EQ(model.weights().size(), 4u);  // shared kernel and bias, then head's
  std::vector<std::string> names;
  for (const auto& layer : model.layers()) names.push_back(layer->name());
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "shared", "add", "head"}));
  EXPECT_EQ(model.output_names(), (std::vector<std::string>{"add", "head"}));

  const auto xa = random_tensor({6, 4}, nr::DType::float32, -1, 1, 1);
  const auto xb = random_tensor({6, 4}, nr::DType::float32, -1, 1, 2);
  const auto outs = model.predict(std::vector{xa, xb}, {.batch_size = 4});
  ASSERT_EQ(outs.size(), 2u);
  const auto expected = shared(xa) + shared(xb);
  EXPECT_TRUE(same(outs[0], expected));
  EXPECT_TRUE(same(outs[1], head(expected)));
  NEURONA_EXPECT_THROW_MSG(model.predict(xa), nr::ValueError, "expected 2 input tensors, got 1");
}

TEST(Functional, GetLayerFindsLayersByNameOrIndexAsKeras) {
  nr::clear_session();
  auto x = nr::Input({4}, {.name = "in"});
  auto h = L::Dense(3, {.name = "hidden"})(x);
  nr::Model model(x, L::Dense(2, {.name = "out"})(h));
  EXPECT_EQ(model.get_layer("hidden")->name(), "hidden");
  EXPECT_EQ(model.get_layer(0)->class_name(), "InputLayer");
  EXPECT_EQ(model.get_layer(2).get(), model.get_layer("out").get());
  EXPECT_NE(std::dynamic_pointer_cast<L::DenseLayer>(model.get_layer("out")), nullptr);
  NEURONA_EXPECT_THROW_MSG(model.get_layer("nope"), nr::ValueError,
                           ".get_layer: No such layer: nope",
                           "Existing layers are: ['in', 'hidden', 'out'].");
  NEURONA_EXPECT_THROW_MSG(model.get_layer(3), nr::ValueError,
                           "Was asked to retrieve layer at index 3 but model only has 3 layers.");
  NEURONA_EXPECT_THROW_MSG(model.get_layer(-1), nr::ValueError, "at index -1");
  nr::Sequential seq({nr::layers::Input({4}), L::Dense(2, {.name = "only"})});
  EXPECT_EQ(seq.get_layer(0)->name(), "only");
  EXPECT_EQ(seq.get_layer("only").get(), seq.get_layer(0).get());
}

TEST(Functional, InnerLayersOutputBuildsAFeatureExtractor) {
  nr::clear_session();
  auto x = nr::Input({5}, {.name = "in"});
  auto hidden = L::Dense(4, {.activation = "relu", .name = "hidden"});
  auto h = hidden(x);
  nr::Model model(x, L::Dense(2)(h));
  // Keras's layer.output / layer.input: the first call's tensors; a model's are its own.
  EXPECT_EQ(model.get_layer("hidden")->output(), h);
  EXPECT_EQ(model.get_layer("hidden")->input(), x);
  EXPECT_EQ(model.input(), x);
  EXPECT_EQ(model.output(), model.outputs()[0]);
  nr::Model features(model.input(), model.get_layer("hidden")->output());
  const auto data = random_tensor({6, 5});
  EXPECT_TRUE(same(features.predict(data), hidden(data)));
  // The same kernel and bias, shared: a change to the layer is seen by both models.
  EXPECT_EQ(features.weights().size(), 2u);
  hidden->set_weights({random_tensor({5, 4}, nr::DType::float32, -1, 1, 3),
                       random_tensor({4}, nr::DType::float32, -1, 1, 4)});
  EXPECT_TRUE(same(features.predict(data), hidden(data)));

  // A call on a list, a model with two outputs: the lists, and a clear error for one.
  auto a = nr::Input({3});
  auto b = nr::Input({3});
  auto add = L::Add();
  auto sum = add({a, b});
  EXPECT_EQ(add->input_list(), (std::vector<L::KerasTensor>{a, b}));
  NEURONA_EXPECT_THROW_MSG(add->input(), nr::ValueError, "has 2 inputs; input_list()");
  nr::Model two({a, b}, {sum, L::Dense(1)(sum)});
  EXPECT_EQ(two.output_list().size(), 2u);
  NEURONA_EXPECT_THROW_MSG(two.output(), nr::ValueError, "has 2 outputs; output_list()");
  NEURONA_EXPECT_THROW_MSG(L::Dense(3)->output(), nr::ValueError,
                           "has never been called and thus has no defined output");
}

TEST(Functional, SequentialWithAnInputHasItsLayersOutputsAsKeras) {
  nr::clear_session();
  nr::Sequential seq({nr::layers::Input({4}), L::Dense(3, {.activation = "relu", .name = "hidden"}),
                      L::Dense(2, {.name = "out"})});
  // Keras's Sequential builds its graph: every layer has its output, the model its input.
  EXPECT_EQ(seq.get_layer("hidden")->input(), seq.input());
  EXPECT_EQ(seq.output(), seq.get_layer("out")->output());
  EXPECT_EQ(seq.get_layer("hidden")->output().shape(), nr::Shape({-1, 3}));
  nr::Model features(seq.input(), seq.get_layer("hidden")->output());
  const auto data = random_tensor({5, 4});
  EXPECT_TRUE(same(features.predict(data), (*seq.get_layer("hidden"))(data)));
  // add and pop keep the graph's end in step.
  seq.add(L::Dense(1, {.name = "extra"}));
  EXPECT_EQ(seq.output(), seq.get_layer("extra")->output());
  EXPECT_EQ(seq.output().shape(), nr::Shape({-1, 1}));
  seq.pop();
  EXPECT_EQ(seq.output(), seq.get_layer("out")->output());
  EXPECT_TRUE(same(seq.predict(data), nr::Model(seq.input(), seq.output()).predict(data)));
  // Unbuilt without an Input, there is no graph yet.
  nr::Sequential lazy({L::Dense(2)});
  NEURONA_EXPECT_THROW_MSG(lazy.output(), nr::ValueError, "has never been called");
}

// Keras 3's Sequential.build without an InputLayer makes one of the shape it is built for (the
// first call's, batch size included: what Keras 3.15 gives after a call on 5 rows, a predict
// (its first batch of 32) or a fit (of batch 16)), in the first layer's compute dtype, and calls
// the layers on it: the model's input and its layers' outputs exist after its first call, so that
// a feature extractor is made as from a model with an Input, and predicts any batch size.
TEST(Functional, SequentialWithoutAnInputBuildsItsGraphWhenBuiltAsKeras) {
  nr::clear_session();
  const auto make = [] {
    return nr::Sequential(
        {L::Dense(3, {.activation = "relu", .name = "hidden"}), L::Dense(2, {.name = "out"})});
  };
  const auto seven = random_tensor({7, 4}, nr::DType::float32, -1, 1, 5);
  {
    nr::Sequential called = make();
    (void)called(random_tensor({5, 4}));
    EXPECT_EQ(called.input().shape(), nr::Shape({5, 4}));
    EXPECT_EQ(called.output(), called.get_layer("out")->output());
    EXPECT_EQ(called.get_layer("hidden")->output().shape(), nr::Shape({5, 3}));
    nr::Model features(called.input(), called.get_layer("hidden")->output());
    EXPECT_TRUE(same(features.predict(seven), (*called.get_layer("hidden"))(seven)));
    // The model itself still takes any batch size (the made InputLayer does not check calls).
    EXPECT_EQ(called(seven).shape(), nr::Shape({7, 2}));
    // Its config holds that InputLayer, as Keras's does.
    const nr::ConfigValue config = nr::models::detail::parse_json(
        nr::models::detail::model_config_json(called), "config.json");
    const nr::ConfigValue& input = config.at("config").at("layers").as_list().at(0);
    EXPECT_EQ(input.at("class_name").as_string(), "InputLayer");
    EXPECT_EQ(input.at("config").at("batch_shape"),
              nr::ConfigValue(std::vector<std::int64_t>{5, 4}));
  }
  {
    nr::Sequential fitted = make();
    fitted.compile({.optimizer = "sgd", .loss = "mse"});
    fitted.fit(random_tensor({70, 4}), nr::zeros({70, 2}), {.batch_size = 16, .verbose = 0});
    EXPECT_EQ(fitted.input().shape(), nr::Shape({16, 4}));
    nr::Model features(fitted.input(), fitted.get_layer("hidden")->output());
    EXPECT_TRUE(same(features.predict(seven), (*fitted.get_layer("hidden"))(seven)));
  }
  {
    nr::Sequential built = make();
    built.ensure_built({-1, 4});  // Keras's model.build((None, 4))
    EXPECT_EQ(built.input().shape(), nr::Shape({-1, 4}));
    EXPECT_EQ(built.output().shape(), nr::Shape({-1, 2}));
    // add and pop on the built model keep the graph's end in step, as with an Input.
    built.add(L::Dense(1, {.name = "extra"}));
    EXPECT_EQ(built.output(), built.get_layer("extra")->output());
    built.pop();
    EXPECT_EQ(built.output(), built.get_layer("out")->output());
  }
  {
    // Token ids: the made InputLayer is float32 (the Embedding's compute dtype, as in Keras),
    // and the ids reach the Embedding as they are.
    nr::Sequential tokens({L::Embedding(10, 3), L::Flatten()});
    const nr::Tensor ids = nr::testing::make_tensor({1, 9}, {1, 2}, nr::DType::int32);
    const nr::Tensor y = tokens(ids);
    EXPECT_EQ(tokens.input().shape(), nr::Shape({1, 2}));
    EXPECT_EQ(tokens.input().dtype(), nr::DType::float32);
    const auto table = tokens.layers()[0]->get_weights()[0].to_vector<float>();
    EXPECT_EQ(y.to_vector<float>()[3], table[27]);  // row 9, first column
  }
  {
    // A scalar has no batch axis to start a graph from: the layers are built without one.
    nr::Sequential scalar({L::Activation("relu")});
    EXPECT_EQ(scalar(nr::constant(-2.0)).item<float>(), 0.0f);
    NEURONA_EXPECT_THROW_MSG(scalar.output(), nr::ValueError, "has never been called");
  }
}

TEST(Functional, NestedModelIsALayerOfTheOuterModel) {
  auto inner_in = nr::Input({6});
  auto inner = std::make_shared<nr::Model>(inner_in, L::Dense(2)(inner_in));
  auto x = nr::Input({3});
  auto h = L::Dense(6, {.activation = "tanh"})(x);
  auto y = (*inner)(h);
  EXPECT_EQ(y.shape(), nr::Shape({-1, 2}));
  EXPECT_EQ(y.node_index(), 0);
  nr::Model outer(x, y);
  EXPECT_EQ(outer.layers().size(), 3u);
  EXPECT_EQ(outer.weights().size(), 4u);
  const auto data = random_tensor({5, 3});
  const auto first = std::static_pointer_cast<nr::Model>(outer.layers()[2]);
  EXPECT_EQ(first.get(), inner.get());
  EXPECT_TRUE(same(outer.predict(data), inner->predict(outer.layers()[1]->operator()(data))));
}

TEST(Functional, TrainingFixedAtTheCallOverridesTheModel) {
  auto x = nr::Input({1000});
  nr::Model model(x, L::Dropout(0.5)(x, /*training=*/true));
  const auto ones = nr::ones({2, 1000});
  const auto out = model.predict(ones).to_vector<float>();
  int zeros = 0;
  for (float v : out) zeros += v == 0.0f;
  EXPECT_GT(zeros, 500);  // dropout is active in predict, as Keras's training=True call keeps it
  EXPECT_LT(zeros, 1500);
}

TEST(Functional, RejectsGraphsKerasRejects) {
  nr::clear_session();
  auto a = nr::Input({4}, {.name = "a"});
  auto b = nr::Input({4}, {.name = "b"});
  auto y = L::Add()({L::Dense(2)(a), L::Dense(2)(b)});
  NEURONA_EXPECT_THROW_MSG(nr::Model(a, y), nr::ValueError, "Graph disconnected", "made by 'b'");
  NEURONA_EXPECT_THROW_MSG(nr::Model(L::Dense(2)(a), y), nr::ValueError,
                           "is not made by nr::Input");
  NEURONA_EXPECT_THROW_MSG(nr::Model({a, a}, y), nr::ValueError, "given twice");
  auto c = L::Dense(2, {.name = "twin"})(a);
  auto d = L::Dense(2, {.name = "twin"})(a);
  NEURONA_EXPECT_THROW_MSG(nr::Model(a, L::Add()({c, d})), nr::ValueError,
                           "The name \"twin\" is used 2 times");
  NEURONA_EXPECT_THROW_MSG(L::Dense(2)(nr::layers::KerasTensor()), nr::ValueError, "undefined");
  NEURONA_EXPECT_THROW_MSG(L::Add()({a, nr::Input({5})}), nr::ValueError,
                           "Inputs have incompatible shapes");
}

TEST(Functional, UnusedInputStaysInTheModel) {
  nr::clear_session();  // the Dense is "dense"
  auto a = nr::Input({2}, {.name = "a"});
  auto b = nr::Input({3}, {.name = "b"});
  nr::Model model({a, b}, L::Dense(1)(a));
  std::vector<std::string> names;
  for (const auto& layer : model.layers()) names.push_back(layer->name());
  // Keras puts it at the outputs' depth, before the layers there: ['a', 'b', 'dense'].
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "dense"}));
  const auto out = model.predict(std::vector{random_tensor({4, 2}), random_tensor({4, 3})});
  EXPECT_EQ(out[0].shape(), nr::Shape({4, 1}));
}

TEST(Functional, InputsAreCastToTheirDtypeAndCheckedAgainstTheirShape) {
  auto x = nr::Input({3});
  nr::Model model(x, L::Dense(2)(x));
  EXPECT_EQ(model.predict(random_tensor({2, 3}, nr::DType::float64)).dtype(), nr::DType::float32);
  NEURONA_EXPECT_THROW_MSG(model.predict(random_tensor({2, 4})), nr::ShapeError,
                           "expected inputs of shape (None, 3), got shape (2, 4)");
}

TEST(Functional, TrainsLikeTheEquivalentSequentialModel) {
  const auto data = random_tensor({64, 4}, nr::DType::float32, -1, 1, 3);
  const auto labels = nr::testing::make_tensor(
      [&] {
        std::vector<double> v;
        const auto xs = data.to_vector<float>();
        for (int i = 0; i < 64; ++i) v.push_back(xs[i * 4] + xs[i * 4 + 1] > 0 ? 1.0 : 0.0);
        return v;
      }(),
      {64, 1});
  nr::set_seed(7);
  nr::Sequential seq(
      {L::Input({4}), L::Dense(8, {.activation = "relu"}), L::Dense(1, {.activation = "sigmoid"})});
  auto x = nr::Input({4});
  nr::Model fun(x, L::Dense(1, {.activation = "sigmoid"})(L::Dense(8, {.activation = "relu"})(x)));
  fun.set_weights(seq.get_weights());
  for (nr::Model* m : {static_cast<nr::Model*>(&seq), &fun}) {
    m->compile({.optimizer = nr::optimizers::SGD(0.5), .loss = "binary_crossentropy"});
  }
  const auto h1 =
      seq.fit(data, labels, {.batch_size = 16, .epochs = 3, .verbose = 0, .shuffle = false});
  const auto h2 =
      fun.fit(data, labels, {.batch_size = 16, .epochs = 3, .verbose = 0, .shuffle = false});
  EXPECT_NEAR(h1.history.at("loss").back(), h2.history.at("loss").back(), 1e-6);
  EXPECT_LT(h2.history.at("loss").back(), h2.history.at("loss").front());
  const auto w1 = seq.get_weights();
  const auto w2 = fun.get_weights();
  for (std::size_t i = 0; i < w1.size(); ++i) EXPECT_TRUE(same(w1[i], w2[i]));
}

TEST(Functional, SavesAndLoadsWithSharedLayersAndNestedModels) {
  nr::clear_session();
  auto a = nr::Input({4}, {.name = "a"});
  auto b = nr::Input({4}, {.name = "b"});
  auto shared = L::Dense(3, {.name = "shared"});
  auto sa = shared(a);
  auto sb = shared(b);
  auto s = L::Add()({sa, sb});
  auto c = L::Concatenate()({sa, s});
  auto inner_in = nr::Input({6});
  auto inner = std::make_shared<nr::Model>(inner_in, L::Dense(2)(inner_in),
                                           L::LayerOptions{.name = "inner"});
  nr::Model model({a, b}, {(*inner)(c), L::Dense(1, {.name = "out2"})(L::Dropout(0.3)(s))});
  const std::vector<nr::Tensor> xs{random_tensor({5, 4}), random_tensor({5, 4})};
  const auto before = model.predict(xs);

  const auto path = temp_file("functional.keras");
  model.save(path.string());
  auto loaded = nr::models::load_model(path.string());
  EXPECT_TRUE(loaded->is_functional());
  EXPECT_EQ(loaded->summary_string(), model.summary_string());
  const auto after = loaded->predict(xs);
  ASSERT_EQ(after.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) EXPECT_TRUE(same(after[i], before[i], 0.0));

  const auto weights = temp_file("functional.weights.h5");
  model.save_weights(weights.string());
  nr::clear_session();
  auto again = nr::models::load_model(path.string());
  for (auto& w : again->weights()) w.assign(nr::zeros(w.shape()));
  again->load_weights(weights.string());
  for (std::size_t i = 0; i < 2; ++i) EXPECT_TRUE(same(again->predict(xs)[i], before[i], 0.0));
}
