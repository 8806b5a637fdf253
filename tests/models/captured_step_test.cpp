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
#include "support/concurrent_capture.h"
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

// Dropout in the small cnn: none, without a seed (the layer's generator takes one from the
// global seed), or with seed 1.
enum class WithDropout { no, unseeded, seeded };

// `augment`: RandomFlip, RandomBrightness and RandomContrast in front (seeded).
std::unique_ptr<nr::Sequential> small_cnn(WithDropout dropout, bool augment = false) {
  std::vector<nr::layers::AnyLayer> layers = {nr::layers::Input({8, 8, 1})};
  if (augment) {
    layers.push_back(nr::layers::RandomFlip("horizontal", {.seed = 1}));
    layers.push_back(nr::layers::RandomBrightness(0.1, {.value_range = {0, 1}, .seed = 2}));
    layers.push_back(nr::layers::RandomContrast(0.2, {.value_range = {0, 1}, .seed = 3}));
  }
  layers.push_back(nr::layers::Conv2D(4, {3, 3}, {.activation = "relu"}));
  layers.push_back(nr::layers::MaxPooling2D({2, 2}));
  layers.push_back(nr::layers::Flatten());
  if (dropout == WithDropout::unseeded) layers.push_back(nr::layers::Dropout(0.25));
  if (dropout == WithDropout::seeded) layers.push_back(nr::layers::Dropout(0.25, {.seed = 1}));
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
FitRun train(bool emulate, WithDropout dropout, bool augment = false) {
  nr::detail::set_cpu_graph_emulation(emulate);
  nr::set_seed(5);
  const Data d = images();
  auto model = small_cnn(dropout, augment);
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
  const FitRun eager = train(false, WithDropout::no);
  const FitRun replayed = train(true, WithDropout::no);
  EXPECT_EQ(eager.replays, 0);
  // 90 training samples at batch 16: 5 full batches and one of 10 per epoch. The first full
  // batch runs eagerly, the second is captured and replayed, the rest replayed.
  EXPECT_EQ(replayed.replays, 4 + 5);
  EXPECT_EQ(replayed.stderr_text, "");
  expect_same_training(eager, replayed);
}

TEST_F(EmulatedCapture, SwitchedOffFitRunsEveryStepEagerly) {
  nr::config::enable_cuda_graphs(false);
  const FitRun run = train(true, WithDropout::no);
  nr::config::enable_cuda_graphs(true);
  EXPECT_EQ(run.replays, 0);
}

// Dropout draws its masks from the layer's SeedGenerator, whose state lives on the device: the
// replayed step draws a new mask each time, as the eager step does, so the two fits train alike
// (before, a seeded Dropout's host-made seed was frozen into the graph: one mask every step).
TEST_F(EmulatedCapture, FitWithDropoutReplaysNewMasksAndTrainsAsTheEagerFit) {
  for (const WithDropout dropout : {WithDropout::seeded, WithDropout::unseeded}) {
    SCOPED_TRACE(dropout == WithDropout::seeded ? "seeded" : "unseeded");
    const FitRun eager = train(false, dropout);
    const FitRun replayed = train(true, dropout);
    EXPECT_EQ(replayed.replays, 4 + 5);
    EXPECT_EQ(replayed.stderr_text, "");
    expect_same_training(eager, replayed);
  }
}

// The augmentation layers draw from their SeedGenerators on the device and build their indices
// there: the replayed step draws anew each time and trains as the eager one.
TEST_F(EmulatedCapture, FitWithAugmentationLayersReplaysNewDrawsAndTrainsAsTheEagerFit) {
  const FitRun eager = train(false, WithDropout::no, /*augment=*/true);
  const FitRun replayed = train(true, WithDropout::no, /*augment=*/true);
  EXPECT_EQ(replayed.replays, 4 + 5);
  EXPECT_EQ(replayed.stderr_text, "");
  expect_same_training(eager, replayed);
}

// The case: Input(32) -> Dense(64, relu) -> Dropout(0.5, seed 7) -> Dense(1), SGD, 3
// epochs; eager and captured gave first-kernel sums of 4.872 and 5.604.
TEST_F(EmulatedCapture, SeededDropoutMlpTrainsAlikeEagerAndCaptured) {
  auto first_kernel = [](bool emulate) {
    nr::detail::set_cpu_graph_emulation(emulate);
    nr::set_seed(3);
    const nr::Tensor x = nr::random_uniform({256, 32}, {.seed = 4});
    const nr::Tensor y = nr::sum(x, {1}, /*keepdims=*/true);
    nr::Sequential model({nr::layers::Input({32}), nr::layers::Dense(64, {.activation = "relu"}),
                          nr::layers::Dropout(0.5, {.seed = 7}), nr::layers::Dense(1)});
    model.compile({.optimizer = nr::optimizers::SGD(0.01), .loss = "mse"});
    const std::int64_t before = nr::detail::graph_replays();
    (void)model.fit(x, y, {.batch_size = 32, .epochs = 3, .verbose = 0, .shuffle = false});
    EXPECT_EQ(nr::detail::graph_replays() - before, emulate ? 3 * 8 - 1 : 0);
    nr::detail::set_cpu_graph_emulation(false);
    return model.get_weights()[0].to_vector<float>();
  };
  EXPECT_EQ(first_kernel(true), first_kernel(false));
}

// Rematerialized layers in a captured step: the recomputation's state rewinds (dropout's
// generator, batch normalization's moving statistics) are device work the replays repeat.
TEST_F(EmulatedCapture, RematerializedLayersTrainAlikeEagerAndCaptured) {
  auto weights = [](bool emulate, bool remat) {
    nr::detail::set_cpu_graph_emulation(emulate);
    nr::set_seed(3);
    const nr::Tensor x = nr::random_uniform({128, 16}, {.seed = 4});
    const nr::Tensor y = nr::sum(x, {1}, /*keepdims=*/true);
    std::optional<nr::RematScope> scope;
    if (remat) scope.emplace("full");
    std::vector<nr::layers::AnyLayer> layers{
        nr::layers::Input({16}), nr::layers::Dense(32, {.activation = "gelu"}),
        nr::layers::BatchNormalization(), nr::layers::Dropout(0.5, {.seed = 7}),
        nr::layers::Dense(1)};
    scope.reset();
    nr::Sequential model(layers);
    model.compile({.optimizer = nr::optimizers::SGD(0.01), .loss = "mse"});
    const std::int64_t before = nr::detail::graph_replays();
    (void)model.fit(x, y, {.batch_size = 32, .epochs = 2, .verbose = 0, .shuffle = false});
    EXPECT_EQ(nr::detail::graph_replays() - before, emulate ? 2 * 4 - 1 : 0);
    nr::detail::set_cpu_graph_emulation(false);
    return model.get_weights();
  };
  const auto plain = weights(false, false);
  const auto captured = weights(true, true);
  ASSERT_EQ(plain.size(), captured.size());
  for (std::size_t i = 0; i < plain.size(); ++i) {
    EXPECT_LT(nr::max(nr::abs(plain[i] - captured[i])).item<float>(), 1e-6f) << "weight " << i;
  }
}

TEST_F(EmulatedCapture, SeedGeneratorDrawsANewMaskOnEveryReplay) {
  const nr::Tensor x = nr::ones({64});
  nr::layers::Dropout eager(0.25, {.seed = 1}), captured(0.25, {.seed = 1});
  std::vector<std::vector<float>> expected;
  for (int i = 0; i < 4; ++i) expected.push_back(eager(x, true).to_vector<float>());
  EXPECT_NE(expected[1], expected[2]);
  nr::detail::set_cpu_graph_emulation(true);
  // The first call makes the generator's state on the device (eagerly, as fit's first step).
  EXPECT_EQ(captured(x, true).to_vector<float>(), expected[0]);
  nr::Tensor out;
  auto graph = nr::capture_graph(nr::Device::cpu(), [&] { out = captured(x, true); });
  for (int i = 1; i < 4; ++i) {
    graph->replay();
    EXPECT_EQ(out.to_vector<float>(), expected[static_cast<std::size_t>(i)]) << "replay " << i;
  }
  nr::detail::set_cpu_graph_emulation(false);
}

// Keys made on the host are frozen into a graph, so a capture that draws with one is refused
// (and the step then runs eagerly): the global seed, and an op seed too, which a caller may
// compute anew per call on the host.
TEST_F(EmulatedCapture, DrawsWithHostMadeKeysAreNotCaptured) {
  nr::detail::set_cpu_graph_emulation(true);
  nr::set_seed(2);
  const std::uint32_t calls = nr::detail::random_call_count();
  NEURONA_EXPECT_THROW_MSG(
      nr::capture_graph(nr::Device::cpu(), [] { (void)nr::random_uniform({4}); }), nr::ValueError,
      "capture_graph", "key made on the host", "SeedGenerator");
  EXPECT_EQ(nr::detail::random_call_count(), calls);  // the abandoned capture gave its key back
  NEURONA_EXPECT_THROW_MSG(
      nr::capture_graph(nr::Device::cpu(), [] { (void)nr::random_normal({4}, {.seed = 9}); }),
      nr::ValueError, "capture_graph", "op seed");
  nr::SeedGenerator fresh(5);
  NEURONA_EXPECT_THROW_MSG(
      nr::capture_graph(nr::Device::cpu(),
                        [&] { (void)nr::random_uniform({4}, {.seed_generator = &fresh}); }),
      nr::ValueError, "SeedGenerator", "during a graph capture");
  nr::detail::set_cpu_graph_emulation(false);
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
  auto model = small_cnn(WithDropout::no);
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

// Capture is exclusive per device: another thread's predicts while a fit captures its step wait
// for the capture to end, so they are neither recorded into the graph (which would leave their
// results unwritten and replay them every step) nor mixed with it.
TEST_F(EmulatedCapture, AnotherThreadsWorkIsNeitherCapturedNorMixedIn) {
  const auto eager = nr::testing::fit_while_another_thread_predicts(nr::Device::cpu(), false);
  nr::detail::set_cpu_graph_emulation(true);
  const auto captured = nr::testing::fit_while_another_thread_predicts(nr::Device::cpu(), true);
  nr::detail::set_cpu_graph_emulation(false);
  EXPECT_TRUE(captured.predictor_started);
  // 96 samples at batch 16: 6 full batches per epoch, the first of the fit eager.
  EXPECT_EQ(eager.replays, 0);
  EXPECT_EQ(captured.replays, 2 * 6 - 1);
  ASSERT_EQ(captured.predictions.size(), 3u);
  for (const auto& p : captured.predictions) EXPECT_EQ(p, captured.expected_prediction);
  EXPECT_EQ(captured.weights, eager.weights);
}

// A model with two inputs and two outputs: the captured step's buffers hold both inputs, both
// targets and the per-output sample weights, and a replay trains as the eager step does.
TEST_F(EmulatedCapture, SeveralInputsOutputsAndSampleWeightsReplayAsEager) {
  const auto run = [](bool emulate) {
    nr::detail::set_cpu_graph_emulation(emulate);
    nr::clear_session();
    nr::set_seed(5);
    const Data d = images();
    const nr::Tensor meta = nr::random_normal({100, 3}, {.seed = 12});
    const nr::Tensor size = nr::random_normal({100, 1}, {.seed = 13});
    const nr::Tensor weight = nr::random_uniform({100}, {.minval = 0.5, .seed = 14});
    namespace L = nr::layers;
    auto image = nr::Input({8, 8, 1}, {.name = "image"});
    auto in_meta = nr::Input({3}, {.name = "meta"});
    auto h = L::Flatten()(L::Conv2D(4, {3, 3}, {.activation = "relu"})(image));
    h = L::Concatenate()({h, in_meta});
    nr::Model model({image, in_meta}, {L::Dense(3, {.activation = "softmax", .name = "label"})(h),
                                       L::Dense(1, {.name = "size"})(h)});
    model.compile({.optimizer = nr::optimizers::Adam(0.01),
                   .loss = {"sparse_categorical_crossentropy", "mse"},
                   .metrics = nr::CompileMetrics::PerOutput{{"accuracy"}, {"mae"}},
                   .loss_weights = {1.0, 0.5}});
    const std::int64_t before = nr::detail::graph_replays();
    FitRun out;
    out.history = model.fit({d.x, meta}, {d.y, size},
                            {.batch_size = 16,
                             .epochs = 2,
                             .verbose = 0,
                             .validation_split = 0.1,
                             .sample_weight = std::vector{weight, weight * 2.0}});
    out.replays = nr::detail::graph_replays() - before;
    out.weights = model.get_weights();
    nr::detail::set_cpu_graph_emulation(false);
    return out;
  };
  const FitRun eager = run(false);
  const FitRun replayed = run(true);
  EXPECT_EQ(replayed.replays, 4 + 5);
  expect_same_training(eager, replayed);
  for (const char* key :
       {"label_loss", "size_loss", "label_accuracy", "size_mae", "val_size_mae"}) {
    EXPECT_EQ(eager.history.history.at(key), replayed.history.history.at(key)) << key;
  }
}
