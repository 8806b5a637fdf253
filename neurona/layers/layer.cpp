// The Layer base: naming, building, weights, losses and the call protocol.
#include "neurona/layers/layer.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_set>

#include "neurona/autograd/ops.h"
#include "neurona/autograd/remat.h"
#include "neurona/autograd/tape.h"

namespace neurona {

namespace {
struct NameCounters {
  std::mutex mu;
  std::map<std::string, int> uses;
};
NameCounters& name_counters() {
  static auto* c = new NameCounters();  // outlives layers in static objects
  return *c;
}

// Keras's get_uid naming: the first is `base`, then base_1, base_2, ...
std::string unique_name(const std::string& base) {
  auto& c = name_counters();
  std::lock_guard lock(c.mu);
  const int n = c.uses[base]++;
  return n == 0 ? base : base + "_" + std::to_string(n);
}

// Nesting depth of layer calls on this thread: the outermost call clears the losses of the
// previous one, as Keras's call context does.
thread_local int call_depth = 0;

// The innermost WeightBudget of this thread, if any.
thread_local layers::WeightBudget* current_budget = nullptr;
}  // namespace

void clear_session() {
  auto& c = name_counters();
  std::lock_guard lock(c.mu);
  c.uses.clear();
}

}  // namespace neurona

namespace neurona::layers {

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << "(";
  for (int i = 0; i < shape.rank(); ++i) {
    if (i > 0) os << ", ";
    if (shape[i] < 0) {
      os << "None";
    } else {
      os << shape[i];
    }
  }
  if (shape.rank() == 1) os << ",";
  os << ")";
  return os.str();
}

// Keras's three substitutions, written out (std::regex trips GCC 12's warnings):
//   re.sub(r"\W+", "", s); re.sub("(.)([A-Z][a-z]+)", r"\1_\2", s);
//   re.sub("([a-z])([A-Z])", r"\1_\2", s); s.lower()
std::string to_snake_case(const std::string& class_name) {
  auto upper = [](char c) { return c >= 'A' && c <= 'Z'; };
  auto lower = [](char c) { return c >= 'a' && c <= 'z'; };
  std::string word;
  for (char c : class_name) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') word += c;
  }
  std::string step;
  for (std::size_t i = 0; i < word.size();) {
    if (i + 2 < word.size() && upper(word[i + 1]) && lower(word[i + 2])) {
      std::size_t j = i + 2;
      while (j < word.size() && lower(word[j])) ++j;
      step += word[i];
      step += '_';
      step.append(word, i + 1, j - i - 1);
      i = j;
    } else {
      step += word[i++];
    }
  }
  std::string name;
  for (std::size_t i = 0; i < step.size();) {
    if (i + 1 < step.size() && lower(step[i]) && upper(step[i + 1])) {
      name += step[i];
      name += '_';
      name += step[i + 1];
      i += 2;
    } else {
      name += step[i++];
    }
  }
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

WeightBudget::WeightBudget(std::int64_t max_elements, std::string limit_name)
    : max_(max_elements), limit_name_(std::move(limit_name)), outer_(current_budget) {
  current_budget = this;
}

WeightBudget::~WeightBudget() {
  current_budget = outer_;
}

void WeightBudget::charge(const Shape& shape, const std::string& what) {
  WeightBudget* b = current_budget;
  if (b == nullptr) return;
  const std::int64_t n = shape.numel();  // ShapeError if the count overflows int64
  NEURONA_CHECK(n <= b->max_ - b->used_, ValueError, what, " of shape ", shape_str(shape),
                " needs ", n, " elements; with the ", b->used_,
                " allocated before it that is more than the limit of ", b->max_, " elements (",
                b->limit_name_, "; raise it to load a larger model)");
  b->used_ += n;
}

Layer::Layer(std::string class_name, LayerOptions options)
    : class_name_(std::move(class_name)),
      name_(options.name.empty() ? unique_name(to_snake_case(class_name_))
                                 : std::move(options.name)),
      input_shape_arg_(std::move(options.input_shape)),
      policy_(options.dtype.resolved()),
      trainable_(options.trainable),
      remat_mode_(current_remat_mode()) {}

Layer::~Layer() = default;

std::string Layer::describe() const {
  return class_name_ + " '" + name_ + "'";
}

void Layer::build(const Shape& /*input_shape*/) {}

void Layer::build_list(const std::vector<Shape>& input_shapes) {
  if (input_shapes.size() == 1) build(input_shapes[0]);
}

Tensor Layer::call(const Tensor& /*inputs*/, bool /*training*/) {
  throw NotImplementedError(describe() + ": call is not implemented for one tensor");
}

Tensor Layer::call_with_mask(const Tensor& inputs, const Tensor& /*mask*/, bool training) {
  return call(inputs, training);
}

std::vector<Tensor> Layer::call_list_with_masks(const std::vector<Tensor>& inputs,
                                                const std::vector<Tensor>& masks, bool training) {
  // A one-element list with a mask goes to call_with_mask; otherwise call_list (which a model
  // with several outputs overrides) decides.
  if (inputs.size() == 1 && masks.size() == 1 && masks[0].defined()) {
    return {call_with_mask(inputs[0], masks[0], training)};
  }
  return call_list(inputs, training);
}

std::vector<Tensor> Layer::call_list_with_kwargs(const std::vector<Tensor>& inputs,
                                                 const std::vector<Tensor>& masks,
                                                 const ConfigValue& kwargs, bool training) {
  refuse_kwargs(kwargs);
  return call_list_with_masks(inputs, masks, training);
}

std::vector<TensorSpec> Layer::compute_output_spec_with_kwargs(
    const std::vector<TensorSpec>& inputs, const ConfigValue& kwargs) {
  refuse_kwargs(kwargs);
  return compute_output_spec(inputs, inputs.size() != 1);
}

Tensor Layer::compute_mask(const Tensor& /*inputs*/, const Tensor& mask) const {
  return mask;
}

