// model.summary() against Keras 3's own output for the same models, character for character
// (tests/reference/make_keras_summaries.py wrote the reference files).
#include <neurona/neurona.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;

namespace {

std::string reference(const std::string& name) {
  const auto path = neurona::testing::reference_dir() / ("summary_" + name + ".txt");
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SubclassModel : public nr::Model {
 public:
  SubclassModel()
      : nr::Model("SubclassModel"), dense_(track(L::Dense(1, {.activation = "sigmoid"}))) {}
  nr::Tensor call(const nr::Tensor& x, bool training) override { return dense_(x, training); }

 private:
  L::Dense dense_;
};

}  // namespace

TEST(Summary, MlpMatchesKeras) {
  nr::clear_session();
  nr::Sequential model({L::Input({16}), L::Dense(64, {.activation = "relu"}),
                        L::Dense(64, {.activation = "relu"}), L::Dense(1)});
  EXPECT_EQ(model.summary_string(), reference("mlp"));
}

TEST(Summary, FashionDenseMatchesKeras) {
  nr::clear_session();
  nr::Sequential model({L::Input({28, 28, 1}), L::Flatten(), L::Dense(128, {.activation = "relu"}),
                        L::Dropout(0.2), L::Dense(10, {.activation = "softmax"})});
  EXPECT_EQ(model.summary_string(), reference("fashion_dense"));
  std::ostringstream os;
  model.summary(os);
  EXPECT_EQ(os.str(), reference("fashion_dense"));
}

TEST(Summary, FrozenLayerCountsAsNonTrainable) {
  nr::clear_session();
  nr::Sequential model({L::Input({8}), L::Dense(4), L::Dense(2)});
  model.layers()[1]->set_trainable(false);
  EXPECT_EQ(model.summary_string(), reference("frozen"));
}

TEST(Summary, ShapesThroughReshapeAndActivation) {
  nr::clear_session();
  nr::Sequential model({L::Input({5, 8}), L::Dense(4), L::Reshape({20}), L::Activation("tanh"),
                        L::Reshape({4, -1})});
  EXPECT_EQ(model.summary_string(), reference("shapes"));
}

TEST(Summary, UnbuiltModelShowsQuestionMarks) {
  // Keras 3 prints an unbuilt model rather than raising: "?" and "0 (unbuilt)".
  nr::clear_session();
  nr::Sequential model({L::Dense(3), L::Dense(2)});
  EXPECT_EQ(model.summary_string(), reference("unbuilt"));
}

TEST(Summary, ModelBuiltByACallShowsTheBatch) {
  nr::clear_session();
  nr::Sequential model({L::Dense(3)});
  model(nr::ones({4, 2}));
  EXPECT_EQ(model.summary_string(), reference("called"));
}

TEST(Summary, LargeCountsInMegabytes) {
  nr::clear_session();
  nr::Sequential model({L::Input({4096}), L::Dense(4096)});
  EXPECT_EQ(model.summary_string(), reference("big"));
}

TEST(Summary, SubclassedModelMatchesKeras) {
  nr::clear_session();
  SubclassModel model;
  model(nr::ones({4, 3}));
  EXPECT_EQ(model.summary_string(), reference("subclass"));
}

TEST(Summary, LongNamesWrapAndLongWordsAreCut) {
  nr::clear_session();
  nr::Sequential model(
      {L::Input({2}), L::Dense(1, {.name = "a_rather_long_layer_name_for_the_first_column"})});
  EXPECT_EQ(model.summary_string(), reference("long_name"));
}

TEST(Summary, ModelWithoutLayers) {
  nr::clear_session();
  nr::Sequential model({L::Input({2})});
  EXPECT_EQ(model.summary_string(), reference("empty"));
}

TEST(Summary, DesignCnnMatchesKeras) {
  nr::clear_session();
  nr::Sequential model({L::Input({28, 28, 1}), L::Conv2D(32, {3, 3}, {.activation = "relu"}),
                        L::MaxPooling2D({2, 2}), L::Conv2D(64, {3, 3}, {.activation = "relu"}),
                        L::MaxPooling2D({2, 2}), L::Flatten(),
                        L::Dense(128, {.activation = "relu"}),
                        L::Dense(10, {.activation = "softmax"})});
  EXPECT_EQ(model.summary_string(), reference("cnn"));
}

TEST(Summary, ImageLayersMatchKeras) {
  nr::clear_session();
  nr::Sequential model({L::Input({32, 32, 3}), L::ZeroPadding2D({{1, 0}, {0, 1}}),
                        L::Conv2D(16, 3, {.strides = 2, .padding = "same", .use_bias = false}),
                        L::BatchNormalization(), L::Activation("relu"),
                        L::Conv2D(16, 3, {.padding = "same", .groups = 4}),
                        L::AveragePooling2D(2, {.padding = "same"}), L::GlobalAveragePooling2D(),
                        L::Dense(10)});
  EXPECT_EQ(model.summary_string(), reference("cnn_extras"));
}

TEST(Summary, FunctionalModelShowsConnectedToAsKeras) {
  nr::clear_session();
  auto a = nr::Input({4}, {.name = "a"});
  auto b = nr::Input({4}, {.name = "b"});
  auto shared = L::Dense(3, {.name = "shared"});
  auto x = shared(a);
  auto y = shared(b);
  auto s = L::Add()({x, y});
  auto c = L::Concatenate()({x, s});
  auto inner_in = nr::Input({6});
  auto inner = std::make_shared<nr::Model>(inner_in, L::Dense(2)(inner_in),
                                           L::LayerOptions{.name = "inner"});
  nr::Model model({a, b}, {(*inner)(c), L::Dense(1, {.name = "out2"})(s)});
  EXPECT_EQ(model.summary_string(), reference("functional"));
}

TEST(Summary, FunctionalChainHasNoConnectedToColumn) {
  nr::clear_session();
  auto x = nr::Input({8});
  auto h = L::Dense(4, {.activation = "relu"})(x);
  nr::Model model(x, L::Dense(2)(h), {.name = "chain"});
  EXPECT_EQ(model.summary_string(), reference("functional_chain"));
}
