// What BatchNormalization, LayerNormalization and GroupNormalization share: the gamma (scale)
// and beta (center) weights made from the options' initializers, regularizers and constraints,
// and their config keys in Keras's order. Their options structs stay flat (designated
// initializers), so these templates take any struct with Keras's field names. Internal to
// layers/.
#pragma once

#include "neurona/core/config_value.h"
#include "neurona/layers/config.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/layer.h"

namespace neurona::layers::detail {

/// gamma's WeightOptions from gamma_initializer, gamma_regularizer, gamma_constraint.
template <typename Options>
WeightOptions gamma_weight_options(const Options& o) {
  return {.initializer = o.gamma_initializer,
          .regularizer = o.gamma_regularizer,
          .constraint = o.gamma_constraint};
}

/// beta's WeightOptions from beta_initializer, beta_regularizer, beta_constraint.
template <typename Options>
WeightOptions beta_weight_options(const Options& o) {
  return {.initializer = o.beta_initializer,
          .regularizer = o.beta_regularizer,
          .constraint = o.beta_constraint};
}

/// Keras's "beta_initializer" and "gamma_initializer" (BatchNormalization writes its moving_*
/// initializers after these, before set_beta_gamma_regularizers_and_constraints's keys).
template <typename Options>
void set_beta_gamma_initializers(ConfigValue& config, const Options& o) {
  config.set("beta_initializer", serialize(o.beta_initializer));
  config.set("gamma_initializer", serialize(o.gamma_initializer));
}

/// Keras's "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint".
template <typename Options>
void set_beta_gamma_regularizers_and_constraints(ConfigValue& config, const Options& o) {
  config.set("beta_regularizer", serialize(o.beta_regularizer));
  config.set("gamma_regularizer", serialize(o.gamma_regularizer));
  config.set("beta_constraint", serialize(o.beta_constraint));
  config.set("gamma_constraint", serialize(o.gamma_constraint));
}

/// The six keys above, and name, trainable and dtype, read back with Keras's defaults (beta
/// zeros, gamma ones).
template <typename Options>
void read_beta_gamma_config(const LayerConfigReader& r, Options& o) {
  o.beta_initializer = r.initializer("beta_initializer", "zeros");
  o.gamma_initializer = r.initializer("gamma_initializer", "ones");
  o.beta_regularizer = r.regularizer("beta_regularizer");
  o.gamma_regularizer = r.regularizer("gamma_regularizer");
  o.beta_constraint = r.constraint("beta_constraint");
  o.gamma_constraint = r.constraint("gamma_constraint");
  o.name = r.string("name", "");
  o.trainable = r.boolean("trainable", true);
  o.dtype = r.dtype();
}

}  // namespace neurona::layers::detail
