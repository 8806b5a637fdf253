// RMSNormalization as keras.layers.RMSNormalization (Keras 3.9+): each example divided by the
// root mean square of its values over `axis`, then multiplied by the learnt `scale`:
// y = x * rsqrt(mean(x^2, axis) + epsilon) * scale (no centring, no offset: Zhang and Sennrich,
// "Root Mean Square Layer Normalization", 2019; the normalization of LLaMA-style transformers).
//   auto rms = nr::layers::RMSNormalization();             // over the features, epsilon 1e-6
//   auto rms2 = nr::layers::RMSNormalization({.axis = {1, 2}});
//   nr::Tensor y = rms(x);   // scale of shape (x.shape[-1],) (or the sizes of the axes)
#pragma once

#include <optional>
#include <string>

#include "neurona/layers/layer.h"
#include "neurona/layers/normalization_axes.h"

namespace neurona::layers {

/// keras.layers.RMSNormalization's arguments and defaults (it has no initializer, regularizer
/// or constraint arguments: `scale` starts at ones).
struct RMSNormalizationOptions {
  /// The axis or axes to normalize over (negative counts from the end); `scale` spans them,
  /// with their sizes in sorted order, as Keras.
  NormalizationAxes axis = -1;
  double epsilon = 1e-6;
  std::string name = "";
  bool trainable = true;
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

class RMSNormalizationLayer : public Layer {
 public:
  explicit RMSNormalizationLayer(RMSNormalizationOptions options = {});
  ConfigValue get_config() const override;

  /// The axes as Keras holds them: as given until built, then a sorted list.
  const NormalizationAxes& axis() const { return axis_; }
  double epsilon() const { return options_.epsilon; }
  /// The weight "scale", once built (ValueError before).
  const Variable& scale() const;

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 protected:
  void build(const Shape& input_shape) override;

 private:
  void check_input(const Shape& input_shape) const;
  RMSNormalizationOptions options_;
  NormalizationAxes axis_;
  std::optional<Variable> scale_;
};

/// `nr::layers::RMSNormalization({.axis = -1, .epsilon = 1e-6})`.
class RMSNormalization : public LayerHandle<RMSNormalizationLayer> {
 public:
  explicit RMSNormalization(RMSNormalizationOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's RMSNormalization.from_config; ValueError naming the key otherwise.
  static RMSNormalization from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