std::vector<Tensor> Layer::compute_mask_list(const std::vector<Tensor>& inputs,
                                             const std::vector<Tensor>& masks) const {
  if (inputs.size() == 1 && masks.size() == 1) return {compute_mask(inputs[0], masks[0])};
  return masks;
}

std::vector<Tensor> Layer::call_list(const std::vector<Tensor>& inputs, bool training) {
  NEURONA_CHECK(inputs.size() == 1, ValueError, describe(),
                ": expected one input tensor, got a list of ", inputs.size());
  return {call(inputs[0], training)};
}

Shape Layer::compute_output_shape(const Shape& /*input_shape*/) const {
  throw NotImplementedError(describe() + ": compute_output_shape is not implemented");
}

std::vector<Shape> Layer::compute_output_shape_list(const std::vector<Shape>& input_shapes) const {
  if (input_shapes.size() != 1) {
    throw NotImplementedError(describe() +
                              ": compute_output_shape is not implemented for a list of inputs");
  }
  return {compute_output_shape(input_shapes[0])};
}

std::vector<TensorSpec> Layer::compute_output_spec(const std::vector<TensorSpec>& inputs,
                                                   bool list_call) {
  std::vector<Shape> shapes;
  for (const TensorSpec& s : inputs) shapes.push_back(s.shape);
  try {
    const std::vector<Shape> out = list_call ? compute_output_shape_list(shapes)
                                             : std::vector{compute_output_shape(shapes[0])};
    // Float inputs are cast to the compute dtype (autocast), integer ones where the layer
    // promotes them, and the layer computes in it.
    const DType in = inputs[0].dtype;
    const DType dtype = casts_to_compute_dtype(in) ? compute_dtype() : in;
    std::vector<TensorSpec> specs;
    for (const Shape& s : out) specs.push_back({s, dtype});
    return specs;
  } catch (const NotImplementedError&) {
    // What Keras's symbolic call does, here by running the layer once on zeros: unknown
    // dimensions become 1, and an unknown batch stays unknown in the result.
    std::vector<Tensor> probes;
    for (const TensorSpec& s : inputs) {
      std::vector<std::int64_t> dims = s.shape.dims();
      for (auto& d : dims) d = d < 0 ? 1 : d;
      const Shape probe(std::move(dims));
      WeightBudget::charge(
          probe, "the input " + describe() + " is run on once to learn its output shape,");
      probes.push_back(zeros(probe, {.dtype = s.dtype}));
    }
    const std::vector<Tensor> outs =
        list_call ? apply(probes, false) : std::vector{(*this)(probes[0], false)};
    const bool unknown_batch = inputs[0].shape.rank() > 0 && inputs[0].shape[0] < 0;
    std::vector<TensorSpec> specs;
    for (const Tensor& t : outs) {
      std::vector<std::int64_t> dims = t.shape().dims();
      if (!dims.empty() && unknown_batch) dims[0] = -1;
      specs.push_back({Shape(std::move(dims)), t.dtype()});
    }
    return specs;
  }
}

void Layer::mark_built(const Shape& input_shape) {
  built_ = true;
  build_input_shape_ = input_shape;
  build_input_list_.reset();
  try {
    output_shape_ = compute_output_shape(input_shape);
  } catch (const NotImplementedError&) {
    output_shape_.reset();  // learnt from the first call
  }
}

void Layer::mark_built(const std::vector<Shape>& input_shapes) {
  built_ = true;
  build_input_list_ = input_shapes;
  build_input_shape_.reset();
  output_shape_.reset();
  try {
    const std::vector<Shape> out = compute_output_shape_list(input_shapes);
    if (out.size() == 1) output_shape_ = out[0];
  } catch (const NotImplementedError&) {
    // learnt from the first call
  }
}

void Layer::ensure_built(const Shape& input_shape) {
  if (built_) return;
  build(input_shape);
  mark_built(input_shape);
}

void Layer::ensure_built(const std::vector<Shape>& input_shapes) {
  if (built_) return;
  build_list(input_shapes);
  mark_built(input_shapes);
}

const Shape& Layer::build_input_shape() const {
  if (build_input_list_ && build_input_list_->size() == 1) return build_input_list_->front();
  NEURONA_CHECK(!build_input_list_, ValueError, describe(), ": the layer was built for a list of ",
                build_input_list_ ? build_input_list_->size() : 0,
                " inputs; see build_input_shapes()");
  NEURONA_CHECK(build_input_shape_.has_value(), ValueError, describe(),
                ": the layer has not been built yet; call it on inputs or give its model an Input");
  return *build_input_shape_;
}

std::vector<Shape> Layer::build_input_shapes() const {
  if (build_input_list_) return *build_input_list_;
  return {build_input_shape()};
}

ConfigValue Layer::get_build_config() const {
  if (!built_) return ConfigValue();
  if (!build_input_list_) {
    return ConfigValue::Dict{{"input_shape", shape_config(build_input_shape())}};
  }
  ConfigValue::List shapes;
  for (const Shape& s : *build_input_list_) shapes.push_back(shape_config(s));
  return ConfigValue::Dict{{"input_shape", std::move(shapes)}};
}

Shape Layer::output_shape() const {
  NEURONA_CHECK(output_shape_.has_value(), ValueError, describe(),
                ": the output shape is not known yet; call the layer on inputs or give its model "
                "an Input");
  return *output_shape_;
}

