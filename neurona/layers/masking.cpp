// Masking, and mask arithmetic done in the inputs' float dtype (the kernels' reductions are
// floating-point), returned as uint8 masks.
#include "neurona/layers/masking.h"

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

Tensor masks_or(const std::vector<Tensor>& masks) {
  Tensor count;
  for (const Tensor& m : masks) {
    if (!m.defined()) return {};
    const Tensor f = cast(not_equal(m, scalar_like(m, 0.0)), DType::float32);
    count = count.defined() ? add(count, f) : f;
  }
  if (!count.defined()) return {};
  return not_equal(count, scalar_like(count, 0.0));
}

Tensor mask_condition(const Tensor& mask) {
  if (mask.dtype() == DType::uint8) return mask;
  return not_equal(mask, scalar_like(mask, 0.0));
}

Tensor mask_any(const Tensor& x, int axis, bool keepdims) {
  const Tensor f = cast(not_equal(x, scalar_like(x, 0.0)), DType::float32);
  const Tensor m = max(f, Axes({axis}), keepdims);
  return not_equal(m, scalar_like(m, 0.0));
}

MaskingLayer::MaskingLayer(double mask_value, LayerOptions options)
    : Layer("Masking", std::move(options)), mask_value_(mask_value) {
  set_supports_masking(true);
}

Tensor MaskingLayer::compute_mask(const Tensor& inputs, const Tensor& /*mask*/) const {
  NEURONA_CHECK(inputs.rank() >= 1, ShapeError, describe(),
                ": expected inputs with a feature axis, got shape ", shape_str(inputs.shape()));
  return mask_any(not_equal(inputs, scalar_like(inputs, mask_value_)), -1);
}

Tensor MaskingLayer::call(const Tensor& inputs, bool /*training*/) {
  NEURONA_CHECK(inputs.rank() >= 1, ShapeError, describe(),
                ": expected inputs with a feature axis, got shape ", shape_str(inputs.shape()));
  const Tensor keep = mask_any(not_equal(inputs, scalar_like(inputs, mask_value_)), -1, true);
  Tensor outputs = where(keep, inputs, scalar_like(inputs, 0.0));
  std::vector<std::int64_t> dims = keep.shape().dims();
  dims.pop_back();
  outputs.set_keras_mask(reshape(keep, Shape(std::move(dims))));
  return outputs;
}

ConfigValue MaskingLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("mask_value", mask_value_);
  return config;
}

Masking::Masking(double mask_value, LayerOptions options)
    : LayerHandle<MaskingLayer>(std::make_shared<MaskingLayer>(mask_value, std::move(options))) {}

Masking Masking::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Masking");
  return Masking(r.number("mask_value", 0.0), r.layer_options());
}

}  // namespace neurona::layers
