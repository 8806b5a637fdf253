#include "neurona/applications/resnet.h"

#include <array>
#include <string>

#include "neurona/core/error.h"
#include "neurona/layers/activation.h"
#include "neurona/layers/batch_normalization.h"
#include "neurona/layers/conv2d.h"
#include "neurona/layers/merging.h"
#include "neurona/layers/pooling2d.h"
#include "neurona/layers/zero_padding2d.h"

namespace neurona::applications {

namespace {

using layers::KerasTensor;

// Keras's ResNets use 1.001e-5 rather than the default 1e-3 (the value of the original Caffe
// models that the ImageNet weights were converted from).
constexpr double kEpsilon = 1.001e-5;

KerasTensor conv(const KerasTensor& x, std::int64_t filters, std::int64_t kernel,
                 std::int64_t strides, const std::string& name,
                 const std::string& padding = "valid") {
  return layers::Conv2D(filters, {kernel, kernel},
                        {.strides = strides, .padding = padding, .name = name})(x);
}

// Keras's ResNets name the channel axis 3 (bn_axis for channels_last), not -1: the same axis,
// but their configs say 3.
KerasTensor batch_norm(const KerasTensor& x, const std::string& name) {
  return layers::BatchNormalization({.axis = 3, .epsilon = kEpsilon, .name = name})(x);
}

KerasTensor relu(const KerasTensor& x, const std::string& name) {
  return layers::Activation("relu", {.name = name})(x);
}

// Keras's residual_block_v1: a bottleneck of 1x1 (strided), 3x3 and 1x1 convolutions whose
// last one has 4 x `filters`, added to the input or to its projection (`conv_shortcut`).
KerasTensor residual_block(const KerasTensor& x, std::int64_t filters, std::int64_t stride,
                           bool conv_shortcut, const std::string& name) {
  KerasTensor shortcut = x;
  if (conv_shortcut) {
    shortcut = conv(x, 4 * filters, 1, stride, name + "_0_conv");
    shortcut = batch_norm(shortcut, name + "_0_bn");
  }
  KerasTensor y = conv(x, filters, 1, stride, name + "_1_conv");
  y = relu(batch_norm(y, name + "_1_bn"), name + "_1_relu");
  y = conv(y, filters, 3, 1, name + "_2_conv", "same");
  y = relu(batch_norm(y, name + "_2_bn"), name + "_2_relu");
  y = conv(y, 4 * filters, 1, 1, name + "_3_conv");
  y = batch_norm(y, name + "_3_bn");
  return relu(layers::Add({.name = name + "_add"})({shortcut, y}), name + "_out");
}

// Keras's ResNet() with preact false and use_bias true: the stem, four stages of `blocks`
// bottleneck blocks with 64, 128, 256 and 512 filters (the first block of stages 3 to 5
// halving the size), and the top.
std::shared_ptr<Model> resnet_v1(const std::array<int, 4>& blocks, ApplicationOptions options,
                                 const std::string& app, const std::string& default_name) {
  const detail::AppInput in = detail::app_input(
      options, {.default_shape = Shape{224, 224, 3}, .min_size = 32, .any_size_without_top = true},
      app);
  KerasTensor x = layers::ZeroPadding2D({{3, 3}, {3, 3}}, {.name = "conv1_pad"})(in.x);
  x = conv(x, 64, 7, 2, "conv1_conv");
  x = relu(batch_norm(x, "conv1_bn"), "conv1_relu");
  x = layers::ZeroPadding2D({{1, 1}, {1, 1}}, {.name = "pool1_pad"})(x);
  x = layers::MaxPooling2D(3, {.strides = 2, .name = "pool1_pool"})(x);
  for (int stage = 0; stage < 4; ++stage) {
    const std::int64_t filters = std::int64_t{64} << stage;
    for (int block = 0; block < blocks[stage]; ++block) {
      const std::string name = neurona::detail::str("conv", stage + 2, "_block", block + 1);
      const std::int64_t stride = stage > 0 && block == 0 ? 2 : 1;
      x = residual_block(x, filters, stride, /*conv_shortcut=*/block == 0, name);
    }
  }
  x = detail::app_top(x, options, 1000);
  return std::make_shared<Model>(
      in.inputs, x,
      layers::LayerOptions{.name = options.name.empty() ? default_name : options.name});
}

}  // namespace

std::shared_ptr<Model> ResNet50(ApplicationOptions options) {
  return resnet_v1({3, 4, 6, 3}, std::move(options), "ResNet50", "resnet50");
}

std::shared_ptr<Model> ResNet101(ApplicationOptions options) {
  return resnet_v1({3, 4, 23, 3}, std::move(options), "ResNet101", "resnet101");
}

std::shared_ptr<Model> ResNet152(ApplicationOptions options) {
  return resnet_v1({3, 8, 36, 3}, std::move(options), "ResNet152", "resnet152");
}

}  // namespace neurona::applications
