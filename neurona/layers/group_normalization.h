// GroupNormalization as keras.layers.GroupNormalization: splits the channels (`axis`) into
// `groups` and normalizes each example's groups over every axis but the batch and the group;
// gamma and beta are per channel. groups = -1 (one group per channel) is instance normalization.
//   auto gn = nr::layers::GroupNormalization({.groups = 8});
//   nr::Tensor y = gn(images);   // (N, H, W, C), C a multiple of 8
#pragma once

#include <optional>

#include "neurona/layers/layer.h"

namespace neurona::layers {

/// keras.layers.GroupNormalization's arguments and defaults.
struct GroupNormalizationOptions {
  /// The number of groups: a divisor of the channels, or -1 for one group per channel.
  int groups = 32;
  /// The channel axis (negative counts from the end); not the batch axis 0.
  int axis = -1;
  double epsilon = 1e-3;
  /// Add the learnt offset beta.
  bool center = true;
  /// Multiply by the learnt scale gamma.
  bool scale = true;
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

class GroupNormalizationLayer : public Layer {
 public:
  explicit GroupNormalizationLayer(GroupNormalizationOptions options = {});
  ConfigValue get_config() const override;

  /// The groups: as given until built, then the number of channels for -1 (as Keras).
  int groups() const { return groups_; }
  int axis() const { return options_.axis; }
  double epsilon() const { return options_.epsilon; }
  /// The weights, once built (ValueError before, or when center / scale is false).
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
  /// The channel axis made non-negative for `input_shape`; ValueError when out of range.
  int normalized_axis(const Shape& input_shape) const;
  void check_input(const Shape& input_shape) const;
  GroupNormalizationOptions options_;
  int groups_;
  std::optional<Variable> gamma_, beta_;
};

/// `nr::layers::GroupNormalization({.groups = 8})`.
class GroupNormalization : public LayerHandle<GroupNormalizationLayer> {
 public:
  explicit GroupNormalization(GroupNormalizationOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's GroupNormalization.from_config; ValueError naming the key otherwise.
  static GroupNormalization from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
