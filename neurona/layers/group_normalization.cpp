// GroupNormalization in differentiable ops (reshape into groups, mean, square, sqrt, multiply,
// add), so that the tape differentiates it and every device runs it through its existing
// kernels; the arithmetic is Keras's GroupNormalization._apply_normalization, step for step.
#include "neurona/layers/group_normalization.h"

#include <cmath>

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/scale_center.h"

namespace neurona::layers {

GroupNormalizationLayer::GroupNormalizationLayer(GroupNormalizationOptions options)
    : Layer("GroupNormalization",
            {.name = options.name, .trainable = options.trainable, .dtype = options.dtype}),
      options_(std::move(options)),
      groups_(options_.groups) {
  set_supports_masking(true);
  NEURONA_CHECK(groups_ > 0 || groups_ == -1, ValueError, describe(),
                ": Received an invalid value for argument `groups`, expected a positive integer "
                "(or `-1` for instance normalization). Received: groups=",
                groups_);
  NEURONA_CHECK(std::isfinite(options_.epsilon) && options_.epsilon >= 0, ValueError, describe(),
                ": `epsilon` must be finite and >= 0. Received: epsilon=", options_.epsilon);
  // As Keras (autocast = False): the inputs keep their dtype; call() computes in float32 at
  // least and returns the compute dtype.
  set_autocast_inputs(false);
}

int GroupNormalizationLayer::normalized_axis(const Shape& input_shape) const {
  const int rank = input_shape.rank();
  const int a = options_.axis;
  NEURONA_CHECK(a < rank && a >= -rank, ValueError, describe(), ": Axis ", a,
                " is out of bounds for input shape ", shape_str(input_shape),
                ". Received: axis=", a);
  // Keras takes axis 0 and then mixes the examples of a batch; neurona refuses it.
  NEURONA_CHECK(a != 0 && a != -rank, ValueError, describe(), ": axis ", a,
                " is the batch axis of input shape ", shape_str(input_shape),
                "; the channel axis must be another one");
  return a < 0 ? a + rank : a;
}

void GroupNormalizationLayer::check_input(const Shape& input_shape) const {
  const int a = normalized_axis(input_shape);
  if (!built()) return;
  // Keras's InputSpec(ndim, axes={axis: channels}) from build.
  const Shape& built = build_input_shape();
  NEURONA_CHECK(input_shape.rank() == built.rank(), ValueError, describe(), ": Input 0 of layer '",
                name(), "' is incompatible with the layer: expected ndim=", built.rank(),
                ", found ndim=", input_shape.rank(),
                ". Full shape received: ", shape_str(input_shape));
  NEURONA_CHECK(input_shape[a] == built[a], ValueError, describe(), ": Input 0 of layer '", name(),
                "' is incompatible with the layer: expected axis ", options_.axis,
                " of input shape to have value ", built[a], ", but received input with shape ",
                shape_str(input_shape));
}

void GroupNormalizationLayer::build(const Shape& input_shape) {
  const int a = normalized_axis(input_shape);
  const std::int64_t dim = input_shape[a];
  NEURONA_CHECK(dim >= 0, ValueError, describe(), ": Axis ", options_.axis,
                " of input tensor should have a defined dimension but the layer received an "
                "input with shape ",
                shape_str(input_shape), ".");
  if (groups_ == -1) groups_ = static_cast<int>(dim);
  NEURONA_CHECK(dim >= groups_, ValueError, describe(), ": Number of groups (", groups_,
                ") cannot be more than the number of channels (", dim, ").");
  // Keras's wording (the channels must be a multiple of the groups).
  NEURONA_CHECK(dim % groups_ == 0, ValueError, describe(), ": Number of groups (", groups_,
                ") must be a multiple of the number of channels (", dim, ").");
  const Shape shape{dim};
  if (options_.scale) {
    gamma_ = add_weight("gamma", shape, detail::gamma_weight_options(options_));
  }
  if (options_.center) {
    beta_ = add_weight("beta", shape, detail::beta_weight_options(options_));
  }
}

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

const Variable& GroupNormalizationLayer::gamma() const {
  return need(gamma_, describe(), "gamma (scale = false)", built());
}
const Variable& GroupNormalizationLayer::beta() const {
  return need(beta_, describe(), "beta (center = false)", built());
}

Shape GroupNormalizationLayer::compute_output_shape(const Shape& input_shape) const {
  check_input(input_shape);
  return input_shape;
}

std::vector<TensorSpec> GroupNormalizationLayer::compute_output_spec(
    const std::vector<TensorSpec>& inputs, bool list_call) {
  std::vector<TensorSpec> specs = Layer::compute_output_spec(inputs, list_call);
  for (TensorSpec& spec : specs) spec.dtype = compute_dtype();
  return specs;
}

Tensor GroupNormalizationLayer::call(const Tensor& inputs, bool /*training*/) {
  check_input(inputs.shape());
  const int a = normalized_axis(inputs.shape());
  const int rank = inputs.rank();
  // (..., C, ...) -> (..., groups, C / groups, ...), the groups where the channels were.
  std::vector<std::int64_t> grouped = inputs.shape().dims();
  grouped[static_cast<std::size_t>(a)] /= groups_;
  grouped.insert(grouped.begin() + a, groups_);
  // gamma and beta as (1, ..., groups, C / groups, 1, ...).
  std::vector<std::int64_t> broadcast(static_cast<std::size_t>(rank) + 1, 1);
  broadcast[static_cast<std::size_t>(a)] = groups_;
  broadcast[static_cast<std::size_t>(a) + 1] = grouped[static_cast<std::size_t>(a) + 1];
  const Shape broadcast_shape(std::move(broadcast));
  // Statistics over every axis of the grouped tensor but the batch (0) and the group (a).
  std::vector<int> reduce;
  for (int i = 1; i <= rank; ++i) {
    if (i != a) reduce.push_back(i);
  }
  // As Keras: computed in result_type(x.dtype, float32) ("GN is prone to overflow with
  // float16/bfloat16 inputs"), cast back to the inputs' dtype, then to the compute dtype.
  const DType work = inputs.dtype() == DType::float64 ? DType::float64 : DType::float32;
  const Tensor x = reshape(inputs.dtype() == work ? inputs : cast(inputs, work), Shape(grouped));
  auto weight = [&](const Variable& v) {
    const Tensor t = v.dtype() == work ? v.value() : cast(v.value(), work);
    return reshape(t, broadcast_shape);
  };
  const Tensor mu = mean(x, Axes(reduce), /*keepdims=*/true);
  const Tensor variance = mean(square(subtract(x, mu)), Axes(reduce), /*keepdims=*/true);
  // rsqrt(variance + epsilon).
  Tensor inv = 1.0 / sqrt(variance + options_.epsilon);
  if (gamma_) inv = multiply(inv, weight(*gamma_));
  Tensor res = neg(multiply(mu, inv));
  if (beta_) res = add(res, weight(*beta_));
  Tensor out = reshape(add(multiply(x, inv), res), inputs.shape());
  if (is_floating(inputs.dtype()) && out.dtype() != inputs.dtype()) {
    out = cast(out, inputs.dtype());
  }
  return out.dtype() == compute_dtype() ? out : cast(out, compute_dtype());
}

GroupNormalization::GroupNormalization(GroupNormalizationOptions options)
    : LayerHandle<GroupNormalizationLayer>(
          std::make_shared<GroupNormalizationLayer>(std::move(options))) {}

ConfigValue GroupNormalizationLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("groups", groups_);
  config.set("axis", options_.axis);
  config.set("epsilon", options_.epsilon);
  config.set("center", options_.center);
  config.set("scale", options_.scale);
  detail::set_beta_gamma_initializers(config, options_);
  detail::set_beta_gamma_regularizers_and_constraints(config, options_);
  return config;
}

