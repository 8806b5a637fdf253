// fit's training step captured into a CUDA graph and replayed (core/graph.h) against the same
// fit run eagerly on the GPU (config::enable_cuda_graphs(false)), bit for bit, and on the CPU,
// by the losses. Deterministic cuDNN algorithms on both GPU runs, so that
// the two differ only if the graph does. Skipped (reported as such) where no GPU is present.
#include <gtest/gtest.h>

#include <neurona/neurona.h>

#include <string>
#include <vector>

#include "neurona/core/graph.h"
#include "support/concurrent_capture.h"
#include "support/gpu_test.h"
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

// cudaMalloc calls (the device allocator's raw allocations) during each epoch.
class RawAllocations : public nr::callbacks::Callback {
 public:
  std::vector<std::int64_t> per_epoch;
  void on_epoch_begin(int /*epoch*/, nr::callbacks::Logs& /*logs*/) override {
    at_begin_ = nr::memory_stats(nr::Device::cuda(0)).num_raw_allocations;
  }
  void on_epoch_end(int /*epoch*/, nr::callbacks::Logs& /*logs*/) override {
    per_epoch.push_back(nr::memory_stats(nr::Device::cuda(0)).num_raw_allocations - at_begin_);
  }

 private:
  std::int64_t at_begin_ = 0;
};

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
  auto allocations = std::make_shared<RawAllocations>();
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
