// fit's training step captured into a CUDA graph and replayed (core/graph.h) against the same
// fit run eagerly on the GPU (config::enable_cuda_graphs(false)), bit for bit, and on the CPU,
// by the losses. Deterministic cuDNN algorithms on both GPU runs, so that
// the two differ only if the graph does. Skipped (reported as such) where no GPU is present.
#include <gtest/gtest.h>

#include <neurona/neurona.h>

#include <map>
#include <string>
#include <vector>

#include "neurona/core/graph.h"
#include "support/concurrent_capture.h"
#include "support/gpu_test.h"
#include "support/raw_allocations.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;

namespace {

class GpuCapturedFit : public nr::testing::GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    determinism_ = nr::config::op_determinism_enabled();
    nr::config::enable_op_determinism(true);
  }
  void TearDown() override {
    nr::config::enable_op_determinism(determinism_);
    nr::config::enable_cuda_graphs(true);
    nr::set_default_device(nr::Device::cpu());
  }

 private:
  bool determinism_ = false;
};

using nr::testing::RawAllocations;

struct FitRun {
  std::vector<std::int64_t> raw_allocations;
  std::vector<double> loss, accuracy;
  std::vector<std::vector<double>> weights;
  std::int64_t replays = 0;
  std::string stderr_text;
};

// A small cnn on 200 random 12x12 images (labels from the first pixel), 2 epochs at batch 32
// (6 full batches and one of 8 per epoch), shuffled, Adam: what `neurona train` does, smaller.
FitRun train(nr::Device device, bool graphs) {
  nr::config::enable_cuda_graphs(graphs);
  nr::set_default_device(device);
  nr::set_seed(7);
  const nr::Tensor x =
      nr::random_uniform({200, 12, 12, 1}, {.device = nr::Device::cpu(), .seed = 4});
  const std::vector<float> pixels = x.to_vector<float>();
  std::vector<std::int32_t> labels(200);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    labels[i] = std::min(2, static_cast<std::int32_t>(pixels[i * 144] * 3));
  }
  const nr::Tensor y = nr::constant(labels, {200}, nr::Device::cpu());
  nr::Sequential model({nr::layers::Input({12, 12, 1}),
                        nr::layers::Conv2D(8, {3, 3}, {.activation = "relu"}),
                        nr::layers::MaxPooling2D({2, 2}), nr::layers::Flatten(),
                        nr::layers::Dense(16, {.activation = "relu"}),
                        nr::layers::Dense(3, {.activation = "softmax"})});
  model.compile({.optimizer = nr::optimizers::Adam(1e-2),
                 .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"}});
  const std::int64_t before = nr::detail::graph_replays();
  ::testing::internal::CaptureStderr();
  auto allocations = std::make_shared<RawAllocations>(device);
  const auto history =
      model.fit(x, y, {.batch_size = 32, .epochs = 2, .verbose = 0, .callbacks = {allocations}});
  FitRun run;
  run.stderr_text = ::testing::internal::GetCapturedStderr();
  run.replays = nr::detail::graph_replays() - before;
  run.raw_allocations = allocations->per_epoch;
  run.loss = history.history.at("loss");
  run.accuracy = history.history.at("accuracy");
  for (const nr::Tensor& w : model.get_weights()) run.weights.push_back(w.to_vector<double>());
  return run;
}

}  // namespace

