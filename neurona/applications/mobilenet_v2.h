// MobileNetV2 (Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks", 2018)
// as keras.applications builds it (keras/src/applications/mobilenet_v2.py), layer for layer and
// name for name, so that a `.weights.h5` or `.keras` file Keras saved of the same model loads:
//   auto model = nr::applications::MobileNetV2();                       // 224x224x3, alpha 1
//   auto small = nr::applications::MobileNetV2({.input_shape = nr::Shape{32, 32, 3},
//                                               .classes = 10}, {.alpha = 0.35});
// Conv1 (3x3/2), bn_Conv1, Conv1_relu (ReLU capped at 6), 17 inverted residual blocks
// (expanded_conv_*, then block_{1..16}_*: a 1x1 expansion _expand/_expand_BN/_expand_relu, a
// 3x3 depthwise convolution _depthwise/_depthwise_BN/_depthwise_relu, zero padded by _pad where
// it has stride 2, a linear 1x1 projection _project/_project_BN, and _add where the input and
// output shapes agree), Conv_1 (1x1), Conv_1_bn, out_relu, then global_average_pooling2d and
// predictions.
#pragma once

#include <cstdint>
#include <memory>

#include "neurona/applications/common.h"
#include "neurona/models/model.h"

namespace neurona::applications {

struct MobileNetV2Options {
  /// The width multiplier: each layer's filters times alpha, rounded to a multiple of 8
  /// (Keras's _make_divisible). Keras's ImageNet weights exist for 0.35, 0.5, 0.75, 1.0, 1.3
  /// and 1.4; any alpha > 0 builds, as in Keras with `weights=None`.
  double alpha = 1.0;
};

/// keras.applications.MobileNetV2 (3,538,984 parameters at alpha 1.0 with the top). Default
/// input (224, 224, 3), or (None, None, 3) without the top; at least 32x32; 1000 classes;
/// named as Keras names it: "mobilenetv2_<alpha with 2 decimals>_<rows>" ("mobilenetv2_1.00_224";
/// rows "None" where unknown). ValueError for alpha <= 0 and for the bad options every
/// application refuses (common.h).
std::shared_ptr<Model> MobileNetV2(ApplicationOptions options = {},
                                   MobileNetV2Options mobilenet = {});

namespace detail {

/// Keras's _make_divisible(v, divisor): `v` rounded to the nearest multiple of `divisor` (at
/// least `divisor`), one multiple more where rounding down lost over 10%.
std::int64_t make_divisible(double v, std::int64_t divisor);

}  // namespace detail
}  // namespace neurona::applications
