// compile / fit / evaluate / train_on_batch and the callbacks that do not write files, on small
// synthetic problems.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "neurona/neurona.h"
#include "support/test_util.h"

namespace nr = neurona;

namespace {

// Two Gaussian blobs in 4-D, labels 0 / 1, linearly separable: 256 samples.
struct Blobs {
  nr::Tensor x;
  nr::Tensor y;
};

Blobs blobs(std::int64_t n = 256, std::uint64_t seed = 3) {
  nr::Tensor noise = nr::random_normal({n, 4}, {.stddev = 0.5, .seed = seed});
  std::vector<float> centres(static_cast<std::size_t>(n * 4));
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % 2);
    labels[static_cast<std::size_t>(i)] = label;
    for (int j = 0; j < 4; ++j) centres[static_cast<std::size_t>(i * 4 + j)] = label ? 1.5f : -1.5f;
  }
  return {nr::constant(centres, {n, 4}) + noise, nr::constant(labels, {n})};
}

std::unique_ptr<nr::Sequential> classifier() {
  return std::make_unique<nr::Sequential>(std::vector<nr::layers::AnyLayer>{
      nr::layers::Input({4}), nr::layers::Dense(8, {.activation = "relu"}),
      nr::layers::Dense(2, {.activation = "softmax"})});
}

void compile(nr::Model& model, double lr = 0.05) {
  model.compile({.optimizer = nr::optimizers::Adam(lr),
                 .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"}});
}

// Replaces a logged value with a scripted sequence, to drive the monitoring callbacks.
class ScriptedLogs : public nr::callbacks::Callback {
 public:
  ScriptedLogs(std::string name, std::vector<double> values)
      : name_(std::move(name)), values_(std::move(values)) {}
  void on_epoch_end(int epoch, nr::callbacks::Logs& logs) override {
    logs[name_] = values_.at(static_cast<std::size_t>(epoch));
    weights_at_end.push_back(model().get_weights());
  }
  std::vector<std::vector<nr::Tensor>> weights_at_end;

 private:
  std::string name_;
  std::vector<double> values_;
};

void expect_same_weights(const std::vector<nr::Tensor>& a, const std::vector<nr::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].to_vector<float>(), b[i].to_vector<float>()) << "weight " << i;
  }
}

}  // namespace

TEST(Fit, ConvergesOnASeparableProblem) {
  nr::set_seed(1);
  auto data = blobs();
  auto model = classifier();
  compile(*model);
  auto history = model->fit(data.x, data.y, {.batch_size = 32, .epochs = 8, .verbose = 0});
  ASSERT_EQ(history.epoch.size(), 8u);
  EXPECT_LT(history.history["loss"].back(), history.history["loss"].front());
  EXPECT_GT(history.history["accuracy"].back(), 0.97);
  auto scores = model->evaluate(data.x, data.y, {.verbose = 0});
  EXPECT_GT(scores.at("accuracy"), 0.97);
  EXPECT_LT(scores.at("loss"), 0.2);
}

TEST(Fit, HistoryHasKerasNamesAndValidationFromTheLastSamples) {
  nr::set_seed(1);
  auto data = blobs(200);
  auto model = classifier();
  compile(*model);
  auto history = model->fit(
      data.x, data.y, {.batch_size = 50, .epochs = 2, .verbose = 0, .validation_split = 0.25});
  std::vector<std::string> keys;
  for (const auto& [k, v] : history.history) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"accuracy", "loss", "val_accuracy", "val_loss"}));
  EXPECT_EQ(history.epoch, (std::vector<int>{0, 1}));
  // Keras holds out the last 25% (before shuffling): evaluating on them gives val_* exactly.
  auto val = model->evaluate(data.x.slice(150, 200), data.y.slice(150, 200),
                             {.batch_size = 50, .verbose = 0});
  EXPECT_NEAR(history.history["val_loss"].back(), val.at("loss"), 1e-6);
  EXPECT_NEAR(history.history["val_accuracy"].back(), val.at("accuracy"), 1e-6);
}

// Records the batches per epoch that fit() announces.
class StepsSeen : public nr::callbacks::Callback {
 public:
  void on_train_begin(nr::callbacks::Logs&) override { steps = params().steps; }
  std::int64_t steps = -1;
};

