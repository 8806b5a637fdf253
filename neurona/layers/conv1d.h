// Conv1D: activation(conv1d(inputs, kernel) + bias), as keras.layers.Conv1D, with Keras 3's
// arguments and defaults; padding "causal" pads only the start of the sequence. The kernel is
// (kernel_size, in_channels / groups, filters).
//   auto conv = nr::layers::Conv1D(16, 3, {.padding = "causal", .dilation_rate = 2});
//   nr::Tensor y = conv(x);   // x (batch, 100, 8) -> y (batch, 100, 16)
#pragma once

#include "neurona/layers/activations.h"
#include "neurona/layers/image_args.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

/// keras.layers.Conv1D's arguments and defaults.
struct Conv1DOptions {
  std::int64_t strides = 1;
  /// "valid", "same" or "causal" (any case).
  std::string padding = "valid";
  /// "channels_last" (batch, steps, channels) or "channels_first" (batch, channels, steps).
  std::string data_format = "channels_last";
  std::int64_t dilation_rate = 1;
  std::int64_t groups = 1;
  activations::Activation activation = "linear";
  bool use_bias = true;
  initializers::Initializer kernel_initializer = "glorot_uniform";
  initializers::Initializer bias_initializer = "zeros";
  regularizers::Regularizer kernel_regularizer = {};
  regularizers::Regularizer bias_regularizer = {};
  regularizers::Regularizer activity_regularizer = {};
  constraints::Constraint kernel_constraint = {};
  constraints::Constraint bias_constraint = {};
  /// Keras's input_shape (without the batch dimension) for the first layer of a Sequential.
  std::optional<Shape> input_shape = std::nullopt;
  std::string name = "";
  bool trainable = true;
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

class Conv1DLayer : public Layer {
 public:
  Conv1DLayer(std::int64_t filters, std::int64_t kernel_size, Conv1DOptions options = {});
  ConfigValue get_config() const override;

  std::int64_t filters() const { return filters_; }
  std::int64_t kernel_size() const { return kernel_size_; }
  std::int64_t strides() const { return options_.strides; }
  std::int64_t dilation_rate() const { return options_.dilation_rate; }
  std::int64_t groups() const { return options_.groups; }
  /// "valid", "same" or "causal".
  const std::string& padding() const { return padding_; }
  DataFormat data_format() const { return data_format_; }
  const activations::Activation& activation() const { return options_.activation; }
  /// The weights, once built (ValueError before).
  const Variable& kernel() const;
  const Variable& bias() const;

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 protected:
  void build(const Shape& input_shape) override;

 private:
  void check_input(const Shape& input_shape) const;
  std::int64_t filters_;
  std::int64_t kernel_size_;
  Conv1DOptions options_;
  std::string padding_;
  DataFormat data_format_;
  std::optional<Variable> kernel_;
  std::optional<Variable> bias_;
};

/// `nr::layers::Conv1D(filters, kernel_size, {.strides = 2, .padding = "same"})`.
class Conv1D : public LayerHandle<Conv1DLayer> {
 public:
  Conv1D(std::int64_t filters, std::int64_t kernel_size, Conv1DOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's Conv1D.from_config; ValueError naming the key otherwise.
  static Conv1D from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
