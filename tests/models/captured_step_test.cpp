// fit's captured training step (core/graph.h, Model::CapturedStep) through the CPU's emulation
// of graph capture: the kernels and copies of the captured step are recorded, and each replay
// runs them again with their recorded arguments and none of the host code around them, as a
// CUDA graph does. A fit that replays must then train exactly as one that runs every step
// eagerly: any per-step value the captured step took from the host (the batch, the optimizer's
// step count and learning rate, the metrics' batch size) would be frozen and show here.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "neurona/core/graph.h"
#include "neurona/neurona.h"
#include "support/test_util.h"

namespace nr = neurona;

namespace {

// Turns the CPU's capture emulation on for one test.
class EmulatedCapture : public ::testing::Test {
 protected:
  void SetUp() override { nr::config::enable_cuda_graphs(true); }
  void TearDown() override { nr::detail::set_cpu_graph_emulation(false); }
};

struct Data {
  nr::Tensor x, y;
};

// 100 8x8 one-channel images, labels 0..2 from the first pixel (something to learn).
Data images() {
  const nr::Tensor x = nr::random_uniform({100, 8, 8, 1}, {.seed = 11});
  const std::vector<float> pixels = x.to_vector<float>();
  std::vector<std::int32_t> labels(100);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    labels[i] = std::min(2, static_cast<std::int32_t>(pixels[i * 64] * 3));
  }
  return {x, nr::constant(labels, {100})};
}

std::unique_ptr<nr::Sequential> small_cnn(bool dropout) {
  std::vector<nr::layers::AnyLayer> layers = {
      nr::layers::Input({8, 8, 1}), nr::layers::Conv2D(4, {3, 3}, {.activation = "relu"}),
      nr::layers::MaxPooling2D({2, 2}), nr::layers::Flatten()};
  if (dropout) layers.push_back(nr::layers::Dropout(0.25));
  layers.push_back(nr::layers::Dense(3, {.activation = "softmax"}));
  return std::make_unique<nr::Sequential>(layers);
}

struct FitRun {
  nr::callbacks::History history;
  std::vector<nr::Tensor> weights;
  std::int64_t replays = 0;
  std::string stderr_text;
};

// Trains the small cnn for 2 epochs of 100 samples at batch 16 (6 full batches and one of 4),
// shuffled, with a validation split, Adam with a decaying learning rate and global clipping.
FitRun train(bool emulate, bool dropout) {
  nr::detail::set_cpu_graph_emulation(emulate);
  nr::set_seed(5);
  const Data d = images();
  auto model = small_cnn(dropout);
  model->compile(
      {.optimizer = nr::optimizers::Adam(nr::optimizers::schedules::ExponentialDecay(0.01, 3, 0.9),
                                         {.global_clipnorm = 1.0}),
       .loss = "sparse_categorical_crossentropy",
       .metrics = {"accuracy"}});
  const std::int64_t before = nr::detail::graph_replays();
  ::testing::internal::CaptureStderr();
  FitRun run;
  run.history =
      model->fit(d.x, d.y, {.batch_size = 16, .epochs = 2, .verbose = 0, .validation_split = 0.1});
  run.stderr_text = ::testing::internal::GetCapturedStderr();
  run.replays = nr::detail::graph_replays() - before;
  run.weights = model->get_weights();
  nr::detail::set_cpu_graph_emulation(false);
  return run;
}

void expect_same_training(const FitRun& a, const FitRun& b) {
  ASSERT_EQ(a.weights.size(), b.weights.size());
  for (std::size_t i = 0; i < a.weights.size(); ++i) {
    EXPECT_EQ(a.weights[i].to_vector<float>(), b.weights[i].to_vector<float>()) << "weight " << i;
  }
  for (const std::string key : {"loss", "val_loss"}) {
    EXPECT_EQ(a.history.history.at(key), b.history.history.at(key)) << key;
  }
}

}  // namespace

