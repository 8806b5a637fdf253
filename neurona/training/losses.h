// Losses with Keras 3's names, defaults and arithmetic: per-sample functions built on the
// differentiable ops (keras.losses.mean_squared_error, ...), Loss objects that reduce them as
// Keras does (keras.losses.MeanSquaredError, ...), Keras's string names and aliases, and
// LossRef, what model.compile takes.
//
//   nr::Tensor per_sample = nr::losses::sparse_categorical_crossentropy(
//       labels, logits, {.from_logits = true});                       // shape (batch,)
//   nr::losses::SparseCategoricalCrossentropy loss({.from_logits = true});
//   nr::Tensor value = loss(labels, logits);                           // scalar
//   nr::losses::LossRef ref = "mse";                                   // compile({.loss = "mse"})
#pragma once

#include <concepts>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "neurona/core/tensor.h"
#include "neurona/training/config.h"

namespace neurona::losses {

// ---- per-sample functions -----------------------------------------------------------------
// Each takes (y_true, y_pred) as Keras does, reduces the last axis and returns one value per
// sample (y_pred's shape without its last axis). When the ranks differ by one and the longer
// one ends in 1, that axis is squeezed first (Keras's squeeze_or_expand_to_same_rank). Shapes
// that still do not fit throw ShapeError naming the loss and both shapes. y_true is cast to
// y_pred's dtype; y_pred must be float32 or float64.

/// mean(square(y_true - y_pred), axis=-1).
Tensor mean_squared_error(const Tensor& y_true, const Tensor& y_pred);
/// mean(abs(y_true - y_pred), axis=-1).
Tensor mean_absolute_error(const Tensor& y_true, const Tensor& y_pred);
/// Huber: mean over the last axis of 0.5 x^2 where |x| <= delta, else delta |x| - 0.5 delta^2,
/// with x = y_pred - y_true.
Tensor huber(const Tensor& y_true, const Tensor& y_pred, double delta = 1.0);
/// sum(y_true * log(y_true / y_pred), axis=-1) with both clipped to [1e-7, 1].
Tensor kl_divergence(const Tensor& y_true, const Tensor& y_pred);

/// Options of binary_crossentropy and categorical_crossentropy (Keras's keyword arguments).
struct CrossentropyOptions {
  /// y_pred holds logits rather than probabilities.
  bool from_logits = false;
  /// In [0, 1]: binary labels are squeezed toward 0.5 (y (1 - s) + 0.5 s), categorical
  /// labels toward uniform (y (1 - s) + s / classes).
  double label_smoothing = 0.0;
  /// Binary: the axis of the mean; categorical: the class axis.
  int axis = -1;
};

/// Options of sparse_categorical_crossentropy.
struct SparseCrossentropyOptions {
  bool from_logits = false;
  /// The class axis of y_pred.
  int axis = -1;
};

/// Binary cross-entropy averaged over `axis`. Probabilities are clipped to [1e-7, 1 - 1e-7]
/// before the log (as Keras); logits use log-sigmoid, stable for any magnitude.
Tensor binary_crossentropy(const Tensor& y_true, const Tensor& y_pred,
                           const CrossentropyOptions& options = {});
/// -sum(y_true * log(p)) over the class axis: from logits, p = softmax(y_pred) in one fused
/// kernel (softmax_cross_entropy); from probabilities, p = y_pred / sum(y_pred) clipped to
/// [1e-7, 1 - 1e-7] (as Keras). y_true has y_pred's shape.
Tensor categorical_crossentropy(const Tensor& y_true, const Tensor& y_pred,
                                const CrossentropyOptions& options = {});
/// categorical_crossentropy with integer class labels: y_true is y_pred's shape without the
/// class axis, or with it of size 1; int32, int64, uint8 or float (truncated, as Keras casts).
/// From logits this is one fused kernel (sparse_softmax_cross_entropy). A label outside
/// [0, classes) throws ValueError on the CPU; on a GPU its sample's loss is NaN (Keras would
/// silently give 0).
Tensor sparse_categorical_crossentropy(const Tensor& y_true, const Tensor& y_pred,
                                       const SparseCrossentropyOptions& options = {});

// ---- Loss objects -------------------------------------------------------------------------

/// How a Loss object reduces the per-sample values (Keras's `reduction` strings).
enum class Reduction {
  /// sum(values * weights) / number of values: Keras's default.
  sum_over_batch_size,
  sum,
  /// Same as sum_over_batch_size (Keras accepts both).
  mean,
  /// sum(values * weights) / sum(weights).
  mean_with_sample_weight,
  /// The weighted per-sample values, unreduced.
  none,
};
/// From "sum_over_batch_size", "sum", "mean", "mean_with_sample_weight" or "none"; throws
/// ValueError listing them.
Reduction reduction_from_string(const std::string& s);
/// Keras's string for a reduction ("sum_over_batch_size", ...).
const char* reduction_name(Reduction reduction);

/// Base of the loss objects: `loss(y_true, y_pred)` or `loss(y_true, y_pred, sample_weight)`.
/// Loss objects are small values (their options); copying one copies its configuration.
class Loss {
 public:
  Loss(std::string name, Reduction reduction) : name_(std::move(name)), reduction_(reduction) {}
  virtual ~Loss() = default;

