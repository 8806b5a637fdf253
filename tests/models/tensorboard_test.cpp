// TensorBoard event files: the TFRecord framing and its checksums, scalars and histograms read
// back, and the callback's files and tags (the model's config too) as Keras's TensorBoard
// callback writes them.
#include "neurona/models/tensorboard.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "data/data_test_util.h"
#include "neurona/neurona.h"

namespace nr = neurona;
namespace tb = nr::tensorboard;

namespace {

// The one event file in `dir`.
std::string event_file_in(const std::filesystem::path& dir) {
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (entry.path().filename().string().find("tfevents") != std::string::npos) {
      found.push_back(entry.path().string());
    }
  }
  EXPECT_EQ(found.size(), 1u) << dir;
  return found.empty() ? std::string() : found.front();
}

// The values of `tag`, by step.
std::map<std::int64_t, const tb::EventValue*> by_step(const std::vector<tb::EventValue>& values,
                                                      const std::string& tag) {
  std::map<std::int64_t, const tb::EventValue*> out;
  for (const auto& v : values) {
    if (v.tag == tag) out[v.step] = &v;
  }
  return out;
}

}  // namespace

TEST(SummaryWriter, Crc32cIsTheCastagnoliChecksum) {
  // The check value of CRC-32C (RFC 3720, and every CRC catalogue).
  EXPECT_EQ(tb::crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(tb::crc32c(""), 0u);
}

TEST(SummaryWriter, ScalarsAndHistogramsReadBack) {
  nr::testing::ScratchDir dir("summary_writer");
  std::string path;
  {
    tb::SummaryWriter writer(dir.file("run"));
    path = writer.path();
    EXPECT_NE(std::filesystem::path(path).filename().string().find("events.out.tfevents."),
              std::string::npos);
    writer.scalar("loss", 0.25, 3);
    writer.histogram("w", nr::constant({0.0, 1.0, 1.0, 2.0, 4.0}), 3, /*buckets=*/4);
    writer.histogram("same", nr::constant({2.0, 2.0}), 4);
  }
  const std::vector<tb::EventValue> values = tb::read_event_file(path);
  ASSERT_EQ(values.size(), 3u);
  EXPECT_EQ(values[0].tag, "loss");
  EXPECT_EQ(values[0].kind, "scalar");
  EXPECT_EQ(values[0].step, 3);
  EXPECT_EQ(values[0].scalar, 0.25);
  const tb::EventValue& h = values[1];
  EXPECT_EQ(h.kind, "histogram");
  EXPECT_EQ(h.min, 0.0);
  EXPECT_EQ(h.max, 4.0);
  EXPECT_EQ(h.num, 5.0);
  EXPECT_EQ(h.sum, 8.0);
  EXPECT_EQ(h.sum_squares, 22.0);
  EXPECT_EQ(h.bucket_limit, (std::vector<double>{1, 2, 3, 4}));
  EXPECT_EQ(h.bucket, (std::vector<double>{1, 2, 1, 1}));  // [0,1) [1,2) [2,3) [3,4]
  EXPECT_EQ(values[2].bucket, (std::vector<double>{2}));
  EXPECT_THROW(
      tb::SummaryWriter(dir.file("run"))
          .histogram("nan", nr::constant({1.0, std::numeric_limits<double>::quiet_NaN()}), 0),
      nr::ValueError);
}

TEST(SummaryWriter, ATornOrCorruptRecordIsReportedWithItsOffset) {
  nr::testing::ScratchDir dir("summary_writer_torn");
  std::string path;
  {
    tb::SummaryWriter writer(dir.file("run"));
    path = writer.path();
    writer.scalar("a", 1.0, 0);
    writer.scalar("b", 2.0, 1);
  }
  const auto size = std::filesystem::file_size(path);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const auto write = [&](const std::string& b) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << b;
  };
  write(bytes.substr(0, size - 3));
  try {
    (void)tb::read_event_file(path);
    FAIL() << "expected an IoError";
  } catch (const nr::IoError& e) {
    EXPECT_NE(std::string(e.what()).find("torn record"), std::string::npos) << e.what();
  }
  std::string corrupt = bytes;
  corrupt[corrupt.size() - 6] ^= 0x20;  // inside the last record's data
  write(corrupt);
  EXPECT_THROW((void)tb::read_event_file(path), nr::IoError);
  write(bytes);
  EXPECT_EQ(tb::read_event_file(path).size(), 2u);
}

