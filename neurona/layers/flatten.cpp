// Flatten: a reshape that keeps the batch dimension (a view for channels_last).
#include "neurona/layers/flatten.h"

#include <numeric>

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

FlattenLayer::FlattenLayer(FlattenOptions options)
    : Layer("Flatten", {.name = options.name, .input_shape = options.input_shape}),
      data_format_(std::move(options.data_format)) {
  NEURONA_CHECK(data_format_ == "channels_last" || data_format_ == "channels_first", ValueError,
                describe(),
                ": argument `data_format` must be 'channels_last' or 'channels_first', ", "got '",
                data_format_, "'");
}

Shape FlattenLayer::compute_output_shape(const Shape& input_shape) const {
  NEURONA_CHECK(input_shape.rank() >= 1, ShapeError, describe(),
                ": expected inputs with a batch dimension, got shape ", shape_str(input_shape));
  std::int64_t flat = 1;
  for (int i = 1; i < input_shape.rank(); ++i) {
    if (input_shape[i] < 0) {
      flat = -1;
      break;
    }
    flat *= input_shape[i];
  }
  return Shape{input_shape[0], flat};
}

Tensor FlattenLayer::call(const Tensor& inputs, bool /*training*/) {
  Tensor x = inputs;
  if (data_format_ == "channels_first" && x.rank() > 2) {
    std::vector<int> perm{0};
    for (int i = 2; i < x.rank(); ++i) perm.push_back(i);
    perm.push_back(1);
    x = transpose(x, perm);
  }
  const Shape out = compute_output_shape(x.shape());
  return reshape(x, {out[0], -1});
}

Flatten::Flatten(FlattenOptions options)
    : LayerHandle<FlattenLayer>(std::make_shared<FlattenLayer>(std::move(options))) {}

ConfigValue FlattenLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("data_format", data_format_);
  return config;
}

Flatten Flatten::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Flatten");
  return Flatten(
      {.data_format = r.string("data_format", "channels_last"), .name = r.string("name", "")});
}

}  // namespace neurona::layers
