#include "neurona/applications/common.h"

#include "neurona/core/error.h"
#include "neurona/layers/dense.h"
#include "neurona/layers/input_layer.h"
#include "neurona/layers/layer.h"
#include "neurona/layers/pooling2d.h"

namespace neurona::applications::detail {

AppInput app_input(const ApplicationOptions& options, const InputRules& rules,
                   const std::string& app) {
  NEURONA_CHECK(options.pooling.empty() || options.pooling == "avg" || options.pooling == "max",
                ValueError, app, ": argument `pooling` must be \"\", \"avg\" or \"max\", got \"",
                options.pooling, "\"");
  NEURONA_CHECK(!options.classes || *options.classes >= 1, ValueError, app,
                ": argument `classes` must be at least 1, got ", options.classes.value_or(0));
  NEURONA_CHECK(!(options.input_tensor && options.input_shape), ValueError, app,
                ": give either `input_shape` or `input_tensor`, not both");
  AppInput in;
  Shape shape;
  if (options.input_tensor) {
    in.x = *options.input_tensor;
    NEURONA_CHECK(in.x.defined(), ValueError, app, ": argument `input_tensor` is undefined");
    in.inputs = layers::source_inputs(in.x);
    const auto& dims = in.x.shape().dims();
    shape = Shape(std::vector<std::int64_t>(dims.begin() + (dims.empty() ? 0 : 1), dims.end()));
  } else if (options.input_shape) {
    shape = *options.input_shape;
  } else if (rules.any_size_without_top && !options.include_top) {
    shape = Shape{-1, -1, rules.default_shape[-1]};
  } else {
    shape = rules.default_shape;
  }
  // Keras's words (obtain_input_shape), naming the tensor's shape where there is one.
  const std::string what = options.input_tensor ? "input_tensor.shape[1:]" : "input_shape";
  NEURONA_CHECK(shape.rank() == 3, ValueError, app, ": `", what,
                "` must be a tuple of three integers (height, width, channels); Received: ", what,
                "=", layers::shape_str(shape));
  for (int d = 0; d < 2; ++d) {
    NEURONA_CHECK(shape[d] < 0 || shape[d] >= rules.min_size, ValueError, app,
                  ": Input size must be at least ", rules.min_size, "x", rules.min_size,
                  "; Received: ", what, "=", layers::shape_str(shape));
  }
  NEURONA_CHECK(!(rules.any_size_without_top && options.include_top && options.input_shape &&
                  (shape[0] < 0 || shape[1] < 0)),
                ValueError, app,
                ": If `include_top` is True, you should specify a static `input_shape`. "
                "Received: input_shape=",
                layers::shape_str(shape));
  if (!options.input_tensor) {
    in.x = neurona::Input(shape, {.name = rules.input_name});
    in.inputs = {in.x};
  }
  return in;
}

layers::KerasTensor app_top(const layers::KerasTensor& x, const ApplicationOptions& options,
                            std::int64_t default_classes, bool name_pooling) {
  if (options.include_top) {
    const auto pooled = layers::GlobalAveragePooling2D({.name = name_pooling ? "avg_pool" : ""})(x);
    const std::string activation =
        options.classifier_activation.empty() ? "linear" : options.classifier_activation;
    return layers::Dense(options.classes.value_or(default_classes),
                         {.activation = activation, .name = "predictions"})(pooled);
  }
  if (options.pooling == "avg") {
    return layers::GlobalAveragePooling2D({.name = name_pooling ? "avg_pool" : ""})(x);
  }
  if (options.pooling == "max") {
    return layers::GlobalMaxPooling2D({.name = name_pooling ? "max_pool" : ""})(x);
  }
  return x;
}

}  // namespace neurona::applications::detail
