// DataParallel without MPI: how a global batch is split, and what a replica that is not rank 0
// does in fit (trains, prints nothing, writes no files), through a communicator whose peers are
// copies of this process. The multi-process runs under mpirun are tests/distributed/*.sh.
#include <gtest/gtest.h>

#include <neurona/neurona.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "neurona/core/replica_context.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace fs = std::filesystem;

namespace {

// A job of `size` processes seen from `rank`, the others doing exactly what this one does: a sum
// over ranks is `size` times this rank's tensors, a broadcast changes nothing.
class MirrorCommunicator final : public nr::distribution::Communicator {
 public:
  MirrorCommunicator(int rank, int size) : rank_(rank), size_(size) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  void all_reduce_sum(std::vector<nr::Tensor>& tensors) override {
    ++all_reduces;
    for (nr::Tensor& t : tensors) t = t * static_cast<double>(size_);
  }
  void broadcast(std::vector<nr::Tensor>& /*tensors*/, int /*root*/) override { ++broadcasts; }
  void broadcast_bytes(std::vector<std::uint8_t>& /*bytes*/, int /*root*/) override {}
  void barrier() override {}
  std::string name() const override { return "mirror"; }
  void set_timeout(double seconds) override {
    NEURONA_CHECK(seconds > 0, nr::ValueError, "mirror: the timeout must be positive");
    timeouts.push_back(seconds);
  }
  int all_reduces = 0, broadcasts = 0;
  std::vector<double> timeouts;  // what set_timeout was given

 private:
  int rank_, size_;
};

nr::distribution::DataParallel replica(int rank, int size) {
  return nr::distribution::DataParallel(
      {.communicator = std::make_shared<MirrorCommunicator>(rank, size)});
}

class DataParallelFit : public ::testing::Test {
 protected:
  void TearDown() override { nr::distribution::set_distribution(nullptr); }
};

}  // namespace

TEST(DataParallel, ShardsSplitAGlobalBatchInRankOrder) {
  using Range = std::pair<std::int64_t, std::int64_t>;
  EXPECT_EQ(replica(0, 2).shard(128), (Range{0, 64}));
  EXPECT_EQ(replica(1, 2).shard(128), (Range{64, 128}));
  // The first rows % replicas parts are one row longer.
  EXPECT_EQ(replica(0, 2).shard(17), (Range{0, 9}));
  EXPECT_EQ(replica(1, 2).shard(17), (Range{9, 17}));
  EXPECT_EQ(replica(0, 3).shard(10), (Range{0, 4}));
  EXPECT_EQ(replica(1, 3).shard(10), (Range{4, 7}));
  EXPECT_EQ(replica(2, 3).shard(10), (Range{7, 10}));
  // Fewer rows than replicas: the last ones get none.
  EXPECT_EQ(replica(1, 2).shard(1), (Range{1, 1}));
  EXPECT_TRUE(replica(0, 4).is_chief());
  EXPECT_FALSE(replica(3, 4).is_chief());
}

// A communicator passed in keeps its own timeout unless DataParallel is given one.
TEST(DataParallel, SetsTheCommunicatorsTimeoutOnlyWhenGivenOne) {
  auto keeps = std::make_shared<MirrorCommunicator>(0, 2);
  (void)nr::distribution::DataParallel({.communicator = keeps});
  EXPECT_TRUE(keeps->timeouts.empty());
  auto given = std::make_shared<MirrorCommunicator>(0, 2);
  (void)nr::distribution::DataParallel({.communicator = given, .timeout_seconds = 7.5});
  EXPECT_EQ(given->timeouts, std::vector<double>{7.5});
  EXPECT_THROW(nr::distribution::DataParallel({.communicator = given, .timeout_seconds = 0}),
               nr::ValueError);
}

