// Metrics with Keras 3's names, defaults and arithmetic (keras.metrics). A metric's state lives
// in float32 tensors on the device of the data it is given and is updated there with ops, so
// a training loop can update metrics every step without waiting for the device, and read
// result() (a scalar tensor on that device) only when it prints.
//
//   nr::metrics::SparseCategoricalAccuracy acc;
//   acc.update_state(labels, logits);          // no host synchronisation
//   float a = acc.result().item();             // synchronises here
//   acc.reset_state();
//
// A metric object is a handle: copies share one state, as Python references to a Keras metric
// do (so the object given to compile() and the user's copy see the same counts).
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "neurona/autograd/variable.h"
#include "neurona/core/tensor.h"
#include "neurona/training/config.h"

namespace neurona::metrics {

/// Base of every metric.
class Metric {
 public:
  explicit Metric(std::string name);
  virtual ~Metric() = default;

  /// The name a progress bar and History print ("accuracy", "loss", ...).
  const std::string& name() const;
  /// Renames the metric (compile() names a metric after the string it was given).
  void set_name(std::string name);

  /// Accumulates a batch: labels, predictions and optional per-sample weights (broadcast to
  /// the per-sample values; 0 masks a sample). Asynchronous: nothing is read back to the host.
  virtual void update_state(const Tensor& y_true, const Tensor& y_pred,
                            const std::optional<Tensor>& sample_weight = std::nullopt) = 0;
  /// The value so far: a float32 scalar on the metric's device (0 before any update, as
  /// Keras's divide_no_nan gives).
  virtual Tensor result() const = 0;
  /// Zeros the state, on the device it lives on.
  void reset_state();
  /// Where the state lives: the device of the last update (default_device() before any).
  Device device() const;
  /// Keras's metric.variables: the state (float32 tensors: totals, counts, ...), in the order
  /// the metric declared it. Handles: assigning one changes the metric (DataParallel sums them
  /// across replicas before reading a result).
  std::vector<Variable> variables() const;

  /// Keras's class name ("SparseCategoricalAccuracy", ...), which `.keras` files record;
  /// empty for a metric of the user's own, which from_config cannot rebuild.
  virtual std::string class_name() const { return ""; }
  /// Keras's get_config(), in its key order: name, dtype ("float32"), then the class's own
  /// arguments.
  virtual Config config() const;

 protected:
  /// Declares a float32 state tensor of `shape`, zeros; returns its index for state().
  std::size_t add_state(const std::string& name, const Shape& shape);
  /// State tensor `i`, moved to `device` (keeping its value) if it lives elsewhere.
  Variable& state(std::size_t i, Device device);
  /// State tensor `i` where it lives.
  const Variable& state(std::size_t i) const;

 private:
  struct Shared;
  std::shared_ptr<Shared> shared_;
};

/// The options of metrics that take only a name; empty means the class's default.
struct MetricOptions {
  std::string name = "";
};

/// keras.metrics.Mean: the (weighted) mean of the values given, e.g. of the loss per batch.
///   nr::metrics::Mean loss_tracker({.name = "loss"});
///   loss_tracker.update_state(loss);           // or (loss, weight)
class Mean : public Metric {
 public:
  explicit Mean(const MetricOptions& options = {});
  /// Adds sum(values * weight) to the total and sum(weight) (or the number of samples: the
  /// size of the first axis, 1 for a scalar) to the count. Values of rank > 1 are first
  /// averaged over all but the first axis, as Keras's reduce_to_samplewise_values.
  void update_state(const Tensor& values,
                    const std::optional<Tensor>& sample_weight = std::nullopt);
  /// Mean takes values, not labels and predictions: throws NotImplementedError.
  void update_state(const Tensor& y_true, const Tensor& y_pred,
                    const std::optional<Tensor>& sample_weight) override;
  /// total / count (0 when count is 0).
  Tensor result() const override;
  std::string class_name() const override { return "Mean"; }
  /// Keras's from_config: the metric config() describes (see metrics::from_config).
  static std::shared_ptr<Mean> from_config(const Config& config);
};

/// keras.metrics.MeanMetricWrapper: the mean of a per-sample function of (y_true, y_pred).
class MeanMetricWrapper : public Metric {
 public:
  using Fn = std::function<Tensor(const Tensor& y_true, const Tensor& y_pred)>;
  MeanMetricWrapper(Fn fn, std::string name);
  void update_state(const Tensor& y_true, const Tensor& y_pred,
                    const std::optional<Tensor>& sample_weight = std::nullopt) override;
  Tensor result() const override;

