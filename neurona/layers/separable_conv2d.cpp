// SeparableConv2D as two convolutions, as Keras's separable_conv: the depthwise one (a grouped
// conv2d, one group per input channel, with the layer's strides, padding and dilation), then
// a 1x1 conv2d_bias_activation that adds the bias and a relu in the same op.
#include "neurona/layers/separable_conv2d.h"

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/depthwise.h"
#include "neurona/layers/kernel_bias.h"

namespace neurona::layers {

SeparableConv2DLayer::SeparableConv2DLayer(std::int64_t filters, IntPair kernel_size,
                                           SeparableConv2DOptions options)
    : Layer("SeparableConv2D", detail::layer_options(options)),
      filters_(filters),
      kernel_size_(kernel_size),
      options_(std::move(options)),
      padding_(standardize_padding(describe(), options_.padding)),
      data_format_(standardize_data_format(describe(), options_.data_format)) {
  set_promote_integer_inputs(true);  // Keras promotes int x float weights to float
  check_pair(describe(), "kernel_size", kernel_size_);
  check_pair(describe(), "strides", options_.strides);
  check_pair(describe(), "dilation_rate", options_.dilation_rate);
  detail::check_depth_multiplier(describe(), options_.depth_multiplier);
  NEURONA_CHECK(filters_ > 0, ValueError, describe(),
                ": invalid value for argument `filters`. Expected a strictly positive value. "
                "Received filters=",
                filters_);
  set_activity_regularizer(options_.activity_regularizer);
}

void SeparableConv2DLayer::build(const Shape& input_shape) {
  compute_output_shape(input_shape);  // rejects bad inputs and ones smaller than the window now
  const std::int64_t c = input_shape[channel_axis(data_format_)];
  const std::int64_t m = options_.depth_multiplier;
  depthwise_kernel_ = add_weight("depthwise_kernel", {kernel_size_[0], kernel_size_[1], c, m},
                                 detail::depthwise_weight_options(options_));
  pointwise_kernel_ = add_weight("pointwise_kernel", {1, 1, c * m, filters_},
                                 {.initializer = options_.pointwise_initializer,
                                  .regularizer = options_.pointwise_regularizer,
                                  .constraint = options_.pointwise_constraint});
  if (options_.use_bias)
    bias_ = add_weight("bias", {filters_}, detail::bias_weight_options(options_));
}

const Variable& SeparableConv2DLayer::depthwise_kernel() const {
  NEURONA_CHECK(depthwise_kernel_.has_value(), ValueError, describe(),
                ": the depthwise kernel does not exist until the layer is built (call it on "
                "inputs)");
  return *depthwise_kernel_;
}

const Variable& SeparableConv2DLayer::pointwise_kernel() const {
  NEURONA_CHECK(pointwise_kernel_.has_value(), ValueError, describe(),
                ": the pointwise kernel does not exist until the layer is built (call it on "
                "inputs)");
  return *pointwise_kernel_;
}

const Variable& SeparableConv2DLayer::bias() const {
  return detail::built_bias(*this, bias_, options_.use_bias);
}

Shape SeparableConv2DLayer::compute_output_shape(const Shape& input_shape) const {
  return detail::depthwise_output_shape(
      describe(), input_shape,
      {kernel_size_, options_.strides, options_.dilation_rate, padding_, data_format_},
      depthwise_kernel_, filters_);
}

Tensor SeparableConv2DLayer::call(const Tensor& inputs, bool /*training*/) {
  compute_output_shape(inputs.shape());
  // Both convolutions in NHWC: channels_first data is transposed once each way, not twice.
  const bool first = data_format_ == DataFormat::ChannelsFirst;
  const Tensor x = first ? transpose(inputs, {0, 2, 3, 1}) : inputs;
  const Tensor depthwise = conv2d(x, detail::grouped_depthwise_kernel(read(*depthwise_kernel_)),
                                  {.strides = options_.strides.values,
                                   .padding = padding_,
                                   .dilation_rate = options_.dilation_rate.values,
                                   .groups = depthwise_kernel_->shape()[2]});
  const bool relu = options_.activation.name() == "relu";
  Tensor y =
      conv2d_bias_activation(depthwise, read(*pointwise_kernel_), bias_ ? read(*bias_) : Tensor(),
                             relu ? FusedActivation::relu : FusedActivation::linear);
  if (first) y = transpose(y, {0, 3, 1, 2});
  return relu ? y : apply_activation(options_.activation, y);
}

SeparableConv2D::SeparableConv2D(std::int64_t filters, IntPair kernel_size,
                                 SeparableConv2DOptions options)
    : LayerHandle<SeparableConv2DLayer>(
          std::make_shared<SeparableConv2DLayer>(filters, kernel_size, std::move(options))) {}

ConfigValue SeparableConv2DLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("depth_multiplier", options_.depth_multiplier);
  config.set("filters", filters_);
  config.set("kernel_size", pair_config(kernel_size_));
  config.set("strides", pair_config(options_.strides));
  config.set("padding", padding_name(padding_));
  config.set("data_format", data_format_name(data_format_));
  config.set("dilation_rate", pair_config(options_.dilation_rate));
  config.set("activation", options_.activation.name());
  config.set("use_bias", options_.use_bias);
  config.set("depthwise_initializer", serialize(options_.depthwise_initializer));
  config.set("pointwise_initializer", serialize(options_.pointwise_initializer));
  config.set("bias_initializer", serialize(options_.bias_initializer));
  config.set("depthwise_regularizer", serialize(options_.depthwise_regularizer));
  config.set("pointwise_regularizer", serialize(options_.pointwise_regularizer));
  config.set("bias_regularizer", serialize(options_.bias_regularizer));
  config.set("activity_regularizer", serialize(options_.activity_regularizer));
  config.set("depthwise_constraint", serialize(options_.depthwise_constraint));
  config.set("pointwise_constraint", serialize(options_.pointwise_constraint));
  config.set("bias_constraint", serialize(options_.bias_constraint));
  return config;
}

SeparableConv2D SeparableConv2D::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "SeparableConv2D");
  return SeparableConv2D(
      r.integer("filters"), r.pair("kernel_size", 1),
      {.strides = r.pair("strides", 1),
       .padding = r.string("padding", "valid"),
       .data_format = r.string("data_format", "channels_last"),
       .dilation_rate = r.pair("dilation_rate", 1),
       .depth_multiplier = r.integer("depth_multiplier", 1),
       .activation = r.activation(),
       .use_bias = r.boolean("use_bias", true),
       .depthwise_initializer = r.initializer("depthwise_initializer", "glorot_uniform"),
       .pointwise_initializer = r.initializer("pointwise_initializer", "glorot_uniform"),
       .bias_initializer = r.initializer("bias_initializer", "zeros"),
       .depthwise_regularizer = r.regularizer("depthwise_regularizer"),
       .pointwise_regularizer = r.regularizer("pointwise_regularizer"),
       .bias_regularizer = r.regularizer("bias_regularizer"),
       .activity_regularizer = r.regularizer("activity_regularizer"),
       .depthwise_constraint = r.constraint("depthwise_constraint"),
       .pointwise_constraint = r.constraint("pointwise_constraint"),
       .bias_constraint = r.constraint("bias_constraint"),
       .name = r.string("name", ""),
       .trainable = r.boolean("trainable", true),
       .dtype = r.dtype()});
}

}  // namespace neurona::layers
