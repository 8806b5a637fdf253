// plot_model / model_to_dot: Keras's boxes and arrows for functional, Sequential and subclassed
// models, the options, and rendering through Graphviz where its `dot` is installed.
#include <neurona/neurona.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;
namespace fs = std::filesystem;

namespace {

int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 1)) ++n;
  return n;
}

std::shared_ptr<nr::Model> two_branch_model() {
  nr::clear_session();
  auto a = nr::Input({4}, {.name = "a"});
  auto shared = L::Dense(3, {.activation = "relu", .name = "shared"});
  auto left = shared(a);
  auto right = L::Dense(3, {.name = "right"})(a);
  auto sum = L::Add({.name = "sum"})({left, right});
  auto out = L::Dense(2, {.activation = "softmax", .name = "out"})(sum);
  return std::make_shared<nr::Model>(a, out, L::LayerOptions{.name = "branches"});
}

fs::path temp_dir() {
  const auto dir = fs::temp_directory_path() / "neurona_plot_model_test";
  fs::create_directories(dir);
  return dir;
}

}  // namespace

TEST(PlotModel, FunctionalModelIsItsLayersAndTheirCalls) {
  auto model = two_branch_model();
  const std::string dot = nr::utils::model_to_dot(*model, {.show_shapes = true,
                                                           .show_dtype = true,
                                                           .show_layer_names = true,
                                                           .show_layer_activations = true,
                                                           .show_trainable = true});
  EXPECT_EQ(dot.rfind("digraph G {\nrankdir=TB;\nconcentrate=true;\ndpi=200;\nsplines=ortho;", 0),
            0u)
      << dot;
  // Five boxes (the Input too) and five arrows: a->shared, a->right, shared->sum, right->sum,
  // sum->out.
  EXPECT_EQ(count(dot, "[label=<<table"), 5);
  EXPECT_EQ(count(dot, " -> "), 5);
  EXPECT_NE(dot.find("<b>a</b> (InputLayer)"), std::string::npos);
  EXPECT_NE(dot.find("<b>sum</b> (Add)"), std::string::npos);
  EXPECT_NE(dot.find("Input shape: <b>[(None, 3), (None, 3)]</b>"), std::string::npos) << dot;
  EXPECT_NE(dot.find("Output shape: <b>(None, 2)</b>"), std::string::npos);
  EXPECT_NE(dot.find("Output dtype: <b>float32</b>"), std::string::npos);
  EXPECT_NE(dot.find("Activation: <b>softmax</b>"), std::string::npos);
  EXPECT_EQ(count(dot, "<b>Trainable</b>"), 3);  // the Dense layers; the Input and Add have none
  // An Input has no input shape; the defaults show neither shapes nor names.
  EXPECT_EQ(count(dot, "Input shape"), 4);
  const std::string plain = nr::utils::model_to_dot(*model, {});
  EXPECT_EQ(plain.find("Input shape"), std::string::npos);
  EXPECT_NE(plain.find("<b>Dense</b>"), std::string::npos);
  EXPECT_EQ(plain.find("<b>shared</b>"), std::string::npos);
}

TEST(PlotModel, SharedLayerShowsUnknownShapesAndSequentialIsAChain) {
  nr::clear_session();
  auto a = nr::Input({4}, {.name = "a"});
  auto b = nr::Input({4}, {.name = "b"});
  auto shared = L::Dense(3, {.name = "shared"});
  nr::Model model({a, b}, L::Concatenate()({shared(a), shared(b)}));
  const std::string dot = nr::utils::model_to_dot(model, {.show_shapes = true});
  EXPECT_NE(dot.find("Input shape: <b>?</b>"), std::string::npos) << dot;  // called twice
  EXPECT_EQ(count(dot, " -> "), 3);  // a->shared, b->shared (one arrow each), shared->concat

  nr::Sequential seq({L::Input({8}), L::Dense(4, {.name = "d1"}), L::Dense(2, {.name = "d2"})});
  const std::string chain =
      nr::utils::model_to_dot(seq, {.show_shapes = true, .show_layer_names = true});
  EXPECT_EQ(count(chain, "[label=<<table"), 2);
  EXPECT_EQ(count(chain, " -> "), 1);
  EXPECT_NE(chain.find("Input shape: <b>(None, 8)</b>"), std::string::npos) << chain;
  EXPECT_NE(chain.find("Output shape: <b>(None, 2)</b>"), std::string::npos);

  nr::Sequential unbuilt({L::Dense(2)});
  NEURONA_EXPECT_THROW_MSG((void)nr::utils::model_to_dot(unbuilt), nr::ValueError,
                           "not yet been built");
  NEURONA_EXPECT_THROW_MSG((void)nr::utils::model_to_dot(model, {.rankdir = "XY"}), nr::ValueError,
                           "`rankdir`", "XY");
  NEURONA_EXPECT_THROW_MSG((void)nr::utils::model_to_dot(model, {.splines = "wavy"}),
                           nr::ValueError, "`splines`", "wavy");
}

