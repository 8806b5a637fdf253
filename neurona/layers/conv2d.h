// Conv2D: activation(conv2d(inputs, kernel) + bias), as keras.layers.Conv2D, with Keras 3's
// arguments and defaults. The kernel is (kh, kw, in_channels / groups, filters); the bias
// (filters,) is added on the channel axis.
//   auto conv = nr::layers::Conv2D(16, 3, {.strides = 2, .padding = "same"});
//   nr::Tensor y = conv(x);   // x (batch, 32, 32, 3) -> y (batch, 16, 16, 16)
#pragma once

#include "neurona/layers/activations.h"
#include "neurona/layers/image_args.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

/// keras.layers.Conv2D's arguments and defaults.
struct Conv2DOptions {
  IntPair strides = 1;
  /// "valid" or "same" (any case).
  std::string padding = "valid";
  /// "channels_last" (batch, h, w, c) or "channels_first" (batch, c, h, w).
  std::string data_format = "channels_last";
  IntPair dilation_rate = 1;
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

class Conv2DLayer : public Layer {
 public:
  Conv2DLayer(std::int64_t filters, IntPair kernel_size, Conv2DOptions options = {});
  ConfigValue get_config() const override;

  std::int64_t filters() const { return filters_; }
  const IntPair& kernel_size() const { return kernel_size_; }
  const IntPair& strides() const { return options_.strides; }
  const IntPair& dilation_rate() const { return options_.dilation_rate; }
  std::int64_t groups() const { return options_.groups; }
  Padding padding() const { return padding_; }
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
  IntPair kernel_size_;
  Conv2DOptions options_;
  Padding padding_;
  DataFormat data_format_;
  std::optional<Variable> kernel_;
  std::optional<Variable> bias_;
};

/// `nr::layers::Conv2D(filters, kernel_size, {.strides = 2, .padding = "same"})`.
class Conv2D : public LayerHandle<Conv2DLayer> {
 public:
  Conv2D(std::int64_t filters, IntPair kernel_size, Conv2DOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's Conv2D.from_config; ValueError naming the key otherwise.
  static Conv2D from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
