// Losses: values, reductions and gradients against Keras 3 itself (tests/reference/training/
// loss_*.txt, written by tests/reference/make_keras_loss_metric_references.py), numerical
// gradients in float64, the fused softmax cross-entropy kernel against the unfused ops
// (extreme logits included), label dtypes and shapes, and the error messages.
#include <neurona/neurona.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "neurona/training/losses.h"
#include "support/gradcheck.h"
#include "support/reference_file.h"

namespace nr = neurona;
namespace losses = nr::losses;
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
  const auto it = ref.find(key);
  if (it == ref.end()) throw std::runtime_error("reference lacks " + key);
  return make_tensor(it->second.values, it->second.shape, dtype);
}

::testing::AssertionResult close(const nr::Tensor& actual, const Reference& ref,
                                 const std::string& key) {
  const Entry& e = ref.at(key);
  if (actual.shape() != e.shape) {
    return ::testing::AssertionFailure()
           << key << ": shape " << actual.shape() << ", Keras " << e.shape;
  }
  auto r = all_close(actual, e.values, 1e-5, 1e-5);
  if (!r) return ::testing::AssertionFailure() << key << ": " << r.message();
  return r;
}

using PerSample = std::function<nr::Tensor(const nr::Tensor&, const nr::Tensor&)>;

// The per-sample function, the Loss object's reduced value (with the case's sample weights)
// and its gradient with respect to y_pred, against Keras.
void check_case(const std::string& name, const PerSample& fn, const losses::Loss& loss,
                nr::DType label_dtype = nr::float32) {
  SCOPED_TRACE(name);
  const Reference ref = load("loss_" + name);
  const nr::Tensor y_true = tensor(ref, "y_true", label_dtype);
  const nr::Tensor y_pred = tensor(ref, "y_pred");
  std::optional<nr::Tensor> weight;
  if (ref.count("sample_weight")) weight = tensor(ref, "sample_weight");
  EXPECT_TRUE(close(fn(y_true, y_pred), ref, "per_sample"));
  EXPECT_TRUE(close(loss.call(y_true, y_pred), ref, "per_sample"));
  nr::GradientTape tape;
  tape.watch(y_pred);
  const nr::Tensor value = loss(y_true, y_pred, weight);
  EXPECT_TRUE(close(value, ref, "loss"));
  EXPECT_TRUE(close(tape.gradient(nr::sum(value), y_pred), ref, "grad"));
}

nr::Tensor f64(const nr::Shape& shape, double lo, double hi, std::uint32_t seed) {
  return nr::testing::random_tensor(shape, nr::float64, lo, hi, seed);
}

// The unfused reference: -sum(one_hot(labels) * log_softmax(logits), -1).
nr::Tensor unfused_sparse(const nr::Tensor& logits, const nr::Tensor& labels) {
  const nr::Tensor hot = nr::one_hot(labels, logits.shape()[-1], {.dtype = logits.dtype()});
  return -nr::sum(hot * nr::log_softmax(logits, -1), -1);
}

}  // namespace

// ---- Keras references -----------------------------------------------------------------------

TEST(LossesKeras, Regression) {
  check_case("mse", losses::mean_squared_error, losses::MeanSquaredError());
  check_case("mse_weighted", losses::mean_squared_error, losses::MeanSquaredError());
  check_case("mse_rank", losses::mean_squared_error, losses::MeanSquaredError());
  check_case("mae", losses::mean_absolute_error, losses::MeanAbsoluteError());
  check_case("mae_weighted_sum", losses::mean_absolute_error,
             losses::MeanAbsoluteError({.reduction = losses::Reduction::sum}));
  check_case(
      "huber", [](const auto& t, const auto& p) { return losses::huber(t, p); }, losses::Huber());
  check_case(
      "huber_delta", [](const auto& t, const auto& p) { return losses::huber(t, p, 0.5); },
      losses::Huber({.delta = 0.5}));
}

TEST(LossesKeras, KLDivergence) {
  check_case("kld", losses::kl_divergence, losses::KLDivergence());
  check_case("kld_weighted", losses::kl_divergence, losses::KLDivergence());
}

