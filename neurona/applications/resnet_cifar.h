// The CIFAR ResNets of He et al., "Deep Residual Learning for Image Recognition" (2016),
// section 4.2, as the Keras example "Trains a ResNet on the CIFAR10 dataset" (keras-io,
// ResNet v1) writes them with the functional API: a 3x3 convolution with 16 filters, three
// stages of n residual blocks with 16, 32 and 64 filters (the first block of the second and
// third stages halving the size, its shortcut a strided 1x1 convolution), global average
// pooling and the classifier; depth 6n + 2 (ResNet-20: n = 3, 0.27M parameters).
//   auto model = nr::applications::ResNet20();                 // 32x32x3, 10 classes
//   auto model = nr::applications::ResNet20({.input_shape = nr::Shape{32, 32, 1}});
// Layers are named as keras.applications' ResNets name theirs: conv1_conv, conv1_bn,
// conv1_relu, conv{stage}_block{b}_{1,2}_{conv,bn,relu}, conv{stage}_block{b}_0_conv (the
// projection shortcut), conv{stage}_block{b}_add and _out, avg_pool, predictions.
#pragma once

#include <memory>

#include "neurona/applications/common.h"
#include "neurona/models/model.h"

namespace neurona::applications {

struct ResNetCifarOptions {
  /// L2 weight decay on every convolution's kernel (the Keras example's l2(1e-4)); 0 for none.
  double weight_decay = 1e-4;
  /// BatchNormalization(synchronized=True) throughout: under a DataParallel distribution the
  /// statistics are the global batch's (layers/batch_normalization.h).
  bool synchronized_batch_norm = false;
};

/// A CIFAR ResNet of `depth` = 6n + 2 layers (20, 32, 44, 56, 110, ...); ValueError otherwise.
/// Default input (32, 32, 3), 10 classes, named "resnet<depth>".
std::shared_ptr<Model> ResNetCifar(int depth, ApplicationOptions options = {},
                                   ResNetCifarOptions resnet = {});

/// ResNet-20.
std::shared_ptr<Model> ResNet20(ApplicationOptions options = {}, ResNetCifarOptions resnet = {});

}  // namespace neurona::applications