 private:
  Fn fn_;
};

// ---- per-sample functions (float32 0/1 matches, Keras's metric functions) -----------------

/// y_true == y_pred elementwise (keras.metrics.Accuracy's function).
Tensor accuracy(const Tensor& y_true, const Tensor& y_pred);
/// y_true == (y_pred > threshold).
Tensor binary_accuracy(const Tensor& y_true, const Tensor& y_pred, double threshold = 0.5);
/// argmax(y_true, -1) == argmax(y_pred, -1) (one-hot labels).
Tensor categorical_accuracy(const Tensor& y_true, const Tensor& y_pred);
/// y_true == argmax(y_pred, -1), integer labels (batch,) or (batch, 1).
Tensor sparse_categorical_accuracy(const Tensor& y_true, const Tensor& y_pred);
/// argmax(y_true) is among the k largest of y_pred (ties count for the label: its rank is 1 +
/// the number of strictly larger predictions, as Keras's in_top_k).
Tensor top_k_categorical_accuracy(const Tensor& y_true, const Tensor& y_pred, std::int64_t k = 5);
/// Integer labels in the top k.
Tensor sparse_top_k_categorical_accuracy(const Tensor& y_true, const Tensor& y_pred,
                                         std::int64_t k = 5);

// ---- metric classes ---------------------------------------------------------------------------

/// keras.metrics.Accuracy ("accuracy"): exact equality. (compile's "accuracy" string instead
/// picks binary, categorical or sparse categorical accuracy: see get() with shapes.)
class Accuracy : public MeanMetricWrapper {
 public:
  explicit Accuracy(const MetricOptions& options = {});
  std::string class_name() const override { return "Accuracy"; }
  /// Keras's from_config: the metric config() describes (see metrics::from_config).
  static std::shared_ptr<Accuracy> from_config(const Config& config);
};

struct BinaryAccuracyOptions {
  std::string name = "";
  double threshold = 0.5;
};
/// keras.metrics.BinaryAccuracy ("binary_accuracy").
class BinaryAccuracy : public MeanMetricWrapper {
 public:
  explicit BinaryAccuracy(const BinaryAccuracyOptions& options = {});
  std::string class_name() const override { return "BinaryAccuracy"; }
  Config config() const override;
  /// Keras's from_config: the metric config() describes (see metrics::from_config).
  static std::shared_ptr<BinaryAccuracy> from_config(const Config& config);

 private:
  double threshold_;
};

/// keras.metrics.CategoricalAccuracy ("categorical_accuracy").
class CategoricalAccuracy : public MeanMetricWrapper {
 public:
  explicit CategoricalAccuracy(const MetricOptions& options = {});
  std::string class_name() const override { return "CategoricalAccuracy"; }
  /// Keras's from_config: the metric config() describes (see metrics::from_config).
  static std::shared_ptr<CategoricalAccuracy> from_config(const Config& config);
};

/// keras.metrics.SparseCategoricalAccuracy ("sparse_categorical_accuracy").
class SparseCategoricalAccuracy : public MeanMetricWrapper {
 public:
  explicit SparseCategoricalAccuracy(const MetricOptions& options = {});
  std::string class_name() const override { return "SparseCategoricalAccuracy"; }
  /// Keras's from_config: the metric config() describes (see metrics::from_config).
  static std::shared_ptr<SparseCategoricalAccuracy> from_config(const Config& config);
};

struct TopKOptions {
  std::int64_t k = 5;
  std::string name = "";
};
/// keras.metrics.TopKCategoricalAccuracy ("top_k_categorical_accuracy").
class TopKCategoricalAccuracy : public MeanMetricWrapper {
 public:
  explicit TopKCategoricalAccuracy(const TopKOptions& options = {});
  std::string class_name() const override { return "TopKCategoricalAccuracy"; }
  Config config() const override;
  /// Keras's from_config: the metric config() describes (see metrics::from_config).
  static std::shared_ptr<TopKCategoricalAccuracy> from_config(const Config& config);

