// fit, evaluate and predict of a functional model with two inputs and three outputs against
// Keras 3 itself (tests/reference/training/fit_multi_<case>.txt, written by
// tests/reference/make_keras_fit_references.py), and compile's per-output arguments: their
// forms, the names of the logs and the errors for arguments that do not fit the model
// (get_compile_config's forms: compile_config_test.cpp).
#include <neurona/neurona.h>

#include <filesystem>

#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;
using nr::testing::all_close;

namespace {

// The model of make_keras_fit_references.py, its layers named as there.
std::shared_ptr<nr::Model> make_model() {
  auto a = nr::Input({4}, {.name = "a"});
  auto b = nr::Input({3}, {.name = "b"});
  auto shared = L::Dense(8, {.activation = "relu", .name = "shared"})(a);
  auto concat = L::Concatenate({.layer = {.name = "concat"}})({shared, b});
  auto digits = L::Dense(3, {.activation = "softmax", .name = "digits"})(concat);
  auto size = L::Dense(1, {.name = "size"})(concat);
  auto aux = L::Dense(2, {.name = "aux"})(shared);
  return std::make_shared<nr::Model>(std::vector{a, b}, std::vector{digits, size, aux});
}

const char* const kDense[] = {"shared", "digits", "size", "aux"};

std::shared_ptr<nr::layers::Layer> layer_named(const nr::Model& model, const std::string& name) {
  for (const auto& layer : model.layers()) {
    if (layer->name() == name) return layer;
  }
  throw std::runtime_error("no layer " + name);
}

struct Case {
  nr::testing::Reference ref;
  nr::Tensor get(const std::string& key, nr::DType dtype = nr::DType::float32) const {
    const auto it = ref.find(key);
    if (it == ref.end()) throw std::runtime_error("no entry " + key);
    return nr::testing::make_tensor(it->second.values, it->second.shape, dtype);
  }
  const std::vector<double>& values(const std::string& key) const { return ref.at(key).values; }
};

Case load(const std::string& name) {
  return {nr::testing::load_reference("training", "fit_multi_" + name)};
}

// The model with Keras's initial weights.
std::shared_ptr<nr::Model> model_from(const Case& c) {
  nr::clear_session();
  auto model = make_model();
  for (const char* name : kDense) {
    const std::string prefix = std::string("init_") + name + "_";
    layer_named(*model, name)->set_weights({c.get(prefix + "0"), c.get(prefix + "1")});
  }
  return model;
}

// The History and the weights after fit, evaluate's logs and predict's outputs, against Keras.
void expect_like_keras(nr::Model& model, const Case& c, const nr::callbacks::History& history,
                       const std::map<std::string, double>& evaluated) {
  std::vector<std::string> keras_logs;
  for (const auto& [key, entry] : c.ref) {
    if (key.rfind("h_", 0) == 0) keras_logs.push_back(key.substr(2));
  }
  std::vector<std::string> logs;
  for (const auto& [key, values] : history.history) logs.push_back(key);
  EXPECT_EQ(logs, keras_logs);
  for (const auto& [key, values] : history.history) {
    EXPECT_TRUE(all_close(values, c.values("h_" + key), 1e-5, 1e-5)) << key;
  }
  for (const char* name : kDense) {
    const auto weights = layer_named(model, name)->weights();
    for (std::size_t i = 0; i < weights.size(); ++i) {
      std::string key("final_");
      key.append(name).append("_").append(std::to_string(i));
      EXPECT_TRUE(all_close(weights[i].value().to_vector<double>(), c.values(key), 1e-5, 1e-5))
          << key;
    }
  }
  std::vector<std::string> keras_evaluated, evaluated_names;
  for (const auto& [key, entry] : c.ref) {
    if (key.rfind("e_", 0) == 0) keras_evaluated.push_back(key.substr(2));
  }
  for (const auto& [key, value] : evaluated) {
    evaluated_names.push_back(key);
    EXPECT_TRUE(all_close({value}, c.values("e_" + key), 1e-5, 1e-5)) << key;
  }
  EXPECT_EQ(evaluated_names, keras_evaluated);
  const auto predicted = model.predict(std::vector{c.get("x_a"), c.get("x_b")}, {.batch_size = 8});
  ASSERT_EQ(predicted.size(), 3u);
  const char* const outputs[] = {"digits", "size", "aux"};
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_TRUE(all_close(predicted[k].to_vector<double>(),
                          c.values(std::string("p_") + outputs[k]), 1e-5, 1e-5))
        << outputs[k];
  }
}

}  // namespace

