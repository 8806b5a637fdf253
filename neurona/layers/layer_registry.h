// The layer classes by Keras class name, which load_model and deserialize_layer rebuild layers
// from: neurona's own, each with its from_config beside its get_config and listed once in
// layer_registry.cpp, and the user's (nr::models::register_layer).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "neurona/core/config_value.h"
#include "neurona/core/registry.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

/// Makes the layer a config describes.
using LayerFactory = std::function<AnyLayer(const ConfigValue& config)>;

/// The registry, with neurona's own layers in it from the first call on.
Registry<LayerFactory>& layer_registry();

/// How a `.keras` file records one of neurona's own layer classes, which are Keras's: module
/// "keras.layers" and no registered_name (a class of the user's is written with module
/// "neurona" and its class name as registered_name, for Keras's custom_objects).
struct KerasLayerClass {
  /// Whether Keras writes the layer's build_config once it is built: not for the layers that
  /// Keras builds at construction (no build step: pooling, Reshape, Activation, Dropout).
  bool records_build_config = true;
};
/// The class named `class_name` when it is one of neurona's own (Keras's) layer classes.
std::optional<KerasLayerClass> keras_layer_class(const std::string& class_name);

}  // namespace neurona::layers