 private:
  std::int64_t k_;
};
/// keras.metrics.SparseTopKCategoricalAccuracy ("sparse_top_k_categorical_accuracy").
class SparseTopKCategoricalAccuracy : public MeanMetricWrapper {
 public:
  explicit SparseTopKCategoricalAccuracy(const TopKOptions& options = {});
  std::string class_name() const override { return "SparseTopKCategoricalAccuracy"; }
  Config config() const override;
  /// Keras's from_config: the metric config() describes (see metrics::from_config).
  static std::shared_ptr<SparseTopKCategoricalAccuracy> from_config(const Config& config);

 private:
  std::int64_t k_;
};

/// keras.metrics.MeanSquaredError ("mean_squared_error"): the mean of
/// losses::mean_squared_error.
class MeanSquaredError : public MeanMetricWrapper {
 public:
  explicit MeanSquaredError(const MetricOptions& options = {});
  std::string class_name() const override { return "MeanSquaredError"; }
  /// Keras's from_config: the metric config() describes (see metrics::from_config).
  static std::shared_ptr<MeanSquaredError> from_config(const Config& config);
};
/// keras.metrics.MeanAbsoluteError ("mean_absolute_error").
class MeanAbsoluteError : public MeanMetricWrapper {
 public:
  explicit MeanAbsoluteError(const MetricOptions& options = {});
  std::string class_name() const override { return "MeanAbsoluteError"; }
  /// Keras's from_config: the metric config() describes (see metrics::from_config).
  static std::shared_ptr<MeanAbsoluteError> from_config(const Config& config);
};

/// Options of Precision and Recall. Keras's list of thresholds, top_k and class_id are not
/// implemented: one threshold.
struct ThresholdOptions {
  /// A prediction above it counts as positive.
  double thresholds = 0.5;
  std::string name = "";
};

/// keras.metrics.Precision ("precision"): true positives / (true + false positives), labels
/// cast to bool (nonzero is positive), predictions > threshold.
class Precision : public Metric {
 public:
  explicit Precision(const ThresholdOptions& options = {});
  void update_state(const Tensor& y_true, const Tensor& y_pred,
                    const std::optional<Tensor>& sample_weight = std::nullopt) override;
  Tensor result() const override;
  std::string class_name() const override { return "Precision"; }
  /// thresholds (None for the default 0.5, as Keras writes Precision()), top_k and class_id
  /// (None).
  Config config() const override;
  /// Keras's from_config: the metric config() describes (see metrics::from_config).
  static std::shared_ptr<Precision> from_config(const Config& config);

 private:
  double threshold_;
};

/// keras.metrics.Recall ("recall"): true positives / (true positives + false negatives).
class Recall : public Metric {
 public:
  explicit Recall(const ThresholdOptions& options = {});
  void update_state(const Tensor& y_true, const Tensor& y_pred,
                    const std::optional<Tensor>& sample_weight = std::nullopt) override;
  Tensor result() const override;
  std::string class_name() const override { return "Recall"; }
  /// As Precision's.
  Config config() const override;
  /// Keras's from_config: the metric config() describes (see metrics::from_config).
  static std::shared_ptr<Recall> from_config(const Config& config);

 private:
  double threshold_;
};

/// Options of AUC. Keras's curve="ROC" and summation_method="interpolation" are what is
/// implemented (PR curves, minoring/majoring, explicit thresholds and multi_label are not).
struct AUCOptions {
  std::int64_t num_thresholds = 200;
  std::string name = "";
  /// Apply a sigmoid to y_pred first.
  bool from_logits = false;
};

/// keras.metrics.AUC ("auc"): the area under the ROC curve from confusion counts at
/// num_thresholds thresholds evenly spaced in [0, 1] (the ends moved out by 1e-7), summed
/// with the trapezoid rule, exactly as Keras buckets predictions (clipped to [0, 1]).
class AUC : public Metric {
 public:
  explicit AUC(const AUCOptions& options = {});
  void update_state(const Tensor& y_true, const Tensor& y_pred,
                    const std::optional<Tensor>& sample_weight = std::nullopt) override;
  Tensor result() const override;
  std::int64_t num_thresholds() const { return num_thresholds_; }
  std::string class_name() const override { return "AUC"; }
  Config config() const override;
  /// Keras's from_config: the metric config() describes (see metrics::from_config).
  static std::shared_ptr<AUC> from_config(const Config& config);

