// The layer classes by Keras class name, which load_model and deserialize_layer rebuild layers
// from: neurona's own, each with its from_config beside its get_config and listed once in
// layer_registry.cpp, and the user's (nr::models::register_layer).
#pragma once

#include <functional>

#include "neurona/core/config_value.h"
#include "neurona/core/registry.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

/// Makes the layer a config describes.
using LayerFactory = std::function<AnyLayer(const ConfigValue& config)>;

/// The registry, with neurona's own layers in it from the first call on.
Registry<LayerFactory>& layer_registry();

}  // namespace neurona::layers