TEST(MultiOutputFit, ListsOfLossesWeightsMetricsAndSampleWeightsMatchKeras) {
  const Case c = load("list");
  auto model = model_from(c);
  model->compile({.optimizer = nr::optimizers::SGD(0.1),
                  .loss = {"sparse_categorical_crossentropy", "mse", std::nullopt},
                  .metrics = nr::CompileMetrics::PerOutput{{"accuracy"}, {"mae", "mse"}, {}},
                  .loss_weights = {1.0, 0.5, 1.0}});
  const auto x = std::vector{c.get("x_a"), c.get("x_b")};
  // y only for the outputs with a loss, as Keras takes it; sample weights likewise.
  const auto y = std::vector{c.get("y_digits", nr::DType::int32), c.get("y_size")};
  const auto history =
      model->fit(x, y,
                 {.batch_size = 8,
                  .epochs = 2,
                  .verbose = 0,
                  .shuffle = false,
                  .sample_weight = std::vector{c.get("sw_digits"), c.get("sw_size")}});
  EXPECT_EQ(model->metrics_names(),
            (std::vector<std::string>{"loss", "digits_accuracy", "size_mae", "size_mse",
                                      "digits_loss", "size_loss"}));
  const auto evaluated = model->evaluate(x, y, {.batch_size = 8, .verbose = 0});
  expect_like_keras(*model, c, history, evaluated);
}

TEST(MultiOutputFit, DictsByNameAndValidationSplitMatchKeras) {
  const Case c = load("dict");
  auto model = model_from(c);
  model->compile({.optimizer = nr::optimizers::SGD(0.1),
                  .loss = {{"digits", "sparse_categorical_crossentropy"},
                           {"size", "mae"},
                           {"aux", std::nullopt}},
                  .metrics = {{"digits", {"accuracy"}}, {"size", {"mse"}}},
                  .loss_weights = {{"digits", 1.0}, {"size", 2.0}, {"aux", 1.0}}});
  const nr::Tensors x = {{"a", c.get("x_a")}, {"b", c.get("x_b")}};
  const nr::Tensors y = {{"digits", c.get("y_digits", nr::DType::int32)},
                         {"size", c.get("y_size")},
                         {"aux", c.get("y_aux")}};
  const auto history = model->fit(
      x, y,
      {.batch_size = 8, .epochs = 2, .verbose = 0, .validation_split = 0.25, .shuffle = false});
  const auto evaluated = model->evaluate(x, y, {.batch_size = 8, .verbose = 0});
  expect_like_keras(*model, c, history, evaluated);
}

TEST(MultiOutputFit, OneLossAndOneSampleWeightServeEveryOutput) {
  nr::clear_session();
  auto a = nr::Input({3}, {.name = "a"});
  auto p = L::Dense(2, {.name = "p"})(a);
  auto q = L::Dense(2, {.name = "q"})(a);
  nr::Model model(a, {p, q});
  model.compile({.optimizer = nr::optimizers::SGD(0.0), .loss = "mse", .loss_weights = 0.5});
  const auto x = nr::testing::random_tensor({6, 3}, nr::DType::float32, -1, 1, 1);
  const auto yp = nr::testing::random_tensor({6, 2}, nr::DType::float32, -1, 1, 2);
  const auto yq = nr::testing::random_tensor({6, 2}, nr::DType::float32, -1, 1, 3);
  const auto w = nr::testing::random_tensor({6}, nr::DType::float32, 0, 1, 4);
  const auto logs = model.test_on_batch(x, {yp, yq}, w);
  const auto out = model.predict(std::vector{x});
  const double lp = nr::losses::MeanSquaredError()(yp, out[0], w).item<double>();
  const double lq = nr::losses::MeanSquaredError()(yq, out[1], w).item<double>();
  EXPECT_NEAR(logs.at("p_loss"), lp, 1e-6);
  EXPECT_NEAR(logs.at("q_loss"), lq, 1e-6);
  EXPECT_NEAR(logs.at("loss"), 0.5 * (lp + lq), 1e-6);
  // train_on_batch with the same arguments trains (learning rate 0 keeps the weights) and logs
  // the same.
  EXPECT_NEAR(model.train_on_batch(x, {yp, yq}, w).at("loss"), logs.at("loss"), 1e-6);
}

