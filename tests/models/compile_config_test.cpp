// Keras 3's compile_config in `.keras` files: neurona writes what Keras writes for the same
// compile() call (tests/reference/saving/compile_configs.json, made by Keras 3.15.1 with
// make_keras_saving_references.py), load_model compiles the model from it as Keras's
// load_model does, Keras's compiled_cnn.keras loads compiled and goes on training as in Keras,
// and every bad compile_config is a ValueError.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/saving_models.h"
#include "neurona/models/keras_config.h"
#include "support/paths.h"
#include "support/reference_file.h"
#include "support/test_util.h"

namespace fs = std::filesystem;
namespace nr = neurona;
namespace L = neurona::layers;
namespace opt = neurona::optimizers;
using L::ConfigValue;

namespace {

const fs::path kSavingDir = neurona::testing::reference_dir() / "saving";
constexpr double kCompiledCnnLearningRate = 5e-3;  // the script's COMPILED_CNN_LEARNING_RATE

// A ConfigValue as text with its types (1 and 1.0 differ), for comparisons that show where
// two configs differ.
std::string text(const ConfigValue& v) {
  std::ostringstream os;
  os.precision(17);
  switch (v.kind()) {
    case ConfigValue::Kind::Null:
      os << "null";
      break;
    case ConfigValue::Kind::Bool:
      os << (v.as_bool() ? "true" : "false");
      break;
    case ConfigValue::Kind::Int:
      os << v.as_int();
      break;
    case ConfigValue::Kind::Float:
      os << v.as_double() << "f";
      break;
    case ConfigValue::Kind::String:
      os << '"' << v.as_string() << '"';
      break;
    case ConfigValue::Kind::List:
      os << "[";
      for (const ConfigValue& item : v.as_list()) os << text(item) << ", ";
      os << "]";
      break;
    case ConfigValue::Kind::Dict:
      os << "{";
      for (const auto& [k, item] : v.as_dict()) os << '"' << k << "\": " << text(item) << ", ";
      os << "}";
      break;
  }
  return os.str();
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Keras's get_compile_config() for each case of compile_configs.json.
const ConfigValue& keras_configs() {
  static const ConfigValue configs =
      nr::models::detail::parse_json(read_text(kSavingDir / "compile_configs.json"), "test");
  return configs;
}

// The script's compiled_cnn.
std::shared_ptr<nr::Model> compiled_cnn_model() {
  return std::make_shared<nr::Sequential>(std::vector<L::AnyLayer>{
      L::Input({8, 8, 1}), L::Conv2D(4, 3, {.activation = "relu"}), L::MaxPooling2D(2),
      L::Flatten(), L::Dense(3, {.activation = "softmax"})});
}

void compile_compiled_cnn(nr::Model& model) {
  model.compile({.optimizer = opt::Adam(kCompiledCnnLearningRate, {.name = "adam"}),
                 .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"}});
}

// The compile() calls of the script's compile_config_cases(), in C++.
nr::CompileOptions case_options(const std::string& name) {
  namespace S = opt::schedules;
  namespace M = nr::metrics;
  namespace Lo = nr::losses;
  if (name == "adam_mse_mae") {
    return {.optimizer = opt::Adam(1e-2, {.name = "adam"}), .loss = "mse", .metrics = {"mae"}};
  }
  if (name == "sgd_schedule_objects") {
    return {.optimizer = opt::SGD(S::ExponentialDecay(0.1, 100, 0.9, {.staircase = true}),
                                  {.momentum = 0.9, .nesterov = true, .name = "sgd"}),
            .loss = Lo::CategoricalCrossentropy({.from_logits = true, .label_smoothing = 0.1}),
            .metrics = {M::CategoricalAccuracy(), M::AUC({.num_thresholds = 50}), "acc"},
            .loss_weights = 0.5};
  }
  if (name == "adamw_huber_metrics") {
    return {
        .optimizer = opt::AdamW(2e-3, {.weight_decay = 0.01, .clipnorm = 1.0, .name = "adam_w"}),
        .loss = Lo::Huber(),
        .metrics = {M::Precision({.thresholds = 0.3}), M::Recall(),
                    M::TopKCategoricalAccuracy({.k = 3}), M::BinaryAccuracy({.threshold = 0.7}),
                    M::MeanSquaredError()}};
  }
  if (name == "rmsprop_cosine_sparse") {
    return {
        .optimizer = opt::RMSprop(
            S::CosineDecay(0.1, 100, {.alpha = 0.1, .warmup_target = 0.2, .warmup_steps = 10}),
            {.rho = 0.8, .momentum = 0.5, .centered = true, .name = "rmsprop"}),
        .loss = Lo::SparseCategoricalCrossentropy({.from_logits = true}),
        .metrics = {M::SparseCategoricalAccuracy(), M::SparseTopKCategoricalAccuracy({.k = 2})}};
  }
  if (name == "nadam_piecewise") {
    return {.optimizer = opt::Nadam(S::PiecewiseConstantDecay({10, 20}, {0.1, 0.01, 0.001}),
                                    {.global_clipnorm = 2.0, .name = "nadam"}),
            .loss = Lo::MeanSquaredError({.reduction = Lo::Reduction::sum}),
            .metrics = {M::Accuracy(), M::MeanAbsoluteError()}};
  }
  if (name == "adagrad_inverse_time") {
    return {.optimizer =
                opt::Adagrad(S::InverseTimeDecay(0.1, 10, 0.5), {.initial_accumulator_value = 0.2,
                                                                 .epsilon = 1e-6,
                                                                 .clipvalue = 0.5,
                                                                 .name = "adagrad"}),
            .loss = Lo::BinaryCrossentropy({.label_smoothing = 0.1}),
            .metrics = {"binary_accuracy", "AUC"}};
  }
  if (name == "adamax_kld") {
    return {.optimizer = opt::Adamax(2e-3, {.beta_1 = 0.8, .name = "adamax"}),
            .loss = Lo::KLDivergence()};
  }
  if (name == "adam_amsgrad_strings") {
    return {.optimizer = opt::Adam(
                3e-4,
                {.beta_1 = 0.85, .beta_2 = 0.99, .epsilon = 1e-6, .amsgrad = true, .name = "adam"}),
            .loss = "categorical_crossentropy",
            .metrics = {"accuracy", "mse"}};
  }
  if (name == "sgd_mae_object") {
    return {.optimizer = opt::SGD(0.1, {.name = "sgd"}),
            .loss = Lo::MeanAbsoluteError(),
            .loss_weights = 2.0};
  }
  throw std::runtime_error("no C++ compile() for case " + name);
}

nr::Tensor tensor_of(const nr::testing::Reference& ref, const std::string& name) {
  const auto& e = ref.at(name);
  return nr::testing::make_tensor(e.values, e.shape);
}

// A fresh, empty folder per test.
class CompileConfigFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / (std::string("neurona_compile_config_") + info->name() +
                                        "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// config.json of an uncompiled compiled_cnn with `compile_config` in place of its null.
std::string config_json_with(const std::string& compile_config) {
  const std::string base = nr::models::detail::model_config_json(*compiled_cnn_model());
  const std::string null_entry = "\"compile_config\":null";
  const std::size_t at = base.find(null_entry);
  if (at == std::string::npos) throw std::runtime_error("no compile_config in " + base);
  return base.substr(0, at) + "\"compile_config\":" + compile_config +
         base.substr(at + null_entry.size());
}

}  // namespace

TEST(CompileConfig, WritesWhatKerasWritesForTheSameCompile) {
  for (const auto& [name, expected] : keras_configs().as_dict()) {
    if (name == "compiled_cnn") continue;
    SCOPED_TRACE(name);
    auto model = compiled_cnn_model();
    model->compile(case_options(name));
    EXPECT_EQ(text(model->get_compile_config()), text(expected));
  }
}

TEST(CompileConfig, CompilesFromKerasConfigsAndWritesThemBackUnchanged) {
  for (const auto& [name, expected] : keras_configs().as_dict()) {
    SCOPED_TRACE(name);
    auto model = compiled_cnn_model();
    model->compile_from_config(expected);
    ASSERT_TRUE(model->compiled());
    EXPECT_EQ(text(model->get_compile_config()), text(expected));
    // As Keras: the optimizer's variables exist at once (for its saved state to load into).
    EXPECT_GT(model->optimizer()->variables().size(), 1u);
  }
}

TEST(CompileConfig, UncompiledModelWritesNoneAndEmptyConfig) {
  auto model = compiled_cnn_model();
  EXPECT_EQ(text(model->get_compile_config()), "{}");
  const std::string json = nr::models::detail::model_config_json(*model);
  EXPECT_NE(json.find("\"compile_config\":null"), std::string::npos);
  EXPECT_FALSE(nr::models::detail::model_from_config_json(json)->compiled());
  // Keras writes {} for a model that was not compiled.
  EXPECT_FALSE(nr::models::detail::model_from_config_json(config_json_with("{}"))->compiled());
}

TEST_F(CompileConfigFiles, SavedCompiledModelLoadsCompiledAndTrains) {
  auto model = compiled_cnn_model();
  saving_test::randomize_weights(*model, 7);
  compile_compiled_cnn(*model);
  const nr::Tensor x = nr::testing::random_tensor({16, 8, 8, 1}, nr::float32, -1.0, 1.0, 3);
  const nr::Tensor y =
      nr::testing::make_tensor({0, 1, 2, 1, 0, 2, 2, 1, 0, 0, 1, 2, 1, 1, 0, 2}, {16}, nr::float32);
  model->fit(x, y, {.batch_size = 8, .epochs = 1, .verbose = 0, .shuffle = false});
  model->save(path("m.keras"));

  auto loaded = nr::models::load_model(path("m.keras"));
  ASSERT_TRUE(loaded->compiled());
  EXPECT_EQ(loaded->optimizer()->class_name(), "Adam");
  EXPECT_EQ(text(loaded->get_compile_config()), text(model->get_compile_config()));
  ASSERT_EQ(loaded->compile_options().loss.form(), nr::CompileLoss::Form::one);
  EXPECT_EQ(loaded->compile_options().loss.one()->identifier(), "sparse_categorical_crossentropy");
  ASSERT_EQ(loaded->compile_options().metrics.list().size(), 1u);
  EXPECT_EQ(loaded->compile_options().metrics.list()[0].identifier(), "accuracy");
  EXPECT_EQ(loaded->optimizer()->learning_rate(), static_cast<float>(kCompiledCnnLearningRate));

  const auto scores = loaded->evaluate(x, y, {.verbose = 0});
  EXPECT_EQ(scores, model->evaluate(x, y, {.verbose = 0}));
  EXPECT_TRUE(scores.count("accuracy"));
  const std::int64_t steps = loaded->optimizer()->iterations();
  const auto history = loaded->fit(x, y, {.batch_size = 8, .epochs = 2, .verbose = 0});
  EXPECT_EQ(history.history.at("loss").size(), 2u);
  EXPECT_EQ(loaded->optimizer()->iterations(), steps + 4);
}

TEST_F(CompileConfigFiles, ObjectsAndSchedulesSurviveSaveAndLoad) {
  for (const auto& [name, keras] : keras_configs().as_dict()) {
    if (name == "compiled_cnn") continue;
    SCOPED_TRACE(name);
    auto model = compiled_cnn_model();
    model->compile(case_options(name));
    model->save(path(name + ".keras"));
    auto loaded = nr::models::load_model(path(name + ".keras"));
    ASSERT_TRUE(loaded->compiled());
    EXPECT_EQ(text(loaded->get_compile_config()), text(keras));
  }
}

TEST_F(CompileConfigFiles, CustomLossIsNotWrittenAndTheModelLoadsUncompiled) {
  class MyLoss : public nr::losses::Loss {
   public:
    MyLoss() : Loss("my_loss", nr::losses::Reduction::sum_over_batch_size) {}
    nr::Tensor call(const nr::Tensor& t, const nr::Tensor& p) const override {
      return nr::losses::mean_squared_error(t, p);
    }
  };
  auto model = compiled_cnn_model();
  model->compile({.optimizer = "adam", .loss = MyLoss()});
  EXPECT_NE(text(model->get_compile_config()).find("\"my_loss\""), std::string::npos);
  ::testing::internal::CaptureStderr();
  model->save(path("custom.keras"));
  const std::string warning = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(warning.find("my_loss"), std::string::npos) << warning;
  EXPECT_FALSE(nr::models::load_model(path("custom.keras"))->compiled());
}

TEST(CompileConfig, AcceptsKerasAlternativeForms) {
  auto model = nr::models::detail::model_from_config_json(config_json_with(
      R"({"optimizer": "SGD", "loss": ["mse"], "metrics": {"dense": ["mae"]},
          "loss_weights": {"dense": 0.5}, "weighted_metrics": [], "run_eagerly": true})"));
  ASSERT_TRUE(model->compiled());
  EXPECT_EQ(model->optimizer()->class_name(), "SGD");
  // A one-output model takes one-entry lists and dicts (whatever the key: it has no output
  // names to match).
  ASSERT_EQ(model->compile_options().loss.list().size(), 1u);
  EXPECT_EQ(model->compile_options().loss.list()[0]->identifier(), "mse");
  ASSERT_EQ(model->compile_options().metrics.by_name().size(), 1u);
  EXPECT_EQ(model->compile_options().metrics.by_name()[0].second.at(0).identifier(), "mae");
  ASSERT_EQ(model->compile_options().loss_weights.dict().size(), 1u);
  EXPECT_EQ(model->compile_options().loss_weights.dict()[0].second, 0.5);
  (void)model->test_on_batch(nr::zeros({2, 8, 8, 1}), nr::ones({2, 3}));
  EXPECT_EQ(model->metrics_names(), (std::vector<std::string>{"loss", "mae"}));

  model = nr::models::detail::model_from_config_json(config_json_with(
      R"({"loss": {"module": "builtins", "class_name": "function",
                   "config": "mean_squared_error", "registered_name": "function"},
          "metrics": [{"module": "builtins", "class_name": "function",
                       "config": "mean_absolute_error", "registered_name": "function"}],
          "loss_weights": [2]})"));
  EXPECT_EQ(model->optimizer()->class_name(), "RMSprop");  // compile()'s default
  EXPECT_EQ(model->compile_options().loss.one()->identifier(), "mean_squared_error");
  EXPECT_EQ(model->compile_options().metrics.list().at(0).identifier(), "mean_absolute_error");
  EXPECT_EQ(model->compile_options().loss_weights.list(), std::vector<double>{2.0});
}

TEST(CompileConfig, PerOutputFormsAreWrittenAsKerasWritesThemAndReadBack) {
  nr::clear_session();
  auto a = nr::Input({4}, {.name = "a"});
  auto digits = L::Dense(3, {.name = "digits"})(a);
  auto size = L::Dense(1, {.name = "size"})(a);
  auto aux = L::Dense(2, {.name = "aux"})(a);
  auto model = std::make_shared<nr::Model>(a, std::vector{digits, size, aux});
  // What Keras 3.15's get_compile_config() gives for compile(loss=[...], loss_weights=[...],
  // metrics=[[...], [...], None]) and for the dict forms.
  const auto keras = [](const char* json) { return nr::models::detail::parse_json(json, "test"); };
  model->compile({.loss = {"sparse_categorical_crossentropy", "mse", std::nullopt},
                  .metrics = nr::CompileMetrics::PerOutput{{"accuracy"}, {"mae", "mse"}, {}},
                  .loss_weights = {1.0, 0.5, 1.0}});
  nr::ConfigValue config = model->get_compile_config();
  EXPECT_EQ(text(*config.find("loss")),
            text(keras(R"(["sparse_categorical_crossentropy", "mse", null])")));
  EXPECT_EQ(text(*config.find("loss_weights")), text(keras("[1.0, 0.5, 1.0]")));
  EXPECT_EQ(text(*config.find("metrics")), text(keras(R"([["accuracy"], ["mae", "mse"], null])")));
  auto loaded = std::make_shared<nr::Model>(a, std::vector{digits, size, aux});
  loaded->compile_from_config(config);
  EXPECT_EQ(text(loaded->get_compile_config()), text(config));

  model->compile({.loss = {{"digits", "mse"}, {"size", "mae"}, {"aux", std::nullopt}},
                  .metrics = {{"size", {"mse"}}},
                  .loss_weights = {{"size", 2.0}}});
  config = model->get_compile_config();
  EXPECT_EQ(text(*config.find("loss")),
            text(keras(R"({"digits": "mse", "size": "mae", "aux": null})")));
  EXPECT_EQ(text(*config.find("loss_weights")), text(keras(R"({"size": 2.0})")));
  EXPECT_EQ(text(*config.find("metrics")), text(keras(R"({"size": ["mse"]})")));
  loaded->compile_from_config(config);
  EXPECT_EQ(text(loaded->get_compile_config()), text(config));
}

TEST(CompileConfig, BadCompileConfigsAreValueErrors) {
  const std::vector<std::pair<std::string, std::vector<const char*>>> cases = {
      {R"("adam")", {"compile_config", "dict", "str"}},
      {R"([1])", {"compile_config", "dict", "list"}},
      {R"({"optimizer": 5})", {"optimizer", "int"}},
      {R"({"optimizer": "adamm"})", {"optimizer", "adamm"}},
      {R"({"optimizer": {"class_name": "Lion", "config": {}}})", {"optimizer", "Lion"}},
      {R"({"optimizer": {"class_name": 5}})", {"optimizer", "class_name"}},
      {R"({"optimizer": {"class_name": "Adam", "config": [1, 2]}})", {"optimizer", "config"}},
      {R"({"optimizer": {"module": "keras.optimizers", "class_name": "Adam",
                         "config": {"use_ema": true}}})",
       {"optimizer", "Adam", "use_ema"}},
      {R"({"optimizer": {"class_name": "Adam", "config": {"learning_rate": "fast"}}})",
       {"Adam", "learning_rate"}},
      {R"({"optimizer": {"class_name": "Adam", "config": {"beta_1": [0.9, "x"]}}})",
       {"Adam", "beta_1"}},
      {R"({"optimizer": {"class_name": "Adam", "config": {"epsilon": {"a": 1}}}})",
       {"Adam", "epsilon"}},
      {R"({"optimizer": {"class_name": "Adam", "config": {"dtype": {"config": 1}}}})",
       {"Adam", "dtype"}},
      {R"({"optimizer": {"class_name": "Adam", "config": {"learning_rate":
            {"class_name": "PolynomialDecay", "config": {}}}}})",
       {"optimizer", "PolynomialDecay"}},
      {R"({"optimizer": {"class_name": "SGD", "config": {"learning_rate":
            {"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.1,
             "decay_steps": 0, "decay_rate": 0.5}}}}})",
       {"optimizer", "decay_steps"}},
      {R"({"optimizer": {"class_name": "SGD", "config": {"learning_rate":
            {"class_name": "ExponentialDecay", "config": {"initial_learning_rate":
             {"class_name": "ExponentialDecay", "config": {}}}}}}})",
       {"optimizer", "initial_learning_rate"}},
      {R"({"loss": 3})", {"loss", "int"}},
      {R"({"loss": "nope"})", {"loss", "nope"}},
      {R"({"loss": {"module": "keras.losses", "class_name": "FancyLoss", "config": {}}})",
       {"loss", "FancyLoss"}},
      {R"({"loss": {"class_name": "Huber", "config": {"delta": "big"}}})",
       {"loss", "Huber", "delta"}},
      {R"({"loss": ["mse", "mae"]})", {"loss", "2 entries for a model with 1 output"}},
      {R"({"loss": {"a": "mse", "b": "mae"}})", {"loss", "2 entries by name", "one output"}},
      {R"({"loss": {"class_name": "function", "config": 7}})", {"loss", "function"}},
      {R"({"metrics": "accuracy"})", {"metrics", "list"}},
      {R"({"metrics": [[null]]})", {"metrics", "output 0", "item 0"}},
      {R"({"metrics": ["accuracy", "nope"]})", {"metrics", "item 1", "nope"}},
      {R"({"metrics": [{"class_name": "F1Score", "config": {}}]})", {"metrics", "F1Score"}},
      {R"({"metrics": [{"class_name": "AUC", "config": {"num_thresholds": 100000000000}}]})",
       {"metrics", "AUC", "num_thresholds"}},
      {R"({"loss_weights": "x"})", {"loss_weights", "str"}},
      {R"({"loss_weights": [1, 2]})", {"loss_weights", "1 losses and 2 weights"}},
      {R"({"loss_weights": [[1]]})", {"loss_weights"}},
      {R"({"loss_weights": {"a": "b"}})", {"loss_weights"}},
      {R"({"weighted_metrics": ["mae"]})", {"weighted_metrics"}},
  };
  for (const auto& [compile_config, parts] : cases) {
    SCOPED_TRACE(compile_config);
    try {
      (void)nr::models::detail::model_from_config_json(config_json_with(compile_config));
      ADD_FAILURE() << "no ValueError";
    } catch (const nr::ValueError& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind("config.json: compile_config", 0), 0u) << msg;
      for (const char* part : parts) {
        EXPECT_NE(msg.find(part), std::string::npos)
            << "message '" << msg << "' lacks '" << part << "'";
      }
    }
  }
}