TEST(LossesKeras, BinaryCrossentropy) {
  check_case(
      "bce", [](const auto& t, const auto& p) { return losses::binary_crossentropy(t, p); },
      losses::BinaryCrossentropy());
  check_case(
      "bce_logits",
      [](const auto& t, const auto& p) {
        return losses::binary_crossentropy(t, p, {.from_logits = true});
      },
      losses::BinaryCrossentropy({.from_logits = true}));
  check_case(
      "bce_smoothing_weighted",
      [](const auto& t, const auto& p) {
        return losses::binary_crossentropy(t, p, {.from_logits = true, .label_smoothing = 0.2});
      },
      losses::BinaryCrossentropy({.from_logits = true, .label_smoothing = 0.2}));
  check_case(
      "bce_smoothing_probs",
      [](const auto& t, const auto& p) {
        return losses::binary_crossentropy(t, p, {.label_smoothing = 0.1});
      },
      losses::BinaryCrossentropy({.label_smoothing = 0.1}));
}

TEST(LossesKeras, CategoricalCrossentropy) {
  check_case(
      "cce", [](const auto& t, const auto& p) { return losses::categorical_crossentropy(t, p); },
      losses::CategoricalCrossentropy());
  check_case(
      "cce_logits",
      [](const auto& t, const auto& p) {
        return losses::categorical_crossentropy(t, p, {.from_logits = true});
      },
      losses::CategoricalCrossentropy({.from_logits = true}));
  check_case(
      "cce_smoothing_logits_weighted",
      [](const auto& t, const auto& p) {
        return losses::categorical_crossentropy(t, p,
                                                {.from_logits = true, .label_smoothing = 0.1});
      },
      losses::CategoricalCrossentropy({.from_logits = true, .label_smoothing = 0.1}));
  check_case(
      "cce_smoothing_probs",
      [](const auto& t, const auto& p) {
        return losses::categorical_crossentropy(t, p, {.label_smoothing = 0.3});
      },
      losses::CategoricalCrossentropy({.label_smoothing = 0.3}));
}

TEST(LossesKeras, SparseCategoricalCrossentropy) {
  check_case(
      "scce",
      [](const auto& t, const auto& p) { return losses::sparse_categorical_crossentropy(t, p); },
      losses::SparseCategoricalCrossentropy(), nr::int32);
  check_case(
      "scce_logits",
      [](const auto& t, const auto& p) {
        return losses::sparse_categorical_crossentropy(t, p, {.from_logits = true});
      },
      losses::SparseCategoricalCrossentropy({.from_logits = true}), nr::int32);
  check_case(
      "scce_logits_column_weighted_mean",
      [](const auto& t, const auto& p) {
        return losses::sparse_categorical_crossentropy(t, p, {.from_logits = true});
      },
      losses::SparseCategoricalCrossentropy(
          {.from_logits = true, .reduction = losses::Reduction::mean_with_sample_weight}),
      nr::int64);
  check_case(
      "scce_none",
      [](const auto& t, const auto& p) {
        return losses::sparse_categorical_crossentropy(t, p, {.from_logits = true});
      },
      losses::SparseCategoricalCrossentropy(
          {.from_logits = true, .reduction = losses::Reduction::none}),
      nr::uint8);
}

// ---- shapes and dtypes of labels ---------------------------------------------------------------

TEST(Losses, SparseLabelsOfEveryDtypeAndColumnShapeAgree) {
  const nr::Tensor logits = nr::testing::random_tensor({6, 4}, nr::float32, -3, 3, 5);
  const std::vector<double> labels = {0, 3, 1, 2, 3, 0};
  for (bool from_logits : {true, false}) {
    const nr::Tensor pred = from_logits ? logits : nr::softmax(logits);
    const nr::Tensor ref = losses::sparse_categorical_crossentropy(
        make_tensor(labels, {6}, nr::int32), pred, {.from_logits = from_logits});
    EXPECT_EQ(ref.shape(), nr::Shape({6}));
    for (nr::DType dt : {nr::int64, nr::uint8, nr::float32}) {
      for (const nr::Shape& s : {nr::Shape{6}, nr::Shape{6, 1}}) {
        const nr::Tensor got = losses::sparse_categorical_crossentropy(
            make_tensor(labels, s, dt), pred, {.from_logits = from_logits});
        EXPECT_TRUE(all_close(got, ref.to_vector<double>(), 0, 0))
            << nr::name(dt) << " " << s << " from_logits=" << from_logits;
      }
    }
  }
}