TEST_F(DataParallelFit, WithoutADistributionEveryProcessIsTheChief) {
  EXPECT_EQ(nr::distribution::distribution(), nullptr);
  EXPECT_TRUE(nr::distribution::is_chief());
  // Passed as Keras passes it (by value); then as a shared pointer.
  nr::distribution::set_distribution(replica(1, 2));
  EXPECT_FALSE(nr::distribution::is_chief());
  EXPECT_EQ(nr::distribution::distribution()->num_replicas(), 2);
  nr::distribution::set_distribution(
      std::make_shared<nr::distribution::DataParallel>(replica(0, 3)));
  EXPECT_TRUE(nr::distribution::is_chief());
  EXPECT_EQ(nr::distribution::distribution()->num_replicas(), 3);
  nr::distribution::set_distribution(nullptr);
  EXPECT_EQ(nr::distribution::distribution(), nullptr);
}

TEST_F(DataParallelFit, AReplicaButRankZeroTrainsQuietlyAndWritesNothing) {
  const fs::path dir = fs::temp_directory_path() / "neurona_data_parallel_test";
  fs::remove_all(dir);
  auto dp = std::make_shared<nr::distribution::DataParallel>(replica(1, 2));
  auto& mirror = static_cast<MirrorCommunicator&>(dp->communicator());
  nr::distribution::set_distribution(dp);
  nr::set_seed(3);
  const nr::Tensor x = nr::random_normal({40, 4}, {.device = nr::Device::cpu(), .seed = 1});
  const nr::Tensor y = nr::random_uniform(
      {40}, {.maxval = 2, .dtype = nr::DType::int32, .device = nr::Device::cpu(), .seed = 2});
  nr::Sequential model({nr::layers::Input({4}), nr::layers::Dense(2, {.activation = "softmax"})});
  model.compile({.optimizer = nr::optimizers::SGD(0.1),
                 .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"}});
  const auto before = model.get_weights()[0].to_vector<float>();
  ::testing::internal::CaptureStdout();
  const auto history =
      model.fit(x, y,
                {.batch_size = 16,
                 .epochs = 2,
                 .verbose = 1,
                 .callbacks = {nr::callbacks::CSVLogger((dir / "history.csv").string()),
                               nr::callbacks::ModelCheckpoint((dir / "model.weights.h5").string(),
                                                              {.save_weights_only = true}),
                               nr::callbacks::BackupAndRestore((dir / "backup").string())}});
  const std::string printed = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(printed, "");
  EXPECT_FALSE(fs::exists(dir)) << "a replica but rank 0 wrote files";
  // It trained (its part of each batch), took rank 0's weights first, and summed its gradients
  // (3 batches a epoch) and its metrics (once a batch, once an epoch) with the others.
  EXPECT_NE(model.get_weights()[0].to_vector<float>(), before);
  EXPECT_EQ(history.history.at("loss").size(), 2u);
  EXPECT_EQ(mirror.broadcasts, 1);
  EXPECT_EQ(mirror.all_reduces, 2 * 3 + 2 * 3 + 2);
  fs::remove_all(dir);
}

// predict under a distribution: each replica predicts its rows of every batch and one all-reduce
// joins the parts. Seen from rank 1 of 2 through the mirror (whose sum is twice this rank's
// tensors): its rows of each batch are twice one process's predictions, the others zero; a
// batch with fewer rows than replicas is predicted whole, without a collective.
TEST_F(DataParallelFit, PredictGivesEachReplicaItsRowsAndJoinsThem) {
  nr::set_seed(5);
  const nr::Tensor x = nr::random_normal({13, 4}, {.device = nr::Device::cpu(), .seed = 3});
  nr::Sequential model({nr::layers::Input({4}), nr::layers::Dense(3, {.activation = "softmax"})});
  const std::vector<float> alone = model.predict(x, {.batch_size = 4}).to_vector<float>();
  auto dp = std::make_shared<nr::distribution::DataParallel>(replica(1, 2));
  auto& mirror = static_cast<MirrorCommunicator&>(dp->communicator());
  nr::distribution::set_distribution(dp);
  // Batches of 4, 4, 4 and 1 rows: rank 1 predicts rows 2-3, 6-7 and 10-11; row 12 is predicted
  // whole.
  const nr::Tensor y = model.predict(x, {.batch_size = 4});
  nr::distribution::set_distribution(nullptr);
  ASSERT_EQ(y.shape(), (nr::Shape{13, 3}));
  const std::vector<float> got = y.to_vector<float>();
  const std::vector<int> mine = {2, 3, 6, 7, 10, 11};
  for (int r = 0; r < 13; ++r) {
    const bool is_mine = std::find(mine.begin(), mine.end(), r) != mine.end();
    for (int c = 0; c < 3; ++c) {
      const float one = alone[static_cast<std::size_t>(r * 3 + c)];
      const float want = r == 12 ? one : (is_mine ? 2 * one : 0.0f);
      EXPECT_NEAR(got[static_cast<std::size_t>(r * 3 + c)], want, 1e-6) << "row " << r;
    }
  }
  EXPECT_EQ(mirror.all_reduces, 3);
}

// Under DataParallel an unbuilt Sequential without an Input is built on the global batch, which
// it records as its input's batch size, as Keras does: the config does not depend on the number
// of replicas (a replica trains on its part of the batch).
TEST_F(DataParallelFit, ASequentialWithoutAnInputRecordsTheGlobalBatch) {
  nr::set_seed(4);
  const nr::Tensor x = nr::random_normal({40, 4}, {.device = nr::Device::cpu(), .seed = 1});
  const nr::Tensor y = nr::random_normal({40, 2}, {.device = nr::Device::cpu(), .seed = 2});
  nr::Sequential model({nr::layers::Dense(2)});
  model.compile({.optimizer = nr::optimizers::SGD(0.1), .loss = "mse"});
  nr::distribution::set_distribution(replica(1, 3));
  model.fit(x, y, {.batch_size = 16, .epochs = 1, .verbose = 0});
  EXPECT_EQ(model.input().shape(), nr::Shape({16, 4}));
}

namespace {

// Records the rows and the training flag of each of its calls (symbolic calls are not calls).
class CallRecorder final : public nr::layers::Layer {
 public:
  CallRecorder() : Layer("CallRecorder") {}
  nr::Tensor call(const nr::Tensor& x, bool training) override {
    calls.emplace_back(x.shape()[0], training);
    return x;
  }
  nr::Shape compute_output_shape(const nr::Shape& s) const override { return s; }
  std::vector<std::pair<std::int64_t, bool>> calls;
};

// A subclassed model: what its layer records is what the model was called on.
class RecordingModel final : public nr::Model {
 public:
  RecordingModel()
      : nr::Model("RecordingModel"),
        recorder_(track(nr::layers::LayerHandle<CallRecorder>(std::make_shared<CallRecorder>()))),
        dense_(track(nr::layers::Dense(2))) {}
  nr::Tensor call(const nr::Tensor& x, bool training) override {
    return dense_(recorder_(x, training), training);
  }
  const CallRecorder& recorder() const { return *recorder_; }

 private:
  nr::layers::LayerHandle<CallRecorder> recorder_;
  nr::layers::Dense dense_;
};

}  // namespace

// fit builds an unbuilt Sequential from its first batch's shape, without running it: its layers
// see training calls only, under DataParallel (the global batch recorded, above) or not.
TEST_F(DataParallelFit, AnUnbuiltSequentialIsBuiltWithoutACall) {
  const nr::Tensor x = nr::random_normal({40, 4}, {.device = nr::Device::cpu(), .seed = 1});
  const nr::Tensor y = nr::random_normal({40, 2}, {.device = nr::Device::cpu(), .seed = 2});
  for (const bool distributed : {false, true}) {
    auto recorder = std::make_shared<CallRecorder>();
    nr::Sequential model({recorder, nr::layers::Dense(2)});
    model.compile({.optimizer = nr::optimizers::SGD(0.1), .loss = "mse"});
    if (distributed) nr::distribution::set_distribution(replica(1, 3));
    model.fit(x, y, {.batch_size = 16, .epochs = 1, .verbose = 0});
    EXPECT_EQ(model.input().shape(), nr::Shape({16, 4}));
    ASSERT_EQ(recorder->calls.size(), 3u) << "distributed " << distributed;
    for (const auto& [rows, training] : recorder->calls) EXPECT_TRUE(training);
    // A replica trains on its rows of each global batch: 16 over 3 replicas is 6, 5, 5.
    EXPECT_EQ(recorder->calls[0].first, distributed ? 5 : 16);
  }
}

// An unbuilt subclassed model is built by one inference call on its first batch; under
// DataParallel on this replica's rows of fit's global batch only (a call on all of it would be
// a peak of memory no step reaches), on the whole of train_on_batch's (the replica's own).
TEST_F(DataParallelFit, AnUnbuiltSubclassedModelIsBuiltOnItsReplicasRows) {
  const nr::Tensor x = nr::random_normal({40, 4}, {.device = nr::Device::cpu(), .seed = 1});
  const nr::Tensor y = nr::random_normal({40, 2}, {.device = nr::Device::cpu(), .seed = 2});
  for (const bool distributed : {false, true}) {
    RecordingModel model;
    model.compile({.optimizer = nr::optimizers::SGD(0.1), .loss = "mse"});
    if (distributed) nr::distribution::set_distribution(replica(1, 3));
    model.fit(x, y, {.batch_size = 16, .epochs = 1, .verbose = 0});
    const auto& calls = model.recorder().calls;
    ASSERT_EQ(calls.size(), 4u) << "distributed " << distributed;
    EXPECT_EQ(calls[0], (std::pair<std::int64_t, bool>{distributed ? 5 : 16, false}));
    EXPECT_TRUE(calls[1].second);
  }
  // train_on_batch's batch is the replica's own: the model is built on all of it.
  nr::distribution::set_distribution(replica(1, 3));
  RecordingModel model;
  model.compile({.optimizer = nr::optimizers::SGD(0.1), .loss = "mse"});
  (void)model.train_on_batch(x.slice(0, 16), y.slice(0, 16));
  EXPECT_EQ(model.recorder().calls.front(), (std::pair<std::int64_t, bool>{16, false}));
}

namespace {

// A job of two seen from rank 0, the other rank sending this rank's tensors (a sum is twice
// them), that records what each started all-reduce held.
class RecordingCommunicator final : public nr::distribution::Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 2; }
  void all_reduce_sum(std::vector<nr::Tensor>& tensors) override {
    std::vector<std::int64_t> sizes;
    for (nr::Tensor& t : tensors) {
      sizes.push_back(t.numel());
      t = t * 2.0;
    }
    started.push_back(sizes);
  }
  void broadcast(std::vector<nr::Tensor>& /*tensors*/, int /*root*/) override {}
  void broadcast_bytes(std::vector<std::uint8_t>& /*bytes*/, int /*root*/) override {}
  void barrier() override {}
  std::string name() const override { return "recording"; }
  std::vector<std::vector<std::int64_t>> started;  // the sizes of each all-reduce's tensors
};

}  // namespace

