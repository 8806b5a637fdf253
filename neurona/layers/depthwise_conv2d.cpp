// DepthwiseConv2D as a grouped convolution with one group per input channel (cuDNN's grouped
// convolution on a GPU, oneDNN's depthwise one on the CPU): Keras's (kh, kw, in, multiplier)
// kernel is, in memory, the grouped kernel (kh, kw, 1, in * multiplier), so the layer reshapes
// it and runs nr::conv2d_bias_activation, bias and relu included.
#include "neurona/layers/depthwise_conv2d.h"

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/depthwise.h"
#include "neurona/layers/kernel_bias.h"

namespace neurona::layers {

DepthwiseConv2DLayer::DepthwiseConv2DLayer(IntPair kernel_size, DepthwiseConv2DOptions options)
    : Layer("DepthwiseConv2D", detail::layer_options(options)),
      kernel_size_(kernel_size),
      options_(std::move(options)),
      padding_(standardize_padding(describe(), options_.padding)),
      data_format_(standardize_data_format(describe(), options_.data_format)) {
  set_promote_integer_inputs(true);  // Keras promotes int x float weights to float
  check_pair(describe(), "kernel_size", kernel_size_);
  check_pair(describe(), "strides", options_.strides);
  check_pair(describe(), "dilation_rate", options_.dilation_rate);
  detail::check_depth_multiplier(describe(), options_.depth_multiplier);
  set_activity_regularizer(options_.activity_regularizer);
}

void DepthwiseConv2DLayer::build(const Shape& input_shape) {
  compute_output_shape(input_shape);  // rejects bad inputs and ones smaller than the window now
  const std::int64_t c = input_shape[channel_axis(data_format_)];
  const std::int64_t m = options_.depth_multiplier;
  kernel_ = add_weight("kernel", {kernel_size_[0], kernel_size_[1], c, m},
                       detail::depthwise_weight_options(options_));
  if (options_.use_bias) bias_ = add_weight("bias", {c * m}, detail::bias_weight_options(options_));
}

const Variable& DepthwiseConv2DLayer::kernel() const {
  return detail::built_kernel(*this, kernel_);
}

const Variable& DepthwiseConv2DLayer::bias() const {
  return detail::built_bias(*this, bias_, options_.use_bias);
}

Shape DepthwiseConv2DLayer::compute_output_shape(const Shape& input_shape) const {
  const std::int64_t c = input_shape.rank() == 4 ? input_shape[channel_axis(data_format_)] : 0;
  return detail::depthwise_output_shape(
      describe(), input_shape,
      {kernel_size_, options_.strides, options_.dilation_rate, padding_, data_format_}, kernel_,
      c * options_.depth_multiplier);
}

Tensor DepthwiseConv2DLayer::call(const Tensor& inputs, bool /*training*/) {
  compute_output_shape(inputs.shape());
  const neurona::ConvOptions conv_options{.strides = options_.strides.values,
                                          .padding = padding_,
                                          .dilation_rate = options_.dilation_rate.values,
                                          .groups = kernel_->shape()[2],
                                          .data_format = data_format_};
  const bool relu = options_.activation.name() == "relu";
  Tensor y = conv2d_bias_activation(
      inputs, detail::grouped_depthwise_kernel(read(*kernel_)), bias_ ? read(*bias_) : Tensor(),
      relu ? FusedActivation::relu : FusedActivation::linear, conv_options);
  return relu ? y : apply_activation(options_.activation, y);
}

DepthwiseConv2D::DepthwiseConv2D(IntPair kernel_size, DepthwiseConv2DOptions options)
    : LayerHandle<DepthwiseConv2DLayer>(
          std::make_shared<DepthwiseConv2DLayer>(kernel_size, std::move(options))) {}

ConfigValue DepthwiseConv2DLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("depth_multiplier", options_.depth_multiplier);
  config.set("kernel_size", pair_config(kernel_size_));
  config.set("strides", pair_config(options_.strides));
  config.set("padding", padding_name(padding_));
  config.set("data_format", data_format_name(data_format_));
  config.set("dilation_rate", pair_config(options_.dilation_rate));
  config.set("activation", options_.activation.name());
  config.set("use_bias", options_.use_bias);
  config.set("depthwise_initializer", serialize(options_.depthwise_initializer));
  config.set("bias_initializer", serialize(options_.bias_initializer));
  config.set("depthwise_regularizer", serialize(options_.depthwise_regularizer));
  config.set("bias_regularizer", serialize(options_.bias_regularizer));
  config.set("activity_regularizer", serialize(options_.activity_regularizer));
  config.set("depthwise_constraint", serialize(options_.depthwise_constraint));
  config.set("bias_constraint", serialize(options_.bias_constraint));
  return config;
}

DepthwiseConv2D DepthwiseConv2D::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "DepthwiseConv2D");
  return DepthwiseConv2D(
      r.pair("kernel_size", 1),
      {.strides = r.pair("strides", 1),
       .padding = r.string("padding", "valid"),
       .depth_multiplier = r.integer("depth_multiplier", 1),
       .data_format = r.string("data_format", "channels_last"),
       .dilation_rate = r.pair("dilation_rate", 1),
       .activation = r.activation(),
       .use_bias = r.boolean("use_bias", true),
       .depthwise_initializer = r.initializer("depthwise_initializer", "glorot_uniform"),
       .bias_initializer = r.initializer("bias_initializer", "zeros"),
       .depthwise_regularizer = r.regularizer("depthwise_regularizer"),
       .bias_regularizer = r.regularizer("bias_regularizer"),
       .activity_regularizer = r.regularizer("activity_regularizer"),
       .depthwise_constraint = r.constraint("depthwise_constraint"),
       .bias_constraint = r.constraint("bias_constraint"),
       .name = r.string("name", ""),
       .trainable = r.boolean("trainable", true),
       .dtype = r.dtype()});
}

}  // namespace neurona::layers
