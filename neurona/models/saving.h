// Saving and loading in Keras 3's own formats, so that a model trained in Python Keras loads
// into neurona and one trained in neurona loads into Keras:
//   model.save_weights("mlp.weights.h5");            // Keras 3's .weights.h5 layout
//   model.load_weights("mlp.weights.h5");            // from neurona or Keras
//   model.save("mlp.keras");                         // config.json + metadata.json + weights
//   auto loaded = nr::models::load_model("mlp.keras");
// A Sequential of neurona's layers rebuilds from its config. A subclassed model, as in Keras,
// needs its class registered (Keras's register_keras_serializable / custom_objects):
//   nr::models::register_model("SubclassModel",
//       [](const nr::ConfigValue&) { return std::make_shared<SubclassModel>(); });
// or is constructed by hand and given the weights with load_weights. Every loader treats its
// input as untrusted: a bad file is an IoError (unreadable, corrupt) or a ValueError (does not
// fit the model), and the model is unchanged when a load fails.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "neurona/layers/config.h"
#include "neurona/layers/layer.h"
#include "neurona/layers/layer_registry.h"
#include "neurona/models/model.h"

namespace neurona::models {

/// Rebuilds a layer from Keras's config of it (the "config" entry of its serialization, what
/// Layer::get_config() returns).
using LayerFactory = layers::LayerFactory;
/// Rebuilds a model from its config; the loader then builds it (build_config) and loads its
/// weights.
using ModelFactory = std::function<std::shared_ptr<Model>(const ConfigValue& config)>;

/// Registers a layer class for load_model under its Keras class name (replacing neurona's
/// own for that name, if any):
///   nr::models::register_layer("MyLayer", [](const nr::ConfigValue& c) {
///     return nr::layers::AnyLayer(std::make_shared<MyLayer>(c.at("units").as_int()));
///   });
void register_layer(const std::string& class_name, LayerFactory factory);

/// Registers a subclassed model for load_model under its class name (Model::class_name()).
/// Keras cannot rebuild a subclassed model without its Python class either; this is the
/// equivalent of passing it in custom_objects.
void register_model(const std::string& class_name, ModelFactory factory);

/// Limits on what load_model takes from a `.keras` archive, so that an untrusted file cannot
/// make it exhaust memory: each is checked before the memory is taken, and a file past one is
/// refused with an error that names the entry or layer, the sizes and the limit. The defaults
/// fit every model up to about a billion parameters; raise one to load something larger:
///   auto model = nr::models::load_model("big.keras", {.max_params = std::int64_t{1} << 32});
struct LoadOptions {
  /// The most bytes config.json may hold (Keras writes 1 to 2 KiB per layer). IoError past it.
  std::uint64_t max_config_bytes = std::uint64_t{16} << 20;
  /// The most tensor elements building the model from config.json may allocate: its weights
  /// (Keras's count_params of the whole model; 2^30 is 4 GiB of float32), and the zeros a
  /// layer that cannot compute its output shape is run on once to learn it. ValueError past
  /// it, naming the layer and the weight's shape.
  std::int64_t max_params = std::int64_t{1} << 30;
  /// The most bytes model.weights.h5 may hold. 0: what the model rebuilt from config.json
  /// needs: twice the bytes of its weights and of its optimizer's (when config.json compiles
  /// it), plus 1 MiB and 16 KiB per layer and per weight for HDF5's own structures (Keras's
  /// files hold about 1.5 KiB per layer and per weight). IoError past it.
  std::uint64_t max_weights_bytes = 0;
};

/// Loads a `.keras` archive written by Model::save or by Keras 3: rebuilds the model from
/// config.json (a Sequential of known layers, a registered model, or a Sequential of
/// registered layers) and loads model.weights.h5 into it. Throws IoError for a file that is
/// not a readable `.keras` archive (or not a regular file) and ValueError for one whose
/// contents neurona cannot rebuild (an unknown class name is named in the message); either,
/// naming the limit, for a file past one of `options`; OutOfMemoryError naming the file when
/// memory runs out all the same. Reading and building take time linear in the layers.
///   auto model = nr::models::load_model("fashion.keras");
///   nr::Tensor probs = model->predict(x);
std::shared_ptr<Model> load_model(const std::string& path, LoadOptions options = {});

/// load_model from the bytes of a `.keras` archive in memory.
std::shared_ptr<Model> load_model_from_bytes(std::string_view bytes, LoadOptions options = {});

/// Rebuilds one layer from Keras's serialization of it:
/// {"class_name": "Dense", "config": {...}, ...}. ValueError for an unknown class name.
layers::AnyLayer deserialize_layer(const ConfigValue& serialized);

/// The `.weights.h5` file Model::save_weights writes, as bytes.
std::string save_weights_to_bytes(const Model& model);

/// Model::load_weights from the bytes of a `.weights.h5` file; the model is unchanged when
/// it throws. Model::load_weights refuses a file larger than ten times the bytes of the
/// model's weights (and its optimizer's), plus HDF5's overhead (the model's weights and up to
/// four optimizer slots per weight, in float64); this function takes bytes of any size.
void load_weights_from_bytes(Model& model, std::string_view bytes);

}  // namespace neurona::models
