// Conv2D over nr::conv2d_bias_activation (which handles both data formats): the convolution,
// its bias and a relu as one op on every device.
#include "neurona/layers/conv2d.h"

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/kernel_bias.h"

namespace neurona::layers {

Conv2DLayer::Conv2DLayer(std::int64_t filters, IntPair kernel_size, Conv2DOptions options)
    : Layer("Conv2D", detail::layer_options(options)),
      filters_(filters),
      kernel_size_(kernel_size),
      options_(std::move(options)),
      padding_(standardize_padding(describe(), options_.padding)),
      data_format_(standardize_data_format(describe(), options_.data_format)) {
  set_promote_integer_inputs(true);  // Keras promotes int x float weights to float
  NEURONA_CHECK(filters_ > 0, ValueError, describe(),
                ": invalid value for argument `filters`. Expected a strictly positive value. "
                "Received filters=",
                filters_);
  NEURONA_CHECK(
      options_.groups > 0, ValueError, describe(),
      ": the number of groups must be a positive integer. Received: groups=", options_.groups);
  NEURONA_CHECK(filters_ % options_.groups == 0, ValueError, describe(),
                ": the number of filters must be evenly divisible by the number of groups. "
                "Received: groups=",
                options_.groups, ", filters=", filters_);
  check_pair(describe(), "kernel_size", kernel_size_);
  check_pair(describe(), "strides", options_.strides);
  check_pair(describe(), "dilation_rate", options_.dilation_rate);
  const IntPair& s = options_.strides;
  const IntPair& d = options_.dilation_rate;
  NEURONA_CHECK(std::max(s[0], s[1]) == 1 || std::max(d[0], d[1]) == 1, ValueError, describe(),
                ": `strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                "Received: strides=",
                pair_str(s), " and dilation_rate=", pair_str(d));
  set_activity_regularizer(options_.activity_regularizer);
}

void Conv2DLayer::check_input(const Shape& input_shape) const {
  NEURONA_CHECK(input_shape.rank() == 4, ShapeError, describe(), ": expected a 4-D input ",
                data_format_ == DataFormat::ChannelsLast ? "(batch, height, width, channels)"
                                                         : "(batch, channels, height, width)",
                ", got shape ", shape_str(input_shape));
  const std::int64_t c = input_shape[channel_axis(data_format_)];
  NEURONA_CHECK(c > 0, ShapeError, describe(),
                ": the channel dimension of the inputs must be known and positive, got shape ",
                shape_str(input_shape));
  NEURONA_CHECK(c % options_.groups == 0, ValueError, describe(),
                ": the number of input channels must be evenly divisible by the number of "
                "groups. Received groups=",
                options_.groups, ", but the input has ", c, " channels (full input shape is ",
                shape_str(input_shape), ")");
  if (kernel_) {
    const std::int64_t expected = kernel_->shape()[2] * options_.groups;
    NEURONA_CHECK(c == expected, ShapeError, describe(), ": expected inputs with ", expected,
                  " channels (axis ", channel_axis(data_format_), "), got shape ",
                  shape_str(input_shape));
  }
}

void Conv2DLayer::build(const Shape& input_shape) {
  check_input(input_shape);
  compute_output_shape(input_shape);  // rejects inputs smaller than the window now
  const std::int64_t c = input_shape[channel_axis(data_format_)];
  kernel_ = add_weight("kernel", {kernel_size_[0], kernel_size_[1], c / options_.groups, filters_},
                       detail::kernel_weight_options(options_));
  if (options_.use_bias) {
    bias_ = add_weight("bias", {filters_}, detail::bias_weight_options(options_));
  }
}

const Variable& Conv2DLayer::kernel() const {
  return detail::built_kernel(*this, kernel_);
}

const Variable& Conv2DLayer::bias() const {
  return detail::built_bias(*this, bias_, options_.use_bias);
}

Shape Conv2DLayer::compute_output_shape(const Shape& input_shape) const {
  check_input(input_shape);
  const auto axes = spatial_axes(data_format_);
  Shape out = input_shape;
  for (std::size_t i = 0; i < 2; ++i) {
    out[axes[i]] =
        window_output_size(describe(), input_shape, input_shape[axes[i]], kernel_size_[i],
                           options_.strides[i], options_.dilation_rate[i], padding_);
  }
  out[channel_axis(data_format_)] = filters_;
  return out;
}

Tensor Conv2DLayer::call(const Tensor& inputs, bool /*training*/) {
  check_input(inputs.shape());
  compute_output_shape(inputs.shape());
  const neurona::ConvOptions conv_options{.strides = options_.strides.values,
                                          .padding = padding_,
                                          .dilation_rate = options_.dilation_rate.values,
                                          .groups = options_.groups,
                                          .data_format = data_format_};
  // One op: the bias and a relu join the convolution (oneDNN's post-op on the CPU, cuDNN's
  // cudnnConvolutionBiasActivationForward on a GPU), and on the CPU the bias gradient comes
  // with the kernel's.
  const bool relu = options_.activation.name() == "relu";
  Tensor y =
      conv2d_bias_activation(inputs, read(*kernel_), bias_ ? read(*bias_) : Tensor(),
                             relu ? FusedActivation::relu : FusedActivation::linear, conv_options);
  return relu ? y : apply_activation(options_.activation, y);
}

Conv2D::Conv2D(std::int64_t filters, IntPair kernel_size, Conv2DOptions options)
    : LayerHandle<Conv2DLayer>(
          std::make_shared<Conv2DLayer>(filters, kernel_size, std::move(options))) {}

ConfigValue Conv2DLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("filters", filters_);
  config.set("kernel_size", pair_config(kernel_size_));
  config.set("strides", pair_config(options_.strides));
  config.set("padding", padding_name(padding_));
  config.set("data_format", data_format_name(data_format_));
  config.set("dilation_rate", pair_config(options_.dilation_rate));
  config.set("groups", options_.groups);
  detail::set_kernel_bias_config(config, options_);
  return config;
}

Conv2D Conv2D::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Conv2D");
  r.none("lora_rank", "LoRA");
  Conv2DOptions options{.strides = r.pair("strides", 1),
                        .padding = r.string("padding", "valid"),
                        .data_format = r.string("data_format", "channels_last"),
                        .dilation_rate = r.pair("dilation_rate", 1),
                        .groups = r.integer("groups", 1)};
  detail::read_kernel_bias_config(r, options);
  return Conv2D(r.integer("filters"), r.pair("kernel_size", 1), std::move(options));
}

}  // namespace neurona::layers
