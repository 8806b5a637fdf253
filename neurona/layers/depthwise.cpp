// The parts DepthwiseConv2D and SeparableConv2D share (layers/depthwise.h).
#include "neurona/layers/depthwise.h"

#include "neurona/autograd/ops.h"

namespace neurona::layers::detail {

void check_depth_multiplier(const std::string& who, std::int64_t depth_multiplier) {
  NEURONA_CHECK(depth_multiplier > 0, ValueError, who,
                ": invalid value for argument `depth_multiplier`. Expected a strictly positive "
                "value. Received depth_multiplier=",
                depth_multiplier);
}

void check_depthwise_input(const std::string& who, const Shape& input_shape, DataFormat data_format,
                           const std::optional<Variable>& depthwise_kernel) {
  NEURONA_CHECK(input_shape.rank() == 4, ShapeError, who, ": expected a 4-D input ",
                data_format == DataFormat::ChannelsLast ? "(batch, height, width, channels)"
                                                        : "(batch, channels, height, width)",
                ", got shape ", shape_str(input_shape));
  const std::int64_t c = input_shape[channel_axis(data_format)];
  NEURONA_CHECK(c > 0, ShapeError, who,
                ": the channel dimension of the inputs must be known and positive, got shape ",
                shape_str(input_shape));
  if (depthwise_kernel) {
    NEURONA_CHECK(c == depthwise_kernel->shape()[2], ShapeError, who, ": expected inputs with ",
                  depthwise_kernel->shape()[2], " channels (axis ", channel_axis(data_format),
                  "), got shape ", shape_str(input_shape));
  }
}

Shape depthwise_output_shape(const std::string& who, const Shape& input_shape,
                             const DepthwiseWindow& window,
                             const std::optional<Variable>& depthwise_kernel,
                             std::int64_t channels) {
  check_depthwise_input(who, input_shape, window.data_format, depthwise_kernel);
  const auto axes = spatial_axes(window.data_format);
  Shape out = input_shape;
  for (std::size_t i = 0; i < 2; ++i) {
    out[axes[i]] = window_output_size(who, input_shape, input_shape[axes[i]], window.kernel_size[i],
                                      window.strides[i], window.dilation_rate[i], window.padding);
  }
  out[channel_axis(window.data_format)] = channels;
  return out;
}

Tensor grouped_depthwise_kernel(const Tensor& depthwise_kernel) {
  const Shape& k = depthwise_kernel.shape();
  return reshape(depthwise_kernel, {k[0], k[1], 1, k[2] * k[3]});
}

}  // namespace neurona::layers::detail