namespace {
// Counts the nesting of layer calls; see call_depth.
struct CallDepth {
  CallDepth() { ++call_depth; }
  ~CallDepth() { --call_depth; }
  CallDepth(const CallDepth&) = delete;
  CallDepth& operator=(const CallDepth&) = delete;
};

// A mask given to a call (Keras's layer(x, mask=m)) for an input of shape `x`: of rank 1 to
// the input's. Which dimensions it must have is the layer's to say when it runs (a recurrent
// layer's (batch, steps), Softmax's broadcasting from the last axes, a channels_first
// pooling's (batch, steps) over (batch, channels, steps)).
void check_given_mask(const Shape& m, const Shape& x, const Layer& layer) {
  NEURONA_CHECK(m.rank() >= 1 && m.rank() <= x.rank(), ShapeError, layer.describe(),
                ": the mask must have rank 1 to the input's (input ", shape_str(x), "), got ",
                shape_str(m));
}

// Refuses a mask given to a call of `layer` (Keras's layer(x, mask=m), or a list call's
// mask=[m1, m2] when `list`) where Keras's call takes none or the form does not fit the call on
// `positional` tensors.
void check_mask_call(const Layer& layer, bool list, std::size_t masks, std::size_t positional) {
  NEURONA_CHECK(list || !layer.takes_positional_inputs(), ValueError, layer.describe(),
                ": called on two symbolic tensors as layer(x, mask): its call takes its tensors "
                "as layer->attend(query, value) or layer({query, value})");
  NEURONA_CHECK(layer.call_takes_mask(), ValueError, layer.describe(),
                ": its call takes no mask argument (", "as Keras's ", layer.class_name(),
                ".call takes none); mask the input instead (Masking, Embedding(mask_zero))");
  if (!list) {
    NEURONA_CHECK(positional == 1 || layer.call_takes_initial_state(), ValueError, layer.describe(),
                  ": a mask given as a keyword argument applies to a call on one tensor; give a "
                  "call on a list one mask per tensor (Keras's mask=[query_mask, value_mask])");
    return;
  }
  NEURONA_CHECK(positional > 1 && !layer.call_takes_initial_state(), ValueError, layer.describe(),
                ": a list of masks applies to a call on a list of tensors, one mask per tensor",
                layer.call_takes_initial_state() ? " (a recurrent call takes one mask, for its "
                                                   "sequences)"
                                                 : "");
  NEURONA_CHECK(masks <= positional, ValueError, layer.describe(), ": got ", masks,
                " masks for a call on ", positional, " tensors");
}

// A tensor keyword argument's value with its indices among the inputs lowered past those of
// `taken` (removed inputs).
ConfigValue renumbered(const ConfigValue& value, const std::vector<std::size_t>& taken) {
  if (value.kind() == ConfigValue::Kind::List) {
    ConfigValue::List out;
    for (const ConfigValue& v : value.as_list()) out.push_back(renumbered(v, taken));
    return out;
  }
  const ConfigValue* index = value.find("__tensor__");
  if (index == nullptr || index->kind() != ConfigValue::Kind::Int) return value;
  const auto i = static_cast<std::size_t>(index->as_int());
  const auto below =
      std::count_if(taken.begin(), taken.end(), [i](std::size_t t) { return t < i; });
  return ConfigValue::Dict{{"__tensor__", static_cast<std::int64_t>(i) - below}};
}

// Keras's mask=m given to a call as a tensor keyword argument (one tensor, or a list call's
// list, None in it undefined), taken out of the call: `given` when the call had one, the masks
// by positional input from the first.
template <typename T>
struct TakenMasks {
  bool given = false;
  bool list = false;  // mask=[...]: the masks of every positional input
  std::vector<std::optional<T>> masks;
};

// Removes the masks of a mask=... keyword argument from `inputs` and "mask" from `kwargs`
// (renumbering the tensor keyword arguments after them; none left: null) and returns them.
// Only a layer whose call takes a mask takes one (check_mask_call).
template <typename T>
TakenMasks<T> take_mask_kwarg(const Layer& layer, std::vector<T>& inputs, ConfigValue& kwargs) {
  TakenMasks<T> out;
  std::vector<std::optional<std::size_t>> at;
  const std::optional<std::size_t> one = Layer::kwarg_tensor(kwargs, "mask");
  if (one) {
    at = {one};
  } else {
    at = Layer::kwarg_tensor_list(kwargs, "mask");
    if (at.empty()) return out;
  }
  out.given = true;
  out.list = !one;
  const std::size_t positional = Layer::positional_count(kwargs, inputs.size());
  check_mask_call(layer, !one, at.size(), positional);
  std::vector<std::size_t> taken;
  for (const std::optional<std::size_t>& i : at) {
    if (i) {
      NEURONA_CHECK(*i >= positional && *i < inputs.size() &&
                        std::find(taken.begin(), taken.end(), *i) == taken.end(),
                    ValueError, layer.describe(), ": the keyword argument 'mask' names input ", *i,
                    " of a call on ", inputs.size(),
                    " tensors; a mask is one of the tensors after the positional ones (",
                    positional, "), each named once");
      taken.push_back(*i);
    }
    out.masks.push_back(i ? std::optional<T>(inputs[*i]) : std::nullopt);
  }
  std::sort(taken.rbegin(), taken.rend());
  for (std::size_t i : taken) inputs.erase(inputs.begin() + static_cast<std::ptrdiff_t>(i));
  for (std::size_t k = 0; k < out.masks.size(); ++k) {
    if (out.masks[k]) check_given_mask(out.masks[k]->shape, inputs.at(k).shape, layer);
  }
  ConfigValue rest = ConfigValue::Dict{};
  bool others = false;
  for (const auto& [key, value] : kwargs.as_dict()) {
    if (key == "mask") continue;
    others = true;
    rest.set(key, renumbered(value, taken));
  }
  kwargs = others ? rest : ConfigValue();
  return out;
}

// A tensor and its shape: what take_mask_kwarg reads of an eager call (TensorSpec, a symbolic
// one).
struct Spec {
  Tensor tensor;
  Shape shape;
};

// The output shape learnt from a call: the batch stays unknown if the layer was built without.
Shape learnt_shape(const Tensor& output, const Shape& built_for) {
  std::vector<std::int64_t> dims = output.shape().dims();
  if (!dims.empty() && built_for.rank() > 0 && built_for[0] < 0) dims[0] = -1;
  return Shape(std::move(dims));
}
}  // namespace

bool Layer::casts_to_compute_dtype(DType input) const {
  return is_floating(input) ? autocast_inputs_ : promote_integer_inputs_;
}