TEST(Losses, SparseFromLogitsIsLogSoftmaxPickedAtTheLabel) {
  const nr::Tensor logits = f64({5, 7}, -4, 4, 11);
  const nr::Tensor labels = make_tensor({6, 0, 3, 3, 1}, {5}, nr::int64);
  const nr::Tensor got =
      losses::sparse_categorical_crossentropy(labels, logits, {.from_logits = true});
  EXPECT_TRUE(all_close(got, unfused_sparse(logits, labels).to_vector<double>(), 1e-12, 1e-12));
}

TEST(Losses, CategoricalAlongAnotherAxisMatchesTheTransposedLastAxis) {
  const nr::Tensor logits = f64({4, 3}, -2, 2, 3);
  const nr::Tensor targets = nr::softmax(f64({4, 3}, -1, 1, 4));
  for (bool from_logits : {true, false}) {
    const nr::Tensor pred = from_logits ? logits : nr::softmax(logits);
    const nr::Tensor a0 =
        losses::categorical_crossentropy(targets, pred, {.from_logits = from_logits, .axis = 0});
    const nr::Tensor last = losses::categorical_crossentropy(
        nr::transpose(targets), nr::transpose(pred), {.from_logits = from_logits});
    EXPECT_EQ(a0.shape(), nr::Shape({3}));
    EXPECT_TRUE(all_close(a0, last.to_vector<double>(), 1e-12, 1e-12));
  }
}

TEST(Losses, SparseClassAxisNotLastMatchesTheLastAxis) {
  const nr::Tensor logits = f64({3, 5}, -2, 2, 8);  // classes along axis 0
  const nr::Tensor labels = make_tensor({2, 0, 1, 2, 2}, {5}, nr::int32);
  const nr::Tensor got =
      losses::sparse_categorical_crossentropy(labels, logits, {.from_logits = true, .axis = 0});
  const nr::Tensor want = unfused_sparse(nr::transpose(logits), labels);
  EXPECT_TRUE(all_close(got, want.to_vector<double>(), 1e-12, 1e-12));
}

// ---- reductions --------------------------------------------------------------------------------

TEST(Losses, ReductionsFollowKeras) {
  const nr::Tensor t = make_tensor({0, 1, 2, 3}, {4, 1});
  const nr::Tensor p = make_tensor({1, 1, 0, 3}, {4, 1});  // squared errors 1, 0, 4, 0
  const nr::Tensor w = make_tensor({1, 2, 0.5, 0}, {4});
  using R = losses::Reduction;
  EXPECT_FLOAT_EQ(losses::MeanSquaredError()(t, p).item(), 5.0f / 4);
  EXPECT_FLOAT_EQ(losses::MeanSquaredError()(t, p, w).item(), 3.0f / 4);
  EXPECT_FLOAT_EQ(losses::MeanSquaredError({.reduction = R::sum})(t, p, w).item(), 3.0f);
  EXPECT_FLOAT_EQ(losses::MeanSquaredError({.reduction = R::mean})(t, p, w).item(), 3.0f / 4);
  EXPECT_FLOAT_EQ(
      losses::MeanSquaredError({.reduction = R::mean_with_sample_weight})(t, p, w).item(),
      3.0f / 3.5f);
  EXPECT_TRUE(all_close(losses::MeanSquaredError({.reduction = R::none})(t, p, w), {1, 0, 2, 0}));
  // A scalar weight scales every sample.
  EXPECT_FLOAT_EQ(losses::MeanSquaredError()(t, p, nr::constant(2.0)).item(), 10.0f / 4);
  EXPECT_EQ(losses::reduction_from_string("mean_with_sample_weight"), R::mean_with_sample_weight);
  NEURONA_EXPECT_THROW_MSG(losses::reduction_from_string("avg"), nr::ValueError, "avg",
                           "sum_over_batch_size");
}

TEST(Losses, MeanWithZeroSampleWeightsIsZeroWithAFiniteGradient) {
  const nr::Tensor t = make_tensor({0, 1}, {2});
  const nr::Tensor p = make_tensor({1, 3}, {2});
  nr::GradientTape tape;
  tape.watch(p);
  const nr::Tensor v = losses::MeanAbsoluteError(
      {.reduction = losses::Reduction::mean_with_sample_weight})(t, p, nr::zeros({2}));
  EXPECT_EQ(v.item(), 0.0f);
  EXPECT_TRUE(all_close(tape.gradient(v, p), {0, 0}));
}

// ---- numerical gradients (float64) -------------------------------------------------------------