  const std::string& name() const { return name_; }
  Reduction reduction() const { return reduction_; }

  /// Keras's class name ("MeanSquaredError", ...), which `.keras` files record; empty for a
  /// loss class of the user's own, which from_config cannot rebuild.
  virtual std::string class_name() const { return ""; }
  /// Keras's get_config(), in its key order: name, reduction, then the class's own arguments.
  virtual Config config() const;

  /// The per-sample values (Keras's Loss.call), after squeezing a trailing axis of size 1 off
  /// whichever of y_true and y_pred has one more dimension than the other.
  virtual Tensor call(const Tensor& y_true, const Tensor& y_pred) const = 0;

  /// The reduced loss, as Keras's Loss.__call__: values = call(y_true, y_pred), multiplied by
  /// `sample_weight` (broadcast; a trailing axis of size 1 is squeezed or added first to
  /// match ranks), then, for sum_over_batch_size, sum(values * weight) / values.numel() (0
  /// when empty: Keras's divide_no_nan). The result is a scalar on y_pred's device
  /// (values unreduced for Reduction::none). Differentiable with respect to y_pred.
  /// A mask attached to y_pred (Tensor::keras_mask: a padded sequence's steps) weighs the
  /// values as Keras does: 0 for masked steps, and the mean is over the unmasked ones.
  Tensor operator()(const Tensor& y_true, const Tensor& y_pred,
                    const std::optional<Tensor>& sample_weight = std::nullopt) const;

 protected:
  /// Replaces an empty name by the class's default.
  void set_default_name(const char* name) {
    if (name_.empty()) name_ = name;
  }

 private:
  /// The sample weight with y_pred's mask applied (Keras's apply_mask).
  Tensor masked_weight(const Tensor& mask, const std::optional<Tensor>& sample_weight,
                       const Tensor& values) const;

  std::string name_;
  Reduction reduction_;
};

/// The options every loss class takes; an empty name means the class's default.
struct LossOptions {
  Reduction reduction = Reduction::sum_over_batch_size;
  std::string name = "";
};

/// keras.losses.MeanSquaredError: name "mean_squared_error".
class MeanSquaredError : public Loss {
 public:
  explicit MeanSquaredError(const LossOptions& options = {});
  Tensor call(const Tensor& y_true, const Tensor& y_pred) const override;
  std::string class_name() const override { return "MeanSquaredError"; }
  /// Keras's from_config: the loss config() describes (see losses::from_config).
  static std::shared_ptr<MeanSquaredError> from_config(const Config& config);
};

/// keras.losses.MeanAbsoluteError: name "mean_absolute_error".
class MeanAbsoluteError : public Loss {
 public:
  explicit MeanAbsoluteError(const LossOptions& options = {});
  Tensor call(const Tensor& y_true, const Tensor& y_pred) const override;
  std::string class_name() const override { return "MeanAbsoluteError"; }
  /// Keras's from_config: the loss config() describes (see losses::from_config).
  static std::shared_ptr<MeanAbsoluteError> from_config(const Config& config);
};

struct HuberOptions {
  double delta = 1.0;
  Reduction reduction = Reduction::sum_over_batch_size;
  std::string name = "";
};

/// keras.losses.Huber: name "huber_loss".
class Huber : public Loss {
 public:
  explicit Huber(const HuberOptions& options = {});
  Tensor call(const Tensor& y_true, const Tensor& y_pred) const override;
  double delta() const { return delta_; }
  std::string class_name() const override { return "Huber"; }
  /// Keras 3.15's Huber.get_config() omits delta (name and reduction only); neurona adds it
  /// when it is not the default 1.0, so that the loss survives a round trip (Keras's
  /// from_config takes it).
  Config config() const override;
  /// Keras's from_config: the loss config() describes (see losses::from_config).
  static std::shared_ptr<Huber> from_config(const Config& config);