Tensor Layer::autocast(const Tensor& x) const {
  NEURONA_CHECK(x.defined(), ValueError, describe(), ": the inputs are an undefined tensor");
  if (casts_to_compute_dtype(x.dtype()) && x.dtype() != compute_dtype()) {
    Tensor y = cast(x, compute_dtype());
    y.set_keras_mask(x.keras_mask());  // as Keras: the cast keeps the mask
    return y;
  }
  return x;
}

void Layer::add_activity_loss(const Tensor& outputs) {
  if (!activity_regularizer_) return;
  Tensor loss = activity_regularizer_(outputs);
  // Keras 3 divides by the batch size, so that the strength does not depend on it.
  if (outputs.rank() > 0 && outputs.shape()[0] > 0) {
    loss = divide(loss, scalar_like(loss, static_cast<double>(outputs.shape()[0])));
  }
  add_loss(loss);
}

Tensor Layer::operator()(const Tensor& inputs, bool training) {
  return call_one(inputs, inputs.defined() ? inputs.keras_mask() : Tensor(), training);
}

Tensor Layer::operator()(const Tensor& inputs, const Tensor& mask, bool training) {
  return call_one(inputs, mask, training);
}

Tensor Layer::call_one(const Tensor& inputs, const Tensor& mask, bool training) {
  const Tensor x = autocast(inputs);
  if (call_depth == 0) clear_losses();
  const CallDepth depth;
  ensure_built(x.shape());
  Tensor outputs;
  if (remats_call({x.shape()}, false)) {
    // Captured by value: the gradient runs the call again after this returns.
    outputs = remat_call(
        [this, mask, training](const std::vector<Tensor>& in) {
          return std::vector<Tensor>{call_with_mask(in[0], mask, training)};
        },
        {x})[0];
  } else {
    outputs = call_with_mask(x, mask, training);
  }
  if (!output_shape_.has_value()) output_shape_ = learnt_shape(outputs, build_input_shapes()[0]);
  add_activity_loss(outputs);
  // Keras's _set_mask_metadata: a mask the call attached stays; otherwise compute_mask's.
  if (supports_masking_ && outputs.defined() && !outputs.keras_mask().defined()) {
    outputs.set_keras_mask(compute_mask(x, mask));
  }
  return outputs;
}

std::vector<Tensor> Layer::apply(const std::vector<Tensor>& inputs, bool training) {
  return apply_with_kwargs(inputs, ConfigValue(), training);
}

Tensor Layer::operator()(const std::vector<Tensor>& inputs, const std::vector<Tensor>& masks,
                         bool training) {
  std::vector<Tensor> outputs = apply(inputs, masks, training);
  NEURONA_CHECK(outputs.size() == 1, ValueError, describe(), " returns ", outputs.size(),
                " tensors; call apply() to get them all");
  return outputs[0];
}

std::vector<Tensor> Layer::apply(const std::vector<Tensor>& inputs,
                                 const std::vector<Tensor>& masks, bool training) {
  if (masks.empty()) return apply(inputs, training);
  NEURONA_CHECK(!inputs.empty(), ValueError, describe(), ": called on an empty list of inputs");
  check_mask_call(*this, /*list=*/true, masks.size(), inputs.size());
  std::vector<Tensor> given(inputs.size());
  for (std::size_t k = 0; k < masks.size(); ++k) {
    if (!masks[k].defined()) continue;
    check_given_mask(masks[k].shape(), inputs[k].shape(), *this);
    given[k] = masks[k];
  }
  return list_call(inputs, std::move(given), ConfigValue(), training);
}

std::vector<Tensor> Layer::apply_with_kwargs(const std::vector<Tensor>& inputs,
                                             const ConfigValue& kwargs, bool training) {
  NEURONA_CHECK(!inputs.empty(), ValueError, describe(), ": called on an empty list of inputs");
  // Keras's mask=m (a list call's mask=[m1, m2]): the masks the call reads instead of those
  // its inputs carry (and compute_mask passes on). Split off only where given: this is every
  // functional list call's path, in the training step.
  if (kwargs.find("mask") != nullptr) {
    std::vector<Spec> specs;
    for (const Tensor& t : inputs) specs.push_back({t, t.shape()});
    ConfigValue kwargs_left = kwargs;
    const TakenMasks<Spec> taken = take_mask_kwarg(*this, specs, kwargs_left);
    if (taken.given) {
      std::vector<Tensor> args;
      std::vector<Tensor> masks;
      for (const Spec& spec : specs) {
        args.push_back(spec.tensor);
        masks.push_back(spec.tensor.keras_mask());
      }
      // One mask replaces the first input's; a list, every positional input's.
      const std::size_t replaced = taken.list ? positional_count(kwargs_left, args.size()) : 1;
      for (std::size_t k = 0; k < replaced; ++k) {
        const bool has = k < taken.masks.size() && taken.masks[k].has_value();
        masks[k] = has ? taken.masks[k]->tensor : Tensor();  // as given: Keras passes it on so
      }
      return list_call(args, std::move(masks), kwargs_left, training);
    }
  }
  std::vector<Tensor> masks;
  for (const Tensor& t : inputs) masks.push_back(t.keras_mask());
  return list_call(inputs, std::move(masks), kwargs, training);
}

