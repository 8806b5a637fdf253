// The layers' side of configs: shapes, dtype policies and the serialized initializers,
// regularizers and constraints in Keras's form, over the one ConfigValue of core/.
#pragma once

#include <string>

#include "neurona/core/config_value.h"
#include "neurona/core/dtype.h"
#include "neurona/core/shape.h"

namespace neurona::initializers {
class Initializer;
}
namespace neurona::regularizers {
class Regularizer;
}
namespace neurona::constraints {
class Constraint;
}

namespace neurona::layers {

/// The one config type (core/config_value.h), by the name layer code and user code know.
using ConfigValue = neurona::ConfigValue;

/// A shape as Keras writes it: a list with None for an unknown (-1) dimension.
ConfigValue shape_config(const Shape& shape);
/// Keras's DTypePolicy for a layer's dtype: {"module": "keras", "class_name": "DTypePolicy",
/// "config": {"name": "float32"}, "registered_name": None}.
ConfigValue dtype_policy_config(const std::string& policy);

/// Keras's serialize_keras_object of an initializer, regularizer or constraint:
/// {"module": "keras.initializers", "class_name": "GlorotUniform", "config": {...},
/// "registered_name": None}; None for an empty regularizer or constraint.
ConfigValue serialize(const initializers::Initializer& initializer);
ConfigValue serialize(const regularizers::Regularizer& regularizer);
ConfigValue serialize(const constraints::Constraint& constraint);

}  // namespace neurona::layers
