// neurona's own layer classes, registered by an explicit list rather than by static objects in
// each layer's file: a static library drops object files nothing references, and a
// self-registering static with them. A new layer adds its one line here, which also says how
// `.keras` files record it.
#include "neurona/layers/layer_registry.h"

#include "neurona/layers/activation.h"
#include "neurona/layers/activation_layers.h"
#include "neurona/layers/batch_normalization.h"
#include "neurona/layers/conv1d.h"
#include "neurona/layers/conv2d.h"
#include "neurona/layers/conv2d_transpose.h"
#include "neurona/layers/dense.h"
#include "neurona/layers/depthwise_conv2d.h"
#include "neurona/layers/dropout.h"
#include "neurona/layers/flatten.h"
#include "neurona/layers/group_normalization.h"
#include "neurona/layers/image_preprocessing.h"
#include "neurona/layers/layer_normalization.h"
#include "neurona/layers/merging.h"
#include "neurona/layers/normalization.h"
#include "neurona/layers/pooling2d.h"
#include "neurona/layers/reshape.h"
#include "neurona/layers/rms_normalization.h"
#include "neurona/layers/separable_conv2d.h"
#include "neurona/layers/unit_normalization.h"
#include "neurona/layers/zero_padding2d.h"
// issue 18: reshaping and 1-D pooling layers
#include "neurona/layers/cropping.h"
#include "neurona/layers/permute.h"
#include "neurona/layers/pooling1d.h"
#include "neurona/layers/up_sampling.h"
#include "neurona/layers/zero_padding1d.h"
// issue 19: sequence models
#include "neurona/layers/attention.h"
#include "neurona/layers/embedding.h"
#include "neurona/layers/masking.h"
#include "neurona/layers/multi_head_attention.h"
#include "neurona/layers/position_embedding.h"
// issue 19: recurrent layers
#include "neurona/layers/bidirectional.h"
#include "neurona/layers/gru.h"
#include "neurona/layers/lstm.h"
#include "neurona/layers/simple_rnn.h"
#include "neurona/layers/time_distributed.h"

