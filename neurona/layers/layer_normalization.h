// LayerNormalization as keras.layers.LayerNormalization: normalizes each example over `axis`
// (the features) with its own mean and variance, then scales by gamma and shifts by beta.
//   auto ln = nr::layers::LayerNormalization({.axis = {1, 2}});
//   nr::Tensor y = ln(x);   // gamma, beta of shape (x.shape[1], x.shape[2])
#pragma once

#include <optional>
#include <vector>

#include "neurona/layers/layer.h"
#include "neurona/layers/normalization_axes.h"

namespace neurona::layers {

/// keras.layers.LayerNormalization's arguments and defaults.
struct LayerNormalizationOptions {
  /// The axis or axes to normalize over (negative counts from the end); gamma and beta span
  /// them, with the sizes of the axes in Keras's order (the given values sorted).
  NormalizationAxes axis = -1;
  double epsilon = 1e-3;
  /// Add the learnt offset beta.
  bool center = true;
  /// Multiply by the learnt scale gamma.
  bool scale = true;
  /// Keras's deprecated `rms_scaling`: outputs x / sqrt(var(x) + epsilon) * gamma (the
  /// variance, not the mean square, as Keras computes it), with gamma even when `scale` is
  /// false and no beta. keras.layers.RMSNormalization is what Keras recommends instead.
  bool rms_scaling = false;
  initializers::Initializer beta_initializer = "zeros";
  initializers::Initializer gamma_initializer = "ones";
  regularizers::Regularizer beta_regularizer = {};
  regularizers::Regularizer gamma_regularizer = {};
  constraints::Constraint beta_constraint = {};
  constraints::Constraint gamma_constraint = {};
  std::string name = "";
  bool trainable = true;
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

class LayerNormalizationLayer : public Layer {
 public:
  explicit LayerNormalizationLayer(LayerNormalizationOptions options = {});
  ConfigValue get_config() const override;

  /// The axes as Keras holds them: as given until built, then sorted (always a list).
  const NormalizationAxes& axis() const { return axis_; }
  double epsilon() const { return options_.epsilon; }
  /// The weights, once built (ValueError before, or when the layer has none).
  const Variable& gamma() const;
  const Variable& beta() const;

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;
  /// The compute dtype, whatever the inputs' (autocast is off, as Keras's, and call() returns
  /// the compute dtype: a symbolic call says what an eager one gives).
  std::vector<TensorSpec> compute_output_spec(const std::vector<TensorSpec>& inputs,
                                              bool list_call) override;

 protected:
  void build(const Shape& input_shape) override;

 private:
  void check_input(const Shape& input_shape) const;
  LayerNormalizationOptions options_;
  NormalizationAxes axis_;
  std::optional<Variable> gamma_, beta_;
};

/// `nr::layers::LayerNormalization({.axis = {1, 2}, .epsilon = 1e-5})`.
class LayerNormalization : public LayerHandle<LayerNormalizationLayer> {
 public:
  explicit LayerNormalization(LayerNormalizationOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's LayerNormalization.from_config; ValueError naming the key otherwise.
  static LayerNormalization from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
