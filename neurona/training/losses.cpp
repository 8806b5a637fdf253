// Keras 3's losses (keras/src/losses/losses.py and the JAX backend's nn.py) written with the
// differentiable ops, so that the tape differentiates them; softmax cross-entropy from logits
// goes through the fused kernel (kernels/loss.h).
#include "neurona/training/losses.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <map>

#include "neurona/autograd/ops.h"
#include "neurona/core/registry.h"

namespace neurona::losses {

namespace {

// Keras's backend.epsilon(), the clip of probabilities before a log.
constexpr double kEpsilon = 1e-7;

Tensor clip(const Tensor& x, double lo, double hi) {
  return minimum(maximum(x, scalar_like(x, lo)), scalar_like(x, hi));
}

void check_pred(const char* loss, const Tensor& y_true, const Tensor& y_pred) {
  NEURONA_CHECK(y_true.defined(), ValueError, loss, ": y_true is an undefined tensor");
  NEURONA_CHECK(y_pred.defined(), ValueError, loss, ": y_pred is an undefined tensor");
  NEURONA_CHECK(is_floating(y_pred.dtype()), ValueError, loss,
                ": y_pred must be a float tensor, got ", y_pred.dtype(), " with shape ",
                y_pred.shape());
}

[[noreturn]] void shape_mismatch(const char* loss, const Shape& t, const Shape& p,
                                 const char* why) {
  throw ShapeError(neurona::detail::str(loss, ": y_true of shape ", t,
                                        " does not fit y_pred of shape ", p, " (", why, ")"));
}

// y_true cast to y_pred's dtype, both squeezed or expanded to the same rank, and checked to
// broadcast (regression losses, as Keras's ops broadcast) or to be equal (cross-entropies, as
// the backend requires).
std::pair<Tensor, Tensor> prepare(const char* loss, const Tensor& y_true, const Tensor& y_pred,
                                  bool equal_shapes) {
  check_pred(loss, y_true, y_pred);
  auto [t, p] = detail::squeeze_or_expand_to_same_rank(cast(y_true, y_pred.dtype()), y_pred);
  if (equal_shapes) {
    if (t.shape() != p.shape()) {
      shape_mismatch(loss, y_true.shape(), y_pred.shape(), "expected the same shape");
    }
  } else {
    try {
      broadcast_shapes(t.shape(), p.shape(), loss);
    } catch (const ShapeError&) {
      shape_mismatch(loss, y_true.shape(), y_pred.shape(), "they do not broadcast");
    }
  }
  if (p.rank() == 0) shape_mismatch(loss, y_true.shape(), y_pred.shape(), "y_pred is a scalar");
  return {t, p};
}

// The permutation that moves axis `a` of a rank-`rank` tensor to the end.
std::vector<int> axis_last(int a, int rank) {
  std::vector<int> perm;
  for (int i = 0; i < rank; ++i) {
    if (i != a) perm.push_back(i);
  }
  perm.push_back(a);
  return perm;
}

// Sparse labels as integers; on the CPU every label is checked to be a class of y_pred (on a
// GPU that would stall the device; the losses give NaN there instead).
Tensor integer_labels(const char* loss, const Tensor& labels, std::int64_t classes,
                      const Shape& pred_shape) {
  const Tensor ints = is_floating(labels.dtype()) ? cast(labels, DType::int64) : labels;
  if (ints.device().is_cpu()) {
    const std::vector<std::int64_t> v = ints.to_vector<std::int64_t>();
    for (std::size_t i = 0; i < v.size(); ++i) {
      NEURONA_CHECK(v[i] >= 0 && v[i] < classes, ValueError, loss, ": label ", v[i], " at index ",
                    i, " is out of range for y_pred of shape ", pred_shape, " (valid: 0 to ",
                    classes - 1, ")");
    }
  }
  return ints;
}

}  // namespace

namespace detail {

Tensor divide_no_nan(const Tensor& num, const Tensor& den) {
  const Tensor zero = equal(den, scalar_like(den, 0));
  return where(zero, zeros_like(num), num / where(zero, ones_like(den), den));
}

std::pair<Tensor, Tensor> squeeze_or_expand_to_same_rank(const Tensor& x1, const Tensor& x2,
                                                         bool expand_rank_1) {
  const int r1 = x1.rank(), r2 = x2.rank();
  auto squeeze_last = [](const Tensor& x) {
    std::vector<std::int64_t> dims = x.shape().dims();
    dims.pop_back();
    return reshape(x, Shape(dims));
  };
  auto expand_last = [](const Tensor& x) {
    std::vector<std::int64_t> dims = x.shape().dims();
    dims.push_back(1);
    return reshape(x, Shape(dims));
  };
  if (r1 == r2 + 1 && x1.shape()[-1] == 1) {
    if (r2 == 1 && expand_rank_1) return {x1, expand_last(x2)};
    return {squeeze_last(x1), x2};
  }
  if (r2 == r1 + 1 && x2.shape()[-1] == 1) {
    if (r1 == 1 && expand_rank_1) return {expand_last(x1), x2};
    return {x1, squeeze_last(x2)};
  }
  return {x1, x2};
}

}  // namespace detail

// ---- functions --------------------------------------------------------------------------------

Tensor mean_squared_error(const Tensor& y_true, const Tensor& y_pred) {
  auto [t, p] = prepare("mean_squared_error", y_true, y_pred, false);
  return mean(square(t - p), -1);
}

Tensor mean_absolute_error(const Tensor& y_true, const Tensor& y_pred) {
  auto [t, p] = prepare("mean_absolute_error", y_true, y_pred, false);
  return mean(abs(t - p), -1);
}

Tensor huber(const Tensor& y_true, const Tensor& y_pred, double delta) {
  auto [t, p] = prepare("huber", y_true, y_pred, false);
  const Tensor error = p - t;
  const Tensor abs_error = abs(error);
  const Tensor quadratic = square(error) * 0.5;
  const Tensor linear = abs_error * delta - 0.5 * delta * delta;
  return mean(where(less_equal(abs_error, scalar_like(abs_error, delta)), quadratic, linear), -1);
}

Tensor kl_divergence(const Tensor& y_true, const Tensor& y_pred) {
  auto [t, p] = prepare("kl_divergence", y_true, y_pred, false);
  const Tensor tc = clip(t, kEpsilon, 1.0);
  const Tensor pc = clip(p, kEpsilon, 1.0);
  return sum(tc * log(tc / pc), -1);
}

Tensor binary_crossentropy(const Tensor& y_true, const Tensor& y_pred,
                           const CrossentropyOptions& options) {
  auto [t, p] = prepare("binary_crossentropy", y_true, y_pred, true);
  if (options.label_smoothing != 0.0) {
    t = t * (1.0 - options.label_smoothing) + 0.5 * options.label_smoothing;
  }
  Tensor elementwise;
  if (options.from_logits) {
    // -t log(sigmoid(x)) - (1 - t) log(sigmoid(-x)), with -log(sigmoid(x)) = softplus(-x),
    // which the softplus kernel computes without overflow.
    elementwise = t * softplus(-p) + (1.0 - t) * softplus(p);
  } else {
    const Tensor pc = clip(p, kEpsilon, 1.0 - kEpsilon);
    elementwise = -(t * log(pc) + (1.0 - t) * log(1.0 - pc));
  }
  return mean(elementwise, options.axis);
}

Tensor categorical_crossentropy(const Tensor& y_true, const Tensor& y_pred,
                                const CrossentropyOptions& options) {
  auto [t, p] = prepare("categorical_crossentropy", y_true, y_pred, true);
  if (options.label_smoothing != 0.0) {
    // Keras smooths over the last axis's size, whatever the class axis.
    const auto classes = static_cast<double>(t.shape()[-1]);
    t = t * (1.0 - options.label_smoothing) + options.label_smoothing / classes;
  }
  const int a = p.shape().normalize_axis(options.axis, "categorical_crossentropy");
  if (options.from_logits) {
    if (a == p.rank() - 1) return softmax_cross_entropy(p, t);
    return -sum(t * log_softmax(p, a), a);
  }
  const Tensor normalized = p / sum(p, a, true);
  return -sum(t * log(clip(normalized, kEpsilon, 1.0 - kEpsilon)), a);
}

Tensor sparse_categorical_crossentropy(const Tensor& y_true, const Tensor& y_pred,
                                       const SparseCrossentropyOptions& options) {
  constexpr const char* loss = "sparse_categorical_crossentropy";
  check_pred(loss, y_true, y_pred);
  NEURONA_CHECK(y_pred.rank() >= 1, ShapeError, loss, ": y_pred needs a class axis, got shape ",
                y_pred.shape());
  const int a = y_pred.shape().normalize_axis(options.axis, loss);
  Tensor labels = y_true;
  if (labels.rank() == y_pred.rank() && labels.shape()[a] == 1) {
    std::vector<std::int64_t> dims = labels.shape().dims();
    dims.erase(dims.begin() + a);
    labels = labels.reshape(Shape(dims));
  }
  std::vector<std::int64_t> expected = y_pred.shape().dims();
  expected.erase(expected.begin() + a);
  if (labels.shape() != Shape(expected)) {
    throw ShapeError(neurona::detail::str(loss, ": y_true of shape ", y_true.shape(),
                                          " does not fit y_pred of shape ", y_pred.shape(),
                                          " (expected labels of shape ", Shape(expected), ")"));
  }
  const std::int64_t classes = y_pred.shape()[a];
  const Tensor p = a == y_pred.rank() - 1 ? y_pred : transpose(y_pred, axis_last(a, y_pred.rank()));
  if (options.from_logits) {
    // The fused kernel checks labels itself (ValueError on the CPU, NaN rows on a GPU).
    return sparse_softmax_cross_entropy(p, labels);
  }
  const Tensor ints = integer_labels(loss, labels, classes, y_pred.shape());
  const Tensor normalized = p / sum(p, -1, true);
  const Tensor log_p = log(clip(normalized, kEpsilon, 1.0 - kEpsilon));
  const Tensor hot = one_hot(ints, classes, {.dtype = p.dtype()});
  const Tensor values = -sum(hot * log_p, -1);
  if (ints.device().is_cpu()) return values;
  // An out-of-range label has an all-zero one-hot row: NaN rather than Keras's silent 0, the
  // same as the fused kernel.
  const Tensor missing = equal(kernels::sum(hot, -1), scalar_like(values, 0));
  return where(missing, fill_like(values, std::numeric_limits<double>::quiet_NaN()), values);
}

// ---- Loss objects -----------------------------------------------------------------------------

Reduction reduction_from_string(const std::string& s) {
  static const std::map<std::string, Reduction> kNames = {
      {"sum_over_batch_size", Reduction::sum_over_batch_size},
      {"sum", Reduction::sum},
      {"mean", Reduction::mean},
      {"mean_with_sample_weight", Reduction::mean_with_sample_weight},
      {"none", Reduction::none}};
  const auto it = kNames.find(s);
  NEURONA_CHECK(it != kNames.end(), ValueError, "Invalid value for argument `reduction`: '", s,
                "'. Expected one of: sum_over_batch_size, sum, mean, mean_with_sample_weight, "
                "none");
  return it->second;
}

const char* reduction_name(Reduction reduction) {
  switch (reduction) {
    case Reduction::sum_over_batch_size:
      return "sum_over_batch_size";
    case Reduction::sum:
      return "sum";
    case Reduction::mean:
      return "mean";
    case Reduction::mean_with_sample_weight:
      return "mean_with_sample_weight";
    case Reduction::none:
      return "none";
  }
  return "sum_over_batch_size";
}

Config Loss::config() const {
  return {{"name", name_}, {"reduction", std::string(reduction_name(reduction_))}};
}

Tensor Loss::masked_weight(const Tensor& mask, const std::optional<Tensor>& sample_weight,
                           const Tensor& values) const {
  // Keras's apply_mask: the masked steps weigh 0; under sum_over_batch_size the others weigh
  // total / valid, so that the mean is over the valid steps (0 when there are none).
  Tensor m = cast(not_equal(mask, scalar_like(mask, 0)), values.dtype()).to(values.device());
  if (reduction_ == Reduction::sum_over_batch_size) {
    const Tensor valid = sum(m);
    m = m * detail::divide_no_nan(scalar_like(valid, static_cast<double>(m.numel())), valid);
  }
  if (!sample_weight) return m;
  auto [a, b] = detail::squeeze_or_expand_to_same_rank(
      m, cast(sample_weight->to(values.device()), values.dtype()));
  return a * b;
}

Tensor Loss::operator()(const Tensor& y_true, const Tensor& y_pred_in,
                        const std::optional<Tensor>& sample_weight) const {
  // As Keras's losses (dtype float32): 16-bit predictions (a mixed precision model's) are cast
  // to float32 first, so that the loss and its gradient's start are computed in float32.
  const Tensor y_pred = y_pred_in.defined() && is_half(y_pred_in.dtype())
                            ? cast(y_pred_in, DType::float32)
                            : y_pred_in;
  Tensor values = call(y_true, y_pred);
  std::optional<Tensor> sample_weight_in = sample_weight;
  if (sample_weight) {
    NEURONA_CHECK(sample_weight->defined(), ValueError, name_,
                  ": sample_weight is an undefined tensor");
  }
  if (const Tensor& mask = y_pred_in.keras_mask(); mask.defined()) {
    sample_weight_in = masked_weight(mask, sample_weight, values);
  }
  std::optional<Tensor> weight;
  if (sample_weight_in) {
    auto [v, w] = detail::squeeze_or_expand_to_same_rank(
        values, cast(sample_weight_in->to(values.device()), values.dtype()));
    try {
      broadcast_shapes(v.shape(), w.shape(), name_.c_str());
    } catch (const ShapeError&) {
      throw ShapeError(neurona::detail::str(
          name_, ": sample_weight of shape ", sample_weight->shape(),
          " does not broadcast with the per-sample losses of shape ", values.shape()));
    }
    values = v * w;
    weight = w;
  }
  if (reduction_ == Reduction::none || values.rank() == 0 ||
      (values.rank() == 1 && values.shape()[0] == 0)) {
    return values;
  }
  const Tensor total = sum(values);
  if (reduction_ == Reduction::sum) return total;
  if (reduction_ == Reduction::mean_with_sample_weight && weight) {
    return detail::divide_no_nan(total, kernels::sum(*weight));
  }
  if (values.numel() == 0) return scalar_like(total, 0);
  return total / static_cast<double>(values.numel());
}

namespace {

// Reads a loss class's config: the keys every loss takes, in Keras's order (reduction, name,
// dtype), then the class's own through `own(reader, common)`, which returns the class's
// options; then rejects the keys nothing read.
template <typename L, typename Own>
std::shared_ptr<L> read_config(const Config& config, const char* class_name, Own own) {
  neurona::detail::ConfigReader r(config, class_name);
  LossOptions common;
  if (r.present("reduction")) {
    // Keras's reduction=None leaves the values unreduced, as "none".
    const std::string s = r.string("reduction", "none");
    try {
      common.reduction = reduction_from_string(s);
    } catch (const ValueError& e) {
      throw ValueError(neurona::detail::str(class_name, ": ", e.what()));
    }
  }
  common.name = r.string("name", "");
  const std::string dtype = r.string("dtype", "float32");
  NEURONA_CHECK(dtype == "float32", ValueError, class_name, ": 'dtype' is '", dtype,
                "', but neurona computes a loss in y_pred's dtype (only float32 or None is "
                "supported)");
  auto out = std::make_shared<L>(own(r, common));
  r.finish();
  return out;
}

LossOptions common_only(neurona::detail::ConfigReader&, const LossOptions& common) {
  return common;
}

int axis_of(neurona::detail::ConfigReader& r) {
  const std::int64_t axis = r.integer("axis", -1);
  NEURONA_CHECK(axis >= -64 && axis < 64, ValueError, r.who(), ": 'axis' is ", axis,
                ", which no tensor has");
  return static_cast<int>(axis);
}

CrossentropyLossOptions crossentropy_options_of(neurona::detail::ConfigReader& r,
                                                const LossOptions& common) {
  return {.from_logits = r.boolean("from_logits", false),
          .label_smoothing = r.number("label_smoothing", 0.0),
          .axis = axis_of(r),
          .reduction = common.reduction,
          .name = common.name};
}

}  // namespace

MeanSquaredError::MeanSquaredError(const LossOptions& options)
    : Loss(options.name, options.reduction) {
  set_default_name("mean_squared_error");
}
Tensor MeanSquaredError::call(const Tensor& y_true, const Tensor& y_pred) const {
  return mean_squared_error(y_true, y_pred);
}
std::shared_ptr<MeanSquaredError> MeanSquaredError::from_config(const Config& config) {
  return read_config<MeanSquaredError>(config, "MeanSquaredError", common_only);
}

MeanAbsoluteError::MeanAbsoluteError(const LossOptions& options)
    : Loss(options.name, options.reduction) {
  set_default_name("mean_absolute_error");
}
Tensor MeanAbsoluteError::call(const Tensor& y_true, const Tensor& y_pred) const {
  return mean_absolute_error(y_true, y_pred);
}
std::shared_ptr<MeanAbsoluteError> MeanAbsoluteError::from_config(const Config& config) {
  return read_config<MeanAbsoluteError>(config, "MeanAbsoluteError", common_only);
}

Huber::Huber(const HuberOptions& options)
    : Loss(options.name, options.reduction), delta_(options.delta) {
  set_default_name("huber_loss");
}
Tensor Huber::call(const Tensor& y_true, const Tensor& y_pred) const {
  return huber(y_true, y_pred, delta_);
}
Config Huber::config() const {
  Config c = Loss::config();
  if (delta_ != 1.0) c.emplace_back("delta", delta_);
  return c;
}
std::shared_ptr<Huber> Huber::from_config(const Config& config) {
  return read_config<Huber>(config, "Huber", [](auto& r, const LossOptions& common) {
    return HuberOptions{
        .delta = r.number("delta", 1.0), .reduction = common.reduction, .name = common.name};
  });
}

KLDivergence::KLDivergence(const LossOptions& options) : Loss(options.name, options.reduction) {
  set_default_name("kl_divergence");
}
Tensor KLDivergence::call(const Tensor& y_true, const Tensor& y_pred) const {
  return kl_divergence(y_true, y_pred);
}
std::shared_ptr<KLDivergence> KLDivergence::from_config(const Config& config) {
  return read_config<KLDivergence>(config, "KLDivergence", common_only);
}

BinaryCrossentropy::BinaryCrossentropy(const CrossentropyLossOptions& options)
    : Loss(options.name, options.reduction),
      options_{options.from_logits, options.label_smoothing, options.axis} {
  set_default_name("binary_crossentropy");
}
Tensor BinaryCrossentropy::call(const Tensor& y_true, const Tensor& y_pred) const {
  return binary_crossentropy(y_true, y_pred, options_);
}

namespace {
Config crossentropy_config(Config c, const CrossentropyOptions& o) {
  c.emplace_back("from_logits", o.from_logits);
  c.emplace_back("label_smoothing", o.label_smoothing);
  c.emplace_back("axis", static_cast<std::int64_t>(o.axis));
  return c;
}
}  // namespace

Config BinaryCrossentropy::config() const {
  return crossentropy_config(Loss::config(), options_);
}
std::shared_ptr<BinaryCrossentropy> BinaryCrossentropy::from_config(const Config& config) {
  return read_config<BinaryCrossentropy>(config, "BinaryCrossentropy", crossentropy_options_of);
}

CategoricalCrossentropy::CategoricalCrossentropy(const CrossentropyLossOptions& options)
    : Loss(options.name, options.reduction),
      options_{options.from_logits, options.label_smoothing, options.axis} {
  set_default_name("categorical_crossentropy");
}
Tensor CategoricalCrossentropy::call(const Tensor& y_true, const Tensor& y_pred) const {
  return categorical_crossentropy(y_true, y_pred, options_);
}
Config CategoricalCrossentropy::config() const {
  return crossentropy_config(Loss::config(), options_);
}
std::shared_ptr<CategoricalCrossentropy> CategoricalCrossentropy::from_config(
    const Config& config) {
  return read_config<CategoricalCrossentropy>(config, "CategoricalCrossentropy",
                                              crossentropy_options_of);
}

SparseCategoricalCrossentropy::SparseCategoricalCrossentropy(
    const SparseCrossentropyLossOptions& options)
    : Loss(options.name, options.reduction), options_{options.from_logits, options.axis} {
  set_default_name("sparse_categorical_crossentropy");
}
Tensor SparseCategoricalCrossentropy::call(const Tensor& y_true, const Tensor& y_pred) const {
  // Keras's LossFunctionWrapper squeezes or expands first; for sparse labels (batch,) against
  // (batch, classes) that changes nothing, and (batch, 1) is squeezed by the function.
  return sparse_categorical_crossentropy(y_true, y_pred, options_);
}
Config SparseCategoricalCrossentropy::config() const {
  Config c = Loss::config();
  c.emplace_back("from_logits", options_.from_logits);
  c.emplace_back("ignore_class", nullptr);
  if (options_.axis != -1) c.emplace_back("axis", static_cast<std::int64_t>(options_.axis));
  return c;
}
std::shared_ptr<SparseCategoricalCrossentropy> SparseCategoricalCrossentropy::from_config(
    const Config& config) {
  return read_config<SparseCategoricalCrossentropy>(
      config, "SparseCategoricalCrossentropy", [](auto& r, const LossOptions& common) {
        r.require_none("ignore_class", "ignore_class");
        return SparseCrossentropyLossOptions{.from_logits = r.boolean("from_logits", false),
                                             .reduction = common.reduction,
                                             .axis = axis_of(r),
                                             .name = common.name};
      });
}

// ---- names ------------------------------------------------------------------------------------

namespace {

using Factory = std::function<std::shared_ptr<Loss>(const std::string& name)>;

// Function names and aliases: the loss is named after the string (compile's naming).
const Registry<Factory>& function_names() {
  // Never destroyed: outlives static models destroyed late.
  static const auto* r = new Registry<Factory>{
      {{"mean_squared_error", "mse", "MSE"},
       [](const std::string& n) {
         return std::make_shared<MeanSquaredError>(LossOptions{.name = n});
       }},
      {{"mean_absolute_error", "mae", "MAE"},
       [](const std::string& n) {
         return std::make_shared<MeanAbsoluteError>(LossOptions{.name = n});
       }},
      {{"kl_divergence", "kld", "KLD"},
       [](const std::string& n) { return std::make_shared<KLDivergence>(LossOptions{.name = n}); }},
      {{"binary_crossentropy", "bce", "BCE"},
       [](const std::string& n) {
         return std::make_shared<BinaryCrossentropy>(CrossentropyLossOptions{.name = n});
       }},
      {"huber",
       [](const std::string& n) { return std::make_shared<Huber>(HuberOptions{.name = n}); }},
      {"categorical_crossentropy",
       [](const std::string& n) {
         return std::make_shared<CategoricalCrossentropy>(CrossentropyLossOptions{.name = n});
       }},
      {"sparse_categorical_crossentropy",
       [](const std::string& n) {
         return std::make_shared<SparseCategoricalCrossentropy>(
             SparseCrossentropyLossOptions{.name = n});
       }},
  };
  return *r;
}

// Class names: the class with its default name.
using ClassFactory = std::function<std::shared_ptr<Loss>()>;
const Registry<ClassFactory>& class_names() {
  // Never destroyed: outlives static models destroyed late.
  static const auto* r = new Registry<ClassFactory>{
      {"MeanSquaredError", [] { return std::make_shared<MeanSquaredError>(); }},
      {"MeanAbsoluteError", [] { return std::make_shared<MeanAbsoluteError>(); }},
      {"Huber", [] { return std::make_shared<Huber>(); }},
      {"KLDivergence", [] { return std::make_shared<KLDivergence>(); }},
      {"BinaryCrossentropy", [] { return std::make_shared<BinaryCrossentropy>(); }},
      {"CategoricalCrossentropy", [] { return std::make_shared<CategoricalCrossentropy>(); }},
      {"SparseCategoricalCrossentropy",
       [] { return std::make_shared<SparseCategoricalCrossentropy>(); }},
  };
  return *r;
}

}  // namespace

std::vector<std::string> names() {
  std::vector<std::string> out = function_names().names();
  for (std::string& n : class_names().names()) out.push_back(std::move(n));
  std::sort(out.begin(), out.end());
  return out;
}

std::shared_ptr<Loss> get(const std::string& name) {
  if (const auto factory = function_names().find(name)) return (*factory)(name);
  if (const auto factory = class_names().find(name)) return (*factory)();
  throw ValueError(neurona::detail::str("Could not interpret loss identifier: '", name,
                                        "'. Valid names: ", Registry<Factory>::join(names())));
}

namespace {

// Class name -> its from_config, for configs that `.keras` files hold.
using FromConfig = std::shared_ptr<Loss> (*)(const Config& config);
template <typename L>
std::shared_ptr<Loss> from_config_of(const Config& config) {
  return L::from_config(config);
}
const Registry<FromConfig>& from_config_registry() {
  // Never destroyed: outlives static models destroyed late.
  static const auto* r = new Registry<FromConfig>{
      {"MeanSquaredError", from_config_of<MeanSquaredError>},
      {"MeanAbsoluteError", from_config_of<MeanAbsoluteError>},
      {"Huber", from_config_of<Huber>},
      {"KLDivergence", from_config_of<KLDivergence>},
      {"BinaryCrossentropy", from_config_of<BinaryCrossentropy>},
      {"CategoricalCrossentropy", from_config_of<CategoricalCrossentropy>},
      {"SparseCategoricalCrossentropy", from_config_of<SparseCategoricalCrossentropy>},
  };
  return *r;
}

}  // namespace

std::shared_ptr<Loss> from_config(const std::string& class_name, const Config& config) {
  return from_config_registry().get(class_name, "unknown loss class '",
                                    "'; neurona implements ")(config);
}

}  // namespace neurona::losses