 private:
  double delta_;
};

/// keras.losses.KLDivergence: name "kl_divergence".
class KLDivergence : public Loss {
 public:
  explicit KLDivergence(const LossOptions& options = {});
  Tensor call(const Tensor& y_true, const Tensor& y_pred) const override;
  std::string class_name() const override { return "KLDivergence"; }
  /// Keras's from_config: the loss config() describes (see losses::from_config).
  static std::shared_ptr<KLDivergence> from_config(const Config& config);
};

/// The options of BinaryCrossentropy and CategoricalCrossentropy, in Keras's order.
struct CrossentropyLossOptions {
  bool from_logits = false;
  double label_smoothing = 0.0;
  int axis = -1;
  Reduction reduction = Reduction::sum_over_batch_size;
  std::string name = "";
};

/// keras.losses.BinaryCrossentropy: name "binary_crossentropy".
class BinaryCrossentropy : public Loss {
 public:
  explicit BinaryCrossentropy(const CrossentropyLossOptions& options = {});
  Tensor call(const Tensor& y_true, const Tensor& y_pred) const override;
  const CrossentropyOptions& options() const { return options_; }
  std::string class_name() const override { return "BinaryCrossentropy"; }
  Config config() const override;
  /// Keras's from_config: the loss config() describes (see losses::from_config).
  static std::shared_ptr<BinaryCrossentropy> from_config(const Config& config);

 private:
  CrossentropyOptions options_;
};

/// keras.losses.CategoricalCrossentropy: name "categorical_crossentropy".
class CategoricalCrossentropy : public Loss {
 public:
  explicit CategoricalCrossentropy(const CrossentropyLossOptions& options = {});
  Tensor call(const Tensor& y_true, const Tensor& y_pred) const override;
  const CrossentropyOptions& options() const { return options_; }
  std::string class_name() const override { return "CategoricalCrossentropy"; }
  Config config() const override;
  /// Keras's from_config: the loss config() describes (see losses::from_config).
  static std::shared_ptr<CategoricalCrossentropy> from_config(const Config& config);

 private:
  CrossentropyOptions options_;
};

struct SparseCrossentropyLossOptions {
  bool from_logits = false;
  Reduction reduction = Reduction::sum_over_batch_size;
  int axis = -1;
  std::string name = "";
};

/// keras.losses.SparseCategoricalCrossentropy: name "sparse_categorical_crossentropy".
/// (Keras's ignore_class is not implemented.)
class SparseCategoricalCrossentropy : public Loss {
 public:
  explicit SparseCategoricalCrossentropy(const SparseCrossentropyLossOptions& options = {});
  Tensor call(const Tensor& y_true, const Tensor& y_pred) const override;
  const SparseCrossentropyOptions& options() const { return options_; }
  std::string class_name() const override { return "SparseCategoricalCrossentropy"; }
  /// Keras's keys (ignore_class is always None here); `axis`, which Keras 3.15 takes but does
  /// not write, is added when it is not -1.
  Config config() const override;
  /// Keras's from_config: the loss config() describes (see losses::from_config).
  static std::shared_ptr<SparseCategoricalCrossentropy> from_config(const Config& config);