TEST(LossesGradients, EveryLossMatchesCentralDifferences) {
  using nr::testing::check_gradients;
  const nr::Tensor t = f64({4, 3}, -1, 1, 21);
  const nr::Tensor probs_true = nr::softmax(f64({4, 3}, -1, 1, 22));
  const nr::Tensor binary = make_tensor({1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0}, {4, 3}, nr::float64);
  const nr::Tensor labels = make_tensor({2, 0, 1, 2}, {4}, nr::int32);
  const nr::Tensor weight = make_tensor({0.5, 1, 2, 0.25}, {4}, nr::float64);
  const nr::Tensor logits = f64({4, 3}, -3, 3, 23);
  const nr::Tensor probs = f64({4, 3}, 0.05, 0.95, 24);  // inside the 1e-7 clip

  struct Case {
    const char* name;
    std::function<nr::Tensor(const nr::Tensor&)> f;  // of y_pred
    nr::Tensor at;
  };
  const std::vector<Case> cases = {
      {"mean_squared_error", [&](const auto& p) { return losses::mean_squared_error(t, p); },
       f64({4, 3}, -1, 1, 25)},
      {"mean_absolute_error", [&](const auto& p) { return losses::mean_absolute_error(t, p); },
       f64({4, 3}, -1, 1, 26)},
      {"huber", [&](const auto& p) { return losses::huber(t, p, 0.7); }, f64({4, 3}, -1, 1, 27)},
      {"kl_divergence", [&](const auto& p) { return losses::kl_divergence(probs_true, p); }, probs},
      {"binary_crossentropy", [&](const auto& p) { return losses::binary_crossentropy(binary, p); },
       probs},
      {"binary_crossentropy logits smoothed",
       [&](const auto& p) {
         return losses::binary_crossentropy(binary, p,
                                            {.from_logits = true, .label_smoothing = 0.1});
       },
       logits},
      {"categorical_crossentropy",
       [&](const auto& p) { return losses::categorical_crossentropy(probs_true, p); }, probs},
      {"categorical_crossentropy logits smoothed",
       [&](const auto& p) {
         return losses::categorical_crossentropy(probs_true, p,
                                                 {.from_logits = true, .label_smoothing = 0.2});
       },
       logits},
      {"sparse_categorical_crossentropy",
       [&](const auto& p) { return losses::sparse_categorical_crossentropy(labels, p); }, probs},
      {"sparse_categorical_crossentropy logits",
       [&](const auto& p) {
         return losses::sparse_categorical_crossentropy(labels, p, {.from_logits = true});
       },
       logits},
      {"SparseCategoricalCrossentropy weighted",
       [&](const auto& p) {
         return losses::SparseCategoricalCrossentropy({.from_logits = true})(labels, p, weight);
       },
       logits},
      {"CategoricalCrossentropy weighted mean",
       [&](const auto& p) {
         return losses::CategoricalCrossentropy(
             {.reduction = losses::Reduction::mean_with_sample_weight})(probs_true, p, weight);
       },
       probs},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(check_gradients(c.name, [&](const auto& in) { return c.f(in[0]); }, {c.at}));
  }
}

TEST(LossesGradients, FusedDenseCrossEntropyDifferentiatesBothArguments) {
  EXPECT_TRUE(nr::testing::check_gradients(
      "softmax_cross_entropy",
      [](const auto& in) { return nr::softmax_cross_entropy(in[0], in[1]); },
      {f64({3, 5}, -3, 3, 31), f64({3, 5}, 0, 1, 32)}));
}

// ---- the fused kernel --------------------------------------------------------------------------

