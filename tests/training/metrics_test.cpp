// Metrics over several updates against Keras 3 itself (tests/reference/training/metric_*.txt,
// written by tests/reference/make_keras_loss_metric_references.py), plus state handling
// (reset, sharing, devices), compile's resolution of "accuracy", names and errors.
#include <neurona/neurona.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "neurona/training/losses.h"
#include "neurona/training/metrics.h"
#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace metrics = nr::metrics;
using nr::testing::all_close;
using nr::testing::make_tensor;

namespace {

using Entry = nr::testing::ReferenceEntry;
using Reference = nr::testing::Reference;

// Lines `name dim0 dim1 ... : v0 v1 ...` (tests/support/reference_file.h).
Reference load(const std::string& name) {
  return nr::testing::load_reference("training", name);
}

nr::Tensor tensor(const Reference& ref, const std::string& key, nr::DType dtype = nr::float32) {
  const Entry& e = ref.at(key);
  return make_tensor(e.values, e.shape, dtype);
}

std::string key(const char* prefix, std::size_t i) {
  std::string k(prefix);
  k.append(std::to_string(i));
  return k;
}

// Feeds the case's updates to `m` and compares result() after each with Keras's.
void check_updates(const std::string& name, metrics::Metric& m,
                   nr::DType label_dtype = nr::float32) {
  SCOPED_TRACE(name);
  const Reference ref = load("metric_" + name);
  std::size_t i = 0;
  for (; ref.count(key("result_", i)); ++i) {
    std::optional<nr::Tensor> w;
    if (ref.count(key("sample_weight_", i))) w = tensor(ref, key("sample_weight_", i));
    m.update_state(tensor(ref, key("y_true_", i), label_dtype), tensor(ref, key("y_pred_", i)), w);
    const nr::Tensor r = m.result();
    EXPECT_EQ(r.dtype(), nr::float32);
    EXPECT_EQ(r.shape(), nr::Shape{});
    EXPECT_TRUE(all_close(r, ref.at(key("result_", i)).values, 1e-6, 1e-5)) << "update " << i;
  }
  EXPECT_GE(i, 2u) << "reference case with fewer than two updates";
}

}  // namespace

TEST(MetricsKeras, Mean) {
  const Reference ref = load("metric_mean");
  metrics::Mean m;
  EXPECT_EQ(m.name(), "mean");
  EXPECT_EQ(m.result().item(), 0.0f);  // divide_no_nan before any update
  for (std::size_t i = 0; ref.count(key("result_", i)); ++i) {
    std::optional<nr::Tensor> w;
    if (ref.count(key("sample_weight_", i))) w = tensor(ref, key("sample_weight_", i));
    m.update_state(tensor(ref, key("values_", i)), w);
    EXPECT_TRUE(all_close(m.result(), ref.at(key("result_", i)).values, 1e-6, 1e-6))
        << "update " << i;
  }
}

TEST(MetricsKeras, Accuracies) {
  metrics::BinaryAccuracy binary;
  check_updates("binary_accuracy", binary);
  metrics::CategoricalAccuracy categorical;
  check_updates("categorical_accuracy", categorical);
  metrics::SparseCategoricalAccuracy sparse;
  check_updates("sparse_categorical_accuracy", sparse);  // float labels of shape (batch, 1)
  metrics::TopKCategoricalAccuracy top5;
  check_updates("top_k_categorical_accuracy", top5);
  metrics::SparseTopKCategoricalAccuracy top2({.k = 2});
  check_updates("sparse_top_k_categorical_accuracy_k2", top2, nr::int32);
}

TEST(MetricsKeras, Regression) {
  metrics::MeanSquaredError mse;
  check_updates("mean_squared_error", mse);
  metrics::MeanAbsoluteError mae;
  check_updates("mean_absolute_error", mae);
}

TEST(MetricsKeras, PrecisionRecallAuc) {
  metrics::Precision precision;
  check_updates("precision", precision);
  metrics::Recall recall;
  check_updates("recall", recall);
  metrics::AUC auc;
  check_updates("auc", auc);
}

TEST(Metrics, DefaultNamesAreKeras) {
  EXPECT_EQ(metrics::BinaryAccuracy().name(), "binary_accuracy");
  EXPECT_EQ(metrics::CategoricalAccuracy().name(), "categorical_accuracy");
  EXPECT_EQ(metrics::SparseCategoricalAccuracy().name(), "sparse_categorical_accuracy");
  EXPECT_EQ(metrics::TopKCategoricalAccuracy().name(), "top_k_categorical_accuracy");
  EXPECT_EQ(metrics::SparseTopKCategoricalAccuracy().name(), "sparse_top_k_categorical_accuracy");
  EXPECT_EQ(metrics::MeanSquaredError().name(), "mean_squared_error");
  EXPECT_EQ(metrics::MeanAbsoluteError().name(), "mean_absolute_error");
  EXPECT_EQ(metrics::Precision().name(), "precision");
  EXPECT_EQ(metrics::Recall().name(), "recall");
  EXPECT_EQ(metrics::AUC().name(), "auc");
  EXPECT_EQ(metrics::Accuracy().name(), "accuracy");
  EXPECT_EQ(metrics::Mean({.name = "loss"}).name(), "loss");
  EXPECT_EQ(metrics::AUC().num_thresholds(), 200);
}