TEST(PlotModel, WritesDotFilesAndRendersWithGraphvizWhereInstalled) {
  auto model = two_branch_model();
  const fs::path dir = temp_dir();
  nr::utils::plot_model(*model, dir / "m.dot", {.show_shapes = true});
  std::ifstream in(dir / "m.dot");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, nr::utils::model_to_dot(*model, {.show_shapes = true}));
  if (std::system("command -v dot > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "Graphviz's dot is not installed: rendering not checked";
  }
  nr::utils::plot_model(*model, dir / "m.png", {.show_shapes = true});
  std::ifstream png(dir / "m.png", std::ios::binary);
  char magic[4] = {};
  png.read(magic, 4);
  EXPECT_EQ(std::string(magic + 1, 3), "PNG");
  EXPECT_FALSE(fs::exists(dir / "m.png.tmp"));
  // An unknown format: Graphviz's own message, and the old file is left alone.
  NEURONA_EXPECT_THROW_MSG(nr::utils::plot_model(*model, dir / "m.nosuchformat"), nr::IoError,
                           "plot_model", "dot -Tnosuchformat");
  EXPECT_FALSE(fs::exists(dir / "m.nosuchformat"));
}

TEST(PlotModel, ExpandNestedDrawsNestedModelsAsClustersOfTheirLayers) {
  nr::clear_session();
  auto inner_in = nr::Input({4}, {.name = "inner_in"});
  auto inner = std::make_shared<nr::Model>(inner_in, L::Dense(3, {.name = "inner_dense"})(inner_in),
                                           L::LayerOptions{.name = "inner"});
  auto seq = std::make_shared<nr::Sequential>(
      std::vector<L::AnyLayer>{L::Dense(2, {.name = "seq_a"}), L::Dense(2, {.name = "seq_b"})},
      L::LayerOptions{.name = "seq"});
  auto x = nr::Input({4}, {.name = "x"});
  nr::Model model(x, L::Dense(1, {.name = "out"})((*seq)((*inner)(x))));

  // As one box each: x, inner, seq, out and three arrows.
  const std::string flat = nr::utils::model_to_dot(model);
  EXPECT_EQ(count(flat, "[label=<<table"), 4) << flat;
  EXPECT_EQ(count(flat, " -> "), 3);
  EXPECT_EQ(flat.find("subgraph"), std::string::npos);

  // Expanded: a dashed cluster named after each nested model around its layers, and the arrows
  // through them: x -> inner_in -> inner_dense -> seq_a -> seq_b -> out.
  const std::string dot =
      nr::utils::model_to_dot(model, {.show_layer_names = true, .expand_nested = true});
  EXPECT_EQ(count(dot, "[label=<<table"), 6) << dot;
  EXPECT_EQ(count(dot, "subgraph cluster_"), 2);
  EXPECT_NE(dot.find("style=dashed;\nlabel=\"inner\";\nlabeljust=l;"), std::string::npos) << dot;
  EXPECT_NE(dot.find("label=\"seq\""), std::string::npos);
  EXPECT_EQ(dot.find("(Functional)"), std::string::npos);
  EXPECT_EQ(dot.find("(Sequential)"), std::string::npos);
  const auto id = [&](const std::string& layer) {
    const std::size_t at = dot.find("<b>" + layer + "</b>");
    const std::size_t line = dot.rfind('\n', at) + 1;
    return dot.substr(line, dot.find(' ', line) - line);
  };
  for (const auto& [from, to] :
       std::vector<std::pair<std::string, std::string>>{{"x", "inner_in"},
                                                        {"inner_in", "inner_dense"},
                                                        {"inner_dense", "seq_a"},
                                                        {"seq_a", "seq_b"},
                                                        {"seq_b", "out"}}) {
    EXPECT_NE(dot.find(id(from) + " -> " + id(to) + " [penwidth=2];"), std::string::npos)
        << from << " -> " << to << "\n"
        << dot;
  }
  EXPECT_EQ(count(dot, " -> "), 5);
}