// ---------------------------------------------------------------- Keras's compiled_cnn.keras

TEST(CompiledKerasFiles, KerasCompiledModelLoadsCompiledAndReproduces) {
  auto model = nr::models::load_model((kSavingDir / "compiled_cnn.keras").string());
  ASSERT_TRUE(model->compiled());
  EXPECT_EQ(text(model->get_compile_config()), text(keras_configs().at("compiled_cnn")));
  EXPECT_EQ(model->optimizer()->class_name(), "Adam");
  opt::Config expected = opt::Adam(kCompiledCnnLearningRate, {.name = "adam"})->config();
  opt::Config got = model->optimizer()->config();
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].first, expected[i].first);
    EXPECT_TRUE(got[i].second == expected[i].second) << got[i].first;
  }
  EXPECT_EQ(model->compile_options().loss.one()->identifier(), "sparse_categorical_crossentropy");
  ASSERT_EQ(model->compile_options().metrics.list().size(), 1u);
  EXPECT_EQ(model->compile_options().metrics.list()[0].identifier(), "accuracy");

  const auto io = nr::testing::load_reference("saving", "compiled_cnn.io");
  const nr::Tensor y = model->predict(tensor_of(io, "x"));
  ASSERT_EQ(y.shape(), io.at("y").shape);
  EXPECT_TRUE(nr::testing::all_close(y, io.at("y").values, 1e-6, 1e-5));
}

