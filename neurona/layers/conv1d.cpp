// Conv1D through nr::conv2d_bias_activation on a view of the sequence as an image one row high
// (the 2-D kernels with a unit dimension: (batch, steps, channels) is (batch, 1, steps,
// channels) in memory, the kernel (k, in, filters) is (1, k, in, filters)), so that it runs on
// the same oneDNN and cuDNN convolutions as Conv2D. "causal" pads the start with zeros, then
// convolves without padding, as Keras's does.
#include "neurona/layers/conv1d.h"

#include <algorithm>
#include <cctype>

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/kernel_bias.h"

namespace neurona::layers {

namespace {

std::string standardize_conv1d_padding(const std::string& who, const std::string& padding) {
  std::string p = padding;
  std::transform(p.begin(), p.end(), p.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  NEURONA_CHECK(p == "valid" || p == "same" || p == "causal", ValueError, who,
                ": the `padding` argument must be one of {'valid', 'same', 'causal'}. Received: "
                "padding=",
                padding);
  return p;
}

// Keras's standardize_tuple(value, 1, name).
void check_single(const std::string& who, const char* name, std::int64_t value) {
  NEURONA_CHECK(value > 0, ValueError, who, ": the `", name,
                "` argument must be a tuple of 1 integers with values > 0. Received: ", name, "=(",
                value, ",)");
}

// An int or a list of one int (Keras writes kernel_size=3 as [3]).
std::int64_t single(const LayerConfigReader& r, const char* key, std::int64_t def) {
  const ConfigValue* v = r.find(key);
  if (v == nullptr) return def;
  if (v->kind() == ConfigValue::Kind::Int) return v->as_int();
  const std::vector<std::int64_t> values = r.ints(key, *v);
  NEURONA_CHECK(values.size() == 1, ValueError, r.who(), ": '", key,
                "' must be an int or a list of 1 int, got ", values.size(), " values");
  return values[0];
}

}  // namespace

Conv1DLayer::Conv1DLayer(std::int64_t filters, std::int64_t kernel_size, Conv1DOptions options)
    : Layer("Conv1D", detail::layer_options(options)),
      filters_(filters),
      kernel_size_(kernel_size),
      options_(std::move(options)),
      padding_(standardize_conv1d_padding(describe(), options_.padding)),
      data_format_(standardize_data_format(describe(), options_.data_format)) {
  set_promote_integer_inputs(true);  // Keras promotes int x float weights to float
  check_single(describe(), "kernel_size", kernel_size_);
  check_single(describe(), "strides", options_.strides);
  check_single(describe(), "dilation_rate", options_.dilation_rate);
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
  NEURONA_CHECK(options_.strides == 1 || options_.dilation_rate == 1, ValueError, describe(),
                ": `strides > 1` not supported in conjunction with `dilation_rate > 1`. "
                "Received: strides=(",
                options_.strides, ",) and dilation_rate=(", options_.dilation_rate, ",)");
  set_activity_regularizer(options_.activity_regularizer);
}

void Conv1DLayer::check_input(const Shape& input_shape) const {
  const int channel_axis = data_format_ == DataFormat::ChannelsLast ? 2 : 1;
  NEURONA_CHECK(input_shape.rank() == 3, ShapeError, describe(), ": expected a 3-D input ",
                data_format_ == DataFormat::ChannelsLast ? "(batch, steps, channels)"
                                                         : "(batch, channels, steps)",
                ", got shape ", shape_str(input_shape));
  const std::int64_t c = input_shape[channel_axis];
  NEURONA_CHECK(c > 0, ShapeError, describe(),
                ": the channel dimension of the inputs must be known and positive, got shape ",
                shape_str(input_shape));
  NEURONA_CHECK(c % options_.groups == 0, ValueError, describe(),
                ": the number of input channels must be evenly divisible by the number of "
                "groups. Received groups=",
                options_.groups, ", but the input has ", c, " channels (full input shape is ",
                shape_str(input_shape), ")");
  if (kernel_) {
    const std::int64_t expected = kernel_->shape()[1] * options_.groups;
    NEURONA_CHECK(c == expected, ShapeError, describe(), ": expected inputs with ", expected,
                  " channels (axis ", channel_axis, "), got shape ", shape_str(input_shape));
  }
}

void Conv1DLayer::build(const Shape& input_shape) {
  check_input(input_shape);
  compute_output_shape(input_shape);  // rejects inputs shorter than the window now
  const std::int64_t c = input_shape[data_format_ == DataFormat::ChannelsLast ? 2 : 1];
  kernel_ = add_weight("kernel", {kernel_size_, c / options_.groups, filters_},
                       detail::kernel_weight_options(options_));
  if (options_.use_bias) {
    bias_ = add_weight("bias", {filters_}, detail::bias_weight_options(options_));
  }
}

const Variable& Conv1DLayer::kernel() const {
  return detail::built_kernel(*this, kernel_);
}

const Variable& Conv1DLayer::bias() const {
  return detail::built_bias(*this, bias_, options_.use_bias);
}

Shape Conv1DLayer::compute_output_shape(const Shape& input_shape) const {
  check_input(input_shape);
  const bool last = data_format_ == DataFormat::ChannelsLast;
  const int steps = last ? 1 : 2;
  Shape out = input_shape;
  // 'causal' gives as many steps as 'same' (floor((steps - 1) / strides) + 1).
  out[steps] = window_output_size(describe(), input_shape, input_shape[steps], kernel_size_,
                                  options_.strides, options_.dilation_rate,
                                  padding_ == "valid" ? Padding::Valid : Padding::Same);
  out[last ? 2 : 1] = filters_;
  return out;
}

Tensor Conv1DLayer::call(const Tensor& inputs, bool /*training*/) {
  const Shape out_shape = compute_output_shape(inputs.shape());
  const Shape& s = inputs.shape();
  const bool last = data_format_ == DataFormat::ChannelsLast;
  Tensor x = reshape(inputs, last ? Shape{s[0], 1, s[1], s[2]} : Shape{s[0], s[1], 1, s[2]});
  const bool causal = padding_ == "causal";
  if (causal) {
    x = zero_pad2d(x, 0, 0, options_.dilation_rate * (kernel_size_ - 1), 0, data_format_);
  }
  const Shape& k = kernel_->shape();
  const neurona::ConvOptions conv_options{
      .strides = {1, options_.strides},
      .padding = padding_ == "same" ? Padding::Same : Padding::Valid,
      .dilation_rate = {1, options_.dilation_rate},
      .groups = options_.groups,
      .data_format = data_format_};
  // As Conv2D: the bias and a relu join the convolution.
  const bool relu = options_.activation.name() == "relu";
  Tensor y = conv2d_bias_activation(
      x, reshape(read(*kernel_), {1, k[0], k[1], k[2]}), bias_ ? read(*bias_) : Tensor(),
      relu ? FusedActivation::relu : FusedActivation::linear, conv_options);
  y = reshape(y, out_shape);
  return relu ? y : apply_activation(options_.activation, y);
}

Conv1D::Conv1D(std::int64_t filters, std::int64_t kernel_size, Conv1DOptions options)
    : LayerHandle<Conv1DLayer>(
          std::make_shared<Conv1DLayer>(filters, kernel_size, std::move(options))) {}

ConfigValue Conv1DLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("filters", filters_);
  config.set("kernel_size", ConfigValue::List{kernel_size_});
  config.set("strides", ConfigValue::List{options_.strides});
  config.set("padding", padding_);
  config.set("data_format", data_format_name(data_format_));
  config.set("dilation_rate", ConfigValue::List{options_.dilation_rate});
  config.set("groups", options_.groups);
  detail::set_kernel_bias_config(config, options_);
  return config;
}

Conv1D Conv1D::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Conv1D");
  r.none("lora_rank", "LoRA");
  Conv1DOptions options{.strides = single(r, "strides", 1),
                        .padding = r.string("padding", "valid"),
                        .data_format = r.string("data_format", "channels_last"),
                        .dilation_rate = single(r, "dilation_rate", 1),
                        .groups = r.integer("groups", 1)};
  detail::read_kernel_bias_config(r, options);
  return Conv1D(r.integer("filters"), single(r, "kernel_size", 1), std::move(options));
}

}  // namespace neurona::layers
