// UnitNormalization as keras.layers.UnitNormalization: each example scaled to an L2 norm of 1
// over `axis` (x / max(||x||, 1e-12)); no weights.
//   auto unit = nr::layers::UnitNormalization();               // over the features
//   auto unit2 = nr::layers::UnitNormalization({.axis = {1, 2}});
#pragma once

#include <string>

#include "neurona/layers/layer.h"
#include "neurona/layers/normalization_axes.h"

namespace neurona::layers {

/// keras.layers.UnitNormalization's arguments and defaults.
struct UnitNormalizationOptions {
  /// The axis or axes to normalize over (negative counts from the end), kept as given.
  NormalizationAxes axis = -1;
  std::string name = "";
  bool trainable = true;
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

class UnitNormalizationLayer : public Layer {
 public:
  explicit UnitNormalizationLayer(UnitNormalizationOptions options = {});
  ConfigValue get_config() const override;

  const NormalizationAxes& axis() const { return options_.axis; }

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  UnitNormalizationOptions options_;
};

/// `nr::layers::UnitNormalization({.axis = -1})`.
class UnitNormalization : public LayerHandle<UnitNormalizationLayer> {
 public:
  explicit UnitNormalization(UnitNormalizationOptions options = {});
  /// The layer a config describes, as Keras's UnitNormalization.from_config.
  static UnitNormalization from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