TEST(Metrics, ResetStateZerosAndCopiesShareState) {
  metrics::SparseCategoricalAccuracy acc;
  const nr::Tensor labels = make_tensor({0, 1, 1}, {3}, nr::int64);
  const nr::Tensor pred = make_tensor({0.9, 0.1, 0.2, 0.8, 0.7, 0.3}, {3, 2});
  acc.update_state(labels, pred);
  EXPECT_FLOAT_EQ(acc.result().item(), 2.0f / 3);
  metrics::SparseCategoricalAccuracy copy = acc;  // a handle, as a Python reference
  copy.update_state(labels, make_tensor({0.1, 0.9, 0.2, 0.8, 0.3, 0.7}, {3, 2}));
  EXPECT_FLOAT_EQ(acc.result().item(), 4.0f / 6);
  acc.reset_state();
  EXPECT_EQ(copy.result().item(), 0.0f);
  copy.update_state(labels, pred);
  EXPECT_FLOAT_EQ(acc.result().item(), 2.0f / 3);
}

TEST(Metrics, ResultLivesWhereTheDataIs) {
  metrics::Mean m;
  m.update_state(make_tensor({1, 2}, {2}));
  EXPECT_EQ(m.result().device(), nr::Device::cpu());
  EXPECT_EQ(m.device(), nr::Device::cpu());
}

TEST(Metrics, UpdatesRecordNothingOnATape) {
  nr::Variable w(make_tensor({0.3, 0.7}, {1, 2}));
  metrics::CategoricalAccuracy acc;
  metrics::MeanSquaredError mse;
  nr::GradientTape tape;
  const nr::Tensor y = w * 2.0;
  acc.update_state(make_tensor({0, 1}, {1, 2}), y);
  mse.update_state(make_tensor({0, 1}, {1, 2}), y);
  // The metric's state does not depend on w as far as the tape knows.
  EXPECT_FALSE(tape.gradient(mse.result(), w.value()).defined());
  EXPECT_FLOAT_EQ(acc.result().item(), 1.0f);
}

TEST(Metrics, TopKCountsTiesForTheLabel) {
  // Keras's in_top_k: rank = 1 + the number of strictly larger scores.
  const nr::Tensor pred = make_tensor({0.5, 0.5, 0.5, 0.1, 0.2, 0.3}, {2, 3});
  const nr::Tensor labels = make_tensor({2, 0}, {2}, nr::int32);
  EXPECT_TRUE(all_close(metrics::sparse_top_k_categorical_accuracy(labels, pred, 1), {1, 0}));
  EXPECT_TRUE(all_close(metrics::sparse_top_k_categorical_accuracy(labels, pred, 2), {1, 0}));
  EXPECT_TRUE(all_close(metrics::sparse_top_k_categorical_accuracy(labels, pred, 3), {1, 1}));
}

TEST(Metrics, MeanAveragesTrailingAxesAndCountsWeights) {
  metrics::Mean m;
  m.update_state(make_tensor({1, 3, 5, 7}, {2, 2}), make_tensor({1, 3}, {2}));
  // Samples (1 + 3) / 2 = 2 and 6, weighted 1 and 3: (2 + 18) / 4.
  EXPECT_FLOAT_EQ(m.result().item(), 5.0f);
  m.update_state(nr::constant(1.0f));  // a scalar counts as one sample
  EXPECT_FLOAT_EQ(m.result().item(), 21.0f / 5);
  NEURONA_EXPECT_THROW_MSG(
      static_cast<metrics::Metric&>(m).update_state(nr::zeros({2}), nr::zeros({2})),
      nr::NotImplementedError, "Mean", "values");
}