TEST(FusedCrossEntropy, MatchesTheUnfusedOpsWithGradients) {
  for (nr::DType dt : {nr::float32, nr::float64}) {
    const nr::Tensor logits = nr::testing::random_tensor({2, 3, 9}, dt, -5, 5, 41);
    const nr::Tensor labels = make_tensor({8, 0, 4, 4, 1, 7}, {2, 3}, nr::int64);
    const nr::Tensor targets = nr::softmax(nr::testing::random_tensor({2, 3, 9}, dt, -2, 2, 42));
    const nr::Tensor g = nr::testing::random_tensor({2, 3}, dt, 0.5, 1.5, 43);
    const double tol = dt == nr::float32 ? 1e-5 : 1e-12;
    SCOPED_TRACE(nr::name(dt));

    nr::GradientTape tape({.persistent = true});
    tape.watch(logits);
    tape.watch(targets);
    const nr::Tensor fused = nr::sparse_softmax_cross_entropy(logits, labels);
    const nr::Tensor plain = unfused_sparse(logits, labels);
    EXPECT_EQ(fused.shape(), nr::Shape({2, 3}));
    EXPECT_TRUE(all_close(fused, plain.to_vector<double>(), tol, tol));
    EXPECT_TRUE(all_close(tape.gradient(nr::sum(fused * g), logits),
                          tape.gradient(nr::sum(plain * g), logits).to_vector<double>(), tol, tol));

    const nr::Tensor dense = nr::softmax_cross_entropy(logits, targets);
    const nr::Tensor dense_plain = -nr::sum(targets * nr::log_softmax(logits, -1), -1);
    EXPECT_TRUE(all_close(dense, dense_plain.to_vector<double>(), tol, tol));
    const auto fused_grads =
        tape.gradient(nr::sum(dense * g), std::vector<nr::Tensor>{logits, targets});
    const auto plain_grads =
        tape.gradient(nr::sum(dense_plain * g), std::vector<nr::Tensor>{logits, targets});
    EXPECT_TRUE(all_close(fused_grads[0], plain_grads[0].to_vector<double>(), tol, tol));
    EXPECT_TRUE(all_close(fused_grads[1], plain_grads[1].to_vector<double>(), tol, tol));
  }
}

