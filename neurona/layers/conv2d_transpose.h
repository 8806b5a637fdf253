// Conv2DTranspose: activation(conv2d_transpose(inputs, kernel) + bias), as
// keras.layers.Conv2DTranspose with Keras 3's arguments and defaults: the gradient of a
// convolution with respect to its input, so strides enlarge the image. The kernel is (kh, kw,
// filters, in_channels); the output size per axis is Keras's deconv_output_length.
//   auto up = nr::layers::Conv2DTranspose(16, 3, {.strides = 2, .padding = "same"});
//   nr::Tensor y = up(x);   // x (batch, 8, 8, 32) -> y (batch, 16, 16, 16)
#pragma once

#include "neurona/layers/activations.h"
#include "neurona/layers/image_args.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

/// keras.layers.Conv2DTranspose's arguments and defaults.
struct Conv2DTransposeOptions {
  IntPair strides = 1;
  /// "valid" or "same" (any case).
  std::string padding = "valid";
  /// Rows and columns added at the bottom and right of the output, each below its stride; not
  /// given (Keras's None): the size 'valid' or 'same' gives.
  OptionalIntPair output_padding = {};
  /// "channels_last" (batch, h, w, c) or "channels_first" (batch, c, h, w).
  std::string data_format = "channels_last";
  IntPair dilation_rate = 1;
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

class Conv2DTransposeLayer : public Layer {
 public:
  Conv2DTransposeLayer(std::int64_t filters, IntPair kernel_size,
                       Conv2DTransposeOptions options = {});
  ConfigValue get_config() const override;

  std::int64_t filters() const { return filters_; }
  const IntPair& kernel_size() const { return kernel_size_; }
  const IntPair& strides() const { return options_.strides; }
  const IntPair& dilation_rate() const { return options_.dilation_rate; }
  const std::optional<IntPair>& output_padding() const { return options_.output_padding.pair; }
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
  Conv2DTransposeOptions options_;
  Padding padding_;
  DataFormat data_format_;
  std::optional<Variable> kernel_;
  std::optional<Variable> bias_;
};

/// `nr::layers::Conv2DTranspose(filters, kernel_size, {.strides = 2, .output_padding = 1})`.
class Conv2DTranspose : public LayerHandle<Conv2DTransposeLayer> {
 public:
  Conv2DTranspose(std::int64_t filters, IntPair kernel_size, Conv2DTransposeOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's Conv2DTranspose.from_config; ValueError naming the key otherwise.
  static Conv2DTranspose from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
