// Keras 3's metrics (keras/src/metrics/) with their state in device Variables updated in
// place by ops: no update reads anything back to the host.
#include "neurona/training/metrics.h"

#include <algorithm>
#include <cctype>
#include <limits>

#include "neurona/autograd/ops.h"
#include "neurona/autograd/tape.h"
#include "neurona/core/registry.h"
#include "neurona/training/losses.h"

namespace neurona::metrics {

using losses::detail::squeeze_or_expand_to_same_rank;

// ---- Metric -----------------------------------------------------------------------------------

struct Metric::Shared {
  std::string name;
  std::vector<Variable> state;
  Device device = default_device();
};

Metric::Metric(std::string name) : shared_(std::make_shared<Shared>()) {
  shared_->name = std::move(name);
}

const std::string& Metric::name() const {
  return shared_->name;
}

void Metric::set_name(std::string name) {
  shared_->name = std::move(name);
}

Device Metric::device() const {
  return shared_->device;
}

std::size_t Metric::add_state(const std::string& name, const Shape& shape) {
  shared_->state.emplace_back(zeros(shape, {.dtype = DType::float32, .device = shared_->device}),
                              VariableOptions{.name = name, .trainable = false});
  return shared_->state.size() - 1;
}

Variable& Metric::state(std::size_t i, Device device) {
  if (device != shared_->device) {
    // The data moved: the state follows it (a copy, once), so updates never cross devices.
    for (Variable& v : shared_->state) {
      v = Variable(v.value().to(device), VariableOptions{.name = v.name(), .trainable = false});
    }
    shared_->device = device;
  }
  return shared_->state.at(i);
}

const Variable& Metric::state(std::size_t i) const {
  return shared_->state.at(i);
}

std::vector<Variable> Metric::variables() const {
  return shared_->state;
}

Config Metric::config() const {
  return {{"name", name()}, {"dtype", std::string("float32")}};
}

void Metric::reset_state() {
  for (Variable& v : shared_->state) v.assign(zeros_like(v.value()));
}

namespace {

constexpr std::size_t kTotal = 0, kCount = 1;

// Inputs cut from any tape (a metric is never differentiated) and as float32, Keras's metric
// dtype.
Tensor input(const Tensor& t, const char* metric, const char* arg) {
  NEURONA_CHECK(t.defined(), ValueError, metric, ": ", arg, " is an undefined tensor");
  return stop_gradient(t);
}

Tensor f32(const Tensor& t) {
  return cast(t, DType::float32);
}

using losses::detail::divide_no_nan;

std::vector<int> axes_from(int first, int rank) {
  std::vector<int> axes;
  for (int i = first; i < rank; ++i) axes.push_back(i);
  return axes;
}

Tensor expand_last(const Tensor& x) {
  std::vector<std::int64_t> dims = x.shape().dims();
  dims.push_back(1);
  return x.reshape(Shape(dims));
}

// Keras's Mean.update_state: reduce_to_samplewise_values (reduce_fn = mean), then total +=
// sum(values), count += sum(weights) or the number of samples.
void accumulate_mean(Metric& m, Variable& total, Variable& count, const Tensor& raw_values,
                     const std::optional<Tensor>& sample_weight) {
  Tensor values = f32(raw_values);
  std::optional<Tensor> weight;
  if (sample_weight) {
    Tensor w = f32(input(*sample_weight, m.name().c_str(), "sample_weight")).to(values.device());
    std::tie(values, w) = squeeze_or_expand_to_same_rank(values, w);
    const int wn = w.rank(), vn = values.rank();
    if (vn > wn) values = mean(values, Axes(axes_from(wn, vn)));
    NEURONA_CHECK(w.rank() <= values.rank(), ShapeError, m.name(), ": sample_weight of shape ",
                  sample_weight->shape(), " does not fit values of shape ", raw_values.shape());
    try {
      w = broadcast_to(w, values.shape());
    } catch (const ShapeError&) {
      throw ShapeError(
          neurona::detail::str(m.name(), ": sample_weight of shape ", sample_weight->shape(),
                               " does not broadcast to values of shape ", values.shape()));
    }
    values = values * w;
    if (wn > 1) w = mean(w, Axes(axes_from(1, wn)));
    weight = w;
  }
  if (values.rank() > 1) values = mean(values, Axes(axes_from(1, values.rank())));
  total.assign_add(sum(values));
  if (weight) {
    count.assign_add(sum(*weight));
  } else {
    const std::int64_t n = values.rank() >= 1 ? values.shape()[0] : 1;
    count.assign_add(scalar_like(count.value(), static_cast<double>(n)));
  }
}

// Reads a metric class's config: name and dtype (the keys every metric takes), then the
// class's own through `own(reader, name)`, which returns the class's options; then rejects the
// keys nothing read.
template <typename M, typename Own>
std::shared_ptr<M> read_config(const Config& config, const char* class_name, Own own) {
  neurona::detail::ConfigReader r(config, class_name);
  const std::string name = r.string("name", "");
  const std::string dtype = r.string("dtype", "float32");
  NEURONA_CHECK(dtype == "float32", ValueError, class_name, ": 'dtype' is '", dtype,
                "', but neurona's metrics keep their state in float32");
  auto out = std::make_shared<M>(own(r, name));
  r.finish();
  return out;
}

MetricOptions name_only(neurona::detail::ConfigReader&, const std::string& name) {
  return {.name = name};
}

}  // namespace

// ---- Mean and MeanMetricWrapper ---------------------------------------------------------------

Mean::Mean(const MetricOptions& options) : Metric(options.name.empty() ? "mean" : options.name) {
  add_state("total", Shape{});
  add_state("count", Shape{});
}
std::shared_ptr<Mean> Mean::from_config(const Config& config) {
  return read_config<Mean>(config, "Mean", name_only);
}

void Mean::update_state(const Tensor& values, const std::optional<Tensor>& sample_weight) {
  const Tensor v = input(values, name().c_str(), "values");
  Variable& total = state(kTotal, v.device());
  accumulate_mean(*this, total, state(kCount, v.device()), v, sample_weight);
}

void Mean::update_state(const Tensor&, const Tensor&, const std::optional<Tensor>&) {
  throw NotImplementedError(neurona::detail::str(
      name(), ": Mean.update_state takes (values, sample_weight), not (y_true, y_pred)"));
}

Tensor Mean::result() const {
  return divide_no_nan(state(kTotal).value(), state(kCount).value());
}

MeanMetricWrapper::MeanMetricWrapper(Fn fn, std::string name)
    : Metric(std::move(name)), fn_(std::move(fn)) {
  add_state("total", Shape{});
  add_state("count", Shape{});
}

void MeanMetricWrapper::update_state(const Tensor& y_true, const Tensor& y_pred,
                                     const std::optional<Tensor>& sample_weight) {
  const Tensor p = input(y_pred, name().c_str(), "y_pred");
  const Tensor t = input(y_true, name().c_str(), "y_true");
  const Tensor values = fn_(t, p);
  // As Keras: a mask on y_pred (a padded sequence's) weighs the values, 0 for masked steps.
  std::optional<Tensor> weight = sample_weight;
  if (const Tensor& mask = y_pred.keras_mask(); mask.defined()) {
    const Tensor m = f32(not_equal(mask, scalar_like(mask, 0)));
    if (weight) {
      auto [a, b] = squeeze_or_expand_to_same_rank(m, cast(*weight, DType::float32));
      weight = a * b;
    } else {
      weight = m;
    }
  }
  Variable& total = state(kTotal, values.device());
  accumulate_mean(*this, total, state(kCount, values.device()), values, weight);
}

Tensor MeanMetricWrapper::result() const {
  return divide_no_nan(state(kTotal).value(), state(kCount).value());
}

// ---- accuracy functions -------------------------------------------------------------------------

Tensor accuracy(const Tensor& y_true, const Tensor& y_pred) {
  auto [t, p] = squeeze_or_expand_to_same_rank(cast(y_true, y_pred.dtype()), y_pred);
  return f32(equal(t, p));
}

Tensor binary_accuracy(const Tensor& y_true, const Tensor& y_pred, double threshold) {
  auto [t, p] = squeeze_or_expand_to_same_rank(y_true, y_pred);
  const Tensor predicted = cast(greater(p, scalar_like(p, threshold)), t.dtype());
  return f32(equal(t, predicted));
}

Tensor categorical_accuracy(const Tensor& y_true, const Tensor& y_pred) {
  NEURONA_CHECK(y_true.shape() == y_pred.shape(), ShapeError,
                "categorical_accuracy: y_true of shape ", y_true.shape(),
                " does not fit y_pred of shape ", y_pred.shape(), " (expected one-hot labels)");
  return f32(equal(argmax(y_true, -1), argmax(y_pred, -1)));
}

namespace {
// Keras's sparse labels: (batch, ..., 1) squeezed to y_pred's shape without its last axis.
Tensor sparse_labels(const char* metric, const Tensor& y_true, const Tensor& y_pred) {
  Tensor t = y_true;
  if (t.rank() == y_pred.rank() && t.rank() > 0 && t.shape()[-1] == 1) {
    std::vector<std::int64_t> dims = t.shape().dims();
    dims.pop_back();
    t = t.reshape(Shape(dims));
  }
  std::vector<std::int64_t> expected = y_pred.shape().dims();
  NEURONA_CHECK(!expected.empty(), ShapeError, metric, ": y_pred needs a class axis, got shape ",
                y_pred.shape());
  expected.pop_back();
  NEURONA_CHECK(t.shape() == Shape(expected), ShapeError, metric, ": y_true of shape ",
                y_true.shape(), " does not fit y_pred of shape ", y_pred.shape(),
                " (expected labels of shape ", Shape(expected), ")");
  return t;
}

// Keras's in_top_k: the label's rank is 1 + the number of strictly larger predictions (a NaN
// prediction at the label ranks last).
Tensor in_top_k(const Tensor& labels, const Tensor& y_pred, std::int64_t k) {
  const std::int64_t classes = y_pred.shape()[-1];
  const Tensor ints = is_floating(labels.dtype()) ? cast(labels, DType::int64) : labels;
  const Tensor hot = one_hot(ints, classes, {.dtype = DType::uint8});
  Tensor at_label = sum(where(hot, y_pred, zeros_like(y_pred)), -1, true);
  at_label = where(not_equal(at_label, at_label),
                   fill_like(at_label, -std::numeric_limits<double>::infinity()), at_label);
  const Tensor larger = sum(f32(greater(y_pred, at_label)), -1);
  return f32(less(larger, scalar_like(larger, static_cast<double>(k))));
}
}  // namespace

Tensor sparse_categorical_accuracy(const Tensor& y_true, const Tensor& y_pred) {
  const Tensor t = sparse_labels("sparse_categorical_accuracy", y_true, y_pred);
  // Keras compares in y_pred's dtype (labels cast to float, argmax cast to float).
  return f32(equal(cast(t, y_pred.dtype()), cast(argmax(y_pred, -1), y_pred.dtype())));
}

Tensor top_k_categorical_accuracy(const Tensor& y_true, const Tensor& y_pred, std::int64_t k) {
  NEURONA_CHECK(y_true.shape() == y_pred.shape(), ShapeError,
                "top_k_categorical_accuracy: y_true of shape ", y_true.shape(),
                " does not fit y_pred of shape ", y_pred.shape(), " (expected one-hot labels)");
  return in_top_k(argmax(y_true, -1), y_pred, k);
}

Tensor sparse_top_k_categorical_accuracy(const Tensor& y_true, const Tensor& y_pred,
                                         std::int64_t k) {
  const Tensor t = sparse_labels("sparse_top_k_categorical_accuracy", y_true, y_pred);
  return in_top_k(t, y_pred, k);
}

// ---- accuracy and regression classes ----------------------------------------------------------

namespace {
std::string or_default(const std::string& name, const char* fallback) {
  return name.empty() ? std::string(fallback) : name;
}
}  // namespace

Accuracy::Accuracy(const MetricOptions& options)
    : MeanMetricWrapper(accuracy, or_default(options.name, "accuracy")) {}
std::shared_ptr<Accuracy> Accuracy::from_config(const Config& config) {
  return read_config<Accuracy>(config, "Accuracy", name_only);
}

BinaryAccuracy::BinaryAccuracy(const BinaryAccuracyOptions& options)
    : MeanMetricWrapper(
          [threshold = options.threshold](const Tensor& t, const Tensor& p) {
            return binary_accuracy(t, p, threshold);
          },
          or_default(options.name, "binary_accuracy")),
      threshold_(options.threshold) {}

Config BinaryAccuracy::config() const {
  Config c = Metric::config();
  c.emplace_back("threshold", threshold_);
  return c;
}
std::shared_ptr<BinaryAccuracy> BinaryAccuracy::from_config(const Config& config) {
  return read_config<BinaryAccuracy>(
      config, "BinaryAccuracy", [](auto& r, const std::string& name) {
        return BinaryAccuracyOptions{.name = name, .threshold = r.number("threshold", 0.5)};
      });
}

CategoricalAccuracy::CategoricalAccuracy(const MetricOptions& options)
    : MeanMetricWrapper(categorical_accuracy, or_default(options.name, "categorical_accuracy")) {}
std::shared_ptr<CategoricalAccuracy> CategoricalAccuracy::from_config(const Config& config) {
  return read_config<CategoricalAccuracy>(config, "CategoricalAccuracy", name_only);
}

SparseCategoricalAccuracy::SparseCategoricalAccuracy(const MetricOptions& options)
    : MeanMetricWrapper(sparse_categorical_accuracy,
                        or_default(options.name, "sparse_categorical_accuracy")) {}
std::shared_ptr<SparseCategoricalAccuracy> SparseCategoricalAccuracy::from_config(
    const Config& config) {
  return read_config<SparseCategoricalAccuracy>(config, "SparseCategoricalAccuracy", name_only);
}

namespace {
TopKOptions top_k_options_of(neurona::detail::ConfigReader& r, const std::string& name) {
  return {.k = r.integer("k", 5), .name = name};
}
}  // namespace

TopKCategoricalAccuracy::TopKCategoricalAccuracy(const TopKOptions& options)
    : MeanMetricWrapper(
          [k = options.k](const Tensor& t, const Tensor& p) {
            return top_k_categorical_accuracy(t, p, k);
          },
          or_default(options.name, "top_k_categorical_accuracy")),
      k_(options.k) {}

Config TopKCategoricalAccuracy::config() const {
  Config c = Metric::config();
  c.emplace_back("k", k_);
  return c;
}
std::shared_ptr<TopKCategoricalAccuracy> TopKCategoricalAccuracy::from_config(
    const Config& config) {
  return read_config<TopKCategoricalAccuracy>(config, "TopKCategoricalAccuracy", top_k_options_of);
}

SparseTopKCategoricalAccuracy::SparseTopKCategoricalAccuracy(const TopKOptions& options)
    : MeanMetricWrapper(
          [k = options.k](const Tensor& t, const Tensor& p) {
            return sparse_top_k_categorical_accuracy(t, p, k);
          },
          or_default(options.name, "sparse_top_k_categorical_accuracy")),
      k_(options.k) {}

Config SparseTopKCategoricalAccuracy::config() const {
  Config c = Metric::config();
  c.emplace_back("k", k_);
  return c;
}
std::shared_ptr<SparseTopKCategoricalAccuracy> SparseTopKCategoricalAccuracy::from_config(
    const Config& config) {
  return read_config<SparseTopKCategoricalAccuracy>(config, "SparseTopKCategoricalAccuracy",
                                                    top_k_options_of);
}

MeanSquaredError::MeanSquaredError(const MetricOptions& options)
    : MeanMetricWrapper(
          [](const Tensor& t, const Tensor& p) { return losses::mean_squared_error(t, p); },
          or_default(options.name, "mean_squared_error")) {}
std::shared_ptr<MeanSquaredError> MeanSquaredError::from_config(const Config& config) {
  return read_config<MeanSquaredError>(config, "MeanSquaredError", name_only);
}

MeanAbsoluteError::MeanAbsoluteError(const MetricOptions& options)
    : MeanMetricWrapper(
          [](const Tensor& t, const Tensor& p) { return losses::mean_absolute_error(t, p); },
          or_default(options.name, "mean_absolute_error")) {}
std::shared_ptr<MeanAbsoluteError> MeanAbsoluteError::from_config(const Config& config) {
  return read_config<MeanAbsoluteError>(config, "MeanAbsoluteError", name_only);
}

// ---- confusion-matrix metrics -------------------------------------------------------------------

namespace {

// Keras's update_confusion_matrix_variables inputs: float32 labels and predictions of one
// shape (a trailing axis of 1 squeezed or added), and the weights broadcast to it (ones when
// none are given).
struct Confusion {
  Tensor y_true, y_pred, weight;
};

Confusion confusion_inputs(const char* metric, const Tensor& y_true, const Tensor& y_pred,
                           const std::optional<Tensor>& sample_weight) {
  Tensor p = f32(input(y_pred, metric, "y_pred"));
  Tensor t = f32(input(y_true, metric, "y_true")).to(p.device());
  std::tie(p, t) = squeeze_or_expand_to_same_rank(p, t);
  NEURONA_CHECK(t.shape() == p.shape(), ShapeError, metric, ": y_true of shape ", y_true.shape(),
                " does not fit y_pred of shape ", y_pred.shape());
  Tensor w = ones_like(p);
  if (sample_weight) {
    Tensor sw = expand_last(f32(input(*sample_weight, metric, "sample_weight")).to(p.device()));
    sw = squeeze_or_expand_to_same_rank(t, sw, /*expand_rank_1=*/false).second;
    try {
      w = broadcast_to(sw, p.shape());
    } catch (const ShapeError&) {
      throw ShapeError(
          neurona::detail::str(metric, ": sample_weight of shape ", sample_weight->shape(),
                               " does not broadcast to y_pred of shape ", y_pred.shape()));
    }
  }
  return {t, p, w};
}

constexpr std::size_t kTruePositives = 0, kSecond = 1;

// Precision's and Recall's config: thresholds None for the default 0.5 (as Keras writes
// Precision()), no top_k or class_id.
Config threshold_config(Config c, double threshold) {
  c.emplace_back("thresholds", threshold == 0.5 ? ConfigValue() : threshold);
  c.emplace_back("top_k", nullptr);
  c.emplace_back("class_id", nullptr);
  return c;
}

double threshold_of(neurona::detail::ConfigReader& r) {
  const ConfigValue* v = r.find("thresholds");
  if (v == nullptr) return 0.5;
  if (v->kind() == ConfigValue::Kind::List) {
    const std::vector<double> list = r.numbers("thresholds");
    NEURONA_CHECK(list.size() == 1, ValueError, r.who(), ": 'thresholds' has ", list.size(),
                  " values, but neurona implements one threshold");
    return list.front();
  }
  return r.number("thresholds", 0.5);
}

// Precision's and Recall's own keys, in Keras's order.
ThresholdOptions threshold_options_of(neurona::detail::ConfigReader& r, const std::string& name) {
  const ThresholdOptions o{.thresholds = threshold_of(r), .name = name};
  r.require_none("top_k", "top_k");
  r.require_none("class_id", "class_id");
  return o;
}

}  // namespace

Precision::Precision(const ThresholdOptions& options)
    : Metric(or_default(options.name, "precision")), threshold_(options.thresholds) {
  add_state("true_positives", Shape{});
  add_state("false_positives", Shape{});
}

void Precision::update_state(const Tensor& y_true, const Tensor& y_pred,
                             const std::optional<Tensor>& sample_weight) {
  const Confusion c = confusion_inputs(name().c_str(), y_true, y_pred, sample_weight);
  const Tensor predicted = f32(greater(c.y_pred, scalar_like(c.y_pred, threshold_)));
  const Tensor positive = f32(not_equal(c.y_true, scalar_like(c.y_true, 0)));
  state(kTruePositives, c.y_pred.device()).assign_add(sum(predicted * positive * c.weight));
  state(kSecond, c.y_pred.device()).assign_add(sum(predicted * (1.0 - positive) * c.weight));
}

Config Precision::config() const {
  return threshold_config(Metric::config(), threshold_);
}
std::shared_ptr<Precision> Precision::from_config(const Config& config) {
  return read_config<Precision>(config, "Precision", threshold_options_of);
}

Tensor Precision::result() const {
  const Tensor& tp = state(kTruePositives).value();
  return divide_no_nan(tp, tp + state(kSecond).value());
}

Recall::Recall(const ThresholdOptions& options)
    : Metric(or_default(options.name, "recall")), threshold_(options.thresholds) {
  add_state("true_positives", Shape{});
  add_state("false_negatives", Shape{});
}

void Recall::update_state(const Tensor& y_true, const Tensor& y_pred,
                          const std::optional<Tensor>& sample_weight) {
  const Confusion c = confusion_inputs(name().c_str(), y_true, y_pred, sample_weight);
  const Tensor predicted = f32(greater(c.y_pred, scalar_like(c.y_pred, threshold_)));
  const Tensor positive = f32(not_equal(c.y_true, scalar_like(c.y_true, 0)));
  state(kTruePositives, c.y_pred.device()).assign_add(sum(predicted * positive * c.weight));
  state(kSecond, c.y_pred.device()).assign_add(sum((1.0 - predicted) * positive * c.weight));
}

Config Recall::config() const {
  return threshold_config(Metric::config(), threshold_);
}
std::shared_ptr<Recall> Recall::from_config(const Config& config) {
  return read_config<Recall>(config, "Recall", threshold_options_of);
}

Tensor Recall::result() const {
  const Tensor& tp = state(kTruePositives).value();
  return divide_no_nan(tp, tp + state(kSecond).value());
}

namespace {
constexpr std::size_t kTp = 0, kFp = 1, kTn = 2, kFn = 3;
// AUC's state is 4 x num_thresholds floats: a bound keeps a hostile file from asking for
// gigabytes.
constexpr std::int64_t kMaxAucThresholds = std::int64_t{1} << 20;
}  // namespace

AUC::AUC(const AUCOptions& options)
    : Metric(or_default(options.name, "auc")),
      num_thresholds_(options.num_thresholds),
      from_logits_(options.from_logits) {
  NEURONA_CHECK(num_thresholds_ > 1, ValueError,
                "AUC: argument `num_thresholds` must be an integer > 1, got ", num_thresholds_);
  for (const char* n : {"true_positives", "false_positives", "true_negatives", "false_negatives"}) {
    add_state(n, Shape{num_thresholds_});
  }
}

void AUC::update_state(const Tensor& y_true, const Tensor& y_pred,
                       const std::optional<Tensor>& sample_weight) {
  const Confusion c = confusion_inputs(name().c_str(), y_true, y_pred, sample_weight);
  const Device d = c.y_pred.device();
  Tensor p = from_logits_ ? sigmoid(c.y_pred) : c.y_pred;
  // Keras's evenly-spaced-thresholds path: predictions clipped to [0, 1] fall in bucket
  // ceil(p (T - 1)) - 1 (at least 0), and threshold i counts the predictions whose bucket is
  // >= i, i.e. p (T - 1) > i, every prediction for i = 0. The product is float32, as in Keras.
  p = minimum(maximum(p, scalar_like(p, 0)), scalar_like(p, 1)).reshape({1, -1});
  const Tensor scaled = p * static_cast<double>(num_thresholds_ - 1);
  const Tensor index =
      arange(0, static_cast<double>(num_thresholds_), 1, {.dtype = DType::float32, .device = d})
          .reshape({num_thresholds_, 1});
  const Tensor above =
      maximum(f32(greater(scaled, index)), f32(equal(index, scalar_like(index, 0))));
  const Tensor positive = f32(not_equal(c.y_true, scalar_like(c.y_true, 0))).reshape({1, -1});
  const Tensor w = c.weight.reshape({1, -1});
  const Tensor true_labels = positive * w, false_labels = (1.0 - positive) * w;
  const Tensor tp = sum(above * true_labels, 1), fp = sum(above * false_labels, 1);
  state(kTp, d).assign_add(tp);
  state(kFp, d).assign_add(fp);
  state(kTn, d).assign_add(sum(false_labels) - fp);
  state(kFn, d).assign_add(sum(true_labels) - tp);
}

Config AUC::config() const {
  Config c = Metric::config();
  c.emplace_back("num_thresholds", num_thresholds_);
  c.emplace_back("curve", std::string("ROC"));
  c.emplace_back("summation_method", std::string("interpolation"));
  c.emplace_back("multi_label", false);
  c.emplace_back("num_labels", nullptr);
  c.emplace_back("label_weights", nullptr);
  c.emplace_back("from_logits", from_logits_);
  return c;
}
std::shared_ptr<AUC> AUC::from_config(const Config& config) {
  return read_config<AUC>(config, "AUC", [](auto& r, const std::string& name) {
    const std::int64_t n = r.integer("num_thresholds", 200);
    NEURONA_CHECK(n > 1 && n <= kMaxAucThresholds, ValueError, r.who(), ": 'num_thresholds' is ", n,
                  "; neurona takes 2 to ", kMaxAucThresholds);
    const std::string curve = r.string("curve", "ROC");
    NEURONA_CHECK(curve == "ROC", ValueError, r.who(), ": 'curve' is '", curve,
                  "', but neurona implements the ROC curve only");
    const std::string summation = r.string("summation_method", "interpolation");
    NEURONA_CHECK(summation == "interpolation", ValueError, r.who(), ": 'summation_method' is '",
                  summation, "', but neurona implements 'interpolation' only");
    r.require_bool("multi_label", false, "multi_label");
    r.require_none("num_labels", "num_labels");
    r.require_none("label_weights", "label_weights");
    r.require_none("thresholds", "explicit thresholds");
    return AUCOptions{
        .num_thresholds = n, .name = name, .from_logits = r.boolean("from_logits", false)};
  });
}

Tensor AUC::result() const {
  const Tensor& tp = state(kTp).value();
  const Tensor& fp = state(kFp).value();
  const Tensor recall = divide_no_nan(tp, tp + state(kFn).value());
  const Tensor fp_rate = divide_no_nan(fp, fp + state(kTn).value());
  const std::int64_t n = num_thresholds_;
  const Tensor heights = (slice(recall, 0, n - 1) + slice(recall, 1, n)) / 2.0;
  return sum((slice(fp_rate, 0, n - 1) - slice(fp_rate, 1, n)) * heights);
}

// ---- names --------------------------------------------------------------------------------------

namespace {

using Factory = std::function<std::shared_ptr<Metric>()>;

const Registry<Factory>& registry() {
  // Never destroyed: outlives static models destroyed late.
  static const auto* r = new Registry<Factory>{
      {{"Mean", "mean"}, [] { return std::make_shared<Mean>(); }},
      {{"Accuracy", "accuracy"}, [] { return std::make_shared<Accuracy>(); }},
      {{"BinaryAccuracy", "binary_accuracy"}, [] { return std::make_shared<BinaryAccuracy>(); }},
      {{"CategoricalAccuracy", "categorical_accuracy"},
       [] { return std::make_shared<CategoricalAccuracy>(); }},
      {{"SparseCategoricalAccuracy", "sparse_categorical_accuracy"},
       [] { return std::make_shared<SparseCategoricalAccuracy>(); }},
      {{"TopKCategoricalAccuracy", "top_k_categorical_accuracy"},
       [] { return std::make_shared<TopKCategoricalAccuracy>(); }},
      {{"SparseTopKCategoricalAccuracy", "sparse_top_k_categorical_accuracy"},
       [] { return std::make_shared<SparseTopKCategoricalAccuracy>(); }},
      {{"MeanSquaredError", "mean_squared_error", "mse", "MSE"},
       [] { return std::make_shared<MeanSquaredError>(); }},
      {{"MeanAbsoluteError", "mean_absolute_error", "mae", "MAE"},
       [] { return std::make_shared<MeanAbsoluteError>(); }},
      {{"Precision", "precision"}, [] { return std::make_shared<Precision>(); }},
      {{"Recall", "recall"}, [] { return std::make_shared<Recall>(); }},
      {{"AUC", "auc"}, [] { return std::make_shared<AUC>(); }},
  };
  return *r;
}

bool is_accuracy(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return lower == "accuracy" || lower == "acc";
}

[[noreturn]] void unknown(const std::string& name) {
  throw ValueError(neurona::detail::str("Could not interpret metric identifier: '", name,
                                        "'. Valid names: ", Registry<Factory>::join(names())));
}

std::shared_ptr<Metric> accuracy_for(const std::string& name, bool binary, bool sparse) {
  std::shared_ptr<Metric> m;
  if (binary) {
    m = std::make_shared<BinaryAccuracy>();
  } else if (sparse) {
    m = std::make_shared<SparseCategoricalAccuracy>();
  } else {
    m = std::make_shared<CategoricalAccuracy>();
  }
  m->set_name(name);
  return m;
}

}  // namespace

std::vector<std::string> names() {
  std::vector<std::string> out = registry().names();
  out.push_back("acc");
  std::sort(out.begin(), out.end());
  return out;
}

std::shared_ptr<Metric> get(const std::string& name) {
  const std::optional<Factory> factory = registry().find(name);
  if (!factory) unknown(name);
  return (*factory)();
}

std::shared_ptr<Metric> get(const std::string& name, const Shape& y_true_shape,
                            const Shape& y_pred_shape) {
  if (is_accuracy(name)) {
    NEURONA_CHECK(y_true_shape.rank() > 0 && y_pred_shape.rank() > 0, ShapeError, "metric '", name,
                  "': cannot resolve accuracy for y_true of shape ", y_true_shape,
                  " and y_pred of shape ", y_pred_shape);
    const std::int64_t t_last = y_true_shape[-1], p_last = y_pred_shape[-1];
    const bool binary = p_last == 1;
    const bool sparse = y_true_shape.rank() < y_pred_shape.rank() || (t_last == 1 && p_last > 1);
    return accuracy_for(name, binary, sparse);
  }
  std::shared_ptr<Metric> m = get(name);
  m->set_name(name);
  return m;
}

std::shared_ptr<Metric> get(const std::string& name, const std::string& loss_name,
                            std::int64_t output_last_dim) {
  if (is_accuracy(name)) {
    const bool sparse =
        !loss_name.empty() && dynamic_cast<const losses::SparseCategoricalCrossentropy*>(
                                  losses::get(loss_name).get()) != nullptr;
    return accuracy_for(name, output_last_dim == 1, sparse);
  }
  std::shared_ptr<Metric> m = get(name);
  m->set_name(name);
  return m;
}

MetricRef::MetricRef(const std::string& name) : name_(name) {
  if (!is_accuracy(name) && !registry().contains(name)) unknown(name);
}

std::shared_ptr<Metric> MetricRef::resolve(const Shape& y_true_shape,
                                           const Shape& y_pred_shape) const {
  if (metric_) return metric_;
  return get(name_, y_true_shape, y_pred_shape);
}

namespace {

// Class name -> its from_config, for configs that `.keras` files hold.
using FromConfig = std::shared_ptr<Metric> (*)(const Config& config);
template <typename M>
std::shared_ptr<Metric> from_config_of(const Config& config) {
  return M::from_config(config);
}
const Registry<FromConfig>& from_config_registry() {
  // Never destroyed: outlives static models destroyed late.
  static const auto* r = new Registry<FromConfig>{
      {"Mean", from_config_of<Mean>},
      {"Accuracy", from_config_of<Accuracy>},
      {"BinaryAccuracy", from_config_of<BinaryAccuracy>},
      {"CategoricalAccuracy", from_config_of<CategoricalAccuracy>},
      {"SparseCategoricalAccuracy", from_config_of<SparseCategoricalAccuracy>},
      {"TopKCategoricalAccuracy", from_config_of<TopKCategoricalAccuracy>},
      {"SparseTopKCategoricalAccuracy", from_config_of<SparseTopKCategoricalAccuracy>},
      {"MeanSquaredError", from_config_of<MeanSquaredError>},
      {"MeanAbsoluteError", from_config_of<MeanAbsoluteError>},
      {"Precision", from_config_of<Precision>},
      {"Recall", from_config_of<Recall>},
      {"AUC", from_config_of<AUC>},
  };
  return *r;
}

}  // namespace

std::shared_ptr<Metric> from_config(const std::string& class_name, const Config& config) {
  return from_config_registry().get(class_name, "unknown metric class '",
                                    "'; neurona implements ")(config);
}

}  // namespace neurona::metrics
