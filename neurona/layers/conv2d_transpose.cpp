// Conv2DTranspose over nr::conv2d_transpose (both data formats), then the bias and the
// activation. The output size is Keras's formula (_get_output_shape_given_tf_padding); the op
// computes it again from the padding Keras gives JAX, and the two agree.
#include "neurona/layers/conv2d_transpose.h"

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/kernel_bias.h"

namespace neurona::layers {

Conv2DTransposeLayer::Conv2DTransposeLayer(std::int64_t filters, IntPair kernel_size,
                                           Conv2DTransposeOptions options)
    : Layer("Conv2DTranspose", detail::layer_options(options)),
      filters_(filters),
      kernel_size_(kernel_size),
      options_(std::move(options)),
      padding_(standardize_padding(describe(), options_.padding)),
      data_format_(standardize_data_format(describe(), options_.data_format)) {
  set_promote_integer_inputs(true);  // Keras promotes int x float weights to float
  check_pair(describe(), "kernel_size", kernel_size_);
  check_pair(describe(), "strides", options_.strides);
  check_pair(describe(), "dilation_rate", options_.dilation_rate);
  const IntPair& s = options_.strides;
  if (const auto& p = options_.output_padding.pair) {
    check_pair(describe(), "output_padding", *p, /*allow_zero=*/true);
    for (std::size_t i = 0; i < 2; ++i) {
      NEURONA_CHECK((*p)[i] < s[i], ValueError, describe(),
                    ": `output_padding` must be strictly less than `strides` for all dimensions. "
                    "At dimension ",
                    i, ", `output_padding` is ", (*p)[i], " but `strides` is ", s[i],
                    ". Received: output_padding=", pair_str(*p), ", strides=", pair_str(s));
    }
  }
  NEURONA_CHECK(filters_ > 0, ValueError, describe(),
                ": invalid value for argument `filters`. Expected a strictly positive value. "
                "Received filters=",
                filters_);
  const IntPair& d = options_.dilation_rate;
  NEURONA_CHECK(std::max(s[0], s[1]) == 1 || std::max(d[0], d[1]) == 1, ValueError, describe(),
                ": `strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                "Received: strides=",
                pair_str(s), " and dilation_rate=", pair_str(d));
  set_activity_regularizer(options_.activity_regularizer);
}

void Conv2DTransposeLayer::check_input(const Shape& input_shape) const {
  NEURONA_CHECK(input_shape.rank() == 4, ShapeError, describe(), ": expected a 4-D input ",
                data_format_ == DataFormat::ChannelsLast ? "(batch, height, width, channels)"
                                                         : "(batch, channels, height, width)",
                ", got shape ", shape_str(input_shape));
  const std::int64_t c = input_shape[channel_axis(data_format_)];
  NEURONA_CHECK(c > 0, ShapeError, describe(),
                ": the channel dimension of the inputs must be known and positive, got shape ",
                shape_str(input_shape));
  if (kernel_) {
    NEURONA_CHECK(c == kernel_->shape()[3], ShapeError, describe(), ": expected inputs with ",
                  kernel_->shape()[3], " channels (axis ", channel_axis(data_format_),
                  "), got shape ", shape_str(input_shape));
  }
}

void Conv2DTransposeLayer::build(const Shape& input_shape) {
  check_input(input_shape);
  compute_output_shape(input_shape);
  const std::int64_t c = input_shape[channel_axis(data_format_)];
  kernel_ = add_weight("kernel", {kernel_size_[0], kernel_size_[1], filters_, c},
                       detail::kernel_weight_options(options_));
  if (options_.use_bias) {
    bias_ = add_weight("bias", {filters_}, detail::bias_weight_options(options_));
  }
}

const Variable& Conv2DTransposeLayer::kernel() const {
  return detail::built_kernel(*this, kernel_);
}

const Variable& Conv2DTransposeLayer::bias() const {
  return detail::built_bias(*this, bias_, options_.use_bias);
}

Shape Conv2DTransposeLayer::compute_output_shape(const Shape& input_shape) const {
  check_input(input_shape);
  const auto axes = spatial_axes(data_format_);
  const auto& output_padding = options_.output_padding.pair;
  Shape out = input_shape;
  for (std::size_t i = 0; i < 2; ++i) {
    const std::int64_t size = input_shape[axes[i]];
    if (size < 0) continue;  // unknown stays unknown
    const std::int64_t stride = options_.strides[i];
    const std::int64_t k = (kernel_size_[i] - 1) * options_.dilation_rate[i] + 1;
    std::int64_t length = 0;
    if (padding_ == Padding::Valid) {
      const std::int64_t extra = output_padding ? (*output_padding)[i] : std::max(k, stride) - k;
      length = (size - 1) * stride + k + extra;
    } else {
      length = output_padding ? (size - 1) * stride + k % 2 + (*output_padding)[i] : size * stride;
    }
    NEURONA_CHECK(length > 0, ShapeError, describe(), ": computed output size would be ", length,
                  " (not positive) for input shape ", shape_str(input_shape));
    out[axes[i]] = length;
  }
  out[channel_axis(data_format_)] = filters_;
  return out;
}

Tensor Conv2DTransposeLayer::call(const Tensor& inputs, bool /*training*/) {
  compute_output_shape(inputs.shape());
  const auto& p = options_.output_padding.pair;
  Tensor y = conv2d_transpose(
      inputs, read(*kernel_),
      {.strides = options_.strides.values,
       .padding = padding_,
       .output_padding = p ? std::optional<std::array<std::int64_t, 2>>(p->values) : std::nullopt,
       .dilation_rate = options_.dilation_rate.values,
       .data_format = data_format_});
  if (bias_) {
    const Tensor b = read(*bias_);
    y = add(y, data_format_ == DataFormat::ChannelsLast ? b : reshape(b, {filters_, 1, 1}));
  }
  return apply_activation(options_.activation, y);
}

Conv2DTranspose::Conv2DTranspose(std::int64_t filters, IntPair kernel_size,
                                 Conv2DTransposeOptions options)
    : LayerHandle<Conv2DTransposeLayer>(
          std::make_shared<Conv2DTransposeLayer>(filters, kernel_size, std::move(options))) {}

ConfigValue Conv2DTransposeLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("filters", filters_);
  config.set("kernel_size", pair_config(kernel_size_));
  config.set("strides", pair_config(options_.strides));
  config.set("padding", padding_name(padding_));
  const auto& p = options_.output_padding.pair;
  config.set("output_padding", p ? pair_config(*p) : ConfigValue());
  config.set("data_format", data_format_name(data_format_));
  config.set("dilation_rate", pair_config(options_.dilation_rate));
  detail::set_kernel_bias_config(config, options_);
  return config;
}

Conv2DTranspose Conv2DTranspose::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Conv2DTranspose");
  Conv2DTransposeOptions options{
      .strides = r.pair("strides", 1),
      .padding = r.string("padding", "valid"),
      .output_padding = r.find("output_padding") ? OptionalIntPair(r.pair("output_padding", 0))
                                                 : OptionalIntPair(),
      .data_format = r.string("data_format", "channels_last"),
      .dilation_rate = r.pair("dilation_rate", 1)};
  detail::read_kernel_bias_config(r, options);
  return Conv2DTranspose(r.integer("filters"), r.pair("kernel_size", 1), std::move(options));
}

}  // namespace neurona::layers
