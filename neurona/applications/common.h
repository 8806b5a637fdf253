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
  /// The input's shape without the batch dimension; unset: the application's default.
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

/// The input of application `app`: a new Input of `options.input_shape` (or `default_shape`)
/// named `input_name`, or `options.input_tensor` and the Inputs it comes from. Checks the
/// shape: rank 3, channels last, height and width at least `min_size` where known; and the
/// other options (pooling, classes >= 1). ValueError naming `app` and the argument otherwise.
AppInput app_input(const ApplicationOptions& options, const Shape& default_shape,
                   std::int64_t min_size, const std::string& app,
                   const std::string& input_name = "");

/// The end of an application after its feature map `x`: with the top, GlobalAveragePooling2D
/// ("avg_pool") and Dense(classes, classifier_activation) ("predictions"); without it, the
/// pooling asked for ("avg_pool" or "max_pool") or `x` itself.
layers::KerasTensor app_top(const layers::KerasTensor& x, const ApplicationOptions& options,
                            std::int64_t default_classes);

}  // namespace detail
}  // namespace neurona::applications
