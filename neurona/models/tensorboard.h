// keras.callbacks.TensorBoard: fit's logs as TensorBoard event files, under <log_dir>/train and
// <log_dir>/validation with Keras's tags (epoch_loss, batch_loss, evaluation_loss_vs_iterations,
// <weight path>/histogram).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "neurona/models/callbacks.h"
#include "neurona/models/summary_writer.h"

namespace neurona::callbacks {

/// update_freq = kUpdateFreqEpoch: summaries at the end of each epoch only (Keras's "epoch").
inline constexpr std::int64_t kUpdateFreqEpoch = 0;

struct TensorBoardOptions {
  std::string log_dir = "logs";
  /// Histograms of every weight each this many epochs (0: none).
  int histogram_freq = 0;
  /// With the histograms, each weight as images too ("<weight path>/image"), as Keras's
  /// write_images draws them: the weight squeezed; a vector as a column, a matrix with its
  /// longer side across, a 3-D kernel (e.g. a Conv2D kernel of one input channel) as one image
  /// per last-axis slice (TensorBoard shows the first 3); other ranks none. The values are
  /// taken as they are, in [0, 1] (tf.summary.image's conversion: weights below 0 are black).
  bool write_images = false;
  /// Also write steps per second ("epoch_steps_per_second", "batch_steps_per_second").
  bool write_steps_per_second = false;
  /// kUpdateFreqEpoch, or N: the batch logs every N batches as "batch_<name>" at the global batch
  /// number (Keras's "batch" is 1).
  std::int64_t update_freq = kUpdateFreqEpoch;
  /// Write a Functional or Sequential model's config at the start of fit, which TensorBoard's
  /// Graphs tab draws as the model's layer graph (what Keras 3 writes for write_graph; its
  /// TensorFlow backend adds the train function's op graph, which neurona has not).
  bool write_graph = true;
};

/// Writes what Keras's TensorBoard callback writes, except the profiler's traces and the op
/// graph (profile_batch, and write_graph's TensorFlow part: TensorFlow formats neurona does not
/// produce) and embeddings (embeddings_freq):
/// - train/: the model's config ("keras", graph_keras_model) at step 0 with write_graph;
///   epoch_<metric> and epoch_learning_rate per epoch; batch_<metric> when update_freq
///   asks; <weight path>/histogram ("dense/kernel/histogram") every histogram_freq epochs, and
///   <weight path>/image then with write_images.
/// - validation/: epoch_<metric> of the val_ logs, and evaluation_<metric>_vs_iterations at the
///   optimizer's step count.
///
///   model.fit(x, y, {.epochs = 5, .callbacks = {nr::callbacks::TensorBoard({.log_dir =
///   "logs"})}});
///   // then: tensorboard --logdir logs
class TensorBoard : public Callback {
 public:
  explicit TensorBoard(TensorBoardOptions options = {});

  bool wants_batch_logs() const override;
  void on_train_begin(Logs& logs) override;
  void on_train_end(Logs& logs) override;
  void on_epoch_begin(int epoch, Logs& logs) override;
  void on_epoch_end(int epoch, Logs& logs) override;
  void on_train_batch_begin(std::int64_t batch, Logs& logs) override;
  void on_train_batch_end(std::int64_t batch, Logs& logs) override;
  void on_test_end(Logs& logs) override;

 private:
  tensorboard::SummaryWriter& train_writer();
  tensorboard::SummaryWriter& val_writer();
  void write_histograms(int epoch);

  TensorBoardOptions options_;
  std::unique_ptr<tensorboard::SummaryWriter> train_, val_;
  std::int64_t global_train_batch_ = 0;
  std::int64_t iterations_at_epoch_begin_ = 0;
  std::chrono::steady_clock::time_point epoch_start_, batch_start_;
};

}  // namespace neurona::callbacks