std::vector<Tensor> Layer::list_call(const std::vector<Tensor>& inputs, std::vector<Tensor> masks,
                                     const ConfigValue& kwargs, bool training) {
  std::vector<Tensor> xs;
  std::vector<Shape> shapes;
  const std::size_t positional = positional_count(kwargs, inputs.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    // Tensor keyword arguments (masks) keep integer dtypes: only their floats are autocast, as
    // Keras's. A layer's promotion of integers is for its positional inputs.
    const Tensor& t = inputs[i];
    const bool keeps = i >= positional && t.defined() && !is_floating(t.dtype());
    xs.push_back(keeps ? t : autocast(t));
    shapes.push_back(xs.back().shape());
  }
  if (call_depth == 0) clear_losses();
  const CallDepth depth;
  shapes.resize(positional);  // not the tensor kwargs
  ensure_built(shapes);
  std::vector<Tensor> outputs;
  if (remats_call(shapes, true)) {
    outputs = remat_call(
        [this, masks, kwargs, training](const std::vector<Tensor>& replayed) {
          return call_list_with_kwargs(replayed, masks, kwargs, training);
        },
        xs);
  } else {
    outputs = call_list_with_kwargs(xs, masks, kwargs, training);
  }
  if (!output_shape_.has_value() && outputs.size() == 1) {
    output_shape_ = learnt_shape(outputs[0], build_input_shapes()[0]);
  }
  for (const Tensor& out : outputs) add_activity_loss(out);
  if (supports_masking_) {
    const std::vector<Tensor> out_masks = compute_mask_list(xs, masks);
    for (std::size_t i = 0; i < outputs.size() && i < out_masks.size(); ++i) {
      if (outputs[i].defined() && !outputs[i].keras_mask().defined()) {
        outputs[i].set_keras_mask(out_masks[i]);
      }
    }
  }
  return outputs;
}

Tensor Layer::operator()(const std::vector<Tensor>& inputs, bool training) {
  std::vector<Tensor> outputs = apply(inputs, training);
  NEURONA_CHECK(outputs.size() == 1, ValueError, describe(), " returns ", outputs.size(),
                " tensors; call apply() to get them all");
  return outputs[0];
}

std::vector<KerasTensor> Layer::symbolic_call(const std::vector<KerasTensor>& inputs,
                                              bool list_call, std::optional<bool> training,
                                              const ConfigValue& kwargs) {
  NEURONA_CHECK(!weak_from_this().expired(), ValueError, describe(),
                ": a layer called on symbolic inputs must be held by a shared_ptr (a layer "
                "handle, or std::make_shared for a model)");
  NEURONA_CHECK(!inputs.empty(), ValueError, describe(), ": called on an empty list of inputs");
  std::vector<TensorSpec> specs;
  std::vector<Shape> shapes;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    NEURONA_CHECK(inputs[i].defined(), ValueError, describe(), ": input ", i,
                  " is an undefined KerasTensor");
    NEURONA_CHECK(inputs[i].node()->layer.get() != this, ValueError, describe(),
                  ": a layer cannot be called on its own output in a graph that needs it");
    specs.push_back(inputs[i].spec());
    shapes.push_back(inputs[i].shape());
  }
  // The outputs' specs without a mask=m keyword argument (the node keeps it, for the call);
  // refused before the layer is built.
  ConfigValue kwargs_left = kwargs;
  (void)take_mask_kwarg(*this, specs, kwargs_left);
  shapes.resize(positional_count(kwargs, shapes.size()));  // not the tensor keyword arguments
  if (list_call) {
    ensure_built(shapes);
  } else {
    ensure_built(shapes[0]);
  }
  const bool has_kwargs = kwargs.kind() == ConfigValue::Kind::Dict && !kwargs.as_dict().empty();
  const bool other_kwargs =
      kwargs_left.kind() == ConfigValue::Kind::Dict && !kwargs_left.as_dict().empty();
  std::vector<TensorSpec> outputs = other_kwargs
                                        ? compute_output_spec_with_kwargs(specs, kwargs_left)
                                        : compute_output_spec(specs, list_call);
  return add_node(inputs, list_call, training, std::move(outputs),
                  has_kwargs ? kwargs : ConfigValue());
}

KerasTensor Layer::operator()(const KerasTensor& inputs, std::optional<bool> training) {
  std::vector<KerasTensor> outputs = symbolic_call({inputs}, false, training);
  NEURONA_CHECK(outputs.size() == 1, ValueError, describe(), " returns ", outputs.size(),
                " tensors; call apply() to get them all");
  return outputs[0];
}

KerasTensor Layer::operator()(const KerasTensor& inputs, const KerasTensor& mask,
                              std::optional<bool> training) {
  if (!mask.defined()) return (*this)(inputs, training);
  std::vector<KerasTensor> outputs =
      apply_with_kwargs({inputs}, ConfigValue(), training, {{"mask", mask}});
  NEURONA_CHECK(outputs.size() == 1, ValueError, describe(), " returns ", outputs.size(),
                " tensors; call apply_with_kwargs() to get them all");
  return outputs[0];
}

KerasTensor Layer::operator()(const std::vector<KerasTensor>& inputs,
                              std::optional<bool> training) {
  std::vector<KerasTensor> outputs = symbolic_call(inputs, true, training);
  NEURONA_CHECK(outputs.size() == 1, ValueError, describe(), " returns ", outputs.size(),
                " tensors; call apply() to get them all");
  return outputs[0];
}

KerasTensor Layer::operator()(const std::vector<KerasTensor>& inputs,
                              const std::vector<KerasTensor>& masks, std::optional<bool> training) {
  std::vector<KerasTensor> outputs = apply(inputs, masks, training);
  NEURONA_CHECK(outputs.size() == 1, ValueError, describe(), " returns ", outputs.size(),
                " tensors; call apply() to get them all");
  return outputs[0];
}

std::vector<KerasTensor> Layer::apply(const std::vector<KerasTensor>& inputs,
                                      std::optional<bool> training) {
  return symbolic_call(inputs, true, training);
}

std::vector<KerasTensor> Layer::apply(const std::vector<KerasTensor>& inputs,
                                      const std::vector<KerasTensor>& masks,
                                      std::optional<bool> training) {
  if (masks.empty()) return symbolic_call(inputs, true, training);
  return apply_with_kwargs(inputs, ConfigValue(), training,
                           {mask_list_kwarg(masks, inputs.size())});
}

TensorKwarg mask_list_kwarg(std::vector<KerasTensor> masks, std::size_t inputs) {
  if (masks.size() < inputs) masks.resize(inputs);
  return TensorKwarg("mask", std::move(masks));
}

