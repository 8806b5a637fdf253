// The Activation layer: no weights, the function applied elementwise (softmax on the last axis).
#include "neurona/layers/activation.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

ActivationLayer::ActivationLayer(activations::Activation activation, LayerOptions options)
    : Layer("Activation", std::move(options)), activation_(std::move(activation)) {
  set_supports_masking(true);
}

Tensor ActivationLayer::call(const Tensor& inputs, bool /*training*/) {
  return apply_activation(activation_, inputs);
}

Activation::Activation(activations::Activation activation, LayerOptions options)
    : LayerHandle<ActivationLayer>(
          std::make_shared<ActivationLayer>(std::move(activation), std::move(options))) {}

ConfigValue ActivationLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("activation", activation_.name());
  return config;
}

Activation Activation::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Activation");
  return Activation(r.activation(), r.layer_options());
}

}  // namespace neurona::layers
