// ReLU, LeakyReLU, PReLU, ELU and Softmax as Keras 3 computes them (keras/src/layers/
// activations/ and keras.activations.relu), in differentiable ops.
#include "neurona/layers/activation_layers.h"

#include <cmath>
#include <set>

#include "neurona/autograd/ops.h"
#include "neurona/autograd/tape.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

namespace {

// A config value that is a number or null (Keras's None).
std::optional<double> optional_number(const LayerConfigReader& r, const char* key) {
  const ConfigValue* v = r.find(key);
  if (v == nullptr || v->is_null()) return std::nullopt;
  return r.number(key, 0.0);
}

// An int or a list of ints (Keras's `axis` and `shared_axes`); `def` when absent or null.
std::vector<int> int_or_list(const LayerConfigReader& r, const char* key, std::vector<int> def) {
  const ConfigValue* v = r.find(key);
  if (v == nullptr || v->is_null()) return def;
  std::vector<int> out;
  if (v->kind() == ConfigValue::Kind::List) {
    for (std::int64_t a : r.ints(key, *v)) out.push_back(static_cast<int>(a));
  } else {
    out.push_back(static_cast<int>(r.integer(key)));
  }
  return out;
}

ConfigValue int_list(const std::vector<int>& values) {
  ConfigValue::List list;
  for (int v : values) list.emplace_back(v);
  return list;
}

}  // namespace

// ---- ReLU -------------------------------------------------------------------------------------

ReLULayer::ReLULayer(ReLUOptions options)
    : Layer("ReLU", options.layer), options_(std::move(options)) {
  set_supports_masking(true);
  const std::optional<double>& max_value = options_.max_value;
  NEURONA_CHECK(!max_value || *max_value >= 0.0, ValueError, describe(),
                ": max_value of a ReLU layer cannot be a negative value. Received: max_value=",
                max_value.value_or(0.0));
  NEURONA_CHECK(options_.negative_slope >= 0.0, ValueError, describe(),
                ": negative_slope of a ReLU layer cannot be None or a negative value. Received: "
                "negative_slope=",
                options_.negative_slope);
  NEURONA_CHECK(options_.threshold >= 0.0, ValueError, describe(),
                ": threshold of a ReLU layer cannot be None or a negative value. Received: "
                "threshold=",
                options_.threshold);
}

// keras.activations.relu's static_call, step by step (its branches give the same gradients
// at the kinks as Keras's).
Tensor ReLULayer::call(const Tensor& x, bool /*training*/) {
  const double slope = options_.negative_slope, threshold = options_.threshold;
  const std::optional<double>& max_value = options_.max_value;
  if (slope != 0.0 && !max_value && threshold == 0.0) return leaky_relu(x, slope);
  Tensor negative_part;
  if (slope != 0.0) negative_part = threshold != 0.0 ? relu(threshold - x) : relu(neg(x));
  bool clip_max = max_value.has_value();
  Tensor y;
  if (threshold != 0.0) {
    y = where(greater(x, scalar_like(x, threshold)), x, scalar_like(x, 0.0));
  } else if (max_value == 6.0) {
    y = minimum(relu(x), scalar_like(x, 6.0));  // relu6
    clip_max = false;
  } else {
    y = relu(x);
  }
  if (clip_max) y = minimum(maximum(y, scalar_like(y, 0.0)), scalar_like(y, *max_value));
  if (slope != 0.0) y = y - slope * negative_part;
  return y;
}

ConfigValue ReLULayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("max_value", options_.max_value ? ConfigValue(*options_.max_value) : ConfigValue());
  config.set("negative_slope", options_.negative_slope);
  config.set("threshold", options_.threshold);
  return config;
}

ReLU::ReLU(ReLUOptions options)
    : LayerHandle<ReLULayer>(std::make_shared<ReLULayer>(std::move(options))) {}

ReLU ReLU::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "ReLU");
  return ReLU({.max_value = optional_number(r, "max_value"),
               .negative_slope = r.number("negative_slope", 0.0),
               .threshold = r.number("threshold", 0.0),
               .layer = r.layer_options()});
}

// ---- LeakyReLU --------------------------------------------------------------------------------