TEST_F(GpuCapturedFit, ReplayedStepsTrainAsEagerOnesOnTheGpuAndTheCpu) {
  const FitRun eager = train(nr::Device::cuda(0), false);
  const FitRun replayed = train(nr::Device::cuda(0), true);
  const FitRun cpu = train(nr::Device::cpu(), true);
  EXPECT_EQ(eager.replays, 0);
  // Per epoch: 6 full batches, the first of the fit eager, then capture + replays.
  EXPECT_EQ(replayed.replays, 5 + 6);
  EXPECT_EQ(replayed.stderr_text, "");
  EXPECT_EQ(cpu.replays, 0);  // the CPU does not capture (outside the tests' emulation)
  ASSERT_EQ(replayed.weights.size(), eager.weights.size());
  for (std::size_t i = 0; i < eager.weights.size(); ++i) {
    // The same kernels with the same deterministic algorithms: the same bits.
    EXPECT_EQ(replayed.weights[i], eager.weights[i]) << "weight " << i;
  }
  // Against the CPU the sums run in other orders, and Adam turns a gradient's rounding into a
  // step of up to the learning rate where the gradient is near zero: compare the losses.
  EXPECT_TRUE(all_close(replayed.loss, cpu.loss, 1e-3, 1e-3));
  EXPECT_EQ(replayed.loss, eager.loss);
  // The steady state allocates nothing from the device: the second epoch's blocks all come
  // from the caching allocator (and the graph's own, kept since the capture).
  ASSERT_EQ(replayed.raw_allocations.size(), 2u);
  EXPECT_EQ(replayed.raw_allocations[1], 0);
  EXPECT_EQ(eager.raw_allocations[1], 0);
  EXPECT_EQ(replayed.accuracy, eager.accuracy);
}

