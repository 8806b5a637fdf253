// UnitNormalization over nr::normalize (order 2, epsilon 1e-12, as Keras's call).
#include "neurona/layers/unit_normalization.h"

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

namespace {
// keras.layers.UnitNormalization passes this to ops.normalize.
constexpr double kEpsilon = 1e-12;
}  // namespace

UnitNormalizationLayer::UnitNormalizationLayer(UnitNormalizationOptions options)
    : Layer("UnitNormalization",
            {.name = options.name, .trainable = options.trainable, .dtype = options.dtype}),
      options_(std::move(options)) {
  set_promote_integer_inputs(true);  // integers are normalized in the compute dtype
  NEURONA_CHECK(!options_.axis.list().empty(), ValueError, describe(),
                ": 'axis' must name at least one axis. Received: axis=[]");
  set_supports_masking(true);
}

Shape UnitNormalizationLayer::compute_output_shape(const Shape& input_shape) const {
  options_.axis.resolve(input_shape, describe());
  return input_shape;
}

Tensor UnitNormalizationLayer::call(const Tensor& inputs, bool /*training*/) {
  const std::vector<int> axes = options_.axis.resolve(inputs.shape(), describe());
  // Float inputs arrive in the compute dtype (autocast); integer ones are normalized as float.
  const Tensor x = is_floating(inputs.dtype()) ? inputs : cast(inputs, compute_dtype());
  return normalize(x, Axes(std::vector<int>(axes)), /*order=*/2, kEpsilon);
}

UnitNormalization::UnitNormalization(UnitNormalizationOptions options)
    : LayerHandle<UnitNormalizationLayer>(
          std::make_shared<UnitNormalizationLayer>(std::move(options))) {}

ConfigValue UnitNormalizationLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("axis", options_.axis.to_config());
  return config;
}

UnitNormalization UnitNormalization::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "UnitNormalization");
  return UnitNormalization({.axis = NormalizationAxes::from_config(r, -1),
                            .name = r.string("name", ""),
                            .trainable = r.boolean("trainable", true),
                            .dtype = r.dtype()});
}

}  // namespace neurona::layers
