// SeparableConv2D: a depthwise convolution (each input channel with its own depth_multiplier
// filters) followed by a 1x1 convolution mixing the channels, then bias and activation, as
// keras.layers.SeparableConv2D with Keras 3's arguments and defaults. Weights, in Keras's order:
// depthwise_kernel (kh, kw, in, depth_multiplier), pointwise_kernel (1, 1, in *
// depth_multiplier, filters), bias (filters,).
//   auto sep = nr::layers::SeparableConv2D(32, 3, {.padding = "same", .activation = "relu"});
//   nr::Tensor y = sep(x);   // x (batch, 16, 16, 8) -> y (batch, 16, 16, 32)
#pragma once

#include "neurona/layers/activations.h"
#include "neurona/layers/image_args.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

/// keras.layers.SeparableConv2D's arguments and defaults.
struct SeparableConv2DOptions {
  IntPair strides = 1;
  /// "valid" or "same" (any case).
  std::string padding = "valid";
  /// "channels_last" (batch, h, w, c) or "channels_first" (batch, c, h, w).
  std::string data_format = "channels_last";
  IntPair dilation_rate = 1;
  std::int64_t depth_multiplier = 1;
  activations::Activation activation = "linear";
  bool use_bias = true;
  initializers::Initializer depthwise_initializer = "glorot_uniform";
  initializers::Initializer pointwise_initializer = "glorot_uniform";
  initializers::Initializer bias_initializer = "zeros";
  regularizers::Regularizer depthwise_regularizer = {};
  regularizers::Regularizer pointwise_regularizer = {};
  regularizers::Regularizer bias_regularizer = {};
  regularizers::Regularizer activity_regularizer = {};
  constraints::Constraint depthwise_constraint = {};
  constraints::Constraint pointwise_constraint = {};
  constraints::Constraint bias_constraint = {};
  /// Keras's input_shape (without the batch dimension) for the first layer of a Sequential.
  std::optional<Shape> input_shape = std::nullopt;
  std::string name = "";
  bool trainable = true;
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

class SeparableConv2DLayer : public Layer {
 public:
  SeparableConv2DLayer(std::int64_t filters, IntPair kernel_size,
                       SeparableConv2DOptions options = {});
  ConfigValue get_config() const override;

  std::int64_t filters() const { return filters_; }
  const IntPair& kernel_size() const { return kernel_size_; }
  const IntPair& strides() const { return options_.strides; }
  const IntPair& dilation_rate() const { return options_.dilation_rate; }
  std::int64_t depth_multiplier() const { return options_.depth_multiplier; }
  Padding padding() const { return padding_; }
  DataFormat data_format() const { return data_format_; }
  const activations::Activation& activation() const { return options_.activation; }
  /// The weights, once built (ValueError before).
  const Variable& depthwise_kernel() const;
  const Variable& pointwise_kernel() const;
  const Variable& bias() const;

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 protected:
  void build(const Shape& input_shape) override;

 private:
  std::int64_t filters_;
  IntPair kernel_size_;
  SeparableConv2DOptions options_;
  Padding padding_;
  DataFormat data_format_;
  std::optional<Variable> depthwise_kernel_;
  std::optional<Variable> pointwise_kernel_;
  std::optional<Variable> bias_;
};

/// `nr::layers::SeparableConv2D(filters, kernel_size, {.depth_multiplier = 2})`.
class SeparableConv2D : public LayerHandle<SeparableConv2DLayer> {
 public:
  SeparableConv2D(std::int64_t filters, IntPair kernel_size, SeparableConv2DOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's SeparableConv2D.from_config; ValueError naming the key otherwise.
  static SeparableConv2D from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