// Needs the optimizer's state (optimizer/vars/N of model.weights.h5) loaded with the model:
// Adam's step from Keras's saved moments and iteration count, not from fresh ones.
TEST(CompiledKerasFiles, KerasCompiledModelContinuesTrainingAsKeras) {
  auto model = nr::models::load_model((kSavingDir / "compiled_cnn.keras").string());
  ASSERT_TRUE(model->compiled());
  const auto io = nr::testing::load_reference("saving", "compiled_cnn.io");
  const auto logs = model->train_on_batch(tensor_of(io, "x_next"), tensor_of(io, "y_next"));
  EXPECT_TRUE(nr::testing::all_close({logs.at("loss")}, io.at("loss_next").values, 1e-6, 1e-5));
  const std::vector<nr::Variable> weights = model->weights();
  const std::vector<std::string> names = {"kernel_0", "bias_0", "kernel_1", "bias_1"};
  ASSERT_EQ(weights.size(), names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE(names[i]);
    ASSERT_EQ(weights[i].shape(), io.at(names[i]).shape);
    EXPECT_TRUE(nr::testing::all_close(weights[i].value(), io.at(names[i]).values, 1e-6, 1e-5));
  }
}

TEST(CompiledKerasFiles, NeuronaWrittenCompiledFixtureStillLoads) {
  const fs::path dir = kSavingDir / "from_neurona";
  auto model = nr::models::load_model((dir / "compiled_cnn.keras").string());
  ASSERT_TRUE(model->compiled());
  EXPECT_EQ(model->optimizer()->class_name(), "Adam");
  EXPECT_EQ(model->optimizer()->learning_rate(), static_cast<float>(kCompiledCnnLearningRate));
  const auto io = nr::testing::load_reference("saving/from_neurona", "compiled_cnn.io");
  const nr::Tensor y = model->predict(tensor_of(io, "x"));
  EXPECT_TRUE(nr::testing::all_close(y, io.at("y").values, 1e-6, 1e-5));
}

