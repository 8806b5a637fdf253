// Bidirectional: the forward and backward copies are made from the layer's config, as Keras
// makes them (so they share no state with the layer given), and run one after the other; the
// backward layer's sequence output is flipped back to the input's time order before merging.
#include "neurona/layers/bidirectional.h"

#include <algorithm>

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/layer_registry.h"

namespace neurona::layers {

namespace {

std::string without_prefix(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0 ? s.substr(prefix.size()) : s;
}

std::shared_ptr<RNNLayer> as_rnn(const AnyLayer& layer, const char* what) {
  auto rnn = std::dynamic_pointer_cast<RNNLayer>(layer.ptr());
  NEURONA_CHECK(rnn != nullptr, ValueError, "Bidirectional: ", what,
                " must be a recurrent layer (SimpleRNN, LSTM or GRU); received ",
                layer->describe());
  return rnn;
}

// A fresh layer from `layer`'s config with `name` (and go_backwards where asked).
std::shared_ptr<RNNLayer> copy_of(const RNNLayer& layer, const std::string& name, bool backwards) {
  ConfigValue config = layer.get_config();
  config.set("name", name);
  if (backwards) config.set("go_backwards", true);
  ConfigValue entry = ConfigValue::Dict{{"module", "keras.layers"},
                                        {"class_name", layer.class_name()},
                                        {"config", std::move(config)},
                                        {"registered_name", nullptr}};
  return as_rnn(deserialize_nested_layer(entry, "Bidirectional"), "the layer");
}

Tensor flip_time(const Tensor& x) {
  std::vector<Tensor> steps = unstack(x, 1);
  std::reverse(steps.begin(), steps.end());
  return stack(steps, 1);
}

}  // namespace

BidirectionalLayer::BidirectionalLayer(const AnyLayer& layer, BidirectionalOptions options)
    : Layer("Bidirectional", {.name = options.name,
                              .trainable = options.trainable,
                              .dtype = options.dtype,
                              .input_shape = options.input_shape}),
      merge_mode_(std::move(options.merge_mode)) {
  set_promote_integer_inputs(true);  // Keras promotes int x float weights to float
  set_supports_masking(true);
  set_call_takes_mask(true);
  set_call_takes_initial_state(true);
  const std::shared_ptr<RNNLayer> given = as_rnn(layer, "the layer");
  if (merge_mode_) {
    const std::string& m = *merge_mode_;
    NEURONA_CHECK(m == "sum" || m == "mul" || m == "ave" || m == "concat", ValueError,
                  "Invalid merge mode. Received: ", m,
                  ". Merge mode should be one of {\"sum\", \"mul\", \"ave\", \"concat\", None}");
  }
  forward_ = copy_of(*given, "forward_" + without_prefix(given->name(), "forward_"), false);
  if (options.backward_layer) {
    backward_ = as_rnn(*options.backward_layer, "backward_layer");
  } else {
    backward_ = copy_of(*given, "backward_" + without_prefix(given->name(), "backward_"), true);
  }
  NEURONA_CHECK(forward_->go_backwards() != backward_->go_backwards(), ValueError,
                "Forward layer and backward layer should have different `go_backwards` value. "
                "Received: forward_layer.go_backwards ",
                forward_->go_backwards() ? "True" : "False",
                ", backward_layer.go_backwards=", backward_->go_backwards() ? "True" : "False");
  auto check_same = [&](const char* attribute, bool f, bool b) {
    NEURONA_CHECK(f == b, ValueError,
                  "Forward layer and backward layer are expected to have the same value for "
                  "attribute \"",
                  attribute, "\", got \"", f ? "True" : "False", "\" for forward layer and \"",
                  b ? "True" : "False", "\" for backward layer");
  };
  check_same("stateful", forward_->stateful(), backward_->stateful());
  check_same("return_sequences", forward_->return_sequences(), backward_->return_sequences());
  check_same("return_state", forward_->return_state(), backward_->return_state());
  // Keras: masked steps give zeros when returning sequences.
  forward_->set_zero_output_for_mask(forward_->return_sequences());
  backward_->set_zero_output_for_mask(backward_->return_sequences());
  track_layer(forward_, "forward_layer");
  track_layer(backward_, "backward_layer");
}

void BidirectionalLayer::build(const Shape& input_shape) {
  forward_->ensure_built(input_shape);
  backward_->ensure_built(input_shape);
}

void BidirectionalLayer::build_list(const std::vector<Shape>& input_shapes) {
  build(input_shapes.at(0));
}

void BidirectionalLayer::reset_states() {
  NEURONA_CHECK(forward_->stateful(), ValueError, describe(), ": Layer must be stateful.");
  forward_->reset_states();
  backward_->reset_states();
}

std::size_t BidirectionalLayer::output_count() const {
  std::size_t n = merge_mode_ ? 1 : 2;
  if (forward_->return_state()) {
    n += forward_->cell().state_size().size() + backward_->cell().state_size().size();
  }
  return n;
}

Tensor BidirectionalLayer::call(const Tensor& inputs, bool training) {
  NEURONA_CHECK(output_count() == 1, ValueError, describe(), " returns ", output_count(),
                " tensors; call apply() to get them all");
  return run(inputs, {}, Tensor(), training)[0];
}

std::vector<Tensor> BidirectionalLayer::call_list(const std::vector<Tensor>& inputs,
                                                  bool training) {
  NEURONA_CHECK(!inputs.empty(), ValueError, describe(), ": called on an empty list");
  return run(inputs[0], std::vector<Tensor>(inputs.begin() + 1, inputs.end()), Tensor(), training);
}

Tensor BidirectionalLayer::call_with_mask(const Tensor& inputs, const Tensor& mask, bool training) {
  if (!mask.defined()) return call(inputs, training);
  NEURONA_CHECK(output_count() == 1, ValueError, describe(),
                " returns several tensors; call apply() to get them all");
  return run(inputs, {}, mask, training)[0];
}

std::vector<Tensor> BidirectionalLayer::call_list_with_masks(const std::vector<Tensor>& inputs,
                                                             const std::vector<Tensor>& masks,
                                                             bool training) {
  NEURONA_CHECK(!inputs.empty(), ValueError, describe(), ": called on an empty list");
  const Tensor mask = masks.empty() ? Tensor() : masks[0];
  return run(inputs[0], std::vector<Tensor>(inputs.begin() + 1, inputs.end()), mask, training);
}

Tensor BidirectionalLayer::compute_mask(const Tensor& /*inputs*/, const Tensor& mask) const {
  return forward_->return_sequences() ? mask : Tensor();
}

std::vector<Tensor> BidirectionalLayer::compute_mask_list(const std::vector<Tensor>& /*inputs*/,
                                                          const std::vector<Tensor>& masks) const {
  const Tensor mask = masks.empty() || !forward_->return_sequences() ? Tensor() : masks[0];
  return std::vector<Tensor>(merge_mode_ ? 1 : 2, mask);
}

std::vector<Tensor> BidirectionalLayer::run(const Tensor& sequences,
                                            const std::vector<Tensor>& initial_state,
                                            const Tensor& mask, bool training) {
  NEURONA_CHECK(initial_state.size() % 2 == 0, ValueError, describe(),
                ": expected as many initial states for the backward layer as for the forward "
                "layer, got ",
                initial_state.size(), " in all");
  const auto half = static_cast<std::ptrdiff_t>(initial_state.size() / 2);
  std::vector<Tensor> forward_state(initial_state.begin(), initial_state.begin() + half);
  std::vector<Tensor> backward_state(initial_state.begin() + half, initial_state.end());
  std::vector<Tensor> y = forward_->run(sequences, std::move(forward_state), mask, training);
  std::vector<Tensor> y_rev = backward_->run(sequences, std::move(backward_state), mask, training);
  // Keras calls the two layers, so their activity regularizers (on every output) add losses.
  for (const Tensor& t : y) forward_->record_activity_loss(t);
  for (const Tensor& t : y_rev) backward_->record_activity_loss(t);
  Tensor a = y[0];
  Tensor b = y_rev[0];
  if (forward_->return_sequences()) b = flip_time(b);
  std::vector<Tensor> out;
  if (!merge_mode_) {
    out = {a, b};
  } else if (*merge_mode_ == "concat") {
    out = {concat({a, b}, -1)};
  } else if (*merge_mode_ == "sum") {
    out = {add(a, b)};
  } else if (*merge_mode_ == "ave") {
    out = {divide(add(a, b), scalar_like(a, 2.0))};
  } else {
    out = {multiply(a, b)};
  }
  if (forward_->return_state()) {
    out.insert(out.end(), y.begin() + 1, y.end());
    out.insert(out.end(), y_rev.begin() + 1, y_rev.end());
  }
  return out;
}

Shape BidirectionalLayer::compute_output_shape(const Shape& input_shape) const {
  return compute_output_shape_list({input_shape})[0];
}

std::vector<Shape> BidirectionalLayer::compute_output_shape_list(
    const std::vector<Shape>& input_shapes) const {
  const std::vector<Shape> f = forward_->compute_output_shape_list({input_shapes.at(0)});
  std::vector<Shape> out;
  if (!merge_mode_) {
    out = {f[0], f[0]};
  } else if (*merge_mode_ == "concat") {
    std::vector<std::int64_t> dims = f[0].dims();
    dims.back() = dims.back() < 0 ? -1 : 2 * dims.back();
    out = {Shape(dims)};
  } else {
    out = {f[0]};
  }
  if (forward_->return_state()) {
    out.insert(out.end(), f.begin() + 1, f.end());
    const std::vector<Shape> b = backward_->compute_output_shape_list({input_shapes.at(0)});
    out.insert(out.end(), b.begin() + 1, b.end());
  }
  return out;
}

ConfigValue BidirectionalLayer::get_build_config() const {
  if (!built()) return ConfigValue();
  return ConfigValue::Dict{{"input_shape", shape_config(build_input_shapes()[0])}};
}

ConfigValue BidirectionalLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("merge_mode", merge_mode_ ? ConfigValue(*merge_mode_) : ConfigValue());
  config.set("layer", serialize_nested_layer(*forward_));
  config.set("backward_layer", serialize_nested_layer(*backward_));
  return config;
}

Bidirectional::Bidirectional(const AnyLayer& layer, BidirectionalOptions options)
    : LayerHandle<BidirectionalLayer>(
          std::make_shared<BidirectionalLayer>(layer, std::move(options))) {}

Bidirectional Bidirectional::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Bidirectional");
  BidirectionalOptions o;
  if (const ConfigValue* m = config.find("merge_mode")) {
    if (m->is_null()) {
      o.merge_mode = std::nullopt;
    } else {
      o.merge_mode = r.string("merge_mode", "concat");
    }
  }
  const AnyLayer layer = deserialize_nested_layer(r.need("layer"), "Bidirectional 'layer'");
  if (const ConfigValue* b = r.find("backward_layer")) {
    o.backward_layer = deserialize_nested_layer(*b, "Bidirectional 'backward_layer'");
  }
  o.name = r.string("name", "");
  o.trainable = r.boolean("trainable", true);
  o.dtype = r.dtype();
  return Bidirectional(layer, std::move(o));
}

}  // namespace neurona::layers
