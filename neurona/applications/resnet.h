// The ImageNet ResNets of keras.applications (keras/src/applications/resnet.py): He et al.,
// "Deep Residual Learning for Image Recognition" (2016), v1 with bottleneck blocks, layer for
// layer and name for name as Keras builds them, so that a `.weights.h5` or `.keras` file Keras
// saved of the same model loads:
//   auto model = nr::applications::ResNet50();                // 224x224x3, 1000 classes
//   auto features = nr::applications::ResNet50({.include_top = false, .pooling = "avg"});
// conv1_pad, conv1_conv (7x7/2), conv1_bn, conv1_relu, pool1_pad, pool1_pool (3x3/2 max), four
// stages conv2..conv5 of bottleneck blocks conv{s}_block{b}_{1,2,3}_{conv,bn,relu} (1x1, 3x3,
// 1x1 with 4x the filters), the first block of each with a projection shortcut
// conv{s}_block1_0_{conv,bn}, each ending in conv{s}_block{b}_add and _out; then avg_pool and
// predictions. Every convolution has a bias; BatchNormalization's epsilon is 1.001e-5.
#pragma once

#include <memory>

#include "neurona/applications/common.h"
#include "neurona/models/model.h"

namespace neurona::applications {

/// keras.applications.ResNet50 (3, 4, 6 and 3 blocks; 25,636,712 parameters with the top).
/// Default input (224, 224, 3), or (None, None, 3) without the top; at least 32x32; 1000
/// classes; named "resnet50".
std::shared_ptr<Model> ResNet50(ApplicationOptions options = {});

/// keras.applications.ResNet101 (3, 4, 23 and 3 blocks; 44,707,176 parameters), as ResNet50.
std::shared_ptr<Model> ResNet101(ApplicationOptions options = {});

/// keras.applications.ResNet152 (3, 8, 36 and 3 blocks; 60,419,944 parameters), as ResNet50.
std::shared_ptr<Model> ResNet152(ApplicationOptions options = {});

}  // namespace neurona::applications