TEST(Fit, ValidationSplitRoundsTheTrainingPartDownAsKeras3) {
  // Keras 3: split_at = floor(n * (1 - validation_split)); 10 samples at 0.15 train on 8 and
  // validate on the last 2 (rounding up would train on 9).
  nr::set_seed(1);
  auto data = blobs(10);
  auto model = classifier();
  compile(*model);
  auto seen = std::make_shared<StepsSeen>();
  auto history = model->fit(
      data.x, data.y,
      {.batch_size = 1, .epochs = 1, .verbose = 0, .callbacks = {seen}, .validation_split = 0.15});
  EXPECT_EQ(seen->steps, 8);
  EXPECT_EQ(nr::data::validation_split_index(10, 0.15), 8);  // the shared helper agrees
  auto val = model->evaluate(data.x.slice(8, 10), data.y.slice(8, 10), {.verbose = 0});
  EXPECT_NEAR(history.history["val_loss"].back(), val.at("loss"), 1e-6);

  // A split that leaves either part empty is still an error naming fit.
  NEURONA_EXPECT_THROW_MSG(
      model->fit(data.x.slice(0, 1), data.y.slice(0, 1), {.verbose = 0, .validation_split = 0.5}),
      nr::ValueError, ".fit", "1 samples", "validation_split=0.5");
  NEURONA_EXPECT_THROW_MSG(model->fit(data.x, data.y, {.verbose = 0, .validation_split = 0.95}),
                           nr::ValueError, ".fit", "10 samples", "validation_split=0.95");
}

TEST(Fit, SameSeedGivesIdenticalHistories) {
  auto run = [] {
    nr::clear_session();
    nr::set_seed(7);
    auto data = blobs();
    auto model = classifier();
    compile(*model, 0.01);
    return model->fit(data.x, data.y, {.batch_size = 16, .epochs = 3, .verbose = 0}).history;
  };
  EXPECT_EQ(run(), run());
}

TEST(Fit, TrainOnBatchStepsOnceAndTestOnBatchDoesNotTrain) {
  nr::set_seed(1);
  auto data = blobs(64);
  auto model = classifier();
  compile(*model);
  const auto before = model->test_on_batch(data.x, data.y);
  EXPECT_EQ(model->test_on_batch(data.x, data.y), before);
  const auto first = model->train_on_batch(data.x, data.y);
  EXPECT_NEAR(first.at("loss"), before.at("loss"), 1e-6);  // the loss before the update
  EXPECT_EQ(model->optimizer()->iterations(), 1);
  EXPECT_LT(model->test_on_batch(data.x, data.y).at("loss"), before.at("loss"));
}

TEST(Fit, SampleWeightsOfZeroRemoveSamplesFromTheLoss) {
  nr::set_seed(1);
  auto data = blobs(64);
  auto model = classifier();
  compile(*model);
  std::vector<float> w(64, 0.0f);
  for (std::size_t i = 0; i < 32; ++i) w[i] = 1.0f;
  const auto weighted = model->test_on_batch(data.x, data.y, nr::constant(w, {64}));
  // Keras's sum_over_batch_size: the weighted sum over all 64 samples, divided by 64.
  const auto half = model->test_on_batch(data.x.slice(0, 32), data.y.slice(0, 32));
  EXPECT_NEAR(weighted.at("loss"), half.at("loss") / 2, 1e-6);
}

TEST(Fit, ClassWeightEqualsTheSampleWeightsItStandsFor) {
  auto data = blobs(64);
  std::vector<float> w(64);
  for (std::size_t i = 0; i < 64; ++i) w[i] = i % 2 ? 3.0f : 0.5f;
  auto run = [&](bool by_class) {
    nr::clear_session();
    nr::set_seed(2);
    auto model = classifier();
    compile(*model);
    nr::FitOptions options{.batch_size = 16, .epochs = 2, .verbose = 0, .shuffle = false};
    if (by_class) {
      options.class_weight = {{0, 0.5}, {1, 3.0}};
    } else {
      options.sample_weight = nr::constant(w, {64});
    }
    return model->fit(data.x, data.y, options).history;
  };
  EXPECT_EQ(run(true), run(false));
}

