// What every application (keras.applications.*) takes: its input (a shape or a tensor to build
// on), whether it ends in the classifier, the pooling without it, and the classes. Pretrained
// weights are not downloaded (Keras's `weights` argument): load a `.weights.h5` of the same
// model with load_weights.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "neurona/core/shape.h"
#include "neurona/layers/keras_tensor.h"

namespace neurona::applications {

struct ApplicationOptions {
  /// End in the classifier (global average pooling and Dense(classes)).
  bool include_top = true;
  /// The input's shape without the batch dimension (-1 for a size left unknown); unset: the
  /// application's default (the ImageNet models: (224, 224, 3), or (-1, -1, 3) without the top).
  std::optional<Shape> input_shape = std::nullopt;
  /// A symbolic tensor to build on instead of a new Input (Keras's input_tensor): the model's
  /// inputs are the Inputs it comes from, so layers before it belong to the model too.
  std::optional<layers::KerasTensor> input_tensor = std::nullopt;
  /// Without the top: "" (the last feature map), "avg" or "max" (global pooling).
  std::string pooling = "";
  /// The classifier's classes; unset: the application's default (1000 for the ImageNet
  /// models, 10 for the CIFAR ResNets).
  std::optional<std::int64_t> classes = std::nullopt;
  /// The classifier's activation ("softmax", or "" / "linear" for logits).
  std::string classifier_activation = "softmax";
  /// The model's name; empty: the application's.
  std::string name = "";
};

namespace detail {

/// The tensor an application builds on and the inputs of the model it makes.
struct AppInput {
  layers::KerasTensor x;
  std::vector<layers::KerasTensor> inputs;
};

/// How an application takes its input: Keras's imagenet_utils.obtain_input_shape without its
/// `weights` rules (neurona downloads no pretrained weights, so Keras's checks for ImageNet's
/// 3 channels and 224x224 do not apply, as they do not with `weights=None` in Keras).
struct InputRules {
  /// The input's shape when options.input_shape is unset.
  Shape default_shape;
  /// The least height and width.
  std::int64_t min_size = 1;
  /// Keras's ImageNet applications: without the top and without an input_shape, the input is
  /// (None, None, channels) (-1 here); with the top, height and width of an input_shape must be
  /// known.
  bool any_size_without_top = false;
  /// The new Input's name; empty: the automatic one (input_layer, as Keras names it).
  std::string input_name = "";
};

/// The input of application `app`: a new Input of `options.input_shape` (or the default that
/// `rules` give), or `options.input_tensor` and the Inputs it comes from. Checks the shape:
/// rank 3, channels last, height and width at least `rules.min_size` where known; and the
/// other options (pooling, classes >= 1). ValueError naming `app` and the argument otherwise,
/// in Keras's words where Keras has them.
AppInput app_input(const ApplicationOptions& options, const InputRules& rules,
                   const std::string& app);

/// The end of an application after its feature map `x`: with the top, GlobalAveragePooling2D
/// and Dense(classes, classifier_activation) ("predictions"); without it, the pooling asked for
/// or `x` itself. The pooling layers are named "avg_pool" and "max_pool" (the ResNets), or
/// with `name_pooling` false left to their automatic names (global_average_pooling2d, ...:
/// MobileNetV2).
layers::KerasTensor app_top(const layers::KerasTensor& x, const ApplicationOptions& options,
                            std::int64_t default_classes, bool name_pooling = true);

}  // namespace detail
}  // namespace neurona::applications
