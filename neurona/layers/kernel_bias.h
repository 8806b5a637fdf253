// What Dense and the convolutions (Conv1D, Conv2D, Conv2DTranspose) share: a kernel and an
// optional bias made from the options' initializers, regularizers and constraints, the errors of
// their accessors, and the config keys Keras writes for them, in Keras's order. Their options
// structs stay flat (designated initializers: `{.activation = "relu", .use_bias = false}`), so
// these templates take any struct with Keras's field names. Internal to layers/.
#pragma once

#include <optional>

#include "neurona/autograd/variable.h"
#include "neurona/core/config_value.h"
#include "neurona/layers/config.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/layer.h"

namespace neurona::layers::detail {

/// The Layer's own options (name, trainable, dtype, input_shape) from a layer's options.
template <typename Options>
LayerOptions layer_options(const Options& o) {
  return {.name = o.name, .trainable = o.trainable, .dtype = o.dtype, .input_shape = o.input_shape};
}

/// The kernel's WeightOptions from kernel_initializer, kernel_regularizer, kernel_constraint.
template <typename Options>
WeightOptions kernel_weight_options(const Options& o) {
  return {.initializer = o.kernel_initializer,
          .regularizer = o.kernel_regularizer,
          .constraint = o.kernel_constraint};
}

/// The bias's WeightOptions from bias_initializer, bias_regularizer, bias_constraint.
template <typename Options>
WeightOptions bias_weight_options(const Options& o) {
  return {.initializer = o.bias_initializer,
          .regularizer = o.bias_regularizer,
          .constraint = o.bias_constraint};
}

/// The layer's kernel once built; ValueError naming `layer` before.
inline const Variable& built_kernel(const Layer& layer, const std::optional<Variable>& kernel) {
  NEURONA_CHECK(kernel.has_value(), ValueError, layer.describe(),
                ": the kernel does not exist until the layer is built (call it on inputs)");
  return *kernel;
}

/// The layer's bias once built; ValueError naming `layer` before, or when it has none.
inline const Variable& built_bias(const Layer& layer, const std::optional<Variable>& bias,
                                  bool use_bias) {
  NEURONA_CHECK(bias.has_value(), ValueError, layer.describe(),
                use_bias ? ": the bias does not exist until the layer is built"
                         : ": the layer has no bias (use_bias = false)");
  return *bias;
}

/// Whether a layer's config carries activity_regularizer always (the convolutions, as Keras's
/// BaseConv), or only when one is set (Dense: Keras's leaves it out, and neurona writes it only
/// when set so that it survives a round trip; Keras's Layer takes it as a keyword argument).
enum class ActivityRegularizerKey { always, when_set };

/// Keras's keys from "activation" to "bias_constraint" in its order: activation, use_bias,
/// kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
/// activity_regularizer, kernel_constraint, bias_constraint.
template <typename Options>
void set_kernel_bias_config(ConfigValue& config, const Options& o,
                            ActivityRegularizerKey activity = ActivityRegularizerKey::always) {
  config.set("activation", o.activation.name());
  config.set("use_bias", o.use_bias);
  config.set("kernel_initializer", serialize(o.kernel_initializer));
  config.set("bias_initializer", serialize(o.bias_initializer));
  config.set("kernel_regularizer", serialize(o.kernel_regularizer));
  config.set("bias_regularizer", serialize(o.bias_regularizer));
  if (activity == ActivityRegularizerKey::always || o.activity_regularizer) {
    config.set("activity_regularizer", serialize(o.activity_regularizer));
  }
  config.set("kernel_constraint", serialize(o.kernel_constraint));
  config.set("bias_constraint", serialize(o.bias_constraint));
}

/// The options set_kernel_bias_config writes, and name, trainable and dtype, read back with
/// Keras's defaults (glorot_uniform kernel, zeros bias, a bias used).
template <typename Options>
void read_kernel_bias_config(const LayerConfigReader& r, Options& o) {
  o.activation = r.activation();
  o.use_bias = r.boolean("use_bias", true);
  o.kernel_initializer = r.initializer("kernel_initializer", "glorot_uniform");
  o.bias_initializer = r.initializer("bias_initializer", "zeros");
  o.kernel_regularizer = r.regularizer("kernel_regularizer");
  o.bias_regularizer = r.regularizer("bias_regularizer");
  o.activity_regularizer = r.regularizer("activity_regularizer");
  o.kernel_constraint = r.constraint("kernel_constraint");
  o.bias_constraint = r.constraint("bias_constraint");
  o.name = r.string("name", "");
  o.trainable = r.boolean("trainable", true);
  o.dtype = r.dtype();
}

}  // namespace neurona::layers::detail
