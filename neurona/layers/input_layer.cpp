// InputLayer: a built layer that passes its inputs through and carries the batch shape.
#include "neurona/layers/input_layer.h"

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

namespace {
Shape with_batch(const Shape& shape, std::optional<std::int64_t> batch_size) {
  std::vector<std::int64_t> dims{batch_size.value_or(-1)};
  dims.insert(dims.end(), shape.begin(), shape.end());
  return Shape(std::move(dims));
}
}  // namespace

InputLayer::InputLayer(const Shape& shape, InputOptions options)
    : Layer("InputLayer",
            {.name = options.name,
             .trainable = true,
             // An integer input has no dtype policy of its own (layers compute in floats).
             .dtype = is_floating(options.dtype) ? DTypePolicy(options.dtype) : DTypePolicy()}),
      batch_shape_(with_batch(shape, options.batch_size)),
      input_dtype_(options.dtype) {
  if (!is_floating(input_dtype_)) set_autocast_inputs(false);
  // As Keras's functional models convert their inputs to the Input's dtype: integer data (uint8
  // images) given to a float Input arrive as floats.
  set_promote_integer_inputs(is_floating(input_dtype_));
  for (int i = 0; i < shape.rank(); ++i) {
    NEURONA_CHECK(shape[i] > 0 || shape[i] == -1, ShapeError, describe(),
                  ": argument `shape` must have positive (or -1 for unknown) dimensions, got ",
                  shape[i], " at index ", i);
  }
  NEURONA_CHECK(!options.batch_size || *options.batch_size > 0, ValueError, describe(),
                ": argument `batch_size` must be positive, got ", options.batch_size.value_or(0));
  mark_built(batch_shape_);
}

Shape InputLayer::compute_output_shape(const Shape& /*input_shape*/) const {
  return batch_shape_;
}

Tensor InputLayer::call(const Tensor& inputs, bool /*training*/) {
  // As Keras's functional models check their inputs (InputSpec without the batch size): the
  // batch dimension is free even where batch_shape fixes it.
  bool ok = inputs.rank() == batch_shape_.rank();
  for (int i = 1; ok && i < inputs.rank(); ++i) {
    ok = batch_shape_[i] < 0 || batch_shape_[i] == inputs.shape()[i];
  }
  NEURONA_CHECK(ok, ShapeError, describe(), ": expected inputs of shape ",
                shape_str(with_batch(
                    Shape(std::vector<std::int64_t>(batch_shape_.begin() + 1, batch_shape_.end())),
                    std::nullopt)),
                ", got shape ", shape_str(inputs.shape()));
  if (!is_floating(input_dtype_) && inputs.dtype() != input_dtype_) {
    return cast(inputs, input_dtype_);
  }
  return inputs;
}

KerasTensor InputLayer::output() {
  std::shared_ptr<Node> node = node_.lock();
  if (!node) {
    NEURONA_CHECK(!weak_from_this().expired(), ValueError, describe(),
                  ": an InputLayer must be held by a shared_ptr (an Input handle)");
    node = std::make_shared<Node>();
    node->layer = shared_from_this();
    node->outputs = {{batch_shape_, input_dtype_}};
    node_ = node;
  }
  return KerasTensor(node, 0);
}

std::vector<KerasTensor> InputLayer::output_list() const {
  if (std::shared_ptr<Node> node = node_.lock()) return {KerasTensor(node, 0)};
  return Layer::output_list();
}

Input::Input(const Shape& shape, InputOptions options)
    : LayerHandle<InputLayer>(std::make_shared<InputLayer>(shape, std::move(options))) {}

ConfigValue InputLayer::keras_config(const Shape& batch_shape, DType dtype,
                                     const std::string& name) {
  // Keras's InputLayer config: a plain dtype string rather than a DTypePolicy.
  return ConfigValue::Dict{{"batch_shape", shape_config(batch_shape)},
                           {"dtype", std::string(neurona::name(dtype))},
                           {"sparse", false},
                           {"ragged", false},
                           {"name", name},
                           {"optional", false}};
}

ConfigValue InputLayer::get_config() const {
  return keras_config(batch_shape_, input_dtype_, name());
}

Input Input::from_config(const ConfigValue& config, const std::string& who) {
  const LayerConfigReader r(config, who);
  const ConfigValue* bs = r.find("batch_shape");
  if (bs == nullptr) bs = r.find("batch_input_shape");  // Keras 2's name
  NEURONA_CHECK(bs != nullptr, ValueError, r.who(), ": the config has no 'batch_shape'");
  const Shape batch_shape = r.shape("batch_shape", *bs);
  NEURONA_CHECK(batch_shape.rank() >= 1, ValueError, r.who(),
                ": 'batch_shape' needs a batch dimension");
  std::vector<std::int64_t> dims(batch_shape.begin() + 1, batch_shape.end());
  return Input(Shape(std::move(dims)),
               {.batch_size =
                    batch_shape[0] < 0 ? std::nullopt : std::optional<std::int64_t>(batch_shape[0]),
                .name = r.string("name", ""),
                .dtype = r.input_dtype()});
}

}  // namespace neurona::layers

namespace neurona {

layers::KerasTensor Input(const Shape& shape, layers::InputOptions options) {
  return layers::Input(shape, std::move(options))->output();
}

}  // namespace neurona
