// Keras 3's model serialization (config.json, metadata.json) for `.keras` archives; internal
// to models/saving*.cpp. JSON stays inside keras_config.cpp.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "neurona/layers/config.h"
#include "neurona/models/model.h"

namespace neurona::models::detail {

/// config.json for `model`: Keras's serialize_keras_object of it.
std::string model_config_json(const Model& model);
/// metadata.json: {"keras_version": ..., "date_saved": ...}.
std::string metadata_json();
/// Checks metadata.json (valid JSON with a keras_version string); ValueError otherwise.
void check_metadata_json(std::string_view json);
/// The model that config.json describes, built, with fresh weights. ValueError for malformed
/// JSON, non-UTF-8 text, unknown class names and configs neurona cannot follow.
std::shared_ptr<Model> model_from_config_json(std::string_view json);
/// JSON text to a ConfigValue (ValueError naming `what` for malformed or non-UTF-8 JSON, or
/// nesting deeper than Keras configs go).
ConfigValue parse_json(std::string_view json, const std::string& what);

}  // namespace neurona::models::detail
