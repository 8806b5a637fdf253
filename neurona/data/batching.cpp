// One-hot labels, seeded permutations and the validation split. Small host-side loops: they
// run once per data set or epoch, not per batch.
#include "neurona/data/batching.h"

#include <algorithm>
#include <cmath>

#include "neurona/core/error.h"
#include "neurona/core/philox.h"
#include "neurona/core/random.h"

namespace neurona::data {

Tensor to_categorical(const Tensor& labels, std::int64_t num_classes) {
  NEURONA_CHECK(labels.defined(), ValueError, "to_categorical: the labels are undefined");
  NEURONA_CHECK(num_classes >= -1, ValueError, "to_categorical: num_classes must be positive, or ",
                "-1 to take max(labels) + 1; got ", num_classes);
  const std::vector<double> y = labels.to_vector<double>();
  double max_label = -1;
  for (std::size_t i = 0; i < y.size(); ++i) {
    NEURONA_CHECK(y[i] >= 0 && std::floor(y[i]) == y[i], ValueError, "to_categorical: label ", y[i],
                  " at index ", i, " of labels of shape ", labels.shape(),
                  " is not a non-negative whole number");
    max_label = std::max(max_label, y[i]);
  }
  if (num_classes <= 0) {
    NEURONA_CHECK(!y.empty(), ValueError,
                  "to_categorical: cannot infer num_classes from labels of shape ", labels.shape(),
                  " (no labels); pass num_classes");
    num_classes = static_cast<std::int64_t>(max_label) + 1;
  }
  NEURONA_CHECK(max_label < static_cast<double>(num_classes), ValueError, "to_categorical: label ",
                max_label, " is out of range for num_classes = ", num_classes, " (labels of shape ",
                labels.shape(), ")");
  // Keras drops a trailing dimension of 1: (N, 1) labels give (N, num_classes).
  std::vector<std::int64_t> dims = labels.shape().dims();
  if (dims.size() > 1 && dims.back() == 1) dims.pop_back();
  dims.push_back(num_classes);
  const Shape out_shape(std::move(dims));
  out_shape.check_valid("to_categorical");
  Tensor out = Tensor::empty(out_shape, DType::float32, Device::cpu());
  float* p = out.data<float>();
  std::fill(p, p + out.numel(), 0.0f);
  for (std::size_t i = 0; i < y.size(); ++i) {
    p[static_cast<std::int64_t>(i) * num_classes + static_cast<std::int64_t>(y[i])] = 1.0f;
  }
  return out.to(labels.device());
}

namespace {
/// A uniform integer in [0, bound) for position `index`: Philox words, rejection-sampled so
/// that every value is equally likely (no modulo bias), and the same on every machine.
std::uint64_t uniform_below(RandomKey key, std::uint64_t index, std::uint64_t bound) {
  // Values below `threshold` are rejected: what remains is a whole number of copies of
  // [0, bound). (2^64 - bound) % bound == 2^64 % bound.
  const std::uint64_t threshold = (0 - bound) % bound;
  for (std::uint32_t attempt = 0;; ++attempt) {
    const Philox4x32 w = philox_words(key, index, attempt);
    for (int half = 0; half < 2; ++half) {
      const std::uint64_t r = (static_cast<std::uint64_t>(w.v[2 * half]) << 32) | w.v[2 * half + 1];
      if (r >= threshold) return r % bound;
    }
  }
}
}  // namespace

Tensor permutation(std::int64_t n, std::optional<std::uint64_t> seed) {
  NEURONA_CHECK(n >= 0, ValueError, "permutation: n must be non-negative, got ", n);
  const RandomKey key = detail::next_random_key(seed);
  Tensor out = Tensor::empty({n}, DType::int64, Device::cpu());
  std::int64_t* p = out.data<std::int64_t>();
  for (std::int64_t i = 0; i < n; ++i) p[i] = i;
  for (std::int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<std::int64_t>(
        uniform_below(key, static_cast<std::uint64_t>(i), static_cast<std::uint64_t>(i) + 1));
    std::swap(p[i], p[j]);
  }
  return out;
}

std::int64_t validation_split_index(std::int64_t n, double validation_split) {
  NEURONA_CHECK(validation_split > 0.0 && validation_split < 1.0, ValueError,
                "validation_split must be between 0 and 1 (exclusive), got ", validation_split);
  const auto split_at =
      static_cast<std::int64_t>(std::floor(static_cast<double>(n) * (1.0 - validation_split)));
  NEURONA_CHECK(split_at > 0 && split_at < n, ValueError, "Training data contains ", n,
                " samples, which is not sufficient to split it into a validation and training "
                "set as specified by validation_split=",
                validation_split,
                ". Either provide more data, or a different value for validation_split.");
  return split_at;
}

TrainValidationSplit train_validation_split(const std::vector<Tensor>& arrays,
                                            double validation_split) {
  NEURONA_CHECK(!arrays.empty(), ValueError, "train_validation_split: no arrays to split");
  for (std::size_t i = 0; i < arrays.size(); ++i) {
    NEURONA_CHECK(arrays[i].defined() && arrays[i].rank() >= 1, ValueError,
                  "train_validation_split: array ", i, " is ",
                  arrays[i].defined() ? "a scalar" : "undefined",
                  "; every array needs a first (sample) axis");
    NEURONA_CHECK(arrays[i].shape()[0] == arrays[0].shape()[0], ValueError,
                  "train_validation_split: the arrays differ in their number of samples: array 0 "
                  "has shape ",
                  arrays[0].shape(), ", array ", i, " has shape ", arrays[i].shape());
  }
  const std::int64_t n = arrays[0].shape()[0];
  const std::int64_t split_at = validation_split_index(n, validation_split);
  TrainValidationSplit out;
  for (const Tensor& a : arrays) {
    out.train.push_back(a.slice(0, split_at));
    out.validation.push_back(a.slice(split_at, n));
  }
  return out;
}

}  // namespace neurona::data
