// TimeDistributed: the time axis folded into the batch, one call of the wrapped layer, and the
// result unfolded; a BatchNormalization in training runs slice by slice instead, as Keras's loop
// over the time steps gives it per-slice batch statistics.
#include "neurona/layers/time_distributed.h"

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/layer_registry.h"
#include "neurona/layers/rnn.h"

namespace neurona::layers {

TimeDistributedLayer::TimeDistributedLayer(const AnyLayer& layer, LayerOptions options)
    : Layer("TimeDistributed", std::move(options)), layer_(layer.ptr()) {
  track_layer(layer_, "layer");
  set_supports_masking(true);  // as Keras's: the mask of the steps passes on
  set_call_takes_mask(true);
}

Shape TimeDistributedLayer::child_input_shape(const Shape& input_shape) const {
  NEURONA_CHECK(input_shape.rank() >= 3, ValueError,
                "`TimeDistributed` Layer should be passed an `input_shape` with at least 3 "
                "dimensions, received: ",
                shape_str(input_shape));
  std::vector<std::int64_t> dims = input_shape.dims();
  dims.erase(dims.begin() + 1);
  return Shape(std::move(dims));
}

void TimeDistributedLayer::build(const Shape& input_shape) {
  layer_->ensure_built(child_input_shape(input_shape));
}

std::vector<TensorSpec> TimeDistributedLayer::compute_output_spec(
    const std::vector<TensorSpec>& inputs, bool list_call) {
  std::vector<TensorSpec> specs = Layer::compute_output_spec(inputs, list_call);
  if (list_call || inputs.size() != 1 || specs.size() != 1) return specs;
  // What this layer's own autocast hands the wrapped one: floats in the compute dtype.
  const DType given = is_floating(inputs[0].dtype) ? compute_dtype() : inputs[0].dtype;
  specs[0].dtype =
      layer_->compute_output_spec({{child_input_shape(inputs[0].shape), given}}, false)[0].dtype;
  return specs;
}

Shape TimeDistributedLayer::compute_output_shape(const Shape& input_shape) const {
  const Shape child = layer_->compute_output_shape(child_input_shape(input_shape));
  std::vector<std::int64_t> dims = child.dims();
  dims.insert(dims.begin() + 1, input_shape[1]);
  return Shape(std::move(dims));
}

Tensor TimeDistributedLayer::call(const Tensor& inputs, bool training) {
  const Shape child = child_input_shape(inputs.shape());
  const std::int64_t batch = inputs.shape()[0];
  const std::int64_t steps = inputs.shape()[1];
  if (training && layer_->class_name() == "BatchNormalization") {
    std::vector<Tensor> outputs;
    for (const Tensor& x : unstack(inputs, 1)) outputs.push_back((*layer_)(x, training));
    return stack(outputs, 1);
  }
  std::vector<std::int64_t> folded = child.dims();
  folded[0] = batch * steps;
  const Tensor y = (*layer_)(reshape(inputs, Shape(folded)), training);
  std::vector<std::int64_t> dims = y.shape().dims();
  dims[0] = steps;
  dims.insert(dims.begin(), batch);
  return reshape(y, Shape(std::move(dims)));
}

ConfigValue TimeDistributedLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("layer", serialize_nested_layer(*layer_));
  return config;
}

TimeDistributed::TimeDistributed(const AnyLayer& layer, LayerOptions options)
    : LayerHandle<TimeDistributedLayer>(
          std::make_shared<TimeDistributedLayer>(layer, std::move(options))) {}

TimeDistributed TimeDistributed::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "TimeDistributed");
  const AnyLayer layer = deserialize_nested_layer(r.need("layer"), "TimeDistributed 'layer'");
  return TimeDistributed(layer, r.layer_options());
}

}  // namespace neurona::layers