TEST_F(GpuCapturedFit, EvaluateAndPredictReplayedMatchEager) {
  nr::set_default_device(nr::Device::cuda(0));
  nr::set_seed(9);
  const nr::Tensor x = nr::random_uniform({100, 12, 12, 1}, {.seed = 5});
  const nr::Tensor y = nr::cast(nr::random_uniform({100}, {.maxval = 3, .seed = 6}), nr::int32);
  nr::Sequential model({nr::layers::Input({12, 12, 1}),
                        nr::layers::Conv2D(4, {3, 3}, {.activation = "relu"}),
                        nr::layers::Flatten(), nr::layers::Dense(3, {.activation = "softmax"})});
  model.compile({.optimizer = nr::optimizers::Adam(1e-2),
                 .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"}});
  nr::config::enable_cuda_graphs(false);
  const auto eager_scores = model.evaluate(x, y, {.batch_size = 16, .verbose = 0});
  const std::vector<float> eager_pred = model.predict(x, {.batch_size = 16}).to_vector<float>();
  nr::config::enable_cuda_graphs(true);
  const std::int64_t before = nr::detail::graph_replays();
  const auto scores = model.evaluate(x, y, {.batch_size = 16, .verbose = 0});
  const std::vector<float> pred = model.predict(x, {.batch_size = 16}).to_vector<float>();
  // 100 rows at batch 16: 6 full batches, the first eager, 5 replays each.
  EXPECT_EQ(nr::detail::graph_replays() - before, 10);
  EXPECT_EQ(scores, eager_scores);
  EXPECT_EQ(pred, eager_pred);
}

// Another thread's predicts on the GPU while a fit captures its step wait for the capture to
// end (the device has one stream, which the capture records): they are neither captured into
// the graph nor break it, and the fit trains as without graphs.
TEST_F(GpuCapturedFit, AnotherThreadsPredictDuringCaptureIsNeitherCapturedNorBreaksIt) {
  nr::set_default_device(nr::Device::cuda(0));
  const auto eager = nr::testing::fit_while_another_thread_predicts(nr::Device::cuda(0), false);
  const auto captured = nr::testing::fit_while_another_thread_predicts(nr::Device::cuda(0), true);
  EXPECT_TRUE(captured.predictor_started);
  EXPECT_EQ(captured.replays, 2 * 6 - 1);
  ASSERT_EQ(captured.predictions.size(), 3u);
  for (const auto& p : captured.predictions) EXPECT_EQ(p, captured.expected_prediction);
  EXPECT_EQ(captured.weights, eager.weights);
}

// A functional model with two inputs and two outputs (a loss, a weight and metrics per output,
// sample weights per output, validation data): its captured step holds every input, target and
// weight, and trains as the eager one does, and as the CPU.
struct MultiRun {
  std::map<std::string, std::vector<double>> history;
  std::vector<std::vector<double>> weights;
  std::int64_t replays = 0;
};

MultiRun train_two_outputs(nr::Device device, bool graphs) {
  nr::config::enable_cuda_graphs(graphs);
  nr::set_default_device(device);
  nr::clear_session();
  nr::set_seed(11);
  const auto cpu = nr::Device::cpu();
  const nr::Tensor image = nr::random_uniform({200, 12, 12, 1}, {.device = cpu, .seed = 4});
  const nr::Tensor meta = nr::random_normal({200, 3}, {.device = cpu, .seed = 5});
  const nr::Tensor label =
      nr::cast(nr::random_uniform({200}, {.maxval = 3, .device = cpu, .seed = 6}), nr::int32);
  const nr::Tensor size = nr::random_normal({200, 1}, {.device = cpu, .seed = 7});
  const nr::Tensor weight = nr::random_uniform({200}, {.minval = 0.5, .device = cpu, .seed = 8});
  namespace L = nr::layers;
  auto in_image = nr::Input({12, 12, 1}, {.name = "image"});
  auto in_meta = nr::Input({3}, {.name = "meta"});
  auto h = L::Flatten()(L::Conv2D(4, {3, 3}, {.activation = "relu"})(in_image));
  h = L::Concatenate()({h, L::Dense(4, {.activation = "relu"})(in_meta)});
  nr::Model model({in_image, in_meta}, {L::Dense(3, {.activation = "softmax", .name = "label"})(h),
                                        L::Dense(1, {.name = "size"})(h)});
  model.compile({.optimizer = nr::optimizers::Adam(1e-2),
                 .loss = {{"label", "sparse_categorical_crossentropy"}, {"size", "mse"}},
                 .metrics = {{"label", {"accuracy"}}, {"size", {"mae"}}},
                 .loss_weights = {{"size", 0.5}}});
  const std::int64_t before = nr::detail::graph_replays();
  const auto history = model.fit(
      {{"image", image.slice(0, 160)}, {"meta", meta.slice(0, 160)}},
      {label.slice(0, 160), size.slice(0, 160)},
      {.batch_size = 32,
       .epochs = 2,
       .verbose = 0,
       .validation_data = nr::ValidationData{{image.slice(160, 200), meta.slice(160, 200)},
                                             {label.slice(160, 200), size.slice(160, 200)}},
       .sample_weight =
           nr::Tensors{{"label", weight.slice(0, 160)}, {"size", weight.slice(0, 160)}}});
  MultiRun run;
  run.replays = nr::detail::graph_replays() - before;
  run.history = history.history;
  for (const nr::Tensor& w : model.get_weights()) run.weights.push_back(w.to_vector<double>());
  return run;
}

TEST_F(GpuCapturedFit, SeveralInputsAndOutputsReplayAsEagerAndFollowTheCpu) {
  const MultiRun eager = train_two_outputs(nr::Device::cuda(0), false);
  const MultiRun replayed = train_two_outputs(nr::Device::cuda(0), true);
  const MultiRun cpu = train_two_outputs(nr::Device::cpu(), true);
  // 160 rows at batch 32: 5 full batches an epoch, the fit's first eager; the validation's one
  // full batch is the first of its evaluation, eager.
  EXPECT_EQ(eager.replays, 0);
  EXPECT_EQ(replayed.replays, 4 + 5);
  EXPECT_EQ(replayed.weights, eager.weights);
  EXPECT_EQ(replayed.history, eager.history);
  for (const auto& [name, values] : cpu.history) {
    ASSERT_TRUE(replayed.history.count(name)) << name;
    EXPECT_TRUE(all_close(replayed.history.at(name), values, 1e-3, 1e-3)) << name;
  }
  for (const char* name : {"loss", "label_loss", "size_loss", "label_accuracy", "size_mae",
                           "val_loss", "val_label_accuracy", "val_size_mae"}) {
    EXPECT_TRUE(cpu.history.count(name)) << name;
  }
}
