// LayerNormalization: over trailing axes (the common case: axis=-1) through the fused op
// nr::layer_normalization, one kernel per direction; over other axes, and with rms_scaling, in
// differentiable ops (mean, square, sqrt, multiply, add), so that the tape differentiates it and
// every device runs it through its existing kernels. Both compute Keras's
// ops.layer_normalization (the fused op subtracts the mean first: kernels/math/layer_norm_ops.h).
#include "neurona/layers/layer_normalization.h"

#include <cmath>

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/scale_center.h"

namespace neurona::layers {

namespace {

const Variable& need(const std::optional<Variable>& v, const std::string& who, const char* what,
                     bool built) {
  NEURONA_CHECK(v.has_value(), ValueError, who, ": ",
                built ? "the layer has no such weight: "
                      : "the weights do not exist until the layer is built",
                built ? what : "");
  return *v;
}

}  // namespace

LayerNormalizationLayer::LayerNormalizationLayer(LayerNormalizationOptions options)
    : Layer("LayerNormalization",
            {.name = options.name, .trainable = options.trainable, .dtype = options.dtype}),
      options_(std::move(options)),
      axis_(options_.axis) {
  set_supports_masking(true);
  // Keras takes [] and then normalizes over nothing (outputs beta); neurona refuses it.
  NEURONA_CHECK(!options_.axis.list().empty(), ValueError, describe(),
                ": 'axis' must name at least one axis. Received: axis=[]");
  NEURONA_CHECK(std::isfinite(options_.epsilon) && options_.epsilon >= 0, ValueError, describe(),
                ": `epsilon` must be finite and >= 0. Received: epsilon=", options_.epsilon);
  // As Keras (autocast = False): the inputs keep their dtype; call() computes in float32 at
  // least and returns the compute dtype.
  set_autocast_inputs(false);
}

void LayerNormalizationLayer::check_input(const Shape& input_shape) const {
  // The weights span the axes in Keras's order (the given values sorted).
  const std::optional<Variable>& w = gamma_ ? gamma_ : beta_;
  if (w) {
    axis_.resolve_for_weight(input_shape, w->shape(), build_input_shape(), describe());
  } else {
    axis_.resolve(input_shape, describe());
  }
}

void LayerNormalizationLayer::build(const Shape& input_shape) {
  axis_.resolve(input_shape, describe());
  // Keras sorts the axes as given (so [-1, 1] stays in that order) and gives the weights the
  // sizes of the axes in that order.
  axis_ = axis_.sorted();
  std::vector<std::int64_t> dims;
  for (int a : axis_.list()) dims.push_back(input_shape[a < 0 ? a + input_shape.rank() : a]);
  const Shape shape(std::move(dims));
  if (options_.scale || options_.rms_scaling) {
    gamma_ = add_weight("gamma", shape, detail::gamma_weight_options(options_));
  }
  if (options_.center && !options_.rms_scaling) {
    beta_ = add_weight("beta", shape, detail::beta_weight_options(options_));
  }
}

const Variable& LayerNormalizationLayer::gamma() const {
  return need(gamma_, describe(), "gamma (scale = false)", built());
}
const Variable& LayerNormalizationLayer::beta() const {
  return need(beta_, describe(), "beta (center = false, or rms_scaling = true)", built());
}

Shape LayerNormalizationLayer::compute_output_shape(const Shape& input_shape) const {
  check_input(input_shape);
  return input_shape;
}

std::vector<TensorSpec> LayerNormalizationLayer::compute_output_spec(
    const std::vector<TensorSpec>& inputs, bool list_call) {
  std::vector<TensorSpec> specs = Layer::compute_output_spec(inputs, list_call);
  for (TensorSpec& spec : specs) spec.dtype = compute_dtype();
  return specs;
}

Tensor LayerNormalizationLayer::call(const Tensor& inputs, bool /*training*/) {
  check_input(inputs.shape());
  // Keras computes in result_type(x.dtype, float32) (float64 stays float64, 16-bit inputs are
  // widened), casts back to the inputs' dtype, and then to the layer's compute dtype.
  const DType work = inputs.dtype() == DType::float64 ? DType::float64 : DType::float32;
  const int rank = inputs.rank();
  const std::vector<int> axes = axis_.resolve(inputs.shape(), describe());
  // The axes from axes[0] to the last, in order: the weights have x's trailing shape and the
  // fused op applies (with rms_scaling, Keras's formula differs; it keeps the ops below).
  bool trailing = !options_.rms_scaling;
  for (std::size_t i = 0; i < axes.size(); ++i) {
    trailing = trailing && axes[i] == rank - static_cast<int>(axes.size() - i);
  }
  // The weights (float32 whatever the policy: Keras does not autocast them) in the work dtype.
  const auto in_work = [&](const Variable& v) {
    return v.dtype() == work ? v.value() : cast(v.value(), work);
  };
  if (trailing) {
    // 16-bit inputs go to the op as they are: it computes in float32 and rounds once.
    const Tensor in = is_floating(inputs.dtype()) ? inputs : cast(inputs, work);
    Tensor out =
        layer_normalization(in, gamma_ ? in_work(*gamma_) : Tensor(),
                            beta_ ? in_work(*beta_) : Tensor(), axes.front(), options_.epsilon);
    return out.dtype() == compute_dtype() ? out : cast(out, compute_dtype());
  }
  const Tensor x = inputs.dtype() == work ? inputs : cast(inputs, work);
  std::vector<std::int64_t> broadcast(static_cast<std::size_t>(rank), 1);
  for (int a : axes) broadcast[static_cast<std::size_t>(a)] = x.shape()[a];
  const Shape broadcast_shape(std::move(broadcast));
  // The weights reshaped (not transposed, as Keras) to broadcast against x.
  auto weight = [&](const Variable& v) { return reshape(in_work(v), broadcast_shape); };
  const Axes reduce{std::vector<int>(axes)};
  const Tensor mu = mean(x, reduce, /*keepdims=*/true);
  const Tensor variance = mean(square(subtract(x, mu)), reduce, /*keepdims=*/true);
  // rsqrt(variance + epsilon).
  Tensor inv = 1.0 / sqrt(variance + options_.epsilon);
  Tensor out;
  if (options_.rms_scaling) {
    out = multiply(x, inv);
    if (gamma_) out = multiply(out, weight(*gamma_));
  } else {
    if (gamma_) inv = multiply(inv, weight(*gamma_));
    Tensor res = neg(multiply(mu, inv));
    if (beta_) res = add(res, weight(*beta_));
    out = add(multiply(x, inv), res);
  }
  if (is_floating(inputs.dtype()) && out.dtype() != inputs.dtype()) {
    out = cast(out, inputs.dtype());
  }
  return out.dtype() == compute_dtype() ? out : cast(out, compute_dtype());
}

LayerNormalization::LayerNormalization(LayerNormalizationOptions options)
    : LayerHandle<LayerNormalizationLayer>(
          std::make_shared<LayerNormalizationLayer>(std::move(options))) {}

ConfigValue LayerNormalizationLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("axis", axis_.to_config());
  config.set("epsilon", options_.epsilon);
  config.set("center", options_.center);
  config.set("scale", options_.scale);
  config.set("rms_scaling", options_.rms_scaling);
  detail::set_beta_gamma_initializers(config, options_);
  detail::set_beta_gamma_regularizers_and_constraints(config, options_);
  return config;
}

LayerNormalization LayerNormalization::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "LayerNormalization");
  NormalizationAxes axis = NormalizationAxes::from_config(r, -1);
  LayerNormalizationOptions options{.axis = std::move(axis),
                                    .epsilon = r.number("epsilon", 1e-3),
                                    .center = r.boolean("center", true),
                                    .scale = r.boolean("scale", true),
                                    .rms_scaling = r.boolean("rms_scaling", false)};
  detail::read_beta_gamma_config(r, options);
  return LayerNormalization(std::move(options));
}

}  // namespace neurona::layers
