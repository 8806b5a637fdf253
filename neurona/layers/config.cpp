// Keras's serialized forms of shapes, dtype policies, initializers, regularizers and constraints.
#include "neurona/layers/config.h"

#include "neurona/core/error.h"
#include "neurona/layers/constraints.h"
#include "neurona/layers/initializers.h"
#include "neurona/layers/regularizers.h"

namespace neurona::layers {

ConfigValue shape_config(const Shape& shape) {
  ConfigValue::List dims;
  for (std::int64_t d : shape) dims.push_back(d < 0 ? ConfigValue() : ConfigValue(d));
  return dims;
}

ConfigValue dtype_policy_config(const std::string& policy) {
  return ConfigValue::Dict{{"module", "keras"},
                           {"class_name", "DTypePolicy"},
                           {"config", ConfigValue::Dict{{"name", policy}}},
                           {"registered_name", nullptr}};
}

namespace {
ConfigValue keras_object(const char* module, const std::string& class_name,
                         const ConfigValue& config) {
  return ConfigValue::Dict{{"module", module},
                           {"class_name", class_name},
                           {"config", config},
                           {"registered_name", nullptr}};
}
}  // namespace

ConfigValue serialize(const initializers::Initializer& initializer) {
  return keras_object("keras.initializers", initializer.name(), initializer.config());
}

ConfigValue serialize(const regularizers::Regularizer& regularizer) {
  if (!regularizer) return nullptr;
  return keras_object("keras.regularizers", regularizer.name(), regularizer.config());
}

ConfigValue serialize(const constraints::Constraint& constraint) {
  if (!constraint) return nullptr;
  return keras_object("keras.constraints", constraint.name(), constraint.config());
}

}  // namespace neurona::layers