TEST(Metrics, AccuracyResolvesAsKeras3Compile) {
  // y_pred's last dimension 1: binary; labels of lower rank or a last dimension of 1:
  // sparse; otherwise categorical. The metric keeps the string as its name.
  const auto binary = metrics::get("accuracy", nr::Shape{32}, nr::Shape{32, 1});
  EXPECT_NE(dynamic_cast<metrics::BinaryAccuracy*>(binary.get()), nullptr);
  EXPECT_EQ(binary->name(), "accuracy");
  const auto sparse = metrics::get("accuracy", nr::Shape{32}, nr::Shape{32, 10});
  EXPECT_NE(dynamic_cast<metrics::SparseCategoricalAccuracy*>(sparse.get()), nullptr);
  const auto sparse_column = metrics::get("acc", nr::Shape{32, 1}, nr::Shape{32, 10});
  EXPECT_NE(dynamic_cast<metrics::SparseCategoricalAccuracy*>(sparse_column.get()), nullptr);
  EXPECT_EQ(sparse_column->name(), "acc");
  const auto categorical = metrics::get("Accuracy", nr::Shape{32, 10}, nr::Shape{32, 10});
  EXPECT_NE(dynamic_cast<metrics::CategoricalAccuracy*>(categorical.get()), nullptr);
  EXPECT_EQ(categorical->name(), "Accuracy");
  const auto mse = metrics::get("mse", nr::Shape{32, 1}, nr::Shape{32, 1});
  EXPECT_NE(dynamic_cast<metrics::MeanSquaredError*>(mse.get()), nullptr);
  EXPECT_EQ(mse->name(), "mse");

  // Before the labels are seen: from the loss and the output's last dimension.
  EXPECT_NE(dynamic_cast<metrics::SparseCategoricalAccuracy*>(
                metrics::get("accuracy", "sparse_categorical_crossentropy", 10).get()),
            nullptr);
  EXPECT_NE(dynamic_cast<metrics::SparseCategoricalAccuracy*>(
                metrics::get("accuracy", "SparseCategoricalCrossentropy", 10).get()),
            nullptr);
  EXPECT_NE(dynamic_cast<metrics::CategoricalAccuracy*>(
                metrics::get("accuracy", "categorical_crossentropy", 10).get()),
            nullptr);
  EXPECT_NE(dynamic_cast<metrics::BinaryAccuracy*>(
                metrics::get("accuracy", "binary_crossentropy", 1).get()),
            nullptr);
  EXPECT_EQ(metrics::get("accuracy", "mse", 1)->name(), "accuracy");
}

TEST(Metrics, NamesAndMetricRef) {
  EXPECT_NE(dynamic_cast<metrics::AUC*>(metrics::get("AUC").get()), nullptr);
  EXPECT_NE(dynamic_cast<metrics::AUC*>(metrics::get("auc").get()), nullptr);
  EXPECT_EQ(metrics::get("mae")->name(), "mean_absolute_error");
  EXPECT_NE(dynamic_cast<metrics::Accuracy*>(metrics::get("accuracy").get()), nullptr);
  NEURONA_EXPECT_THROW_MSG(metrics::get("precission"), nr::ValueError, "precission", "precision",
                           "sparse_categorical_accuracy");

  const metrics::MetricRef by_name = "accuracy";
  EXPECT_TRUE(by_name.is_name());
  const auto resolved = by_name.resolve(nr::Shape{8}, nr::Shape{8, 3});
  EXPECT_NE(dynamic_cast<metrics::SparseCategoricalAccuracy*>(resolved.get()), nullptr);
  NEURONA_EXPECT_THROW_MSG(metrics::MetricRef("acuracy"), nr::ValueError, "acuracy");

  metrics::Precision precision({.thresholds = 0.3});
  const metrics::MetricRef by_object = precision;
  EXPECT_FALSE(by_object.is_name());
  EXPECT_EQ(by_object.identifier(), "precision");
  // Shared with the caller, as Keras uses the object given to compile().
  by_object.resolve({}, {})->update_state(make_tensor({1, 0}, {2}), make_tensor({0.4, 0.2}, {2}));
  EXPECT_FLOAT_EQ(precision.result().item(), 1.0f);
  const metrics::MetricRef by_handle = std::make_shared<metrics::Recall>();
  EXPECT_EQ(by_handle.identifier(), "recall");
}

TEST(Metrics, ErrorsNameTheMetricAndShapes) {
  metrics::SparseCategoricalAccuracy acc;
  NEURONA_EXPECT_THROW_MSG(acc.update_state(nr::zeros({3}), nr::zeros({4, 2})), nr::ShapeError,
                           "sparse_categorical_accuracy", "(3,)", "(4, 2)");
  metrics::Precision precision;
  NEURONA_EXPECT_THROW_MSG(precision.update_state(nr::zeros({3}), nr::zeros({4})), nr::ShapeError,
                           "precision", "(3,)", "(4,)");
  metrics::Mean mean;
  NEURONA_EXPECT_THROW_MSG(mean.update_state(nr::zeros({4}), nr::ones({3})), nr::ShapeError, "mean",
                           "sample_weight", "(3,)");
  NEURONA_EXPECT_THROW_MSG(metrics::AUC({.num_thresholds = 1}), nr::ValueError, "num_thresholds");
}