TEST(TensorBoardCallback, WritesKerasTagsForTrainingAndValidation) {
  nr::testing::ScratchDir dir("tensorboard_cb");
  nr::set_seed(1);
  const nr::Tensor x = nr::random_normal({40, 3}, {.seed = 2});
  const nr::Tensor y = nr::cast(nr::greater(nr::sum(x, {1}), nr::constant(0.0)), nr::int32);
  nr::Sequential model({nr::layers::Input({3}), nr::layers::Dense(4, {.activation = "relu"}),
                        nr::layers::Dense(2, {.activation = "softmax"})});
  model.compile({.optimizer = nr::optimizers::SGD(0.1),
                 .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"}});
  const auto history =
      model.fit(x, y,
                {.batch_size = 8,
                 .epochs = 2,
                 .verbose = 0,
                 .callbacks = {nr::callbacks::TensorBoard(
                     {.log_dir = dir.path().string(), .histogram_freq = 1, .update_freq = 2})},
                 .validation_split = 0.2});
  const auto train = tb::read_event_file(event_file_in(dir.path() / "train"));
  const auto val = tb::read_event_file(event_file_in(dir.path() / "validation"));

  const auto loss = by_step(train, "epoch_loss");
  ASSERT_EQ(loss.size(), 2u);
  for (int e = 0; e < 2; ++e) {
    EXPECT_FLOAT_EQ(loss.at(e)->scalar, history.history.at("loss")[static_cast<std::size_t>(e)]);
  }
  EXPECT_EQ(by_step(train, "epoch_accuracy").size(), 2u);
  EXPECT_FLOAT_EQ(by_step(train, "epoch_learning_rate").at(1)->scalar, 0.1f);
  // 32 training samples in batches of 8: 4 a epoch, 8 in all; every second one is logged.
  const auto batch_loss = by_step(train, "batch_loss");
  EXPECT_EQ(batch_loss.size(), 4u);
  EXPECT_TRUE(batch_loss.count(2) && batch_loss.count(8));
  const auto kernel = by_step(train, model.layers()[0]->name() + "/kernel/histogram");
  ASSERT_EQ(kernel.size(), 2u);
  EXPECT_EQ(kernel.at(1)->kind, "histogram");
  EXPECT_EQ(kernel.at(1)->num, 12.0);

  const auto val_loss = by_step(val, "epoch_loss");
  ASSERT_EQ(val_loss.size(), 2u);
  EXPECT_FLOAT_EQ(val_loss.at(1)->scalar, history.history.at("val_loss")[1]);
  const auto vs_iterations = by_step(val, "evaluation_loss_vs_iterations");
  ASSERT_EQ(vs_iterations.size(), 2u);
  EXPECT_TRUE(vs_iterations.count(4) && vs_iterations.count(8));

  // write_graph (Keras's default): the model's config, which TensorBoard's Graphs tab draws.
  const auto graph = by_step(train, "keras");
  ASSERT_EQ(graph.size(), 1u);
  const tb::EventValue& g = *graph.at(0);
  EXPECT_EQ(g.kind, "tensor");
  EXPECT_EQ(g.plugin, "graph_keras_model");
  ASSERT_EQ(g.strings.size(), 1u);
  const auto config = nlohmann::json::parse(g.strings[0]);
  EXPECT_EQ(config["class_name"], "Sequential");
  EXPECT_EQ(config["config"]["layers"].size(), 3u);  // the InputLayer and the two Dense
  EXPECT_EQ(by_step(val, "keras").size(), 0u);
}

TEST(TensorBoardCallback, WriteGraphOffWritesNoModel) {
  nr::testing::ScratchDir dir("tensorboard_no_graph");
  const nr::Tensor x = nr::random_normal({8, 3}, {.seed = 2});
  const nr::Tensor y = nr::random_normal({8, 1}, {.seed = 3});
  nr::Sequential model({nr::layers::Input({3}), nr::layers::Dense(1)});
  model.compile({.optimizer = nr::optimizers::SGD(0.1), .loss = "mse"});
  model.fit(x, y,
            {.epochs = 1,
             .verbose = 0,
             .callbacks = {nr::callbacks::TensorBoard(
                 {.log_dir = dir.path().string(), .write_graph = false})}});
  for (const auto& v : tb::read_event_file(event_file_in(dir.path() / "train"))) {
    EXPECT_NE(v.kind, "tensor") << v.tag;
  }
}