// Buckets of about 100 bytes, last weight first; a bucket starts once its gradients are ready
// and the buckets before it have started, whatever order the gradients come in; the sums come
// back scaled and summed, in the weights' order; an undefined gradient is sent as zeros.
TEST(GradientReducer, StartsBucketsInOrderAsTheirGradientsBecomeReady) {
  RecordingCommunicator comm;
  // float32: 48, 16, 48, 64 and 12 bytes.
  const std::vector<nr::Tensor> weights = {nr::zeros({12}), nr::zeros({4}), nr::zeros({12}),
                                           nr::zeros({16}), nr::zeros({3})};
  nr::distribution::GradientReducer reducer(comm, weights, 0.25, 100);
  // Reverse order: {4 (12 B), 3 (64 B)}, {2, 1 (48 + 16 B)}, {0}.
  EXPECT_EQ(reducer.buckets(), 3u);
  const auto gradient = [&](std::size_t i) { return nr::ones(weights[i].shape()) * (i + 1.0); };
  reducer.ready(2, gradient(2));
  reducer.ready(0, gradient(0));
  EXPECT_TRUE(comm.started.empty());  // bucket 0 (weights 4 and 3) is not ready
  reducer.ready(4, gradient(4));
  EXPECT_TRUE(comm.started.empty());
  reducer.ready(3, nr::Tensor());  // no gradient: zeros
  ASSERT_EQ(comm.started.size(), 1u);
  EXPECT_EQ(comm.started[0], (std::vector<std::int64_t>{3, 16}));
  reducer.ready(1, gradient(1));  // bucket 1 complete; then bucket 2 (ready already)
  ASSERT_EQ(comm.started.size(), 3u);
  EXPECT_EQ(comm.started[1], (std::vector<std::int64_t>{12, 4}));
  EXPECT_EQ(comm.started[2], (std::vector<std::int64_t>{12}));
  const std::vector<nr::Tensor> sums = reducer.finish();
  ASSERT_EQ(sums.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    const double want = i == 3 ? 0.0 : 2 * 0.25 * (i + 1.0);
    EXPECT_EQ(sums[i].shape(), weights[i].shape());
    for (float v : sums[i].to_vector<float>()) EXPECT_EQ(v, want) << "weight " << i;
  }
  NEURONA_EXPECT_THROW_MSG(reducer.ready(1, gradient(1)), nr::ValueError, "given twice");
  NEURONA_EXPECT_THROW_MSG(reducer.ready(7, gradient(1)), nr::ValueError, "gradient 7 of 5");
  // finish() gives what was not given as zeros; 0 bytes: one bucket.
  nr::distribution::GradientReducer one(comm, weights, 1.0, 0);
  EXPECT_EQ(one.buckets(), 1u);
  one.ready(4, gradient(4));
  const std::vector<nr::Tensor> partial = one.finish();
  EXPECT_EQ(partial[4].to_vector<float>(), (std::vector<float>{10, 10, 10}));
  EXPECT_EQ(partial[0].to_vector<float>(), std::vector<float>(12, 0.0f));
}

