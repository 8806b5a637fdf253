// Reshape: a view of the inputs with the batch dimension kept.
#include "neurona/layers/reshape.h"

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

ReshapeLayer::ReshapeLayer(const Shape& target_shape, LayerOptions options)
    : Layer("Reshape", std::move(options)), target_shape_(target_shape) {
  int unknown = 0;
  for (int i = 0; i < target_shape_.rank(); ++i) {
    NEURONA_CHECK(target_shape_[i] > 0 || target_shape_[i] == -1, ValueError, describe(),
                  ": argument `target_shape` must have positive dimensions or one -1, got ",
                  target_shape_[i], " at index ", i);
    if (target_shape_[i] == -1) ++unknown;
  }
  NEURONA_CHECK(unknown <= 1, ValueError, describe(),
                ": there must be at most one unknown dimension in target_shape. Received: "
                "target_shape=",
                shape_str(target_shape_));
}

Shape ReshapeLayer::compute_output_shape(const Shape& input_shape) const {
  NEURONA_CHECK(input_shape.rank() >= 1, ShapeError, describe(),
                ": expected inputs with a batch dimension, got shape ", shape_str(input_shape));
  std::int64_t in_size = 1;
  bool in_known = true;
  for (int i = 1; i < input_shape.rank(); ++i) {
    if (input_shape[i] < 0) in_known = false;
    in_size *= input_shape[i];
  }
  std::int64_t known = 1;
  int unknown_at = -1;
  for (int i = 0; i < target_shape_.rank(); ++i) {
    if (target_shape_[i] == -1) {
      unknown_at = i;
    } else {
      known *= target_shape_[i];
    }
  }
  std::vector<std::int64_t> dims{input_shape[0]};
  dims.insert(dims.end(), target_shape_.begin(), target_shape_.end());
  if (in_known) {
    const bool fits = unknown_at >= 0 ? in_size % known == 0 : in_size == known;
    NEURONA_CHECK(
        fits, ShapeError, describe(),
        ": the total size of the tensor must be unchanged. Received: input_shape=",
        shape_str(Shape(std::vector<std::int64_t>(input_shape.begin() + 1, input_shape.end()))),
        ", target_shape=", shape_str(target_shape_));
    if (unknown_at >= 0) dims[static_cast<std::size_t>(unknown_at) + 1] = in_size / known;
  }
  return Shape(std::move(dims));
}

Tensor ReshapeLayer::call(const Tensor& inputs, bool /*training*/) {
  Shape out = compute_output_shape(inputs.shape());
  return reshape(inputs, out);
}

Reshape::Reshape(const Shape& target_shape, LayerOptions options)
    : LayerHandle<ReshapeLayer>(std::make_shared<ReshapeLayer>(target_shape, std::move(options))) {}

ConfigValue ReshapeLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  ConfigValue::List dims(target_shape_.begin(), target_shape_.end());
  config.set("target_shape", std::move(dims));
  return config;
}

Reshape Reshape::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Reshape");
  return Reshape(r.shape("target_shape", r.need("target_shape")), r.layer_options());
}

}  // namespace neurona::layers