std::vector<KerasTensor> Layer::apply_with_kwargs(const std::vector<KerasTensor>& inputs,
                                                  const ConfigValue& kwargs,
                                                  std::optional<bool> training,
                                                  const std::vector<TensorKwarg>& tensor_kwargs) {
  NEURONA_CHECK(kwargs.is_null() || kwargs.kind() == ConfigValue::Kind::Dict, ValueError,
                describe(), ": the keyword arguments must be a dict, got ", kwargs.kind_name());
  std::vector<KerasTensor> all = inputs;
  ConfigValue merged = kwargs;
  // A tensor's place among the call's inputs, where it is appended; None for an undefined one.
  const auto place = [&all](const KerasTensor& t) -> ConfigValue {
    if (!t.defined()) return ConfigValue();
    all.push_back(t);
    return ConfigValue::Dict{{"__tensor__", static_cast<std::int64_t>(all.size() - 1)}};
  };
  for (const TensorKwarg& arg : tensor_kwargs) {
    NEURONA_CHECK(merged.find(arg.name) == nullptr, ValueError, describe(),
                  ": the keyword argument '", arg.name, "' is given twice");
    if (!arg.list) {
      NEURONA_CHECK(arg.tensors.size() == 1 && arg.tensors[0].defined(), ValueError, describe(),
                    ": the keyword argument '", arg.name, "' is an undefined KerasTensor");
      merged.set(arg.name, place(arg.tensors[0]));
      continue;
    }
    ConfigValue::List list;
    for (const KerasTensor& t : arg.tensors) list.push_back(place(t));
    merged.set(arg.name, std::move(list));
  }
  return symbolic_call(all, /*list_call=*/inputs.size() != 1, training, merged);
}

std::optional<std::size_t> Layer::kwarg_tensor(const ConfigValue& kwargs, const std::string& name) {
  const ConfigValue* v = kwargs.find(name);
  if (v == nullptr) return std::nullopt;
  const ConfigValue* index = v->find("__tensor__");
  if (index == nullptr || index->kind() != ConfigValue::Kind::Int) return std::nullopt;
  return static_cast<std::size_t>(index->as_int());
}

std::vector<std::optional<std::size_t>> Layer::kwarg_tensor_list(const ConfigValue& kwargs,
                                                                 const std::string& name) {
  const ConfigValue* v = kwargs.find(name);
  if (v == nullptr || v->kind() != ConfigValue::Kind::List) return {};
  std::vector<std::optional<std::size_t>> out;
  for (const ConfigValue& item : v->as_list()) {
    const ConfigValue* index = item.find("__tensor__");
    if (index != nullptr && index->kind() == ConfigValue::Kind::Int) {
      out.emplace_back(static_cast<std::size_t>(index->as_int()));
    } else if (item.is_null()) {
      out.emplace_back();
    } else {
      return {};  // not a list of tensors
    }
  }
  return out;
}

std::size_t Layer::positional_count(const ConfigValue& kwargs, std::size_t inputs) {
  std::size_t tensors = 0;
  if (kwargs.kind() == ConfigValue::Kind::Dict) {
    for (const auto& [key, value] : kwargs.as_dict()) {
      if (kwarg_tensor(kwargs, key)) {
        ++tensors;
        continue;
      }
      for (const auto& index : kwarg_tensor_list(kwargs, key)) tensors += index ? 1 : 0;
    }
  }
  return inputs - std::min(tensors, inputs);
}

void Layer::refuse_kwargs(const ConfigValue& kwargs) const {
  if (kwargs.kind() != ConfigValue::Kind::Dict) return;
  for (const auto& [key, value] : kwargs.as_dict()) {
    NEURONA_CHECK(value.is_null(), ValueError, describe(), ": got an unexpected keyword argument '",
                  key, "'");
  }
}

std::vector<KerasTensor> Layer::add_node(std::vector<KerasTensor> inputs, bool list_call,
                                         std::optional<bool> training,
                                         std::vector<TensorSpec> outputs, ConfigValue kwargs) {
  auto node = std::make_shared<Node>();
  node->layer = shared_from_this();
  node->inputs = std::move(inputs);
  node->list_call = list_call;
  node->training = training;
  node->kwargs = std::move(kwargs);
  node->outputs = std::move(outputs);
  node->index = static_cast<int>(inbound_nodes_.size());
  inbound_nodes_.push_back(node);
  std::vector<KerasTensor> out;
  for (std::size_t i = 0; i < node->outputs.size(); ++i)
    out.emplace_back(node, static_cast<int>(i));
  return out;
}

namespace {
// Keras's _get_node_attribute_at_index(0, ...): the layer's first call, here the first whose
// tensors still exist (Keras keeps every node; neurona's go with the last model or tensor
// that holds them, as a Sequential's graph rebuilt after an add does).
std::shared_ptr<Node> first_node(const std::vector<std::weak_ptr<Node>>& nodes,
                                 const std::string& who, const char* what) {
  NEURONA_CHECK(!nodes.empty(), ValueError, who, " has never been called and thus has no defined ",
                what, " (call it on KerasTensors: the functional API)");
  for (const std::weak_ptr<Node>& weak : nodes) {
    if (std::shared_ptr<Node> node = weak.lock()) return node;
  }
  throw ValueError(neurona::detail::str(
      who, " has no defined ", what,
      ": the tensors of its calls no longer exist (no model or tensor holds them)"));
}

KerasTensor single(std::vector<KerasTensor> tensors, const std::string& who, const char* what,
                   const char* list) {
  NEURONA_CHECK(tensors.size() == 1, ValueError, who, " has ", tensors.size(), " ", what, "s; ",
                list, "() returns them all");
  return tensors.front();
}
}  // namespace

std::vector<KerasTensor> Layer::output_list() const {
  const std::shared_ptr<Node> node = first_node(inbound_nodes_, describe(), "output");
  std::vector<KerasTensor> out;
  for (std::size_t i = 0; i < node->outputs.size(); ++i) {
    out.emplace_back(node, static_cast<int>(i));
  }
  return out;
}

std::vector<KerasTensor> Layer::input_list() const {
  const std::shared_ptr<Node> node = first_node(inbound_nodes_, describe(), "input");
  // Tensor-valued keyword arguments (MultiHeadAttention's attention_mask) follow the inputs.
  const std::size_t n = positional_count(node->kwargs, node->inputs.size());
  return {node->inputs.begin(), node->inputs.begin() + static_cast<std::ptrdiff_t>(n)};
}