GroupNormalization GroupNormalization::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "GroupNormalization");
  const ConfigValue* axis = r.find("axis");
  NEURONA_CHECK(axis == nullptr || axis->kind() == ConfigValue::Kind::Int, ValueError, r.who(),
                ": 'axis' must be one int (the channel axis), got a ",
                axis ? axis->kind_name() : "");
  const std::int64_t groups = r.integer("groups", 32);
  const std::int64_t a = r.integer("axis", -1);
  // Kept from wrapping into valid values.
  NEURONA_CHECK(groups >= -1 && groups <= (std::int64_t{1} << 30), ValueError, r.who(),
                ": Received an invalid value for argument `groups`, expected a positive integer "
                "(or `-1` for instance normalization). Received: groups=",
                groups);
  NEURONA_CHECK(a >= -1024 && a <= 1024, ValueError, r.who(), ": 'axis' ", a, " is out of range");
  GroupNormalizationOptions options{.groups = static_cast<int>(groups),
                                    .axis = static_cast<int>(a),
                                    .epsilon = r.number("epsilon", 1e-3),
                                    .center = r.boolean("center", true),
                                    .scale = r.boolean("scale", true)};
  detail::read_beta_gamma_config(r, options);
  return GroupNormalization(std::move(options));
}

}  // namespace neurona::layers