 private:
  SparseCrossentropyOptions options_;
};

// ---- names ----------------------------------------------------------------------------------

/// The loss a Keras string names, as keras.losses.get does: a function name or alias
/// ("mean_squared_error", "mse", "MSE", "mae", "kld", "bce", "huber", "kl_divergence",
/// "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy")
/// gives that function's loss named after the string, as compile() names it; a class name
/// ("MeanSquaredError", "Huber", ...) gives the class with its default name. Throws ValueError
/// listing the valid names otherwise.
std::shared_ptr<Loss> get(const std::string& name);

/// Every name get() accepts, sorted.
std::vector<std::string> names();

/// The loss a Keras class name and get_config() describe, as keras.losses.deserialize makes
/// it: the inverse of Loss::class_name() and config() for MeanSquaredError,
/// MeanAbsoluteError, Huber, KLDivergence, BinaryCrossentropy, CategoricalCrossentropy and
/// SparseCategoricalCrossentropy (absent keys take Keras's defaults; reduction None is
/// "none"). Throws ValueError for another class (naming it), a mistyped value, a key the class
/// does not take, or an option neurona does not implement (ignore_class, a dtype other than
/// float32).
///   auto loss = nr::losses::from_config("CategoricalCrossentropy", {{"from_logits", true}});
std::shared_ptr<Loss> from_config(const std::string& class_name, const Config& config);

/// What model.compile's `.loss` takes: a Keras string (resolved at once by get(), so a wrong
/// name fails at compile time), a Loss object (copied), or a shared Loss.
///   LossRef a = "sparse_categorical_crossentropy";
///   LossRef b = nr::losses::CategoricalCrossentropy({.from_logits = true});
class LossRef {
 public:
  LossRef(const char* name) : LossRef(std::string(name)) {}  // NOLINT: implicit by design
  LossRef(const std::string& name)                           // NOLINT: implicit by design
      : loss_(get(name)), identifier_(name) {}
  template <typename L>
  requires std::derived_from<L, Loss> LossRef(std::shared_ptr<L> loss)  // NOLINT: implicit
      : loss_(std::move(loss)) {
    NEURONA_CHECK(loss_ != nullptr, ValueError, "LossRef: null loss");
  }
  template <typename L>
  requires std::derived_from<L, Loss> LossRef(const L& loss)  // NOLINT: implicit by design
      : loss_(std::make_shared<L>(loss)) {}

  const Loss& operator*() const { return *loss_; }
  const Loss* operator->() const { return loss_.get(); }
  /// The shared loss object.
  const std::shared_ptr<const Loss>& loss() const { return loss_; }
  const std::string& name() const { return loss_->name(); }
  /// True when this was made from a Keras string (which `.keras` files record as given).
  bool is_name() const { return !identifier_.empty(); }
  /// The string given, or the loss's name.
  const std::string& identifier() const { return is_name() ? identifier_ : loss_->name(); }
  /// The reduced loss: (*ref)(y_true, y_pred, sample_weight).
  Tensor operator()(const Tensor& y_true, const Tensor& y_pred,
                    const std::optional<Tensor>& sample_weight = std::nullopt) const {
    return (*loss_)(y_true, y_pred, sample_weight);
  }

 private:
  std::shared_ptr<const Loss> loss_;
  std::string identifier_;
};

namespace detail {
/// Keras's squeeze_or_expand_to_same_rank: when the ranks differ by one and the longer ends in
/// 1, that axis is squeezed, or, if the shorter has rank 1 and `expand_rank_1`, an axis of 1
/// is added to it.
std::pair<Tensor, Tensor> squeeze_or_expand_to_same_rank(const Tensor& x1, const Tensor& x2,
                                                         bool expand_rank_1 = true);
/// Keras's divide_no_nan: num / den, 0 where den is 0 (with a safe divisor there, so that the
/// unused branch's gradient is not 0/0). Shared by the losses' and the metrics' reductions.
Tensor divide_no_nan(const Tensor& num, const Tensor& den);
}  // namespace detail

}  // namespace neurona::losses