KerasTensor Layer::output() const {
  return single(output_list(), describe(), "output", "output_list");
}

KerasTensor Layer::input() const {
  return single(input_list(), describe(), "input", "input_list");
}

Variable Layer::add_weight(const std::string& name, const Shape& shape, WeightOptions options) {
  for (int i = 0; i < shape.rank(); ++i) {
    NEURONA_CHECK(shape[i] >= 0, ShapeError, describe(), ": weight '", name,
                  "' needs a fully known shape, got ", shape_str(shape));
  }
  WeightBudget::charge(shape, describe() + " weight '" + name + "'");
  Tensor value = options.initializer(shape, {.dtype = options.dtype.value_or(dtype())});
  Variable v(value, {.name = name_ + "/" + name, .trainable = options.trainable && trainable_});
  weights_.push_back(
      {v, options.trainable, std::move(options.regularizer), std::move(options.constraint)});
  return v;
}

Tensor Layer::read(const Variable& weight) const {
  const Tensor& value = weight.value();
  if (!is_floating(value.dtype()) || value.dtype() == compute_dtype()) return value;
  return cast(value, compute_dtype());
}

void Layer::track_layer(std::shared_ptr<Layer> layer, std::string attribute) {
  NEURONA_CHECK(layer != nullptr, ValueError, describe(), ": cannot track a null layer");
  NEURONA_CHECK(layer.get() != this, ValueError, describe(), ": a layer cannot track itself");
  if (attribute.empty()) {
    // Keras's _get_unique_name for the items of a list: base, base_1, base_2, ... (the first
    // free one). next_suffix_ remembers where the search for base_n stopped, so that adding k
    // layers of a class costs O(k), not O(k^2) probes.
    const std::string base = to_snake_case(layer->class_name());
    attribute = base;
    if (attributes_taken_.count(attribute) != 0) {
      int& n = next_suffix_.try_emplace(base, 1).first->second;
      while (attributes_taken_.count(base + "_" + std::to_string(n)) != 0) ++n;
      attribute = base + "_" + std::to_string(n);
    }
  } else {
    NEURONA_CHECK(attributes_taken_.count(attribute) == 0, ValueError, describe(),
                  ": the attribute name '", attribute,
                  "' is already taken by another tracked layer");
    NEURONA_CHECK(attribute.find('/') == std::string::npos, ValueError, describe(),
                  ": an attribute name cannot contain '/', got '", attribute, "'");
  }
  if (!trainable_) layer->set_trainable(false);
  attributes_taken_.insert(attribute);
  sublayers_.push_back(std::move(layer));
  sublayer_attributes_.push_back(std::move(attribute));
}

