// keras.utils.image_dataset_from_directory: a Dataset of the PNG and JPEG images under a folder,
// labelled by their subfolders, decoded and resized on the map's worker threads.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "neurona/data/dataset.h"

namespace neurona::data {

/// image_dataset_from_directory's `labels`, as Keras takes it: "inferred" (the label of an image
/// is its class subfolder; the images directly in the folder are not used), "" (no labels: the
/// elements are images alone, every image under the folder at any depth), or a list of integer
/// labels, one per image file under the folder (at any depth) in the sorted order of their paths;
/// the class names are then the distinct labels, sorted, as strings.
///   {.labels = "inferred"}, {.labels = ""}, {.labels = {0, 1, 1, 0}}
class DirectoryLabels {
 public:
  DirectoryLabels(const char* mode) : mode_(mode) {}             // NOLINT: implicit by design
  DirectoryLabels(std::string mode) : mode_(std::move(mode)) {}  // NOLINT: implicit by design
  DirectoryLabels(std::vector<std::int32_t> values)              // NOLINT: implicit by design
      : list_(true), values_(std::move(values)) {}
  DirectoryLabels(std::initializer_list<std::int32_t> values)  // NOLINT: implicit by design
      : list_(true), values_(values) {}

  bool inferred() const { return !list_ && mode_ == "inferred"; }
  /// No labels ("").
  bool none() const { return !list_ && mode_.empty(); }
  bool is_list() const { return list_; }
  /// The string given ("inferred", "", or another that the function refuses); empty for a list.
  const std::string& mode() const { return mode_; }
  /// The labels of a list.
  const std::vector<std::int32_t>& values() const { return values_; }

 private:
  bool list_ = false;
  std::string mode_;
  std::vector<std::int32_t> values_;
};

/// Keras's arguments and defaults.
struct ImageDirectoryOptions {
  DirectoryLabels labels = "inferred";
  /// "int" (int32 class index), "categorical" (float32 one-hot), "binary" (float32 0 or 1 of
  /// shape (1,), exactly two classes) or "" (no labels).
  std::string label_mode = "int";
  /// The class subfolders to use, in this order (default: every subfolder, sorted).
  std::vector<std::string> class_names = {};
  /// "rgb", "grayscale" or "rgba": the channels of the images (decode_image converts).
  std::string color_mode = "rgb";
  /// Images per batch; 0: elements are single images.
  std::int64_t batch_size = 32;
  /// (height, width) every image is resized to.
  std::array<std::int64_t, 2> image_size = {256, 256};
  /// The files shuffled once with `seed` (before the split), and the elements in a new order
  /// every pass. (Keras reshuffles in a buffer of 8 batches; neurona shuffles the file list.)
  bool shuffle = true;
  /// Required with validation_split and shuffle, so that the two subsets do not overlap.
  std::optional<std::uint64_t> seed = std::nullopt;
  /// The fraction of the files kept for validation (the last ones, after the shuffle).
  std::optional<double> validation_split = std::nullopt;
  /// With validation_split: "training" or "validation" ("both":
  /// image_datasets_from_directory).
  std::string subset = "";
  /// "bilinear", "nearest", "bicubic", "lanczos3", "lanczos5" (nr::image_resize's).
  std::string interpolation = "bilinear";
  bool follow_links = false;
  /// Each image's largest central window of image_size's aspect ratio, resized (not squashed).
  bool crop_to_aspect_ratio = false;
  /// Each image padded with zeros (centred) to image_size's aspect ratio, then resized (not
  /// squashed). At most one of the two.
  bool pad_to_aspect_ratio = false;
  /// "channels_last": images (height, width, channels); "channels_first": (channels, height,
  /// width), as a model in that format takes them.
  std::string data_format = "channels_last";
  /// The map's workers (Dataset::map).
  int num_parallel_calls = kAutotune;
  /// Print Keras's "Found N files belonging to C classes." and "Using K files for training.".
  bool verbose = true;
};

/// A dataset of images from a folder and what Keras attaches to it.
struct ImageDirectory {
  /// Elements: (images float32 (batch, height, width, channels) in [0, 255] (channels first
  /// with data_format "channels_first"), labels), or the
  /// images alone without labels.
  Dataset dataset;
  /// The classes, in label order.
  std::vector<std::string> class_names;
  /// The files of this subset and their labels, in the dataset's first order before the
  /// per-pass shuffle.
  std::vector<std::string> file_paths;
  std::vector<std::int32_t> labels;
};

/// The images under `directory`:
///
///   auto train = nr::data::image_dataset_from_directory(
///       "flowers", {.image_size = {180, 180}, .seed = 1, .validation_split = 0.2,
///                   .subset = "training"});
///   model.fit(train.dataset.prefetch(2, nr::Device::cuda(0)), {.epochs = 10});
///
/// Files ending .png, .jpg or .jpeg (any case) are read; a .bmp or .gif is refused (IoError:
/// neurona decodes PNG and JPEG only); other files are ignored. ValueError for arguments Keras
/// refuses, with its messages. An unreadable image fails the pass that reads it, naming it.
ImageDirectory image_dataset_from_directory(const std::string& directory,
                                            const ImageDirectoryOptions& options = {});

/// subset="both": the training and the validation subsets from one listing and shuffle.
std::pair<ImageDirectory, ImageDirectory> image_datasets_from_directory(
    const std::string& directory, const ImageDirectoryOptions& options);

}  // namespace neurona::data
