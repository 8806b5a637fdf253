// Sequential: builds its layers by calling each on the symbolic output of the one before (Keras's
// Sequential builds its functional graph so), from its Input or, without one, from an InputLayer
// of the shape it is built for (as Keras 3's Sequential.build). A layer that cannot compute its
// output shape is run once on zeros to learn it (what Keras's symbolic call does).
#include "neurona/models/sequential.h"

#include "neurona/autograd/ops.h"

namespace neurona {

namespace {
// The output shape of `layer` (built) for `input_shape`: computed, or learnt by running it.
Shape output_shape_of(layers::Layer& layer, const Shape& input_shape) {
  return layer.compute_output_spec({{input_shape, layer.dtype()}}, /*list_call=*/false)[0].shape;
}
}  // namespace

Sequential::Sequential(std::vector<layers::AnyLayer> layers, layers::LayerOptions options)
    : Model("Sequential", std::move(options)) {
  // Tracked first and built once: building on each add would walk the earlier layers again
  // (quadratic in the layers, with a call on zeros for each that cannot compute its shape).
  for (const auto& layer : layers) append(layer);
  if (input_shape_) ensure_built(*input_shape_);
}

bool Sequential::append(const layers::AnyLayer& layer) {
  if (auto input = std::dynamic_pointer_cast<layers::InputLayer>(layer.ptr())) {
    NEURONA_CHECK(!input_shape_ && sublayers().empty(), ValueError, describe(),
                  ": an Input can only be the first layer of a Sequential model; it already has ",
                  input_shape_ ? "an Input" : "layers", ", cannot add ", input->describe());
    input_layer_ = input;
    input_shape_ = input->batch_shape();
    return false;
  }
  NEURONA_CHECK(layer.ptr().get() != this, ValueError, describe(),
                ": cannot add a model to itself");
  if (!input_shape_ && sublayers().empty() && layer->input_shape_arg()) {
    append(layers::Input(*layer->input_shape_arg()));  // Keras: input_shape on the first layer
  }
  track_layer(layer.ptr());
  return true;
}

void Sequential::add(const layers::AnyLayer& layer) {
  const bool was_built = built();
  const bool tracked = append(layer);
  if (!was_built) {
    if (input_shape_) ensure_built(*input_shape_);
    return;
  }
  if (!tracked) return;
  // A layer added to a built model: only it is built, for the output of the layer before it.
  const auto all = sublayers();
  const std::optional<Shape> in =
      all.size() >= 2 ? all[all.size() - 2]->known_output_shape() : build_input_shape();
  if (!chain_.empty()) {
    extend_chain(all.size() - 1);
  } else if (in) {
    all.back()->ensure_built(*in);
    (void)output_shape_of(*all.back(), *in);
  } else {
    build(build_input_shape());
  }
  mark_built(build_input_shape());
}

layers::AnyLayer Sequential::pop() {
  const auto all = sublayers();
  NEURONA_CHECK(!all.empty(), ValueError, describe(), ": there are no layers in the model.");
  untrack_layer(all.back());
  if (chain_.size() > all.size()) chain_.pop_back();
  if (built()) mark_built(build_input_shape());
  return all.back();
}

void Sequential::extend_chain(std::size_t first) {
  if (!input_layer_) return;
  if (chain_.empty()) chain_.push_back(input_layer_->output());
  const auto all = sublayers();
  for (std::size_t i = first; i < all.size(); ++i) chain_.push_back((*all[i])(chain_.back()));
}

std::vector<layers::KerasTensor> Sequential::input_list() const {
  if (chain_.empty()) return Model::input_list();
  return {chain_.front()};
}

std::vector<layers::KerasTensor> Sequential::output_list() const {
  if (chain_.empty()) return Model::output_list();
  return {chain_.back()};
}

void Sequential::build_layers(const Shape& input_shape) {
  Shape shape = input_shape;
  for (const auto& layer : sublayers()) {
    layer->ensure_built(shape);
    shape = output_shape_of(*layer, shape);
  }
}

void Sequential::build(const Shape& input_shape) {
  chain_.clear();
  if (!input_shape_ && input_shape.rank() == 0) {
    // Scalar inputs have no batch axis to start a graph from: the layers are built from the
    // shapes alone.
    build_layers(input_shape);
    return;
  }
  // Without an Input given (input_shape_), the InputLayer is (re)made for this shape.
  const bool made_input = !input_shape_;
  if (made_input) {
    // Keras 3's Sequential.build without an InputLayer: one of this batch shape, in the first
    // layer's compute dtype, starts the graph.
    const Shape features(std::vector<std::int64_t>(input_shape.begin() + 1, input_shape.end()));
    const auto all = sublayers();
    input_layer_ =
        layers::Input(
            features,
            {.batch_size = input_shape[0] > 0 ? std::optional(input_shape[0]) : std::nullopt,
             .dtype = all.empty() ? DType::float32 : all.front()->compute_dtype()})
            .ptr();
  }
  // As Keras's Sequential builds its functional graph: every layer called on the symbolic
  // output of the one before, which builds it and infers its output shape (so that the layers'
  // outputs exist: Layer::output()).
  try {
    extend_chain(0);
  } catch (const NotImplementedError&) {
    if (!made_input) throw;
    // Keras builds no graph when a layer cannot be called symbolically; its layers are built
    // from the shapes alone.
    chain_.clear();
    build_layers(input_shape);
  }
}

Shape Sequential::compute_output_shape(const Shape& input_shape) const {
  Shape shape = input_shape;
  for (const auto& layer : sublayers()) {
    const auto& known = layer->known_output_shape();
    try {
      shape = layer->compute_output_shape(shape);
    } catch (const NotImplementedError&) {
      NEURONA_CHECK(known.has_value(), NotImplementedError, describe(), ": the output shape of ",
                    layer->describe(), " is not known yet");
      shape = *known;
    }
  }
  return shape;
}

std::vector<layers::TensorSpec> Sequential::compute_output_spec(
    const std::vector<layers::TensorSpec>& inputs, bool list_call) {
  std::vector<layers::TensorSpec> specs = Model::compute_output_spec(inputs, list_call);
  if (!chain_.empty() && specs.size() == 1) specs[0].dtype = chain_.back().dtype();
  return specs;
}

Tensor Sequential::call(const Tensor& inputs, bool training) {
  Tensor x = inputs;
  if (input_shape_) {
    x = (*input_layer_)(inputs, training);
  } else if (input_layer_ && !is_floating(inputs.dtype())) {
    // Keras converts the data to the dtype of the InputLayer its build made (the first layer's
    // compute dtype): integer data reaches a first layer that passes it on (Flatten) as floats.
    // A 16-bit input dtype (mixed policies) takes float32 here: Keras's float16 turns an
    // Embedding's ids above 2048 into others (4097 reads row 4096); float32 keeps them to 2^24,
    // and the first layer's autocast makes 16-bit floats of them where it computes in 16 bits.
    // Only the dtype: the layers check the shapes they get.
    const DType made = input_layer_->input_dtype();
    x = cast(inputs, is_half(made) ? DType::float32 : made);
    x.set_keras_mask(inputs.keras_mask());
  }
  for (const auto& layer : sublayers()) x = (*layer)(x, training);
  return x;
}

}  // namespace neurona