TEST_F(EmulatedCapture, FitReplayingItsStepTrainsAsTheEagerFit) {
  const FitRun eager = train(false, false);
  const FitRun replayed = train(true, false);
  EXPECT_EQ(eager.replays, 0);
  // 90 training samples at batch 16: 5 full batches and one of 10 per epoch. The first full
  // batch runs eagerly, the second is captured and replayed, the rest replayed.
  EXPECT_EQ(replayed.replays, 4 + 5);
  EXPECT_EQ(replayed.stderr_text, "");
  expect_same_training(eager, replayed);
}

TEST_F(EmulatedCapture, SwitchedOffFitRunsEveryStepEagerly) {
  nr::config::enable_cuda_graphs(false);
  const FitRun run = train(true, false);
  nr::config::enable_cuda_graphs(true);
  EXPECT_EQ(run.replays, 0);
}

TEST_F(EmulatedCapture, StepDrawingRandomNumbersFallsBackToEagerWithAMessage) {
  const FitRun eager = train(false, true);
  const FitRun emulated = train(true, true);
  EXPECT_EQ(emulated.replays, 0);
  EXPECT_NE(emulated.stderr_text.find("without a CUDA graph"), std::string::npos)
      << emulated.stderr_text;
  EXPECT_NE(emulated.stderr_text.find("random"), std::string::npos) << emulated.stderr_text;
  expect_same_training(eager, emulated);
}

TEST(CaptureGraph, RefusesWhatItCannotCapture) {
  NEURONA_EXPECT_THROW_MSG(nr::capture_graph(nr::Device::cpu(), [] {}), nr::NotImplementedError,
                           "capture_graph", "cannot capture");
  nr::detail::set_cpu_graph_emulation(true);
  const nr::Tensor a = nr::fill({4}, 1.0);
  nr::Tensor b;
  auto graph = nr::capture_graph(nr::Device::cpu(), [&] { b = a + 1.0; });
  // Captured, not run: b's storage exists, its values come with the first replay.
  graph->replay();
  EXPECT_EQ(b.to_vector<float>(), (std::vector<float>{2, 2, 2, 2}));
  EXPECT_THROW(nr::capture_graph(nr::Device::cpu(),
                                 [&] { (void)nr::capture_graph(nr::Device::cpu(), [] {}); }),
               nr::ValueError);
  EXPECT_THROW(nr::capture_graph(nr::Device::cpu(), [] { nr::synchronize(nr::Device::cpu()); }),
               nr::ValueError);
  nr::detail::set_cpu_graph_emulation(false);
}

TEST_F(EmulatedCapture, EvaluateAndPredictReplayingTheirStepMatchEagerOnes) {
  nr::set_seed(5);
  const Data d = images();
  auto model = small_cnn(false);
  model->compile({.optimizer = nr::optimizers::Adam(0.01),
                  .loss = "sparse_categorical_crossentropy",
                  .metrics = {"accuracy"}});
  (void)model->fit(d.x, d.y, {.batch_size = 32, .epochs = 1, .verbose = 0});
  const auto eager_scores = model->evaluate(d.x, d.y, {.batch_size = 16, .verbose = 0});
  const nr::Tensor eager_pred = model->predict(d.x, {.batch_size = 16});

  nr::detail::set_cpu_graph_emulation(true);
  std::int64_t before = nr::detail::graph_replays();
  const auto scores = model->evaluate(d.x, d.y, {.batch_size = 16, .verbose = 0});
  // 100 samples at batch 16: 6 full batches (the first eager) and one of 4.
  EXPECT_EQ(nr::detail::graph_replays() - before, 5);
  before = nr::detail::graph_replays();
  const nr::Tensor pred = model->predict(d.x, {.batch_size = 16});
  EXPECT_EQ(nr::detail::graph_replays() - before, 5);
  nr::detail::set_cpu_graph_emulation(false);

  EXPECT_EQ(scores, eager_scores);
  EXPECT_EQ(pred.shape(), eager_pred.shape());
  EXPECT_EQ(pred.to_vector<float>(), eager_pred.to_vector<float>());
}