LeakyReLULayer::LeakyReLULayer(double negative_slope, LayerOptions options)
    : Layer("LeakyReLU", std::move(options)), negative_slope_(negative_slope) {
  set_supports_masking(true);
  NEURONA_CHECK(negative_slope_ >= 0.0, ValueError, describe(),
                ": The negative_slope value of a Leaky ReLU layer cannot be None or negative "
                "value. Expected a float. Received: negative_slope=",
                negative_slope_);
}

Tensor LeakyReLULayer::call(const Tensor& inputs, bool /*training*/) {
  return leaky_relu(inputs, negative_slope_);
}

ConfigValue LeakyReLULayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("negative_slope", negative_slope_);
  return config;
}

LeakyReLU::LeakyReLU(double negative_slope, LayerOptions options)
    : LayerHandle<LeakyReLULayer>(
          std::make_shared<LeakyReLULayer>(negative_slope, std::move(options))) {}

LeakyReLU LeakyReLU::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "LeakyReLU");
  // Keras 3 still takes the Keras 2 name `alpha` (with a deprecation warning).
  const char* key = r.find("alpha") != nullptr ? "alpha" : "negative_slope";
  return LeakyReLU(r.number(key, 0.3), r.layer_options());
}

// ---- PReLU ------------------------------------------------------------------------------------

PReLULayer::PReLULayer(PReLUOptions options)
    : Layer("PReLU", options.layer), options_(std::move(options)) {
  set_supports_masking(true);
  set_promote_integer_inputs(true);  // Keras promotes int x float alpha to float
}

void PReLULayer::check_input(const Shape& input_shape) const {
  NEURONA_CHECK(input_shape.rank() >= 2, ShapeError, describe(),
                ": expected inputs with a batch axis and at least one more, got shape ",
                shape_str(input_shape));
  for (int a : options_.shared_axes) {
    NEURONA_CHECK(a >= 1 && a < input_shape.rank(), ValueError, describe(), ": shared axis ", a,
                  " is not an axis after the batch axis of inputs of shape ",
                  shape_str(input_shape));
  }
  if (!alpha_) return;
  // Keras's InputSpec: the rank, and every axis that is not shared, as built.
  const Shape& built = build_input_shape();
  const std::set<int> shared(options_.shared_axes.begin(), options_.shared_axes.end());
  bool same = input_shape.rank() == built.rank();
  for (int i = 1; same && i < built.rank(); ++i) {
    same = shared.count(i) > 0 || input_shape[i] == built[i];
  }
  NEURONA_CHECK(same, ShapeError, describe(), ": expected inputs of shape ", shape_str(built),
                " (the shared axes may differ), got shape ", shape_str(input_shape));
}

void PReLULayer::build(const Shape& input_shape) {
  check_input(input_shape);
  std::vector<std::int64_t> dims(input_shape.dims().begin() + 1, input_shape.dims().end());
  for (int a : options_.shared_axes) dims[static_cast<std::size_t>(a - 1)] = 1;
  alpha_ = add_weight("alpha", Shape(dims),
                      {.initializer = options_.alpha_initializer,
                       .regularizer = options_.alpha_regularizer,
                       .constraint = options_.alpha_constraint});
}

const Variable& PReLULayer::alpha() const {
  NEURONA_CHECK(alpha_.has_value(), ValueError, describe(),
                ": the weights do not exist until the layer is built");
  return *alpha_;
}

Shape PReLULayer::compute_output_shape(const Shape& input_shape) const {
  check_input(input_shape);
  return input_shape;
}

Tensor PReLULayer::call(const Tensor& inputs, bool /*training*/) {
  check_input(inputs.shape());
  // Keras: relu(x) + (-alpha * relu(-x)).
  return add(relu(inputs), neg(multiply(read(*alpha_), relu(neg(inputs)))));
}

ConfigValue PReLULayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("alpha_initializer", serialize(options_.alpha_initializer));
  config.set("alpha_regularizer", serialize(options_.alpha_regularizer));
  config.set("alpha_constraint", serialize(options_.alpha_constraint));
  config.set("shared_axes",
             options_.shared_axes.empty() ? ConfigValue() : int_list(options_.shared_axes));
  return config;
}

PReLU::PReLU(PReLUOptions options)
    : LayerHandle<PReLULayer>(std::make_shared<PReLULayer>(std::move(options))) {}

