// BatchNormalization on the fused batch-normalization ops (autograd/ops.h: one pass pair over
// the data each way in training, one elementwise pass in inference), whose gradients flow
// through the batch statistics in training; the moving-statistics update works on
// stop_gradient'ed values and Variable::assign, so no tape records it.
#include "neurona/layers/batch_normalization.h"

#include <cmath>
#include <functional>
#include <utility>

#include "neurona/autograd/ops.h"
#include "neurona/autograd/tape.h"
#include "neurona/core/replica_context.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/scale_center.h"

namespace neurona::layers {

BatchNormalizationLayer::BatchNormalizationLayer(BatchNormalizationOptions options)
    : Layer("BatchNormalization",
            {.name = options.name, .trainable = options.trainable, .dtype = options.dtype}),
      options_(std::move(options)),
      axis_(options_.axis) {
  set_promote_integer_inputs(true);  // Keras promotes int x float weights to float
  set_supports_masking(true);
  set_call_takes_mask(true);
  NEURONA_CHECK(std::isfinite(options_.momentum), ValueError, describe(),
                ": `momentum` must be finite. Received: momentum=", options_.momentum);
  NEURONA_CHECK(std::isfinite(options_.epsilon) && options_.epsilon >= 0, ValueError, describe(),
                ": `epsilon` must be finite and >= 0. Received: epsilon=", options_.epsilon);
  if (options_.renorm) {
    RenormClipping& c = options_.renorm_clipping;
    // A bound of infinity clips nothing (TensorFlow's documented default for a missing one): it
    // is dropped, so that the config holds finite numbers only. Any other non-finite is refused.
    const auto no_bound = [](std::optional<double>& bound, double infinity) {
      if (bound && *bound == infinity) bound.reset();
    };
    no_bound(c.rmax, HUGE_VAL);
    no_bound(c.rmin, -HUGE_VAL);
    no_bound(c.dmax, HUGE_VAL);
    for (const auto& [name, bound] :
         {std::pair{"rmax", c.rmax}, std::pair{"rmin", c.rmin}, std::pair{"dmax", c.dmax}}) {
      NEURONA_CHECK(!bound || std::isfinite(*bound), ValueError, describe(), ": renorm_clipping's ",
                    name,
                    " must be a finite number (or infinity where "
                    "it clips nothing). Received: ",
                    name, "=", bound.value_or(0.0));
    }
    NEURONA_CHECK(!(c.rmax && c.rmin && *c.rmax < *c.rmin), ValueError, describe(),
                  ": rmax should be greater than rmin in the `renorm_clipping` argument. "
                  "Received: rmax=",
                  *c.rmax, ", rmin=", *c.rmin, ".");
    NEURONA_CHECK(!(c.dmax && *c.dmax < 0), ValueError, describe(),
                  ": dmax should be non-negative in the `renorm_clipping` argument. Received: "
                  "dmax=",
                  c.dmax.value_or(0.0), ".");
    NEURONA_CHECK(
        std::isfinite(options_.renorm_momentum), ValueError, describe(),
        ": `renorm_momentum` must be finite. Received: renorm_momentum=", options_.renorm_momentum);
  }
}

int BatchNormalizationLayer::normalized_axis(const Shape& input_shape) const {
  const int rank = input_shape.rank();
  const int a = options_.axis < 0 ? options_.axis + rank : options_.axis;
  NEURONA_CHECK(a >= 0 && a < rank, ValueError, describe(), ": invalid axis ", options_.axis,
                " for input of shape ", shape_str(input_shape));
  return a;
}

void BatchNormalizationLayer::check_input(const Shape& input_shape) const {
  NEURONA_CHECK(input_shape.rank() >= 1, ShapeError, describe(),
                ": expected inputs with at least 1 dimension, got shape ", shape_str(input_shape));
  const int a = normalized_axis(input_shape);
  NEURONA_CHECK(input_shape[a] > 0, ShapeError, describe(), ": axis ", options_.axis,
                " of the inputs must have a known, positive size, got shape ",
                shape_str(input_shape));
  if (moving_mean_) {
    const Shape& built = build_input_shape();
    NEURONA_CHECK(input_shape.rank() == built.rank() && input_shape[a] == moving_mean_->shape()[0],
                  ShapeError, describe(), ": expected inputs of rank ", built.rank(), " with ",
                  moving_mean_->shape()[0], " features on axis ", options_.axis,
                  " (built for shape ", shape_str(built), "), got shape ", shape_str(input_shape));
  }
}

void BatchNormalizationLayer::build(const Shape& input_shape) {
  check_input(input_shape);
  axis_ = normalized_axis(input_shape);
  const Shape shape{input_shape[axis_]};
  if (options_.scale) {
    gamma_ = add_weight("gamma", shape, detail::gamma_weight_options(options_));
  }
  if (options_.center) {
    beta_ = add_weight("beta", shape, detail::beta_weight_options(options_));
  }
  moving_mean_ = add_weight("moving_mean", shape,
                            {.initializer = options_.moving_mean_initializer, .trainable = false});
  moving_variance_ =
      add_weight("moving_variance", shape,
                 {.initializer = options_.moving_variance_initializer, .trainable = false});
  if (options_.renorm) {
    // As Keras: the stddevs start at the square root of what the moving variance starts at.
    const initializers::Initializer variance = options_.moving_variance_initializer;
    const initializers::Initializer stddev(
        [variance](const Shape& s, const TensorOptions& o) { return sqrt(variance(s, o)); },
        "moving_stddev_initializer");
    moving_stddev_ =
        add_weight("moving_stddev", shape, {.initializer = stddev, .trainable = false});
    renorm_mean_ =
        add_weight("renorm_mean", shape,
                   {.initializer = options_.moving_mean_initializer, .trainable = false});
    renorm_stddev_ =
        add_weight("renorm_stddev", shape, {.initializer = stddev, .trainable = false});
  }
}

namespace {
const Variable& need(const std::optional<Variable>& v, const std::string& who, const char* name,
                     bool exists) {
  NEURONA_CHECK(v.has_value(), ValueError, who, ": ",
                exists ? "the weights do not exist until the layer is built"
                       : "the layer has no such weight: ",
                exists ? "" : name);
  return *v;
}
}  // namespace

const Variable& BatchNormalizationLayer::gamma() const {
  return need(gamma_, describe(), "gamma (scale = false)", options_.scale);
}
const Variable& BatchNormalizationLayer::beta() const {
  return need(beta_, describe(), "beta (center = false)", options_.center);
}
const Variable& BatchNormalizationLayer::moving_mean() const {
  return need(moving_mean_, describe(), "moving_mean", true);
}
const Variable& BatchNormalizationLayer::moving_variance() const {
  return need(moving_variance_, describe(), "moving_variance", true);
}
const Variable& BatchNormalizationLayer::moving_stddev() const {
  return need(moving_stddev_, describe(), "moving_stddev (renorm = false)", options_.renorm);
}
const Variable& BatchNormalizationLayer::renorm_mean() const {
  return need(renorm_mean_, describe(), "renorm_mean (renorm = false)", options_.renorm);
}
const Variable& BatchNormalizationLayer::renorm_stddev() const {
  return need(renorm_stddev_, describe(), "renorm_stddev (renorm = false)", options_.renorm);
}

Shape BatchNormalizationLayer::compute_output_shape(const Shape& input_shape) const {
  check_input(input_shape);
  return input_shape;
}

Tensor BatchNormalizationLayer::call(const Tensor& inputs, bool training) {
  return call_with_mask(inputs, Tensor(), training);
}

namespace {

std::pair<Tensor, Tensor> merged_moments(
    const Tensor& count, const Tensor& total,
    const std::function<Tensor(const Tensor&)>& squared_deviations, bool masked,
    const neurona::detail::ReplicaContext& replica) {
  // A synchronized layer's statistics over the replicas. Each replica's count, mean and sum of
  // squared deviations from its own mean, gathered in one collective (an all-reduce of a buffer
  // where each replica fills its rows, as PyTorch's SyncBatchNorm all-gathers), then merged as Chan
  // et al.'s parallel variance: the squared deviations from the global mean are sum_r M2_r + n_r
  // (mean_r - mean)^2, exactly, with no E[x^2] - E[x]^2 cancellation. Its gradient is one
  // collective too.
  const Shape stat_shape = total.shape();  // keepdims: 1 on the reduced axes
  const std::int64_t features = total.numel();
  const std::int64_t replicas = replica.num_replicas, rank = replica.rank;
  const Tensor n = broadcast_to(count, stat_shape);
  // A replica with no rows (n = 0, so its total is 0 too) has mean 0 and adds nothing.
  const Tensor local_mean = total / maximum(n, ones_like(n));
  const Tensor local_m2 = squared_deviations(local_mean);
  // Rows [k * replicas + rank]: this replica's count (k = 0), mean (1), squared deviations (2).
  // A stand-in replica (share 0: not its rows) fills zeros.
  const double weight = replica.share == 0.0 ? 0.0 : 1.0;
  std::vector<Tensor> blocks;
  for (const Tensor& s : {n, local_mean, local_m2}) {
    blocks.push_back(
        autograd::detail::pad_rows(reshape(s * weight, {1, features}), rank, replicas - 1 - rank));
  }
  const Tensor gathered = replica_sum(concat(blocks, 0));
  const Tensor counts = slice(gathered, 0, replicas);
  const Tensor means = slice(gathered, replicas, 2 * replicas);
  const Tensor m2s = slice(gathered, 2 * replicas, 3 * replicas);
  // Keras's masked statistics divide by the kept count plus 1e-7.
  const Tensor global_count = sum(counts, {0}) + (masked ? 1e-7 : 0.0);
  const Tensor mean = sum(counts * means, {0}) / global_count;
  const Tensor m2 = sum(m2s, {0}) + sum(counts * square(means - mean), {0});
  return {reshape(mean, stat_shape), reshape(m2 / global_count, stat_shape)};
}

struct RenormCorrections {
  Tensor r, d;
};

// Keras's batch renormalization factors r = stddev / renorm_stddev and d = (mean - renorm_mean)
// / renorm_stddev for a batch's mean and `stddev` (renorm_stddev at least sqrt(epsilon), so that
// the first steps do not divide by zero), clipped, without gradient.
RenormCorrections renorm_corrections(const Tensor& mean, const Tensor& stddev,
                                     const Tensor& renorm_mean, const Tensor& renorm_stddev,
                                     double epsilon, const RenormClipping& clipping) {
  const Tensor denominator = maximum(renorm_stddev, scalar_like(renorm_stddev, std::sqrt(epsilon)));
  Tensor r = stddev / denominator;
  Tensor d = (mean - renorm_mean) / denominator;
  if (clipping.rmin) r = maximum(r, scalar_like(r, *clipping.rmin));
  if (clipping.rmax) r = minimum(r, scalar_like(r, *clipping.rmax));
  if (clipping.dmax) {
    d = minimum(maximum(d, scalar_like(d, -*clipping.dmax)), scalar_like(d, *clipping.dmax));
  }
  return {stop_gradient(r), stop_gradient(d)};
}

}  // namespace

BatchNormalizationLayer::Moments BatchNormalizationLayer::moments(const Tensor& x,
                                                                  const Tensor& mask,
                                                                  bool synchronized) const {
  const int rank = x.rank();
  std::vector<int> axes;
  for (int a = 0; a < rank; ++a) {
    if (a != axis_) axes.push_back(a);
  }
  const Axes reduce{std::move(axes)};
  // Which entries count: Keras broadcasts the mask, expanded on the last axis, to x's shape.
  Tensor keep;
  if (mask.defined()) {
    std::vector<std::int64_t> expanded = mask.shape().dims();
    expanded.push_back(1);
    keep =
        broadcast_to(reshape(not_equal(mask, scalar_like(mask, 0.0)), Shape(expanded)), x.shape());
  }
  Tensor count;
  if (keep.defined()) {
    count = sum(cast(keep, x.dtype()), reduce, /*keepdims=*/true);
  } else {
    count = scalar_like(x, static_cast<double>(x.numel() / x.shape()[axis_]));
  }
  // Two passes, as one process's fused kernel: the variance is the mean of squared deviations
  // from the mean, not E[x^2] - E[x]^2, which cancels.
  const Tensor zero = scalar_like(x, 0.0);
  const Tensor total = sum(keep.defined() ? where(keep, x, zero) : x, reduce, true);
  const auto squared_deviations = [&](const Tensor& from) {
    return sum(square(keep.defined() ? where(keep, x - from, zero) : x - from), reduce, true);
  };
  const neurona::detail::ReplicaContext* replica = neurona::detail::current_replica_context();
  if (synchronized && replica != nullptr && replica->num_replicas > 1) {
    auto [mean, variance] =
        merged_moments(count, total, squared_deviations, keep.defined(), *replica);
    return {mean, variance};
  }
  // Keras divides the masked sums by the kept count plus its epsilon (1e-7); the plain ones by
  // the count itself.
  if (keep.defined()) count = count + 1e-7;
  const Tensor mean = total / count;
  return {mean, squared_deviations(mean) / count};
}

Tensor BatchNormalizationLayer::call_with_mask(const Tensor& inputs, const Tensor& mask,
                                               bool training) {
  check_input(inputs.shape());
  NEURONA_CHECK(!mask.defined() || mask.rank() == inputs.rank() - 1, ValueError, describe(),
                ": The mask provided should be one dimension less than the inputs. Received: "
                "mask.shape=",
                shape_str(mask.shape()), ", inputs.shape=", shape_str(inputs.shape()));
  // As Keras: 16-bit inputs are normalized in float32 (the statistics need the precision) and the
  // result is rounded back; the fused op does that itself, with float32 statistics and weights.
  const DType statistics_dtype = is_half(inputs.dtype()) ? DType::float32 : inputs.dtype();
  // The weights in that dtype (a bfloat16 policy's 16-bit weights are widened too).
  auto weight = [&](const std::optional<Variable>& v) {
    if (!v) return Tensor();
    return v->dtype() == statistics_dtype ? v->value() : cast(v->value(), statistics_dtype);
  };
  const neurona::detail::ReplicaContext* replica = neurona::detail::current_replica_context();
  const bool synchronized =
      options_.synchronized && replica != nullptr && replica->num_replicas > 1;
  // An empty batch (a filter that kept no rows) has no statistics of its own: its mean would be
  // NaN, and the moving statistics NaN for good. It is normalized as at inference and moves
  // nothing (as PyTorch's). A synchronized one takes part in the replicas' sums as before.
  const bool empty = inputs.numel() == 0 && !synchronized;
  if (!(training && trainable()) || empty) {
    return batch_normalization(inputs, weight(moving_mean_), weight(moving_variance_), axis_,
                               weight(beta_), weight(gamma_), options_.epsilon);
  }
  Tensor y, batch_mean, batch_variance;
  if (mask.defined() || synchronized || options_.renorm) {
    // Keras's moments and batch_normalization as ops, whose gradients flow through the
    // statistics (and, synchronized, through the sums over the replicas).
    const Tensor x = inputs.dtype() == statistics_dtype ? inputs : cast(inputs, statistics_dtype);
    const Moments m = moments(x, mask, synchronized);
    std::vector<std::int64_t> broadcast(static_cast<std::size_t>(x.rank()), 1);
    broadcast[static_cast<std::size_t>(axis_)] = x.shape()[axis_];
    const Shape broadcast_shape(std::move(broadcast));
    Tensor scale = gamma_ ? reshape(weight(gamma_), broadcast_shape) : Tensor();
    Tensor offset = beta_ ? reshape(weight(beta_), broadcast_shape) : Tensor();
    if (options_.renorm) {
      // Keras's corrections, from the renorm statistics before this batch moves them: gamma
      // becomes r gamma and beta d gamma + beta (r and d without gamma), no gradient through
      // r and d.
      const RenormCorrections rd =
          renorm_corrections(m.mean, sqrt(m.variance + options_.epsilon),
                             reshape(weight(renorm_mean_), broadcast_shape),
                             reshape(weight(renorm_stddev_), broadcast_shape), options_.epsilon,
                             options_.renorm_clipping);
      const Tensor shift = scale.defined() ? rd.d * scale : rd.d;
      offset = offset.defined() ? shift + offset : shift;
      scale = scale.defined() ? rd.r * scale : rd.r;
    }
    Tensor inv = 1.0 / sqrt(m.variance + options_.epsilon);
    if (scale.defined()) inv = inv * scale;
    y = (x - m.mean) * inv;
    if (offset.defined()) y = y + offset;
    if (y.dtype() != inputs.dtype()) y = cast(y, inputs.dtype());
    const Shape features{x.shape()[axis_]};
    batch_mean = reshape(m.mean, features);
    batch_variance = reshape(m.variance, features);
  } else {
    BatchNormalizationOutputs out = batch_normalization_training(inputs, axis_, weight(beta_),
                                                                 weight(gamma_), options_.epsilon);
    y = out.y;
    batch_mean = out.batch_mean;
    batch_variance = out.batch_variance;
  }
  // moving = moving * momentum + batch * (1 - momentum), outside any tape (the batch
  // statistics carry no gradient). A stand-in replica's own statistics are of a row that is
  // not its: they move nothing (its synchronized ones are the global batch's, as everyone's).
  if (synchronized || replica == nullptr || replica->share > 0.0) {
    // In the statistics' dtype (float32 for 16-bit weights, as Keras casts them), rounded once
    // into the weight's.
    auto moved = [](const Variable& moving, const Tensor& batch, double m) {
      const Tensor old = stop_gradient(moving.value());
      return (old.dtype() == batch.dtype() ? old : cast(old, batch.dtype())) * m +
             stop_gradient(batch) * (1.0 - m);
    };
    moving_mean_->assign(moved(*moving_mean_, batch_mean, options_.momentum));
    if (options_.renorm) {
      // Keras: the renorm statistics move with renorm_momentum, the inference ones as a mean and
      // a stddev, and the moving variance is that stddev squared less epsilon (at least 0).
      const Tensor stddev = sqrt(stop_gradient(batch_variance) + options_.epsilon);
      renorm_mean_->assign(moved(*renorm_mean_, batch_mean, options_.renorm_momentum));
      renorm_stddev_->assign(moved(*renorm_stddev_, stddev, options_.renorm_momentum));
      const Tensor moving_stddev = moved(*moving_stddev_, stddev, options_.momentum);
      moving_stddev_->assign(moving_stddev);
      const Tensor v = moving_stddev * moving_stddev - options_.epsilon;
      moving_variance_->assign(maximum(v, scalar_like(v, 0.0)));
    } else {
      moving_variance_->assign(moved(*moving_variance_, batch_variance, options_.momentum));
    }
  }
  return y;
}

BatchNormalization::BatchNormalization(BatchNormalizationOptions options)
    : LayerHandle<BatchNormalizationLayer>(
          std::make_shared<BatchNormalizationLayer>(std::move(options))) {}

ConfigValue BatchNormalizationLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("axis", options_.axis);
  config.set("momentum", options_.momentum);
  config.set("epsilon", options_.epsilon);
  config.set("center", options_.center);
  config.set("scale", options_.scale);
  detail::set_beta_gamma_initializers(config, options_);
  config.set("moving_mean_initializer", serialize(options_.moving_mean_initializer));
  config.set("moving_variance_initializer", serialize(options_.moving_variance_initializer));
  detail::set_beta_gamma_regularizers_and_constraints(config, options_);
  config.set("synchronized", options_.synchronized);
  config.set("renorm", options_.renorm);
  // Keras keeps the dict it was given, {} for none with renorm; None without renorm.
  const RenormClipping& c = options_.renorm_clipping;
  if (options_.renorm || c.rmax || c.rmin || c.dmax) {
    ConfigValue clipping = ConfigValue::Dict{};
    if (c.rmax) clipping.set("rmax", *c.rmax);
    if (c.rmin) clipping.set("rmin", *c.rmin);
    if (c.dmax) clipping.set("dmax", *c.dmax);
    config.set("renorm_clipping", clipping);
  } else {
    config.set("renorm_clipping", nullptr);
  }
  config.set("renorm_momentum", options_.renorm_momentum);
  return config;
}