// Writes compiled_cnn.keras and compiled_cnn.io.txt (x, y) from a compiled, briefly trained
// neurona model into $NEURONA_WRITE_SAVING_FIXTURES, for
// `make_keras_saving_references.py --check DIR`.
TEST(CompiledKerasFiles, WriteCompiledFixtureForKerasWhenAsked) {
  NEURONA_FIXTURE_DIR_OR_SKIP(dir, "NEURONA_WRITE_SAVING_FIXTURES");
  nr::clear_session();
  auto model = compiled_cnn_model();
  saving_test::randomize_weights(*model, 3000);
  compile_compiled_cnn(*model);
  const nr::Tensor x_train = nr::testing::random_tensor({16, 8, 8, 1}, nr::float32, -1.0, 1.0, 31);
  const nr::Tensor y_train =
      nr::testing::make_tensor({2, 0, 1, 1, 0, 2, 1, 0, 2, 2, 1, 0, 0, 1, 2, 1}, {16}, nr::float32);
  model->fit(x_train, y_train, {.batch_size = 8, .epochs = 1, .verbose = 0, .shuffle = false});
  const nr::Tensor x = nr::testing::random_tensor({4, 8, 8, 1}, nr::float32, -1.0, 1.0, 32);
  const fs::path base = fs::path(dir) / "compiled_cnn";
  model->save(base.string() + ".keras");
  saving_test::write_io(base.string() + ".io.txt", {{"x", x}, {"y", model->predict(x)}});
}
