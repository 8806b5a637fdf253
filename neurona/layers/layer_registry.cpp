// neurona's own layer classes, registered by an explicit list rather than by static objects in
// each layer's file: a static library drops object files nothing references, and a
// self-registering static with them. A new layer adds its one line here.
#include "neurona/layers/layer_registry.h"

#include "neurona/layers/activation.h"
#include "neurona/layers/batch_normalization.h"
#include "neurona/layers/conv2d.h"
#include "neurona/layers/dense.h"
#include "neurona/layers/dropout.h"
#include "neurona/layers/flatten.h"
#include "neurona/layers/pooling2d.h"
#include "neurona/layers/reshape.h"
#include "neurona/layers/zero_padding2d.h"

namespace neurona::layers {

namespace {

template <typename L>
void add(Registry<LayerFactory>& registry, const char* class_name) {
  registry.add(class_name,
               [](const ConfigValue& config) -> AnyLayer { return L::from_config(config); });
}

}  // namespace

Registry<LayerFactory>& layer_registry() {
  static auto* registry = [] {
    auto* r = new Registry<LayerFactory>();  // outlives static models that load in destructors
    add<Dense>(*r, "Dense");
    add<Conv2D>(*r, "Conv2D");
    add<MaxPooling2D>(*r, "MaxPooling2D");
    add<AveragePooling2D>(*r, "AveragePooling2D");
    add<GlobalMaxPooling2D>(*r, "GlobalMaxPooling2D");
    add<GlobalAveragePooling2D>(*r, "GlobalAveragePooling2D");
    add<BatchNormalization>(*r, "BatchNormalization");
    add<ZeroPadding2D>(*r, "ZeroPadding2D");
    add<Dropout>(*r, "Dropout");
    add<Flatten>(*r, "Flatten");
    add<Reshape>(*r, "Reshape");
    add<Activation>(*r, "Activation");
    return r;
  }();
  return *registry;
}

}  // namespace neurona::layers
