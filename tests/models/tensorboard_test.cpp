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
#include "support/test_util.h"

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
  EXPECT_TRUE(by_step(train, model.layers()[0]->name() + "/kernel/image").empty());  // Keras's
                                                                                     // default

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

// tf.summary.image's record: a string tensor (width, height, png...) under the images plugin,
// at most max_outputs images, floats turned into bytes as convert_image_dtype(saturate=True).
TEST(SummaryWriter, ImagesAreWrittenAsTheImagesPluginReadsThem) {
  nr::testing::ScratchDir dir("tensorboard_images");
  {
    tb::SummaryWriter writer(dir.path().string());
    const double nan = std::numeric_limits<double>::quiet_NaN();
    // Two 2 x 3 images: below 0, 0, 0.5 (127.75), 1 (255.5), above 1, NaN; then 0.25 (63.875).
    writer.image("floats",
                 nr::testing::make_tensor(
                     {-0.5, 0, 0.5, 1, 2, nan, 0.25, 0.25, 0.25, 0.25, 0.25, 0.25}, {2, 2, 3, 1}),
                 4);
    writer.image("five", nr::zeros({5, 1, 2, 3}), 4);  // three shown of five
    NEURONA_EXPECT_THROW_MSG(writer.image("flat", nr::zeros({2, 3}), 0), nr::ValueError,
                             "expected images of shape (k, height, width, channels)");
    NEURONA_EXPECT_THROW_MSG(writer.image("two", nr::zeros({1, 2, 2, 2}), 0), nr::ValueError,
                             "1, 3 or 4 channels");
  }
  const auto values = tb::read_event_file(event_file_in(dir.path()));
  const tb::EventValue& f = *by_step(values, "floats").at(4);
  EXPECT_EQ(f.kind, "tensor");
  EXPECT_EQ(f.plugin, "images");
  EXPECT_EQ(f.tensor_shape, (std::vector<std::int64_t>{4}));
  ASSERT_EQ(f.strings.size(), 4u);
  EXPECT_EQ(f.strings[0], "3");  // width, then height
  EXPECT_EQ(f.strings[1], "2");
  const auto pixels = [](const std::string& png) {
    return nr::data::decode_image(
               std::span(reinterpret_cast<const std::uint8_t*>(png.data()), png.size()))
        .to_vector<int>();
  };
  EXPECT_EQ(pixels(f.strings[2]), (std::vector<int>{0, 0, 127, 255, 255, 0}));
  EXPECT_EQ(pixels(f.strings[3]), std::vector<int>(6, 63));
  const tb::EventValue& five = *by_step(values, "five").at(4);
  EXPECT_EQ(five.strings.size(), 5u);  // width, height and the first three
  EXPECT_EQ(pixels(five.strings[4]), std::vector<int>(6, 0));
}

// write_images draws each weight as Keras's _log_weight_as_image: the Conv2D kernel (3, 3, 1, 4)
// squeezed to (3, 3, 4) as four 3 x 3 images (three written), its bias (4,) as a 4 x 1 column,
// the Dense kernel (36, 2) transposed to a 2 x 36 image, its bias as a 2 x 1 column.
TEST(TensorBoardCallback, WriteImagesDrawsEachWeightAsKeras) {
  nr::testing::ScratchDir dir("tensorboard_write_images");
  namespace L = nr::layers;
  nr::Sequential model({L::Input({5, 5, 1}), L::Conv2D(4, {3, 3}, {.name = "conv"}), L::Flatten(),
                        L::Dense(2, {.name = "head"})});
  model.compile({.optimizer = nr::optimizers::SGD(0.0), .loss = "mse"});
  model.fit(nr::random_normal({4, 5, 5, 1}, {.seed = 1}), nr::zeros({4, 2}),
            {.epochs = 1,
             .verbose = 0,
             .callbacks = {nr::callbacks::TensorBoard(
                 {.log_dir = dir.path().string(), .histogram_freq = 1, .write_images = true})}});
  const auto train = tb::read_event_file(event_file_in(dir.path() / "train"));
  const auto image = [&](const std::string& tag) -> const tb::EventValue& {
    const auto found = by_step(train, tag);
    EXPECT_EQ(found.size(), 1u) << tag;
    return *found.at(0);
  };
  const tb::EventValue& kernel = image("conv/kernel/image");
  EXPECT_EQ(kernel.plugin, "images");
  ASSERT_EQ(kernel.strings.size(), 5u);
  EXPECT_EQ(kernel.strings[0], "3");
  EXPECT_EQ(kernel.strings[1], "3");
  // The second image is filter 1's 3 x 3 weights, w * 255.5 clipped and truncated.
  const std::vector<float> w = model.get_layer("conv")->get_weights()[0].to_vector<float>();
  std::vector<int> want;
  for (int i = 0; i < 9; ++i) {
    want.push_back(static_cast<int>(
        std::clamp(w[static_cast<std::size_t>(i * 4 + 1)] * 255.5f, 0.0f, 255.0f)));
  }
  const std::string& png = kernel.strings[3];
  EXPECT_EQ(nr::data::decode_image(
                std::span(reinterpret_cast<const std::uint8_t*>(png.data()), png.size()))
                .to_vector<int>(),
            want);
  const tb::EventValue& bias = image("conv/bias/image");
  EXPECT_EQ((std::vector<std::string>{bias.strings[0], bias.strings[1]}),
            (std::vector<std::string>{"1", "4"}));
  const tb::EventValue& dense = image("head/kernel/image");
  EXPECT_EQ((std::vector<std::string>{dense.strings[0], dense.strings[1]}),
            (std::vector<std::string>{"36", "2"}));
  EXPECT_EQ(dense.strings.size(), 3u);
  EXPECT_EQ(image("head/bias/image").strings[1], "2");
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
