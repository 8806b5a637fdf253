// TensorBoard event files (tf.summary's file writer): scalars and histograms as TensorBoard reads
// them, and a reader that checks every record, for tests and tools.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "neurona/core/tensor.h"

namespace neurona::tensorboard {

/// CRC-32C (Castagnoli) of `bytes`, and TFRecord's masked form of it, which event files store
/// after each record's length and data. Written here: no Debian library exports CRC-32C.
std::uint32_t crc32c(std::string_view bytes);
std::uint32_t masked_crc32c(std::string_view bytes);

/// Writes one event file in `log_dir` (created if missing), named as TensorFlow names them
/// (events.out.tfevents.<seconds>.<host>.<pid>.<n>.v2) so that TensorBoard finds it:
///
///   nr::tensorboard::SummaryWriter writer("logs/train");
///   writer.scalar("epoch_loss", 0.42, /*step=*/0);
///   writer.histogram("dense/kernel/histogram", kernel, 0);
///
/// An event file is a log that TensorBoard reads while it grows: records are appended (each with
/// its own checksums, so a reader can tell a torn last record) and flushed by flush() and the
/// destructor, rather than written whole and renamed. IoError naming the file when it cannot be
/// created or written.
class SummaryWriter {
 public:
  explicit SummaryWriter(const std::string& log_dir);
  ~SummaryWriter();
  SummaryWriter(const SummaryWriter&) = delete;
  SummaryWriter& operator=(const SummaryWriter&) = delete;

  /// A scalar (TensorBoard's Scalars tab), as a float32 simple_value as TensorFlow writes it.
  void scalar(const std::string& tag, double value, std::int64_t step);
  /// The values of `values` (any dtype and device) in `buckets` buckets of equal width from their
  /// minimum to their maximum (tf.summary.histogram's default of 30), with their count, sum and
  /// sum of squares. One bucket when all values are equal; ValueError for an empty tensor or a
  /// non-finite value.
  void histogram(const std::string& tag, const Tensor& values, std::int64_t step, int buckets = 30);
  /// Images (TensorBoard's Images tab) as tf.summary.image writes them: `images` (k, height,
  /// width, channels) with 1, 3 or 4 channels, uint8, or floats in [0, 1] turned into bytes as
  /// tf.image.convert_image_dtype(saturate=True) turns them (x * 255.5, clipped to [0, 255],
  /// truncated; NaN as 0); the first `max_outputs` of them, each a PNG, in a string tensor
  /// (width, height, png...) under the "images" plugin. ValueError for another shape.
  void image(const std::string& tag, const Tensor& images, std::int64_t step, int max_outputs = 3);
  /// A Keras model's JSON config (Model.to_json: the .keras archive's config.json) as Keras's
  /// keras_model_summary writes it: a string tensor under the graph_keras_model plugin, from
  /// which TensorBoard's Graphs tab draws the layer graph.
  void keras_model(const std::string& tag, const std::string& model_json, std::int64_t step);
  /// Pushes what was written to the operating system.
  void flush();
  /// The event file's path.
  const std::string& path() const { return path_; }

 private:
  void write_record(const std::string& data);
  std::string path_;
  std::ofstream out_;
};

/// One value of an event file, as read back.
struct EventValue {
  double wall_time = 0;
  std::int64_t step = 0;
  std::string tag;
  /// "scalar", "histogram" or "tensor" (then its plugin's name, its strings and its shape).
  std::string kind;
  std::string plugin;
  std::vector<std::string> strings;
  std::vector<std::int64_t> tensor_shape;
  double scalar = 0;
  /// A histogram's totals and buckets (right edges and counts).
  double min = 0, max = 0, num = 0, sum = 0, sum_squares = 0;
  std::vector<double> bucket_limit, bucket;
};

/// Every summary value of the event file at `path`, in order, after checking the file version
/// event and every record's checksums. IoError naming the file and the byte offset of a torn or
/// corrupt record.
std::vector<EventValue> read_event_file(const std::string& path);

}  // namespace neurona::tensorboard