PReLU PReLU::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "PReLU");
  return PReLU({.alpha_initializer = r.initializer("alpha_initializer", "zeros"),
                .alpha_regularizer = r.regularizer("alpha_regularizer"),
                .alpha_constraint = r.constraint("alpha_constraint"),
                .shared_axes = int_or_list(r, "shared_axes", {}),
                .layer = r.layer_options()});
}

// ---- ELU --------------------------------------------------------------------------------------

ELULayer::ELULayer(double alpha, LayerOptions options)
    : Layer("ELU", std::move(options)), alpha_(alpha) {
  set_supports_masking(true);
  NEURONA_CHECK(std::isfinite(alpha_), ValueError, describe(), ": alpha must be finite, got ",
                alpha_);
}

Tensor ELULayer::call(const Tensor& inputs, bool /*training*/) {
  return elu(inputs, alpha_);
}

ConfigValue ELULayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("alpha", alpha_);
  return config;
}

ELU::ELU(double alpha, LayerOptions options)
    : LayerHandle<ELULayer>(std::make_shared<ELULayer>(alpha, std::move(options))) {}

ELU ELU::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "ELU");
  return ELU(r.number("alpha", 1.0), r.layer_options());
}

// ---- Softmax ----------------------------------------------------------------------------------

SoftmaxLayer::SoftmaxLayer(std::vector<int> axis, LayerOptions options)
    : Layer("Softmax", std::move(options)), axis_(std::move(axis)) {
  set_supports_masking(true);
  set_call_takes_mask(true);
  NEURONA_CHECK(!axis_.empty(), ValueError, describe(), ": axis must name at least one axis");
}

Tensor SoftmaxLayer::call(const Tensor& inputs, bool /*training*/) {
  if (axis_.size() == 1) return softmax(inputs, axis_[0]);
  // Over several axes at once: exp(x - logsumexp(x, axes)), with the maximum taken out first
  // for a stable logsumexp (it cancels, so it needs no gradient).
  std::vector<int> axes;
  for (int a : axis_) axes.push_back(inputs.shape().normalize_axis(a, describe().c_str()));
  const Tensor m = stop_gradient(max(inputs, Axes(axes), /*keepdims=*/true));
  const Tensor shifted = subtract(inputs, m);
  return exp(subtract(shifted, log(sum(exp(shifted), Axes(axes), /*keepdims=*/true))));
}

Tensor SoftmaxLayer::call_with_mask(const Tensor& inputs, const Tensor& mask, bool training) {
  if (!mask.defined()) return call(inputs, training);
  const Shape& in = inputs.shape();
  const Shape& ms = mask.shape();
  bool broadcasts = ms.rank() <= in.rank();
  for (int i = 1; broadcasts && i <= ms.rank(); ++i) {
    const std::int64_t m = ms[ms.rank() - i], d = in[in.rank() - i];
    broadcasts = m == 1 || m == d;
  }
  NEURONA_CHECK(broadcasts, ValueError, describe(),
                ": The `mask` must be broadcastable to `inputs`. Each mask dimension must be 1 or "
                "match the corresponding input dimension. Received: inputs.shape=",
                shape_str(in), ", mask.shape=", shape_str(ms));
  // Keras keeps the positions where the mask is true, or > 0.5 for a mask that is not boolean
  // (for neurona's uint8 masks, as comparisons return: nonzero).
  const Tensor keep = mask.dtype() == DType::uint8 ? not_equal(mask, scalar_like(mask, 0.0))
                                                   : greater(mask, scalar_like(mask, 0.5));
  // Keras's _large_negative_number: float16 cannot hold -1e9.
  const double large_negative = inputs.dtype() == DType::float16 ? -3e4 : -1e9;
  const Tensor masked = where(keep, inputs, scalar_like(inputs, large_negative));
  // Zero where masked, in case a whole axis is (softmax would spread it evenly).
  return where(keep, call(masked, false), scalar_like(inputs, 0.0));
}

ConfigValue SoftmaxLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("axis", axis_.size() == 1 ? ConfigValue(axis_[0]) : int_list(axis_));
  return config;
}

Softmax::Softmax(std::vector<int> axis, LayerOptions options)
    : LayerHandle<SoftmaxLayer>(
          std::make_shared<SoftmaxLayer>(std::move(axis), std::move(options))) {}

Softmax Softmax::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Softmax");
  return Softmax(int_or_list(r, "axis", {-1}), r.layer_options());
}

}  // namespace neurona::layers
