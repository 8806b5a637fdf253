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
  /// Where Keras finds the class: "keras.layers", or a KerasHub module for KerasHub's layers,
  /// which Keras finds by their registered name ("keras_hub>PositionEmbedding").
  const char* module = "keras.layers";
  const char* registered_name = nullptr;
};
/// The class named `class_name` when it is one of neurona's own (Keras's) layer classes.
std::optional<KerasLayerClass> keras_layer_class(const std::string& class_name);

/// Keras's serialize_keras_object of a layer: in a model's config, or inside another layer's
/// (Bidirectional's `layer`, TimeDistributed's `layer`): module, class_name, config,
/// registered_name and, once built, build_config.
ConfigValue serialize_nested_layer(const Layer& layer);
/// The layer such an entry describes, made through the layer registry; `who` names the owner
/// in errors.
AnyLayer deserialize_nested_layer(const ConfigValue& entry, const std::string& who);

}  // namespace neurona::layers
