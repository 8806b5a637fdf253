// The TensorBoard callback over two SummaryWriters (train/ and validation/), made at the first
// value each receives, as Keras's writers are.
#include "neurona/models/tensorboard.h"

#include <filesystem>
#include <iostream>
#include <optional>
#include <vector>

#include "neurona/autograd/ops.h"
#include "neurona/core/error.h"
#include "neurona/distribution/distribution.h"
#include "neurona/models/keras_config.h"
#include "neurona/models/model.h"

namespace neurona::callbacks {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// The optimizer's step count, or none before compile.
std::optional<std::int64_t> iterations_of(const Model& model) {
  if (!model.compiled()) return std::nullopt;
  return model.optimizer()->iterations();
}

}  // namespace

TensorBoard::TensorBoard(TensorBoardOptions options) : options_(std::move(options)) {
  NEURONA_CHECK(!options_.log_dir.empty(), ValueError,
                "TensorBoard: argument `log_dir` must not be empty");
  NEURONA_CHECK(options_.histogram_freq >= 0, ValueError,
                "TensorBoard: argument `histogram_freq` must be >= 0, got ",
                options_.histogram_freq);
  NEURONA_CHECK(options_.update_freq >= 0, ValueError,
                "TensorBoard: argument `update_freq` must be kUpdateFreqEpoch (0) or a number of "
                "batches, got ",
                options_.update_freq);
}

tensorboard::SummaryWriter& TensorBoard::train_writer() {
  if (!train_) {
    train_ = std::make_unique<tensorboard::SummaryWriter>(
        (std::filesystem::path(options_.log_dir) / "train").string());
  }
  return *train_;
}

tensorboard::SummaryWriter& TensorBoard::val_writer() {
  if (!val_) {
    val_ = std::make_unique<tensorboard::SummaryWriter>(
        (std::filesystem::path(options_.log_dir) / "validation").string());
  }
  return *val_;
}

bool TensorBoard::wants_batch_logs() const {
  return options_.update_freq > 0 && global_train_batch_ % options_.update_freq == 0;
}

void TensorBoard::on_train_begin(Logs& /*logs*/) {
  global_train_batch_ = 0;
  // As Keras (write_graph): a Functional or Sequential model's config, which TensorBoard's graph
  // plugin draws as the model's graph, once per fit, in train/ at step 0. A model whose config
  // cannot be written is left out with a warning, as Keras does.
  const std::string& kind = model().class_name();
  if (options_.write_graph && distribution::is_chief() &&
      (kind == "Functional" || kind == "Sequential")) {
    std::string json;
    try {
      json = models::detail::model_config_json(model());
    } catch (const Error& e) {
      std::cerr << "TensorBoard: the model's graph is not written: " << e.what() << "\n";
      return;
    }
    train_writer().keras_model("keras", json, 0);
  }
}

void TensorBoard::on_train_end(Logs& /*logs*/) {
  if (!distribution::is_chief()) return;  // under DataParallel, rank 0 writes
  if (train_) train_->flush();
  if (val_) val_->flush();
}

void TensorBoard::on_epoch_begin(int /*epoch*/, Logs& /*logs*/) {
  iterations_at_epoch_begin_ = iterations_of(model()).value_or(0);
  epoch_start_ = std::chrono::steady_clock::now();
}

void TensorBoard::on_train_batch_begin(std::int64_t /*batch*/, Logs& /*logs*/) {
  ++global_train_batch_;
  batch_start_ = std::chrono::steady_clock::now();
}

void TensorBoard::on_train_batch_end(std::int64_t /*batch*/, Logs& logs) {
  if (!distribution::is_chief()) return;  // under DataParallel, rank 0 writes
  if (options_.update_freq == kUpdateFreqEpoch) return;
  if (options_.write_steps_per_second) {
    const double t = seconds_since(batch_start_);
    if (t > 0) train_writer().scalar("batch_steps_per_second", 1.0 / t, global_train_batch_);
  }
  if (global_train_batch_ % options_.update_freq != 0) return;
  for (const auto& [name, value] : logs) {
    train_writer().scalar("batch_" + name, value, global_train_batch_);
  }
}

void TensorBoard::on_epoch_end(int epoch, Logs& logs) {
  if (!distribution::is_chief()) return;  // under DataParallel, rank 0 writes
  Logs train_logs, val_logs;
  for (const auto& [name, value] : logs) {
    if (name.rfind("val_", 0) == 0) {
      val_logs[name.substr(4)] = value;
    } else {
      train_logs[name] = value;
    }
  }
  if (model().compiled()) train_logs["learning_rate"] = model().optimizer()->learning_rate();
  if (options_.write_steps_per_second) {
    const double t = seconds_since(epoch_start_);
    const auto steps = iterations_of(model()).value_or(0) - iterations_at_epoch_begin_;
    if (t > 0) train_logs["steps_per_second"] = static_cast<double>(steps) / t;
  }
  for (const auto& [name, value] : train_logs) train_writer().scalar("epoch_" + name, value, epoch);
  if (!val_logs.empty()) {
    const std::int64_t step = iterations_of(model()).value_or(0);
    for (const auto& [name, value] : val_logs) {
      val_writer().scalar("epoch_" + name, value, epoch);
      // What Keras's on_test_end writes for fit's validation.
      val_writer().scalar("evaluation_" + name + "_vs_iterations", value, step);
    }
    val_writer().flush();
  }
  if (options_.histogram_freq > 0 && epoch % options_.histogram_freq == 0) write_histograms(epoch);
  train_writer().flush();
}

void TensorBoard::on_test_end(Logs& logs) {
  if (!distribution::is_chief()) return;  // under DataParallel, rank 0 writes
  // evaluate() with this callback; fit's validation reaches on_epoch_end as val_ logs.
  const std::int64_t step = iterations_of(model()).value_or(0);
  for (const auto& [name, value] : logs) {
    val_writer().scalar("evaluation_" + name + "_vs_iterations", value, step);
  }
  val_writer().flush();
}

namespace {
// Keras's _log_weight_as_image: the weight squeezed, as a batch of one-channel images: a vector
// as one column, a matrix with its shorter side down (transposed when it has more rows than
// columns), a 3-D weight as channels_last kernels (one image per last-axis slice); none for other
// ranks (0, or 4 and more: a Conv2D kernel of several input channels).
std::optional<Tensor> weight_images(const Tensor& weight) {
  std::vector<std::int64_t> dims;
  for (std::int64_t d : weight.shape()) {
    if (d != 1) dims.push_back(d);
  }
  const Tensor w = cast(weight.to(Device::cpu()), DType::float32).reshape(Shape(dims));
  switch (dims.size()) {
    case 1:
      return w.reshape({1, dims[0], 1, 1});
    case 2:
      if (dims[0] > dims[1]) return transpose(w, {1, 0}).reshape({1, dims[1], dims[0], 1});
      return w.reshape({1, dims[0], dims[1], 1});
    case 3:
      return transpose(w, {2, 0, 1}).reshape({dims[2], dims[0], dims[1], 1});
    default:
      return std::nullopt;
  }
}
}  // namespace

void TensorBoard::write_histograms(int epoch) {
  // A variable's name is its path ("dense/kernel"), which Keras's tags are made from.
  for (const auto& layer : model().layers()) {
    for (const Variable& w : layer->weights()) {
      train_writer().histogram(w.name() + "/histogram", w.value(), epoch);
      if (!options_.write_images) continue;
      if (const auto images = weight_images(w.value())) {
        train_writer().image(w.name() + "/image", *images, epoch);
      }
    }
  }
}

}  // namespace neurona::callbacks