namespace {
// Keras's renorm_clipping: None, or a dict of rmax, rmin and dmax (each a number or None).
RenormClipping read_renorm_clipping(const LayerConfigReader& r) {
  RenormClipping clipping;
  const ConfigValue* v = r.find("renorm_clipping");
  if (v == nullptr || v->is_null()) return clipping;
  NEURONA_CHECK(v->kind() == ConfigValue::Kind::Dict, ValueError, r.who(),
                ": 'renorm_clipping' must be a dict of rmax, rmin and dmax, got a ",
                v->kind_name());
  for (const auto& [key, bound] : v->as_dict()) {
    std::optional<double>* slot = key == "rmax"   ? &clipping.rmax
                                  : key == "rmin" ? &clipping.rmin
                                  : key == "dmax" ? &clipping.dmax
                                                  : nullptr;
    NEURONA_CHECK(slot != nullptr, ValueError, r.who(),
                  ": Received invalid keys for `renorm_clipping` argument: '", key,
                  "'. Supported values: ['rmax', 'rmin', 'dmax'].");
    if (!bound.is_null()) {
      *slot = r.typed(key.c_str(), bound, [](const ConfigValue& b) { return b.as_double(); });
    }
  }
  return clipping;
}
}  // namespace

BatchNormalization BatchNormalization::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "BatchNormalization");
  const ConfigValue* axis = r.find("axis");
  NEURONA_CHECK(axis == nullptr || axis->kind() == ConfigValue::Kind::Int, ValueError, r.who(),
                ": 'axis' must be one int (neurona normalizes over one feature axis)");
  BatchNormalizationOptions options{
      .axis = static_cast<int>(r.integer("axis", -1)),
      .momentum = r.number("momentum", 0.99),
      .epsilon = r.number("epsilon", 1e-3),
      .center = r.boolean("center", true),
      .scale = r.boolean("scale", true),
      .moving_mean_initializer = r.initializer("moving_mean_initializer", "zeros"),
      .moving_variance_initializer = r.initializer("moving_variance_initializer", "ones"),
      .synchronized = r.boolean("synchronized", false),
      .renorm = r.boolean("renorm", false),
      // As Keras, the clipping is read (and its keys checked) with renorm only.
      .renorm_clipping = r.boolean("renorm", false) ? read_renorm_clipping(r) : RenormClipping{},
      .renorm_momentum = r.number("renorm_momentum", 0.99)};
  detail::read_beta_gamma_config(r, options);
  return BatchNormalization(std::move(options));
}

}  // namespace neurona::layers
