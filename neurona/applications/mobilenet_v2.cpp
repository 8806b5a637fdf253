#include "neurona/applications/mobilenet_v2.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "neurona/core/error.h"
#include "neurona/layers/activation_layers.h"
#include "neurona/layers/batch_normalization.h"
#include "neurona/layers/conv2d.h"
#include "neurona/layers/depthwise_conv2d.h"
#include "neurona/layers/merging.h"
#include "neurona/layers/zero_padding2d.h"

namespace neurona::applications {

namespace detail {

std::int64_t make_divisible(double v, std::int64_t divisor) {
  // Python's int(v + divisor / 2) // divisor * divisor: truncation, then floor division, which
  // for v >= 0 are C++'s conversion and integer division.
  std::int64_t new_v = std::max(
      divisor, static_cast<std::int64_t>(v + static_cast<double>(divisor) / 2) / divisor * divisor);
  if (static_cast<double>(new_v) < 0.9 * v) new_v += divisor;
  return new_v;
}

}  // namespace detail

namespace {

using layers::KerasTensor;

// MobileNetV2's batch normalization: epsilon 1e-3 (the default) and momentum 0.999.
KerasTensor batch_norm(const KerasTensor& x, const std::string& name) {
  return layers::BatchNormalization({.momentum = 0.999, .epsilon = 1e-3, .name = name})(x);
}

KerasTensor relu6(const KerasTensor& x, const std::string& name) {
  return layers::ReLU({.max_value = 6.0, .layer = {.name = name}})(x);
}

KerasTensor pointwise(const KerasTensor& x, std::int64_t filters, const std::string& name) {
  return layers::Conv2D(filters, 1, {.padding = "same", .use_bias = false, .name = name})(x);
}

// Keras's imagenet_utils.correct_pad for a 3x3 kernel: the padding that makes the stride-2
// 'valid' convolution after it see the pixels TensorFlow's 'same' would: one pixel before and
// after an odd size, none before an even one. Where the height is unknown Keras pads both axes
// as for an even size.
layers::Padding2DAmounts correct_pad(const Shape& shape) {
  const std::int64_t rows = shape[1], cols = shape[2];
  const std::int64_t adjust_rows = rows < 0 ? 1 : 1 - rows % 2;
  const std::int64_t adjust_cols = rows < 0 || cols < 0 ? 1 : 1 - cols % 2;
  return {{1 - adjust_rows, 1}, {1 - adjust_cols, 1}};
}

// Keras's _inverted_res_block: expand (except block 0), depthwise 3x3, project linearly to
// `filters` x alpha; a residual Add where the shapes agree.
KerasTensor inverted_res_block(const KerasTensor& inputs, std::int64_t expansion,
                               std::int64_t stride, double alpha, std::int64_t filters,
                               int block_id) {
  const std::int64_t in_channels = inputs.shape()[-1];
  // Keras truncates filters * alpha to an int before rounding it to a multiple of 8.
  const std::int64_t pointwise_filters = detail::make_divisible(
      static_cast<double>(static_cast<std::int64_t>(static_cast<double>(filters) * alpha)), 8);
  const std::string prefix =
      block_id == 0 ? "expanded_conv_" : neurona::detail::str("block_", block_id, "_");
  KerasTensor x = inputs;
  if (block_id != 0) {
    x = pointwise(x, expansion * in_channels, prefix + "expand");
    x = relu6(batch_norm(x, prefix + "expand_BN"), prefix + "expand_relu");
  }
  if (stride == 2) {
    x = layers::ZeroPadding2D(correct_pad(x.shape()), {.name = prefix + "pad"})(x);
  }
  x = layers::DepthwiseConv2D(3, {.strides = stride,
                                  .padding = stride == 1 ? "same" : "valid",
                                  .use_bias = false,
                                  .name = prefix + "depthwise"})(x);
  x = relu6(batch_norm(x, prefix + "depthwise_BN"), prefix + "depthwise_relu");
  x = pointwise(x, pointwise_filters, prefix + "project");
  x = batch_norm(x, prefix + "project_BN");
  if (in_channels == pointwise_filters && stride == 1) {
    return layers::Add({.name = prefix + "add"})({inputs, x});
  }
  return x;
}

// The rows in the model's name, as Keras computes them: the input_shape's height; without an
// input_shape, 224 with the top (or the input tensor's size where it is square and one of
// ImageNet weights' sizes) and None without.
std::string name_rows(const ApplicationOptions& options, const Shape& input) {
  std::int64_t rows = -1;
  if (options.input_shape) {
    rows = (*options.input_shape)[0];
  } else if (options.include_top) {
    rows = 224;
    if (options.input_tensor && input[1] == input[2]) {
      for (std::int64_t size : {96, 128, 160, 192, 224}) {
        if (input[1] == size) rows = size;
      }
    }
  }
  return rows < 0 ? std::string("None") : neurona::detail::str(rows);
}

}  // namespace

std::shared_ptr<Model> MobileNetV2(ApplicationOptions options, MobileNetV2Options mobilenet) {
  const std::string app = "MobileNetV2";
  const double alpha = mobilenet.alpha;
  NEURONA_CHECK(std::isfinite(alpha) && alpha > 0.0, ValueError, app,
                ": argument `alpha` must be > 0 (Keras's ImageNet weights exist for 0.35, 0.5, "
                "0.75, 1.0, 1.3 and 1.4); Received: alpha=",
                alpha);
  const detail::AppInput in = detail::app_input(
      options, {.default_shape = Shape{224, 224, 3}, .min_size = 32, .any_size_without_top = true},
      app);

  KerasTensor x =
      layers::Conv2D(detail::make_divisible(32 * alpha, 8), 3,
                     {.strides = 2, .padding = "same", .use_bias = false, .name = "Conv1"})(in.x);
  x = relu6(batch_norm(x, "bn_Conv1"), "Conv1_relu");

  // (filters, stride, expansion) of blocks 0 to 16, as Keras lists them.
  struct Block {
    std::int64_t filters, stride, expansion;
  };
  constexpr Block kBlocks[] = {
      {16, 1, 1}, {24, 2, 6},  {24, 1, 6},  {32, 2, 6},  {32, 1, 6},  {32, 1, 6},
      {64, 2, 6}, {64, 1, 6},  {64, 1, 6},  {64, 1, 6},  {96, 1, 6},  {96, 1, 6},
      {96, 1, 6}, {160, 2, 6}, {160, 1, 6}, {160, 1, 6}, {320, 1, 6},
  };
  int block_id = 0;
  for (const Block& b : kBlocks) {
    x = inverted_res_block(x, b.expansion, b.stride, alpha, b.filters, block_id++);
  }

  // No alpha below 1 on the last convolution, as the paper says; above 1 it widens too.
  const std::int64_t last_block_filters =
      alpha > 1.0 ? detail::make_divisible(1280 * alpha, 8) : 1280;
  x = layers::Conv2D(last_block_filters, 1, {.use_bias = false, .name = "Conv_1"})(x);
  x = relu6(batch_norm(x, "Conv_1_bn"), "out_relu");
  x = detail::app_top(x, options, 1000, /*name_pooling=*/false);

  std::string name = options.name;
  if (name.empty()) {
    char alpha_text[32];
    std::snprintf(alpha_text, sizeof alpha_text, "%0.2f", alpha);
    name = neurona::detail::str("mobilenetv2_", alpha_text, "_", name_rows(options, in.x.shape()));
  }
  return std::make_shared<Model>(in.inputs, x, layers::LayerOptions{.name = name});
}

}  // namespace neurona::applications