// Within a replica's step (rows 2-3 of a global batch of 6), a generator's draw of the replica's
// rows is those rows of the global batch's draw from the same generator, and the next draw
// continues alike; draws whose leading dimension is not the replica's rows, and draws without a
// generator, are unchanged.
TEST(ReplicaContext, GeneratorDrawsAreTheReplicasRowsOfTheGlobalBatchsDraw) {
  nr::SeedGenerator whole(11), part(11);
  std::vector<float> global, mine, global_next, mine_next, odd_whole, odd_part;
  global = nr::random_uniform({6, 3}, {.seed_generator = &whole}).to_vector<float>();
  global_next = nr::random_normal({6, 2}, {.seed_generator = &whole}).to_vector<float>();
  odd_whole = nr::random_uniform({5}, {.seed_generator = &whole}).to_vector<float>();
  {
    const nr::detail::ScopedReplicaContext replica({.num_replicas = 3,
                                                    .rank = 1,
                                                    .share = 2.0 / 6,
                                                    .all_reduce_sum = {},
                                                    .shard = {.rows = 6, .begin = 2, .end = 4}});
    mine = nr::random_uniform({2, 3}, {.seed_generator = &part}).to_vector<float>();
    mine_next = nr::random_normal({2, 2}, {.seed_generator = &part}).to_vector<float>();
    odd_part = nr::random_uniform({5}, {.seed_generator = &part}).to_vector<float>();
  }
  EXPECT_EQ(mine, std::vector<float>(global.begin() + 6, global.begin() + 12));
  EXPECT_EQ(mine_next, std::vector<float>(global_next.begin() + 4, global_next.begin() + 8));
  EXPECT_EQ(odd_part, odd_whole);
  EXPECT_EQ(nr::detail::current_replica_context(), nullptr);
}