TEST(MultiOutputFit, ArgumentsThatDoNotFitTheModelAreRefusedByName) {
  auto model = make_model();
  NEURONA_EXPECT_THROW_MSG((model->compile({.loss = {"mse", "mse"}})), nr::ValueError, "`loss`",
                           "2 entries", "3 outputs", "'digits', 'size', 'aux'");
  NEURONA_EXPECT_THROW_MSG(
      (model->compile({.loss = {{"digits", "mse"}}})), nr::ValueError,
      "expected keys ['digits', 'size', 'aux'] in loss dict, but found loss.keys()=['digits']");
  NEURONA_EXPECT_THROW_MSG((model->compile({.loss = "mse", .loss_weights = {1.0, 2.0}})),
                           nr::ValueError,
                           "`loss_weights` must match the number of losses, got 3 losses and 2 "
                           "weights");
  NEURONA_EXPECT_THROW_MSG((model->compile({.loss = "mse", .loss_weights = {{"digit", 2.0}}})),
                           nr::ValueError, "`loss_weights`", "'digit'", "'digits', 'size', 'aux'");
  NEURONA_EXPECT_THROW_MSG((model->compile({.loss = "mse", .metrics = {"accuracy"}})),
                           nr::ValueError, "invalid `metrics`",
                           "a list of 1 metrics for a model with 3 outputs");

  model->compile({.loss = {"sparse_categorical_crossentropy", "mse", std::nullopt}});
  const auto xa = nr::zeros({4, 4});
  const auto xb = nr::zeros({4, 3});
  const auto yd = nr::zeros({4}, {.dtype = nr::DType::int32});
  const auto ys = nr::zeros({4, 1});
  NEURONA_EXPECT_THROW_MSG((model->fit(xa, {yd, ys}, {.verbose = 0})), nr::ValueError, ".fit",
                           "2 inputs", "`x`");
  NEURONA_EXPECT_THROW_MSG((model->fit(std::vector{xa, xb}, yd, {.verbose = 0})), nr::ValueError,
                           "`y`", "1 tensor for a model with 3 outputs", "2 of them with a loss");
  NEURONA_EXPECT_THROW_MSG((model->fit(std::vector{xa, xb}, {{"digits", yd}}, {.verbose = 0})),
                           nr::ValueError, "no target for output 'size', which has a loss");
  NEURONA_EXPECT_THROW_MSG((model->fit({{"a", xa}, {"c", xb}}, {yd, ys}, {.verbose = 0})),
                           nr::ValueError, "`x` names 'c'", "inputs: ['a', 'b']");
  NEURONA_EXPECT_THROW_MSG((model->fit(std::vector{xa, xb}, {yd, ys.slice(0, 3)}, {.verbose = 0})),
                           nr::ShapeError, "y['size']", "(3, 1)");
  NEURONA_EXPECT_THROW_MSG(
      (model->fit(std::vector{xa, xb}, {yd, ys}, {.verbose = 0, .class_weight = {{0, 1.0}}})),
      nr::ValueError, "`class_weight` is only supported for Models with a single output.");
}

TEST(MultiOutputFit, SavedCompiledModelLoadsCompiledAndEvaluatesTheSame) {
  const Case c = load("dict");
  auto model = model_from(c);
  model->compile({.optimizer = "adam",
                  .loss = {{"digits", "sparse_categorical_crossentropy"},
                           {"size", "mae"},
                           {"aux", std::nullopt}},
                  .metrics = {{"digits", {"accuracy"}}},
                  .loss_weights = {{"size", 2.0}}});
  const std::vector x{c.get("x_a"), c.get("x_b")};
  const nr::Tensors y = {{"digits", c.get("y_digits", nr::DType::int32)},
                         {"size", c.get("y_size")}};
  model->fit(x, y, {.batch_size = 8, .epochs = 1, .verbose = 0});
  const auto dir = std::filesystem::temp_directory_path() / "neurona_multi_output_fit_test";
  std::filesystem::create_directories(dir);
  model->save((dir / "m.keras").string());
  auto loaded = nr::models::load_model((dir / "m.keras").string());
  ASSERT_TRUE(loaded->compiled());
  EXPECT_EQ(loaded->evaluate(x, y, {.verbose = 0}), model->evaluate(x, y, {.verbose = 0}));
  // and it goes on training from the saved optimizer state as the original does
  EXPECT_EQ(loaded->train_on_batch(x, y), model->train_on_batch(x, y));
}
