#include "neurona/applications/resnet_cifar.h"

#include <string>

#include "neurona/core/error.h"
#include "neurona/layers/activation.h"
#include "neurona/layers/batch_normalization.h"
#include "neurona/layers/conv2d.h"
#include "neurona/layers/merging.h"
#include "neurona/layers/regularizers.h"

namespace neurona::applications {

namespace {

using layers::KerasTensor;

struct Builder {
  regularizers::Regularizer decay;
  bool synchronized = false;

  KerasTensor conv(const KerasTensor& x, std::int64_t filters, std::int64_t kernel,
                   std::int64_t strides, bool bias, const std::string& name) const {
    return layers::Conv2D(filters, {kernel, kernel},
                          {.strides = strides,
                           .padding = "same",
                           .use_bias = bias,
                           .kernel_initializer = "he_normal",
                           .kernel_regularizer = decay,
                           .name = name + "_conv"})(x);
  }
  // conv, batch normalization and (unless `relu` is false) ReLU, named <name>_conv/_bn/_relu.
  KerasTensor conv_bn(const KerasTensor& x, std::int64_t filters, std::int64_t strides,
                      const std::string& name, bool relu = true) const {
    KerasTensor y = conv(x, filters, 3, strides, /*bias=*/false, name);
    y = layers::BatchNormalization({.synchronized = synchronized, .name = name + "_bn"})(y);
    if (relu) y = layers::Activation("relu", {.name = name + "_relu"})(y);
    return y;
  }
};

}  // namespace

std::shared_ptr<Model> ResNetCifar(int depth, ApplicationOptions options,
                                   ResNetCifarOptions resnet) {
  const std::string app = "ResNetCifar";
  NEURONA_CHECK(depth >= 8 && (depth - 2) % 6 == 0, ValueError, app,
                ": argument `depth` must be 6n + 2 (20, 32, 44, 56, 110, ...), got ", depth);
  NEURONA_CHECK(resnet.weight_decay >= 0.0, ValueError, app,
                ": argument `weight_decay` must be >= 0, got ", resnet.weight_decay);
  const int blocks = (depth - 2) / 6;
  // The two halvings need at least 4x4 inputs to leave a 1x1 map.
  const detail::AppInput in =
      detail::app_input(options, {.default_shape = Shape{32, 32, 3}, .min_size = 4}, app);
  const Builder b{resnet.weight_decay > 0.0
                      ? regularizers::Regularizer(regularizers::L2(resnet.weight_decay))
                      : regularizers::Regularizer(),
                  resnet.synchronized_batch_norm};
  KerasTensor x = b.conv_bn(in.x, 16, 1, "conv1");
  for (int stage = 0; stage < 3; ++stage) {
    const std::int64_t filters = std::int64_t{16} << stage;
    for (int block = 0; block < blocks; ++block) {
      const std::string name = neurona::detail::str("conv", stage + 2, "_block", block + 1);
      const std::int64_t strides = stage > 0 && block == 0 ? 2 : 1;
      KerasTensor y = b.conv_bn(x, filters, strides, name + "_1");
      y = b.conv_bn(y, filters, 1, name + "_2", /*relu=*/false);
      // The shortcut: the input itself, or a strided 1x1 convolution where the shape changes.
      const KerasTensor shortcut =
          strides != 1 ? b.conv(x, filters, 1, strides, /*bias=*/true, name + "_0") : x;
      x = layers::Add({.name = name + "_add"})({shortcut, y});
      x = layers::Activation("relu", {.name = name + "_out"})(x);
    }
  }
  x = detail::app_top(x, options, 10);
  return std::make_shared<Model>(
      in.inputs, x,
      layers::LayerOptions{.name = options.name.empty() ? neurona::detail::str("resnet", depth)
                                                        : options.name});
}

std::shared_ptr<Model> ResNet20(ApplicationOptions options, ResNetCifarOptions resnet) {
  return ResNetCifar(20, std::move(options), resnet);
}

}  // namespace neurona::applications