void Layer::untrack_layer(const std::shared_ptr<Layer>& layer) {
  for (std::size_t i = sublayers_.size(); i-- > 0;) {
    if (sublayers_[i] == layer) {
      attributes_taken_.erase(sublayer_attributes_[i]);
      sublayers_.erase(sublayers_.begin() + static_cast<std::ptrdiff_t>(i));
      sublayer_attributes_.erase(sublayer_attributes_.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
  // A freed base_n is again the first free name of its base: search from the start.
  next_suffix_.clear();
}

std::vector<Layer::TrackedLayer> Layer::tracked_layers() const {
  std::vector<TrackedLayer> out;
  for (std::size_t i = 0; i < sublayers_.size(); ++i) {
    out.push_back({sublayer_attributes_[i], sublayers_[i]});
  }
  return out;
}

std::vector<Variable> Layer::own_weights() const {
  std::vector<Variable> out;
  for (const Weight& w : weights_) {
    if (w.trainable) out.push_back(w.variable);
  }
  for (const Weight& w : weights_) {
    if (!w.trainable) out.push_back(w.variable);
  }
  return out;
}

ConfigValue Layer::get_config() const {
  return ConfigValue::Dict{
      {"name", name_}, {"trainable", trainable_}, {"dtype", dtype_policy_config(policy_.name())}};
}

void Layer::set_trainable(bool trainable) {
  trainable_ = trainable;
  for (Weight& w : weights_) w.variable.set_trainable(trainable && w.trainable);
  for (auto& layer : sublayers_) layer->set_trainable(trainable);
}

void Layer::collect_weights(std::vector<const Weight*>& out) const {
  for (const Weight& w : weights_) {
    if (w.trainable) out.push_back(&w);
  }
  for (const Weight& w : weights_) {
    if (!w.trainable) out.push_back(&w);
  }
  for (const auto& layer : sublayers_) layer->collect_weights(out);
}

std::vector<SeedGenerator*> Layer::seed_generators() const {
  std::vector<SeedGenerator*> out = seed_generators_;
  for (const auto& layer : sublayers_) {
    for (SeedGenerator* g : layer->seed_generators()) {
      if (std::find(out.begin(), out.end(), g) == out.end()) out.push_back(g);
    }
  }
  return out;
}

std::vector<Variable> Layer::weights() const {
  std::vector<const Weight*> all;
  collect_weights(all);
  // A layer reached twice (shared between sublayers) lists its weights twice; each Variable
  // lives in exactly one Weight, so the Weight's address identifies it (in O(1), where
  // comparing variables pairwise took O(n^2) for a model of thousands of weights).
  std::unordered_set<const Weight*> seen;
  std::vector<Variable> out;
  for (const Weight* w : all) {
    if (seen.insert(w).second) out.push_back(w->variable);
  }
  return out;
}

std::vector<Variable> Layer::trainable_weights() const {
  std::vector<Variable> out;
  for (const Variable& v : weights()) {
    if (v.trainable()) out.push_back(v);
  }
  return out;
}

std::vector<Variable> Layer::non_trainable_weights() const {
  std::vector<Variable> out;
  for (const Variable& v : weights()) {
    if (!v.trainable()) out.push_back(v);
  }
  return out;
}

std::int64_t Layer::count_params() const {
  NEURONA_CHECK(built_, ValueError, "You tried to call `count_params` on layer '", name_,
                "', but the layer isn't built. You can build it manually via: "
                "`layer.build(input_shape)`.");
  std::int64_t n = 0;
  for (const Variable& v : weights()) n += v.shape().numel();
  return n;
}

std::vector<Tensor> Layer::get_weights() const {
  std::vector<Tensor> out;
  for (const Variable& v : weights()) out.push_back(v.read_value());
  return out;
}

void Layer::set_weights(const std::vector<Tensor>& values) {
  const std::vector<Variable> ws = weights();
  NEURONA_CHECK(values.size() == ws.size(), ValueError, "You called `set_weights(weights)` on ",
                describe(), " with a weight list of length ", values.size(),
                ", but the layer was expecting ", ws.size(), " weights.");
  for (std::size_t i = 0; i < ws.size(); ++i) {
    NEURONA_CHECK(values[i].defined(), ValueError, describe(), ".set_weights: weight ", i, " ('",
                  ws[i].name(), "') is an undefined tensor");
    NEURONA_CHECK(values[i].shape() == ws[i].shape(), ShapeError, describe(),
                  ".set_weights: weight '", ws[i].name(), "' has shape ", ws[i].shape(),
                  ", which is not compatible with the provided weight shape ", values[i].shape());
  }
  for (std::size_t i = 0; i < ws.size(); ++i) {
    Variable v = ws[i];
    v.assign(values[i].to(v.device()));
  }
}

bool Layer::remats_call(const std::vector<Shape>& input_shapes, bool list_call) const {
  if (!remat_mode_ || !remat_mode_->mode || !autograd::is_recording()) return false;
  const std::string& mode = *remat_mode_->mode;
  if (mode == "full") return true;
  if (mode == "list_of_layers") {
    const auto& names = remat_mode_->layer_names;
    return std::find(names.begin(), names.end(), name_) != names.end();
  }
  if (mode != "larger_than") return false;  // "activations": apply_activation's
  // Keras sizes the output spec of the call, an unknown dimension counting as 1.
  std::vector<Shape> outs;
  try {
    outs = list_call ? compute_output_shape_list(input_shapes)
                     : std::vector<Shape>{compute_output_shape(input_shapes[0])};
  } catch (const NotImplementedError&) {
    if (!output_shape_) return false;  // unknown before the first call: not this time
    std::vector<std::int64_t> dims = output_shape_->dims();
    if (!dims.empty() && dims[0] < 0 && input_shapes[0].rank() > 0) dims[0] = input_shapes[0][0];
    outs = {Shape(std::move(dims))};
  }
  std::int64_t size = 0;
  for (const Shape& shape : outs) {
    std::int64_t n = 1;
    for (std::int64_t d : shape.dims()) n *= d < 0 ? 1 : d;
    size += n;
  }
  return size > remat_mode_->output_size_threshold;
}

Tensor Layer::apply_activation(const activations::Activation& activation, const Tensor& y) const {
  if (remat_mode_ && remat_mode_->mode == "activations" && !activation.is_linear() &&
      autograd::is_recording()) {
    return remat([activation](const Tensor& v) { return activation(v); }, y);
  }
  return activation(y);
}

std::vector<std::pair<Layer*, std::size_t>> Layer::loss_marks() {
  std::vector<std::pair<Layer*, std::size_t>> marks;
  std::unordered_set<const Layer*> seen;
  std::vector<Layer*> stack{this};
  while (!stack.empty()) {
    Layer* layer = stack.back();
    stack.pop_back();
    if (!seen.insert(layer).second) continue;
    marks.emplace_back(layer, layer->losses_.size());
    for (auto it = layer->sublayers_.rbegin(); it != layer->sublayers_.rend(); ++it) {
      stack.push_back(it->get());
    }
  }
  return marks;
}

std::vector<Tensor> Layer::remat_call(
    const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& call,
    const std::vector<Tensor>& inputs) {
  // The layer stays alive while the tape holds the recomputation (when it is shared).
  const std::shared_ptr<Layer> keep = weak_from_this().lock();
  RematFn fn = [this, keep, call](const std::vector<Tensor>& in) {
    const CallDepth depth;  // run again from the tape, the sublayers must not clear their losses
    const auto marks = loss_marks();
    std::vector<Tensor> out = call(in);
    for (const auto& [layer, count] : marks) {
      out.insert(out.end(), layer->losses_.begin() + static_cast<std::ptrdiff_t>(count),
                 layer->losses_.end());
      if (autograd::is_recomputing()) layer->losses_.resize(count);
    }
    return out;
  };
  const auto marks = loss_marks();
  std::vector<Tensor> out = remat(fn, inputs);
  std::size_t added = 0;
  for (const auto& [layer, count] : marks) added += layer->losses_.size() - count;
  std::size_t next = out.size() - added;
  for (const auto& [layer, count] : marks) {
    for (std::size_t i = count; i < layer->losses_.size(); ++i) layer->losses_[i] = out[next++];
  }
  out.resize(out.size() - added);
  return out;
}

void Layer::clear_losses() {
  losses_.clear();
  for (auto& layer : sublayers_) layer->clear_losses();
}

std::vector<Tensor> Layer::losses() const {
  std::vector<Tensor> out = losses_;
  for (const auto& layer : sublayers_) {
    std::vector<Tensor> sub = layer->losses();
    out.insert(out.end(), sub.begin(), sub.end());
  }
  // Sublayers added their own weight penalties above; add this layer's.
  if (trainable_) {
    for (const Weight& w : weights_) {
      if (w.regularizer && w.variable.trainable()) out.push_back(w.regularizer(w.variable));
    }
  }
  return out;
}

void Layer::apply_constraints() {
  for (Weight& w : weights_) {
    if (w.constraint) w.variable.assign(w.constraint(w.variable.value()));
  }
  for (auto& layer : sublayers_) layer->apply_constraints();
}

}  // namespace neurona::layers