 private:
  std::int64_t num_thresholds_;
  bool from_logits_;
};

// ---- names ------------------------------------------------------------------------------------

/// The metric a Keras string names, as keras.metrics.get does: class names and their
/// snake_case ("Precision", "precision", "SparseCategoricalAccuracy",
/// "sparse_categorical_accuracy", "AUC", "auc", ...) and the aliases "mse", "MSE", "mae",
/// "MAE"; the metric keeps its class's default name. "accuracy" is keras.metrics.Accuracy
/// here; compile's meaning of it is get() with shapes. Throws ValueError listing the names.
std::shared_ptr<Metric> get(const std::string& name);

/// What compile() makes of a metric string once it sees the data (Keras 3's get_metric):
/// "accuracy" or "acc" (any case) becomes BinaryAccuracy when y_pred's last dimension is 1,
/// SparseCategoricalAccuracy when y_true has lower rank than y_pred or a last dimension of 1
/// (y_pred's being > 1), and CategoricalAccuracy otherwise; other names as get(name). Either
/// way the metric is named after the string ("acc", "mse").
std::shared_ptr<Metric> get(const std::string& name, const Shape& y_true_shape,
                            const Shape& y_pred_shape);

/// The same resolution before y_true's shape is known, from the loss name (any name
/// losses::get takes) and y_pred's last dimension: binary when it is 1, sparse when the loss
/// is sparse categorical cross-entropy, categorical otherwise. This agrees with the shape rule
/// whenever the labels have the shape the loss expects; prefer the shape form when the data is
/// at hand.
std::shared_ptr<Metric> get(const std::string& name, const std::string& loss_name,
                            std::int64_t output_last_dim);

/// Every name get(name) accepts, sorted (plus "acc", which only the compile forms accept).
std::vector<std::string> names();

/// The metric a Keras class name and get_config() describe, as keras.metrics.deserialize makes
/// it: the inverse of Metric::class_name() and config() for Mean, Accuracy, BinaryAccuracy,
/// CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
/// SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError, Precision, Recall and
/// AUC (absent keys take Keras's defaults). Throws ValueError for another class (naming it), a
/// mistyped value, a key the class does not take, or an option neurona does not implement
/// (a dtype other than float32; Precision's top_k or class_id or several thresholds; AUC's PR
/// curve, multi_label, explicit thresholds, or more than 2^20 thresholds).
///   auto m = nr::metrics::from_config("TopKCategoricalAccuracy", {{"k", std::int64_t{3}}});
std::shared_ptr<Metric> from_config(const std::string& class_name, const Config& config);

/// What model.compile's `.metrics = {...}` holds: a Keras string (checked at once; resolved by
/// resolve() when the data's shapes are known, since "accuracy" depends on them) or a metric
/// object (shared with the caller, as in Keras).
class MetricRef {
 public:
  MetricRef(const char* name) : MetricRef(std::string(name)) {}  // NOLINT: implicit by design
  MetricRef(const std::string& name);                            // NOLINT: implicit by design
  template <typename M>
  requires std::derived_from<M, Metric> MetricRef(const M& metric)  // NOLINT: implicit
      : metric_(std::make_shared<M>(metric)) {}
  template <typename M>
  requires std::derived_from<M, Metric> MetricRef(std::shared_ptr<M> metric)  // NOLINT: implicit
      : metric_(std::move(metric)) {
    NEURONA_CHECK(metric_ != nullptr, ValueError, "MetricRef: null metric");
  }

  /// True when this holds a string still to resolve.
  bool is_name() const { return metric_ == nullptr; }
  /// The string given, or the metric's name.
  const std::string& identifier() const { return is_name() ? name_ : metric_->name(); }
  /// The metric object (null for a string).
  const std::shared_ptr<Metric>& metric() const { return metric_; }
  /// The metric to use: the object itself, or a new metric from get(name, y_true_shape,
  /// y_pred_shape) (call once per compile).
  std::shared_ptr<Metric> resolve(const Shape& y_true_shape, const Shape& y_pred_shape) const;

 private:
  std::string name_;
  std::shared_ptr<Metric> metric_;
};

}  // namespace neurona::metrics
