// What DepthwiseConv2D and SeparableConv2D share: the depth multiplier's check, the input
// check against the depthwise kernel, the output shape, the depthwise kernel's WeightOptions
// from the depthwise_* options, and that kernel as the grouped convolution's. Their bias and
// Layer options come from kernel_bias.h. Internal to layers/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "neurona/autograd/variable.h"
#include "neurona/layers/image_args.h"
#include "neurona/layers/layer.h"

namespace neurona::layers::detail {

/// Keras's check of depth_multiplier (> 0); ValueError naming `who` otherwise.
void check_depth_multiplier(const std::string& who, std::int64_t depth_multiplier);

/// A 4-D input in `data_format` with a known, positive channel count that, once the layer is
/// built, is the depthwise kernel's (kh, kw, in_channels, multiplier); ShapeError naming `who`
/// and the shape otherwise.
void check_depthwise_input(const std::string& who, const Shape& input_shape, DataFormat data_format,
                           const std::optional<Variable>& depthwise_kernel);

/// The spatial geometry of a depthwise convolution.
struct DepthwiseWindow {
  IntPair kernel_size, strides, dilation_rate;
  Padding padding;
  DataFormat data_format;
};

/// The output shape of a (checked) input: the windows' spatial sizes and `channels` channels
/// (in_channels * depth_multiplier for DepthwiseConv2D, filters for SeparableConv2D).
Shape depthwise_output_shape(const std::string& who, const Shape& input_shape,
                             const DepthwiseWindow& window,
                             const std::optional<Variable>& depthwise_kernel,
                             std::int64_t channels);

/// Keras's (kh, kw, in_channels, multiplier) depthwise kernel is, in memory, a grouped
/// convolution's (kh, kw, 1, in_channels * multiplier) with in_channels groups: its value (as
/// the layer reads it) in that shape, differentiably.
Tensor grouped_depthwise_kernel(const Tensor& depthwise_kernel);

/// The depthwise kernel's WeightOptions from depthwise_initializer, depthwise_regularizer and
/// depthwise_constraint.
template <typename Options>
WeightOptions depthwise_weight_options(const Options& o) {
  return {.initializer = o.depthwise_initializer,
          .regularizer = o.depthwise_regularizer,
          .constraint = o.depthwise_constraint};
}

}  // namespace neurona::layers::detail
