// RMSNormalization over nr::rms_normalization (the fused layer-normalization kernels for
// trailing axes, differentiable ops otherwise), with the scale reshaped to broadcast over the
// normalized axes.
#include "neurona/layers/rms_normalization.h"

#include <cmath>

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

RMSNormalizationLayer::RMSNormalizationLayer(RMSNormalizationOptions options)
    : Layer("RMSNormalization",
            {.name = options.name, .trainable = options.trainable, .dtype = options.dtype}),
      options_(std::move(options)),
      axis_(options_.axis) {
  set_promote_integer_inputs(true);  // integers are normalized in the compute dtype
  NEURONA_CHECK(!options_.axis.list().empty(), ValueError, describe(),
                ": 'axis' must name at least one axis. Received: axis=[]");
  NEURONA_CHECK(std::isfinite(options_.epsilon) && options_.epsilon >= 0, ValueError, describe(),
                ": `epsilon` must be finite and >= 0. Received: epsilon=", options_.epsilon);
}

void RMSNormalizationLayer::check_input(const Shape& input_shape) const {
  if (scale_) {
    axis_.resolve_for_weight(input_shape, scale_->shape(), build_input_shape(), describe());
  } else {
    axis_.resolve(input_shape, describe());
  }
}

void RMSNormalizationLayer::build(const Shape& input_shape) {
  axis_.resolve(input_shape, describe());
  // As Keras: the axes sorted (always a list from now on), the scale of their sizes.
  axis_ = axis_.sorted();
  std::vector<std::int64_t> dims;
  for (int a : axis_.list()) dims.push_back(input_shape[a < 0 ? a + input_shape.rank() : a]);
  scale_ = add_weight("scale", Shape(std::move(dims)), {.initializer = "ones"});
}

const Variable& RMSNormalizationLayer::scale() const {
  NEURONA_CHECK(scale_.has_value(), ValueError, describe(),
                ": the weights do not exist until the layer is built");
  return *scale_;
}

Shape RMSNormalizationLayer::compute_output_shape(const Shape& input_shape) const {
  check_input(input_shape);
  return input_shape;
}

Tensor RMSNormalizationLayer::call(const Tensor& inputs, bool /*training*/) {
  check_input(inputs.shape());
  const std::vector<int> axes = axis_.resolve(inputs.shape(), describe());
  // Keras multiplies by the scale as it is, which lines up with the axes only when they are the
  // trailing ones; reshaped, it lines up with any axes (the same numbers in Keras's case).
  std::vector<std::int64_t> broadcast(static_cast<std::size_t>(inputs.rank()), 1);
  for (int a : axes) broadcast[static_cast<std::size_t>(a)] = inputs.shape()[a];
  // The inputs arrive in the compute dtype (autocast), the scale is read in it (Keras's autocast
  // scope), and the op computes in float32 at least and returns the inputs' dtype.
  const Tensor scale = reshape(read(*scale_), Shape(std::move(broadcast)));
  const Tensor x = is_floating(inputs.dtype()) ? inputs : cast(inputs, compute_dtype());
  return rms_normalization(x, scale, Axes(std::vector<int>(axes)), options_.epsilon);
}

RMSNormalization::RMSNormalization(RMSNormalizationOptions options)
    : LayerHandle<RMSNormalizationLayer>(
          std::make_shared<RMSNormalizationLayer>(std::move(options))) {}

ConfigValue RMSNormalizationLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("axis", axis_.to_config());
  config.set("epsilon", options_.epsilon);
  return config;
}

RMSNormalization RMSNormalization::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "RMSNormalization");
  return RMSNormalization({.axis = NormalizationAxes::from_config(r, -1),
                           .epsilon = r.number("epsilon", 1e-6),
                           .name = r.string("name", ""),
                           .trainable = r.boolean("trainable", true),
                           .dtype = r.dtype()});
}

}  // namespace neurona::layers