TEST(FusedCrossEntropy, ExtremeLogitsGiveFiniteExactValues) {
  const nr::Tensor logits =
      make_tensor({1e4, 0, -1e4, 1e4, 0, -1e4, 1e4, 0, -1e4, 5e3, 5e3, -1e4}, {4, 3});
  const nr::Tensor labels = make_tensor({0, 1, 2, 1}, {4}, nr::int32);
  nr::GradientTape tape;
  tape.watch(logits);
  const nr::Tensor loss = nr::sparse_softmax_cross_entropy(logits, labels);
  // softmax rows are (1, 0, 0) and (0.5, 0.5, 0): losses 0, 1e4, 2e4 and log 2.
  EXPECT_TRUE(all_close(loss, {0, 1e4, 2e4, std::log(2.0)}, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(tape.gradient(nr::sum(loss), logits),
                        {0, 0, 0, 1, -1, 0, 1, 0, -1, 0.5, -0.5, 0}, 1e-6, 1e-6));

  nr::GradientTape dense_tape;
  dense_tape.watch(logits);
  const nr::Tensor onehot = nr::one_hot(labels, 3, {.dtype = nr::float32});
  const nr::Tensor dense = nr::softmax_cross_entropy(logits, onehot);
  EXPECT_TRUE(all_close(dense, loss.to_vector<double>(), 1e-6, 1e-6));
  const std::vector<double> g = dense_tape.gradient(nr::sum(dense), logits).to_vector<double>();
  for (double v : g) EXPECT_TRUE(std::isfinite(v));
  // The loss function sends from_logits through the same kernel.
  const nr::Tensor via_loss =
      losses::sparse_categorical_crossentropy(labels, logits, {.from_logits = true});
  EXPECT_TRUE(all_close(via_loss, loss.to_vector<double>(), 0, 0));
}

// float32 rows wider than the CPU kernel's chunks (its SIMD exp takes 256 classes at a time)
// and than its backward blocks (4096 classes a task) give the float64 kernel's losses and
// gradients within float32 rounding, sparse and dense (one-hot and soft targets, the logits'
// gradient alone and the targets' too); the labels sit in the first, the last and a middle
// chunk or block. The widest case has enough rows for the loops to run on every thread.
TEST(FusedCrossEntropy, WideFloat32RowsMatchFloat64) {
  for (const std::int64_t classes : {300, 1000, 9000}) {
    SCOPED_TRACE(classes);
    const std::int64_t rows = classes > 4096 ? 16 : 3;
    // float32 values, so that both runs see the same logits.
    const nr::Tensor wide = nr::cast(
        nr::testing::random_tensor({rows, classes}, nr::float32, -30, 30, 51), nr::float64);
    std::vector<double> label_values{0, static_cast<double>(classes - 1),
                                     classes > 4096 ? 4100.0 : 257.0};
    for (std::int64_t r = 3; r < rows; ++r) label_values.push_back(static_cast<double>(r * 523));
    const nr::Tensor labels = make_tensor(label_values, {rows}, nr::int32);
    // Soft targets summing to 1.5 (Keras takes any weights): their sum scales the softmax.
    const nr::Tensor soft = nr::cast(
        nr::softmax(nr::testing::random_tensor({rows, classes}, nr::float32, -3, 3, 52)) * 1.5,
        nr::float64);
    const nr::Tensor g = nr::testing::random_tensor({rows}, nr::float64, -2, 2, 53);
    std::vector<std::vector<double>> results;
    for (const nr::DType dt : {nr::float64, nr::float32}) {
      const nr::Tensor logits = nr::cast(wide, dt);
      const nr::Tensor onehot = nr::one_hot(labels, classes, {.dtype = dt});
      const nr::Tensor targets = nr::cast(soft, dt);
      nr::GradientTape tape({.persistent = true});
      tape.watch(logits);
      tape.watch(targets);
      const nr::Tensor sparse = nr::sparse_softmax_cross_entropy(logits, labels);
      const nr::Tensor dense_onehot = nr::softmax_cross_entropy(logits, onehot);
      const nr::Tensor dense_soft = nr::softmax_cross_entropy(logits, targets);
      for (const nr::Tensor& loss : {sparse, dense_onehot, dense_soft}) {
        results.push_back(loss.to_vector<double>());
        results.push_back(
            tape.gradient(nr::sum(loss * nr::cast(g, dt)), logits).to_vector<double>());
      }
      const auto both = tape.gradient(nr::sum(dense_soft * nr::cast(g, dt)),
                                      std::vector<nr::Tensor>{logits, targets});
      results.push_back(both[0].to_vector<double>());
      results.push_back(both[1].to_vector<double>());
    }
    const std::size_t half = results.size() / 2;
    for (std::size_t i = 0; i < half; ++i) {
      // Sparse, one-hot, soft: the loss and d/dlogits; then the soft d/dlogits and d/dtargets
      // asked for together.
      SCOPED_TRACE(i);
      const bool loss = i % 2 == 0 && i < 6;
      const nr::Shape shape = loss ? nr::Shape({rows}) : nr::Shape({rows, classes});
      // Losses of up to about 60 and d/dtargets of up to about 120 (2 * (log_sum - x + max)).
      const double tol = loss ? 2e-6 : i == 7 ? 1e-5 : 1e-6;
      EXPECT_TRUE(all_close(make_tensor(results[half + i], shape), results[i], tol, tol));
    }
  }
}

// Wide float32 rows whose maximum sits in the second chunk's eight-lane loop, or is shared by
// two logits in different chunks, with everything else far below exp's range (flushed to 0):
// the exact losses and gradients of ExtremeLogitsGiveFiniteExactValues; a NaN in a row's
// scalar tail makes the row's loss and gradient NaN.
TEST(FusedCrossEntropy, WideFloat32RowsFindTheirMaximumAnywhere) {
  std::vector<double> rows(3 * 300, -1e4);
  rows[261] = 1e4;                          // row 0: one winner, its label
  rows[300 + 100] = rows[300 + 270] = 5e3;  // row 1: two, the label one of them
  rows[600 + 297] = std::nan("");           // row 2: NaN in the tail
  const nr::Tensor logits = make_tensor(rows, {3, 300}, nr::float32);
  const nr::Tensor labels = make_tensor({261, 270, 5}, {3}, nr::int32);
  nr::GradientTape tape;
  tape.watch(logits);
  const nr::Tensor loss = nr::sparse_softmax_cross_entropy(logits, labels);
  const std::vector<double> l = loss.to_vector<double>();
  EXPECT_EQ(l[0], 0.0);
  EXPECT_NEAR(l[1], std::log(2.0), 1e-7);
  EXPECT_TRUE(std::isnan(l[2]));
  const std::vector<double> g = tape.gradient(nr::sum(loss), logits).to_vector<double>();
  for (std::int64_t k = 0; k < 300; ++k) {
    const auto at = static_cast<std::size_t>(k);
    EXPECT_EQ(g[at], 0.0) << "row 0, class " << k;
    EXPECT_EQ(g[300 + at], k == 100 ? 0.5 : k == 270 ? -0.5 : 0.0) << "row 1, class " << k;
    EXPECT_TRUE(std::isnan(g[600 + at])) << "row 2, class " << k;
  }
  // The dense kernel given the labels one-hot: the same losses and gradients.
  nr::GradientTape dense_tape;
  dense_tape.watch(logits);
  const nr::Tensor dense =
      nr::softmax_cross_entropy(logits, nr::one_hot(labels, 300, {.dtype = nr::float32}));
  const std::vector<double> dl = dense.to_vector<double>();
  EXPECT_EQ(dl[0], 0.0);
  EXPECT_NEAR(dl[1], std::log(2.0), 1e-7);
  EXPECT_TRUE(std::isnan(dl[2]));
  const std::vector<double> dg = dense_tape.gradient(nr::sum(dense), logits).to_vector<double>();
  for (std::size_t i = 0; i < dg.size(); ++i) {
    if (std::isnan(g[i])) {
      EXPECT_TRUE(std::isnan(dg[i])) << i;
    } else {
      EXPECT_EQ(dg[i], g[i]) << i;
    }
  }
}

TEST(FusedCrossEntropy, OutOfRangeLabelsAreAValueErrorOnTheCpu) {
  const nr::Tensor logits = nr::zeros({3, 4});
  for (double bad : {4.0, -1.0}) {
    const nr::Tensor labels = make_tensor({0, bad, 1}, {3}, nr::int32);
    NEURONA_EXPECT_THROW_MSG(nr::sparse_softmax_cross_entropy(logits, labels), nr::ValueError,
                             "sparse_softmax_cross_entropy", "index 1", "(3, 4)");
    NEURONA_EXPECT_THROW_MSG(losses::sparse_categorical_crossentropy(labels, nr::softmax(logits)),
                             nr::ValueError, "sparse_categorical_crossentropy", "index 1",
                             "(3, 4)");
  }
  NEURONA_EXPECT_THROW_MSG(nr::kernels::sparse_softmax_cross_entropy_backward(
                               logits, make_tensor({0, 9, 1}, {3}, nr::uint8), nr::zeros({3}),
                               nr::zeros({3}), nr::ones({3})),
                           nr::ValueError, "label 9");
}

// Float labels are truncated to classes, as Keras's cast; NaN or infinity would become class 0
// or an end of int64 silently: the CPU refuses them, naming the index.
TEST(FusedCrossEntropy, NonFiniteFloatLabelsAreAValueErrorOnTheCpu) {
  const nr::Tensor logits = nr::testing::random_tensor({2, 4}, nr::float32, -1, 1, 61);
  for (const double bad : {std::nan(""), std::numeric_limits<double>::infinity()}) {
    const nr::Tensor labels = make_tensor({1.0, bad}, {2});
    NEURONA_EXPECT_THROW_MSG(nr::sparse_softmax_cross_entropy(logits, labels), nr::ValueError,
                             "sparse_softmax_cross_entropy", "labels", "index 1", "(2,)");
  }
  const nr::Tensor whole = make_tensor({1.0, 3.0}, {2});
  EXPECT_TRUE(all_close(
      nr::sparse_softmax_cross_entropy(logits, whole),
      nr::sparse_softmax_cross_entropy(logits, nr::cast(whole, nr::int32)).to_vector<double>(), 0,
      0));
}

TEST(FusedCrossEntropy, HasNoSecondDerivative) {
  const nr::Tensor logits = f64({2, 3}, -1, 1, 51);
  const nr::Tensor labels = make_tensor({1, 2}, {2}, nr::int32);
  nr::GradientTape outer;
  outer.watch(logits);
  nr::GradientTape inner;
  inner.watch(logits);
  const nr::Tensor g =
      inner.gradient(nr::sum(nr::sparse_softmax_cross_entropy(logits, labels)), logits);
  NEURONA_EXPECT_THROW_MSG(outer.gradient(nr::sum(g), logits), nr::NotImplementedError,
                           "sparse_softmax_cross_entropy");
}

TEST(FusedCrossEntropy, FrontDoorChecksShapesAndDtypes) {
  NEURONA_EXPECT_THROW_MSG(
      nr::sparse_softmax_cross_entropy(nr::zeros({3, 4}), nr::zeros({4}, {.dtype = nr::int32})),
      nr::ShapeError, "sparse_softmax_cross_entropy", "labels", "(4,)", "(3, 4)");
  NEURONA_EXPECT_THROW_MSG(nr::sparse_softmax_cross_entropy(nr::zeros({3, 4}, {.dtype = nr::int32}),
                                                            nr::zeros({3}, {.dtype = nr::int32})),
                           nr::ValueError, "sparse_softmax_cross_entropy", "logits");
  NEURONA_EXPECT_THROW_MSG(nr::softmax_cross_entropy(nr::zeros({3, 4}), nr::zeros({3, 5})),
                           nr::ShapeError, "softmax_cross_entropy", "(3, 5)", "(3, 4)");
}

// ---- errors and names --------------------------------------------------------------------------

TEST(Losses, MismatchedShapesNameTheLossAndBothShapes) {
  NEURONA_EXPECT_THROW_MSG(losses::mean_squared_error(nr::zeros({4, 3}), nr::zeros({4, 2})),
                           nr::ShapeError, "mean_squared_error", "(4, 3)", "(4, 2)");
  NEURONA_EXPECT_THROW_MSG(losses::categorical_crossentropy(nr::zeros({4, 3}), nr::zeros({4, 5})),
                           nr::ShapeError, "categorical_crossentropy", "(4, 3)", "(4, 5)");
  NEURONA_EXPECT_THROW_MSG(losses::binary_crossentropy(nr::zeros({4, 1}), nr::zeros({4, 2})),
                           nr::ShapeError, "binary_crossentropy", "(4, 1)", "(4, 2)");
  NEURONA_EXPECT_THROW_MSG(
      losses::sparse_categorical_crossentropy(nr::zeros({3}), nr::zeros({4, 5})), nr::ShapeError,
      "sparse_categorical_crossentropy", "(3,)", "(4, 5)");
  NEURONA_EXPECT_THROW_MSG(losses::Huber()(nr::zeros({4, 2}), nr::zeros({4, 2}), nr::ones({3})),
                           nr::ShapeError, "huber_loss", "sample_weight", "(3,)", "(4,)");
  NEURONA_EXPECT_THROW_MSG(
      losses::mean_absolute_error(nr::zeros({2}), nr::zeros({2}, {.dtype = nr::int32})),
      nr::ValueError, "mean_absolute_error", "a float tensor", "int32");
}

TEST(Losses, NamesAndAliasesAsKeras) {
  EXPECT_EQ(losses::get("mse")->name(), "mse");
  EXPECT_EQ(losses::get("mean_squared_error")->name(), "mean_squared_error");
  EXPECT_EQ(losses::get("MeanSquaredError")->name(), "mean_squared_error");
  EXPECT_EQ(losses::get("Huber")->name(), "huber_loss");
  EXPECT_EQ(losses::get("kld")->name(), "kld");
  EXPECT_NE(dynamic_cast<const losses::KLDivergence*>(losses::get("KLD").get()), nullptr);
  EXPECT_NE(dynamic_cast<const losses::MeanAbsoluteError*>(losses::get("MAE").get()), nullptr);
  EXPECT_NE(dynamic_cast<const losses::BinaryCrossentropy*>(losses::get("bce").get()), nullptr);
  EXPECT_EQ(losses::get("SparseCategoricalCrossentropy")->name(),
            "sparse_categorical_crossentropy");
  EXPECT_EQ(losses::MeanAbsoluteError({.name = "l1"}).name(), "l1");
  NEURONA_EXPECT_THROW_MSG(losses::get("mean_squared_eror"), nr::ValueError, "mean_squared_eror",
                           "mean_squared_error", "sparse_categorical_crossentropy", "mse");
}

TEST(Losses, LossRefTakesNamesObjectsAndHandles) {
  const losses::LossRef by_name = "sparse_categorical_crossentropy";
  EXPECT_EQ(by_name.name(), "sparse_categorical_crossentropy");
  const losses::LossRef by_object = losses::SparseCategoricalCrossentropy({.from_logits = true});
  const auto* scce =
      dynamic_cast<const losses::SparseCategoricalCrossentropy*>(by_object.loss().get());
  ASSERT_NE(scce, nullptr);
  EXPECT_TRUE(scce->options().from_logits);
  const losses::LossRef by_handle = losses::get("mae");
  EXPECT_EQ(by_handle->name(), "mae");
  const losses::LossRef by_string = std::string("Huber");
  EXPECT_EQ(by_string.name(), "huber_loss");
  NEURONA_EXPECT_THROW_MSG(losses::LossRef("crossentropy_typo"), nr::ValueError,
                           "crossentropy_typo");
  // Calling through the reference reduces as the object does.
  const nr::Tensor labels = make_tensor({1, 0}, {2}, nr::int32);
  const nr::Tensor logits = make_tensor({0, 0, 2, 0}, {2, 2});
  EXPECT_FLOAT_EQ(by_object(labels, logits).item(),
                  nr::mean(unfused_sparse(logits, labels)).item());
}