TEST(Fit, ErrorsNameTheProblem) {
  auto data = blobs(8);
  auto model = classifier();
  try {
    model->fit(data.x, data.y);
    FAIL() << "fit before compile must throw";
  } catch (const nr::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("compile()"), std::string::npos) << e.what();
  }
  compile(*model);
  try {
    model->fit(data.x, data.y.slice(0, 4), {.verbose = 0});
    FAIL() << "mismatched sample counts must throw";
  } catch (const nr::ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("(8, 4)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(4,)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model->fit(data.x, data.y, {.batch_size = 0}), nr::ValueError);
  // A batch larger than the data is one batch of all of it, however large (rows + batch - 1
  // overflowed and fit found no batches).
  EXPECT_EQ(
      model->fit(data.x, data.y, {.batch_size = INT64_MAX, .verbose = 0}).history.at("loss").size(),
      1u);
  EXPECT_THROW(model->fit(data.x, data.y, {.validation_split = 1.0}), nr::ValueError);
  EXPECT_THROW(model->fit(data.x, data.y, {.verbose = 0, .class_weight = {{0, 1.0}}}),
               nr::ValueError);  // no weight for class 1
  EXPECT_THROW(model->compile({.optimizer = "adamm"}), nr::ValueError);
}

TEST(Callbacks, EarlyStoppingStopsAtTheRightEpochAndRestoresTheBest) {
  nr::set_seed(1);
  auto data = blobs(64);
  auto model = classifier();
  compile(*model);
  auto script = std::make_shared<ScriptedLogs>("val_loss",
                                               std::vector<double>{1.0, 0.8, 0.9, 0.95, 0.7, 0.6});
  auto stop = std::make_shared<nr::callbacks::EarlyStopping>(
      nr::callbacks::EarlyStoppingOptions{.patience = 2, .restore_best_weights = true});
  auto history = model->fit(
      data.x, data.y, {.batch_size = 16, .epochs = 6, .verbose = 0, .callbacks = {script, stop}});
  // Best at epoch 1; epochs 2 and 3 do not improve; patience 2 stops after epoch 3.
  EXPECT_EQ(history.epoch, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(stop->stopped_epoch(), 3);
  EXPECT_EQ(stop->best_epoch(), 1);
  expect_same_weights(model->get_weights(), script->weights_at_end[1]);
}

TEST(Callbacks, EarlyStoppingMinDeltaAndModeMax) {
  nr::set_seed(1);
  auto data = blobs(32);
  auto model = classifier();
  compile(*model);
  auto script = std::make_shared<ScriptedLogs>("val_accuracy",
                                               std::vector<double>{0.5, 0.55, 0.56, 0.57, 0.9});
  auto stop = std::make_shared<nr::callbacks::EarlyStopping>(nr::callbacks::EarlyStoppingOptions{
      .monitor = "val_accuracy", .min_delta = 0.05, .patience = 1});
  auto history = model->fit(
      data.x, data.y, {.batch_size = 16, .epochs = 5, .verbose = 0, .callbacks = {script, stop}});
  // 0.55 is not 0.05 better than 0.5 (Keras compares value - min_delta > best).
  EXPECT_EQ(history.epoch, (std::vector<int>{0, 1}));
}

TEST(Callbacks, ReduceLROnPlateauAndLearningRateScheduler) {
  nr::set_seed(1);
  auto data = blobs(32);
  auto model = classifier();
  compile(*model, 0.1);
  auto script =
      std::make_shared<ScriptedLogs>("val_loss", std::vector<double>{1.0, 1.0, 1.0, 1.0, 1.0});
  auto reduce = std::make_shared<nr::callbacks::ReduceLROnPlateau>(
      nr::callbacks::ReduceLROnPlateauOptions{.factor = 0.5, .patience = 2});
  auto history = model->fit(
      data.x, data.y, {.batch_size = 16, .epochs = 5, .verbose = 0, .callbacks = {script, reduce}});
  // No improvement after epoch 0: waits 1, 2 -> reduce at epoch 2; then 1, 2 -> at epoch 4.
  // (The learning rate is a float32 variable, as in Keras: compare to float precision.)
  const std::vector<double> expected{0.1, 0.1, 0.1, 0.05, 0.05};  // logged before reducing
  ASSERT_EQ(history.history["learning_rate"].size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_NEAR(history.history["learning_rate"][i], expected[i], 1e-8) << "epoch " << i;
  }
  EXPECT_NEAR(model->optimizer()->learning_rate(), 0.025, 1e-8);

  auto model2 = classifier();
  compile(*model2, 0.1);
  auto history2 =
      model2->fit(data.x, data.y,
                  {.batch_size = 16,
                   .epochs = 3,
                   .verbose = 0,
                   .callbacks = {nr::callbacks::LearningRateScheduler(
                       [](int epoch, double lr) { return epoch == 0 ? lr : lr / 10; })}});
  ASSERT_EQ(history2.history["learning_rate"].size(), 3u);
  EXPECT_NEAR(history2.history["learning_rate"][2], 0.001, 1e-9);
}

TEST(Callbacks, TerminateOnNaNStopsAtTheFirstBadBatch) {
  nr::set_seed(1);
  auto data = blobs(64);
  auto model = classifier();
  compile(*model);
  // A NaN in the last kernel makes every prediction, and so the first batch's loss, NaN.
  auto weights = model->get_weights();
  std::vector<float> kernel = weights[2].to_vector<float>();
  kernel[0] = std::nanf("");
  weights[2] = nr::constant(kernel, weights[2].shape());
  model->set_weights(weights);
  auto history = model->fit(data.x, data.y,
                            {.batch_size = 16,
                             .epochs = 3,
                             .verbose = 0,
                             .callbacks = {nr::callbacks::TerminateOnNaN()},
                             .shuffle = false});
  EXPECT_EQ(history.epoch, (std::vector<int>{0}));
  EXPECT_EQ(model->optimizer()->iterations(), 1);
  EXPECT_THROW(model->fit(data.x, data.y,
                          {.verbose = 0, .callbacks = {nr::callbacks::TerminateOnNaN(true)}}),
               nr::ValueError);
}

TEST(Callbacks, CustomCallbackSeesEveryHookInKerasOrder) {
  struct Recorder : nr::callbacks::Callback {
    std::vector<std::string> events;
    bool wants_batch_logs() const override { return true; }
    void on_train_begin(nr::callbacks::Logs&) override { events.push_back("train_begin"); }
    void on_epoch_begin(int e, nr::callbacks::Logs&) override {
      events.push_back("epoch_begin " + std::to_string(e));
    }
    void on_train_batch_end(std::int64_t b, nr::callbacks::Logs& logs) override {
      events.push_back("batch_end " + std::to_string(b) + (logs.count("loss") ? " loss" : ""));
    }
    void on_epoch_end(int e, nr::callbacks::Logs& logs) override {
      events.push_back("epoch_end " + std::to_string(e) + " " + std::to_string(logs.size()));
    }
    void on_train_end(nr::callbacks::Logs&) override { events.push_back("train_end"); }
  };
  nr::set_seed(1);
  auto data = blobs(32);
  auto model = classifier();
  compile(*model);
  auto rec = std::make_shared<Recorder>();
  model->fit(data.x, data.y, {.batch_size = 16, .epochs = 2, .verbose = 0, .callbacks = {rec}});
  EXPECT_EQ(rec->events, (std::vector<std::string>{
                             "train_begin", "epoch_begin 0", "batch_end 0 loss", "batch_end 1 loss",
                             "epoch_end 0 2", "epoch_begin 1", "batch_end 0 loss",
                             "batch_end 1 loss", "epoch_end 1 2", "train_end"}));
}

TEST(Fit, ProgressLinesWhenNotATerminal) {
  nr::set_seed(1);
  auto data = blobs(64);
  auto model = classifier();
  compile(*model);
  testing::internal::CaptureStdout();
  model->fit(data.x, data.y, {.batch_size = 16, .epochs = 2, .verbose = 2});
  const std::string out = testing::internal::GetCapturedStdout();
  EXPECT_NE(out.find("Epoch 1/2\n4/4 - "), std::string::npos) << out;
  EXPECT_NE(out.find("/step - accuracy: "), std::string::npos) << out;
  EXPECT_NE(out.find("Epoch 2/2\n"), std::string::npos) << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << "no escape codes outside a terminal";
}

namespace {

// A fresh scratch folder under the system's temporary folder, one per process and name.
std::filesystem::path scratch(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("neurona_training_test_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Throws at the end of epoch `at` (after the callbacks before it have run).
struct CrashAt : nr::callbacks::Callback {
  explicit CrashAt(int at) : at_(at) {}
  void on_epoch_end(int epoch, nr::callbacks::Logs&) override {
    if (epoch == at_) throw std::runtime_error("simulated crash");
  }
  int at_;
};

}  // namespace

TEST(Callbacks, CSVLoggerWritesKerasColumnsOneRowPerEpoch) {
  nr::set_seed(1);
  auto data = blobs(64);
  auto model = classifier();
  compile(*model);
  const auto dir = scratch("csv");
  const auto path = (dir / "log.csv").string();
  model->fit(data.x, data.y,
             {.batch_size = 16,
              .epochs = 2,
              .verbose = 0,
              .callbacks = {nr::callbacks::CSVLogger(path)},
              .validation_split = 0.25});
  std::ifstream in(path);
  std::string header, row0, row1, extra;
  std::getline(in, header);
  std::getline(in, row0);
  std::getline(in, row1);
  EXPECT_FALSE(std::getline(in, extra));
  EXPECT_EQ(header, "epoch,accuracy,loss,val_accuracy,val_loss\r");
  EXPECT_EQ(row0.rfind("0,", 0), 0u) << row0;
  EXPECT_EQ(row1.rfind("1,", 0), 0u) << row1;
  EXPECT_EQ(std::count(row1.begin(), row1.end(), ','), 4) << row1;
}

TEST(Callbacks, ModelCheckpointSavesOnlyImprovementsAsCompleteFiles) {
  nr::set_seed(1);
  auto data = blobs(64);
  auto model = classifier();
  compile(*model);
  const auto dir = scratch("checkpoint");
  auto script = std::make_shared<ScriptedLogs>("val_loss", std::vector<double>{1.0, 0.5, 0.7});
  const std::string pattern = (dir / "ckpt-{epoch:02d}.weights.h5").string();
  model->fit(
      data.x, data.y,
      {.batch_size = 16,
       .epochs = 3,
       .verbose = 0,
       .callbacks = {script, nr::callbacks::ModelCheckpoint(
                                 pattern, {.save_best_only = true, .save_weights_only = true})}});
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    files.push_back(e.path().filename().string());
  }
  std::sort(files.begin(), files.end());
  // Epochs 1 and 2 improved; epoch 3 did not; no temporary files are left behind.
  EXPECT_EQ(files, (std::vector<std::string>{"ckpt-01.weights.h5", "ckpt-02.weights.h5"}));
  // Each file is complete: it loads, and gives the weights of the end of its epoch.
  auto restored = classifier();
  restored->load_weights((dir / "ckpt-02.weights.h5").string());
  expect_same_weights(restored->get_weights(), script->weights_at_end[1]);

  EXPECT_THROW(nr::callbacks::ModelCheckpoint((dir / "x.h5").string(), {.save_weights_only = true}),
               nr::ValueError);
  EXPECT_THROW(nr::callbacks::ModelCheckpoint((dir / "x.weights.h5").string()), nr::ValueError);
}

TEST(Callbacks, BackupAndRestoreResumesAnInterruptedFitAtTheNextEpoch) {
  const auto dir = scratch("backup");
  auto data = blobs(64);
  nr::set_seed(1);
  auto model = classifier();
  compile(*model);
  auto backup = std::make_shared<nr::callbacks::BackupAndRestore>((dir / "backup").string());
  auto recorder = std::make_shared<ScriptedLogs>("marker", std::vector<double>(5, 0.0));
  EXPECT_THROW(model->fit(data.x, data.y,
                          {.batch_size = 16,
                           .epochs = 5,
                           .verbose = 0,
                           .callbacks = {recorder, backup, std::make_shared<CrashAt>(2)}}),
               std::runtime_error);
  ASSERT_TRUE(std::filesystem::exists(dir / "backup" / "latest.backup"));

  // A new process would build the model afresh: its weights differ until the backup loads.
  nr::set_seed(99);
  auto resumed = classifier();
  compile(*resumed);
  struct FirstEpochWeights : nr::callbacks::Callback {
    void on_epoch_begin(int, nr::callbacks::Logs&) override {
      if (weights.empty()) {
        weights = model().get_weights();
        iterations = model().optimizer()->iterations();
      }
    }
    std::vector<nr::Tensor> weights;
    std::int64_t iterations = -1;
  };
  auto first = std::make_shared<FirstEpochWeights>();
  auto history = resumed->fit(
      data.x, data.y, {.batch_size = 16, .epochs = 5, .verbose = 0, .callbacks = {backup, first}});
  // Epochs 3 and 4 ran; the History holds the whole run (backup_and_restore_test.cpp checks
  // that it equals an uninterrupted run's).
  EXPECT_EQ(history.epoch, (std::vector<int>{0, 1, 2, 3, 4}));
  expect_same_weights(first->weights, recorder->weights_at_end[2]);
  // The optimizer's state came back too (3 epochs of 4 batches), not a fresh optimizer.
  EXPECT_EQ(first->iterations, 12);
  EXPECT_FALSE(std::filesystem::exists(dir / "backup")) << "removed after a complete fit";
}
