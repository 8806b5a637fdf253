// DepthwiseConv2D: each input channel convolved with its own depth_multiplier filters, then
// bias and activation, as keras.layers.DepthwiseConv2D with Keras 3's arguments and defaults.
// The kernel is (kh, kw, in_channels, depth_multiplier) and output channel c * depth_multiplier
// + m is channel c's m-th filter; the bias is (in_channels * depth_multiplier,).
//   auto dw = nr::layers::DepthwiseConv2D(3, {.padding = "same", .depth_multiplier = 2});
//   nr::Tensor y = dw(x);   // x (batch, 32, 32, 8) -> y (batch, 32, 32, 16)
#pragma once

#include "neurona/layers/activations.h"
#include "neurona/layers/image_args.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

/// keras.layers.DepthwiseConv2D's arguments and defaults.
struct DepthwiseConv2DOptions {
  IntPair strides = 1;
  /// "valid" or "same" (any case).
  std::string padding = "valid";
  std::int64_t depth_multiplier = 1;
  /// "channels_last" (batch, h, w, c) or "channels_first" (batch, c, h, w).
  std::string data_format = "channels_last";
  IntPair dilation_rate = 1;
  activations::Activation activation = "linear";
  bool use_bias = true;
  initializers::Initializer depthwise_initializer = "glorot_uniform";
  initializers::Initializer bias_initializer = "zeros";
  regularizers::Regularizer depthwise_regularizer = {};
  regularizers::Regularizer bias_regularizer = {};
  regularizers::Regularizer activity_regularizer = {};
  constraints::Constraint depthwise_constraint = {};
  constraints::Constraint bias_constraint = {};
  /// Keras's input_shape (without the batch dimension) for the first layer of a Sequential.
  std::optional<Shape> input_shape = std::nullopt;
  std::string name = "";
  bool trainable = true;
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

class DepthwiseConv2DLayer : public Layer {
 public:
  explicit DepthwiseConv2DLayer(IntPair kernel_size, DepthwiseConv2DOptions options = {});
  ConfigValue get_config() const override;

  const IntPair& kernel_size() const { return kernel_size_; }
  const IntPair& strides() const { return options_.strides; }
  const IntPair& dilation_rate() const { return options_.dilation_rate; }
  std::int64_t depth_multiplier() const { return options_.depth_multiplier; }
  Padding padding() const { return padding_; }
  DataFormat data_format() const { return data_format_; }
  const activations::Activation& activation() const { return options_.activation; }
  /// The weights, once built (ValueError before). Keras names the depthwise kernel "kernel".
  const Variable& kernel() const;
  const Variable& bias() const;

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 protected:
  void build(const Shape& input_shape) override;

 private:
  IntPair kernel_size_;
  DepthwiseConv2DOptions options_;
  Padding padding_;
  DataFormat data_format_;
  std::optional<Variable> kernel_;
  std::optional<Variable> bias_;
};

/// `nr::layers::DepthwiseConv2D(kernel_size, {.strides = 2, .depth_multiplier = 2})`.
class DepthwiseConv2D : public LayerHandle<DepthwiseConv2DLayer> {
 public:
  explicit DepthwiseConv2D(IntPair kernel_size, DepthwiseConv2DOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's DepthwiseConv2D.from_config; ValueError naming the key otherwise.
  static DepthwiseConv2D from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
