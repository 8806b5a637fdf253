// Keras 3's compile_config of a `.keras` archive, internal to models/: keras_config.cpp writes
// and reads it through these; users reach it as Model::get_compile_config and
// Model::compile_from_config.
#pragma once

#include "neurona/layers/config.h"
#include "neurona/models/model.h"

namespace neurona::models::detail {

/// The compile() arguments a compile_config describes (what Model::compile_from_config
/// compiles with). ValueError, its message starting "compile_config: ", for anything neurona
/// cannot compile with.
CompileOptions compile_options_from_config(const ConfigValue& config);

/// config.json's compile_config for `model`: None when it is not compiled, otherwise
/// get_compile_config() when load_model can compile from it again. When it cannot (a loss,
/// metric, optimizer or schedule of the user's own class, a non-finite number), None and a
/// warning on stderr that says why, so that the file still loads (uncompiled, as before).
ConfigValue compile_config_for_save(const Model& model);

}  // namespace neurona::models::detail