namespace neurona::layers {

namespace {

template <typename L>
AnyLayer from_config_of(const ConfigValue& config) {
  return L::from_config(config);
}

struct OwnLayer {
  const char* class_name;
  AnyLayer (*from_config)(const ConfigValue& config);
  KerasLayerClass keras;
};

// neurona's own layers, by Keras class name.
constexpr KerasLayerClass kBuilt{.records_build_config = true};
constexpr KerasLayerClass kBuiltAtConstruction{.records_build_config = false};
// KerasHub's layers (keras_hub.layers), which Keras loads by their registered names.
constexpr KerasLayerClass kHubPositionEmbedding{
    .records_build_config = true,
    .module = "keras_hub.src.layers.modeling.position_embedding",
    .registered_name = "keras_hub>PositionEmbedding"};
constexpr KerasLayerClass kHubSinePositionEncoding{
    .records_build_config = false,
    .module = "keras_hub.src.layers.modeling.sine_position_encoding",
    .registered_name = "keras_hub>SinePositionEncoding"};
const OwnLayer kOwnLayers[] = {
    {"Dense", from_config_of<Dense>, kBuilt},
    {"Conv2D", from_config_of<Conv2D>, kBuilt},
    {"MaxPooling2D", from_config_of<MaxPooling2D>, kBuiltAtConstruction},
    {"AveragePooling2D", from_config_of<AveragePooling2D>, kBuiltAtConstruction},
    {"GlobalMaxPooling2D", from_config_of<GlobalMaxPooling2D>, kBuiltAtConstruction},
    {"GlobalAveragePooling2D", from_config_of<GlobalAveragePooling2D>, kBuiltAtConstruction},
    {"BatchNormalization", from_config_of<BatchNormalization>, kBuilt},
    {"LayerNormalization", from_config_of<LayerNormalization>, kBuilt},
    {"GroupNormalization", from_config_of<GroupNormalization>, kBuilt},
    {"RMSNormalization", from_config_of<RMSNormalization>, kBuilt},
    {"UnitNormalization", from_config_of<UnitNormalization>, kBuiltAtConstruction},
    {"ZeroPadding2D", from_config_of<ZeroPadding2D>, kBuilt},
    {"Dropout", from_config_of<Dropout>, kBuiltAtConstruction},
    {"Flatten", from_config_of<Flatten>, kBuilt},
    {"Reshape", from_config_of<Reshape>, kBuiltAtConstruction},
    {"Activation", from_config_of<Activation>, kBuiltAtConstruction},
    {"ReLU", from_config_of<ReLU>, kBuiltAtConstruction},
    {"LeakyReLU", from_config_of<LeakyReLU>, kBuiltAtConstruction},
    {"PReLU", from_config_of<PReLU>, kBuilt},
    {"ELU", from_config_of<ELU>, kBuiltAtConstruction},
    {"Softmax", from_config_of<Softmax>, kBuiltAtConstruction},
    {"Add", from_config_of<Add>, kBuilt},
    {"Subtract", from_config_of<Subtract>, kBuilt},
    {"Multiply", from_config_of<Multiply>, kBuilt},
    {"Average", from_config_of<Average>, kBuilt},
    {"Maximum", from_config_of<Maximum>, kBuilt},
    {"Minimum", from_config_of<Minimum>, kBuilt},
    {"Concatenate", from_config_of<Concatenate>, kBuilt},
    {"Dot", from_config_of<Dot>, kBuilt},
    {"Conv1D", from_config_of<Conv1D>, kBuilt},
    {"DepthwiseConv2D", from_config_of<DepthwiseConv2D>, kBuilt},
    {"SeparableConv2D", from_config_of<SeparableConv2D>, kBuilt},
    {"Conv2DTranspose", from_config_of<Conv2DTranspose>, kBuilt},
    {"UpSampling1D", from_config_of<UpSampling1D>, kBuilt},
    {"UpSampling2D", from_config_of<UpSampling2D>, kBuilt},
    {"Rescaling", from_config_of<Rescaling>, kBuiltAtConstruction},
    {"Normalization", from_config_of<Normalization>, kBuilt},
    {"Resizing", from_config_of<Resizing>, kBuiltAtConstruction},
    {"CenterCrop", from_config_of<CenterCrop>, kBuiltAtConstruction},
    {"RandomFlip", from_config_of<RandomFlip>, kBuiltAtConstruction},
    {"RandomBrightness", from_config_of<RandomBrightness>, kBuiltAtConstruction},
    {"RandomContrast", from_config_of<RandomContrast>, kBuiltAtConstruction},
    {"RandomTranslation", from_config_of<RandomTranslation>, kBuiltAtConstruction},
    {"RandomRotation", from_config_of<RandomRotation>, kBuiltAtConstruction},
    {"RandomZoom", from_config_of<RandomZoom>, kBuiltAtConstruction},
    {"RandomCrop", from_config_of<RandomCrop>, kBuiltAtConstruction},
    {"Cropping1D", from_config_of<Cropping1D>, kBuilt},
    {"Cropping2D", from_config_of<Cropping2D>, kBuilt},
    {"ZeroPadding1D", from_config_of<ZeroPadding1D>, kBuilt},
    {"Permute", from_config_of<Permute>, kBuilt},
    {"RepeatVector", from_config_of<RepeatVector>, kBuilt},
    {"Embedding", from_config_of<Embedding>, kBuilt},
    {"Masking", from_config_of<Masking>, kBuiltAtConstruction},
    {"MultiHeadAttention", from_config_of<MultiHeadAttention>, kBuilt},
    {"Attention", from_config_of<Attention>, kBuilt},
    {"AdditiveAttention", from_config_of<AdditiveAttention>, kBuilt},
    {"PositionEmbedding", from_config_of<PositionEmbedding>, kHubPositionEmbedding},
    {"SinePositionEncoding", from_config_of<SinePositionEncoding>, kHubSinePositionEncoding},
    {"MaxPooling1D", from_config_of<MaxPooling1D>, kBuiltAtConstruction},
    {"AveragePooling1D", from_config_of<AveragePooling1D>, kBuiltAtConstruction},
    {"GlobalMaxPooling1D", from_config_of<GlobalMaxPooling1D>, kBuiltAtConstruction},
    {"GlobalAveragePooling1D", from_config_of<GlobalAveragePooling1D>, kBuiltAtConstruction},
    {"SimpleRNN", from_config_of<SimpleRNN>, kBuilt},
    {"LSTM", from_config_of<LSTM>, kBuilt},
    {"GRU", from_config_of<GRU>, kBuilt},
    {"Bidirectional", from_config_of<Bidirectional>, kBuilt},
    {"TimeDistributed", from_config_of<TimeDistributed>, kBuilt},
};

}  // namespace

Registry<LayerFactory>& layer_registry() {
  static auto* registry = [] {
    auto* r = new Registry<LayerFactory>();  // outlives static models that load in destructors
    for (const OwnLayer& layer : kOwnLayers) r->add(layer.class_name, layer.from_config);
    return r;
  }();
  return *registry;
}

std::optional<KerasLayerClass> keras_layer_class(const std::string& class_name) {
  for (const OwnLayer& layer : kOwnLayers) {
    if (class_name == layer.class_name) return layer.keras;
  }
  return std::nullopt;
}

ConfigValue serialize_nested_layer(const Layer& layer) {
  const std::string& cls = layer.class_name();
  const std::optional<KerasLayerClass> keras_class = keras_layer_class(cls);
  const bool keras = keras_class.has_value();
  // A class of the user's: Keras finds it by registered_name among custom_objects (Python)
  // and neurona by class name among the registered factories.
  ConfigValue out = ConfigValue::Dict{
      {"module", keras ? keras_class->module : "neurona"},
      {"class_name", cls},
      {"config", layer.get_config()},
      {"registered_name", !keras                         ? ConfigValue(cls)
                          : keras_class->registered_name ? ConfigValue(keras_class->registered_name)
                                                         : ConfigValue()}};
  if (layer.built() && (!keras || keras_class->records_build_config)) {
    out.set("build_config", layer.get_build_config());
  }
  return out;
}

AnyLayer deserialize_nested_layer(const ConfigValue& entry, const std::string& who) {
  NEURONA_CHECK(entry.kind() == ConfigValue::Kind::Dict, ValueError, who,
                ": expected a serialized layer (a dict with class_name and config)");
  const ConfigValue* cls = entry.find("class_name");
  const ConfigValue* config = entry.find("config");
  NEURONA_CHECK(cls != nullptr && cls->kind() == ConfigValue::Kind::String && config != nullptr,
                ValueError, who,
                ": expected a serialized layer (a dict with class_name and config)");
  // By class name (neurona's and KerasHub's layers, whose registered names are
  // "keras_hub>PositionEmbedding"), else by registered name.
  std::string name = cls->as_string();
  std::optional<LayerFactory> factory = layer_registry().find(name);
  if (const ConfigValue* reg = entry.find("registered_name");
      !factory && reg != nullptr && reg->kind() == ConfigValue::Kind::String) {
    name = reg->as_string();
    factory = layer_registry().find(name);
  }
  NEURONA_CHECK(factory.has_value(), ValueError, who, ": unknown layer class '", name, "'");
  return (*factory)(*config);
}

}  // namespace neurona::layers
