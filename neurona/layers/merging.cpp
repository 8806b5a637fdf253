// The merging layers as Keras 3 computes them (keras/src/layers/merging/): the shape checks of
// their build(), their output shapes, and Keras's messages; the arithmetic in differentiable ops.
#include "neurona/layers/merging.h"

#include <set>

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"
#include "neurona/layers/masking.h"

namespace neurona::layers {

namespace {

const char* merge_class_name(MergeOp op) {
  switch (op) {
    case MergeOp::add:
      return "Add";
    case MergeOp::subtract:
      return "Subtract";
    case MergeOp::multiply:
      return "Multiply";
    case MergeOp::average:
      return "Average";
    case MergeOp::maximum:
      return "Maximum";
    case MergeOp::minimum:
      return "Minimum";
  }
  return "Merge";
}

// "[(None, 3), (None, 4)]": Keras's input_shape in its messages.
std::string shapes_str(const std::vector<Shape>& shapes) {
  std::string out = "[";
  for (std::size_t i = 0; i < shapes.size(); ++i) out += (i ? ", " : "") + shape_str(shapes[i]);
  return out + "]";
}

std::string merge_list_error(const Layer& layer, const Tensor& inputs) {
  return layer.describe() +
         ": A merge layer should be called on a list of inputs. Received: inputs of shape " +
         shape_str(inputs.shape()) + " (not a list of tensors)";
}

// Keras's _compute_elemwise_op_output_shape on the shapes without their batch axis: aligned on
// the right, a 1 stretches, an unknown (-1) stays unknown.
Shape elementwise_shape(const Layer& layer, const Shape& a, const Shape& b) {
  const Shape& longer = a.rank() >= b.rank() ? a : b;
  const Shape& shorter = a.rank() >= b.rank() ? b : a;
  const int lead = longer.rank() - shorter.rank();
  std::vector<std::int64_t> dims(longer.begin(), longer.begin() + lead);
  for (int i = 0; i < shorter.rank(); ++i) {
    const std::int64_t x = longer[lead + i];
    const std::int64_t y = shorter[i];
    if (x < 0 || y < 0) {
      dims.push_back(-1);
    } else if (x == 1) {
      dims.push_back(y);
    } else if (y == 1 || x == y) {
      dims.push_back(x);
    } else {
      throw ValueError(layer.describe() + ": Inputs have incompatible shapes. Received shapes " +
                       shape_str(a) + " and " + shape_str(b));
    }
  }
  return Shape(std::move(dims));
}

Shape without_batch(const Shape& s) {
  return Shape(std::vector<std::int64_t>(s.begin() + (s.rank() > 0 ? 1 : 0), s.end()));
}

// The batch size the inputs agree on (-1 when none is known); ValueError when they differ.
std::int64_t common_batch(const Layer& layer, const std::vector<Shape>& shapes) {
  std::set<std::int64_t> batches;
  for (const Shape& s : shapes) {
    NEURONA_CHECK(s.rank() >= 1, ValueError, layer.describe(),
                  ": expected inputs with a batch dimension, got ", shapes_str(shapes));
    if (s[0] >= 0) batches.insert(s[0]);
  }
  NEURONA_CHECK(batches.size() <= 1, ValueError, layer.describe(),
                ": Cannot merge tensors with different batch sizes. Received tensors with shapes ",
                shapes_str(shapes));
  return batches.empty() ? -1 : *batches.begin();
}

}  // namespace

// ---- Add, Subtract, Multiply, Average, Maximum, Minimum ---------------------------------------

ElementwiseMergeLayer::ElementwiseMergeLayer(MergeOp op, LayerOptions options)
    : Layer(merge_class_name(op), std::move(options)), op_(op) {
  set_supports_masking(true);
}

void ElementwiseMergeLayer::build_list(const std::vector<Shape>& input_shapes) {
  (void)compute_output_shape_list(input_shapes);
}

std::vector<Shape> ElementwiseMergeLayer::compute_output_shape_list(
    const std::vector<Shape>& input_shapes) const {
  NEURONA_CHECK(!input_shapes.empty(), ValueError, describe(),
                ": A merge layer should be called on a list of at least 1 input. Received 0 "
                "inputs.");
  NEURONA_CHECK(op_ != MergeOp::subtract || input_shapes.size() == 2, ValueError, describe(),
                ": A `Subtract` layer should be called on exactly 2 inputs. Received: "
                "input_shape=",
                shapes_str(input_shapes));
  const std::int64_t batch = common_batch(*this, input_shapes);
  Shape out = without_batch(input_shapes[0]);
  for (std::size_t i = 1; i < input_shapes.size(); ++i) {
    out = elementwise_shape(*this, out, without_batch(input_shapes[i]));
  }
  std::vector<std::int64_t> dims{batch};
  dims.insert(dims.end(), out.begin(), out.end());
  return {Shape(std::move(dims))};
}

Tensor ElementwiseMergeLayer::call(const Tensor& inputs, bool /*training*/) {
  throw ValueError(merge_list_error(*this, inputs));
}

std::vector<Tensor> ElementwiseMergeLayer::call_list(const std::vector<Tensor>& inputs,
                                                     bool /*training*/) {
  std::vector<Shape> shapes;
  int max_rank = 0;
  for (const Tensor& x : inputs) {
    shapes.push_back(x.shape());
    max_rank = std::max(max_rank, x.rank());
  }
  (void)compute_output_shape_list(shapes);  // the checks, for eager calls on new shapes
  // Keras's _reshape_required: a lower-rank input gets axes of 1 after its batch axis.
  std::vector<Tensor> xs;
  for (const Tensor& x : inputs) {
    if (x.rank() == max_rank) {
      xs.push_back(x);
      continue;
    }
    std::vector<std::int64_t> dims{x.shape()[0]};
    dims.insert(dims.end(), static_cast<std::size_t>(max_rank - x.rank()), 1);
    dims.insert(dims.end(), x.shape().begin() + 1, x.shape().end());
    xs.push_back(reshape(x, Shape(std::move(dims))));
  }
  Tensor out = xs[0];
  for (std::size_t i = 1; i < xs.size(); ++i) {
    switch (op_) {
      case MergeOp::add:
      case MergeOp::average:
        out = add(out, xs[i]);
        break;
      case MergeOp::subtract:
        out = subtract(out, xs[i]);
        break;
      case MergeOp::multiply:
        out = multiply(out, xs[i]);
        break;
      case MergeOp::maximum:
        out = maximum(out, xs[i]);
        break;
      case MergeOp::minimum:
        out = minimum(out, xs[i]);
        break;
    }
  }
  if (op_ == MergeOp::average) {
    out = divide(out, scalar_like(out, static_cast<double>(xs.size())));
  }
  return {out};
}

template <MergeOp Op>
ElementwiseMerge<Op> ElementwiseMerge<Op>::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, merge_class_name(Op));
  return ElementwiseMerge<Op>(r.layer_options());
}

template class ElementwiseMerge<MergeOp::add>;
template class ElementwiseMerge<MergeOp::subtract>;
template class ElementwiseMerge<MergeOp::multiply>;
template class ElementwiseMerge<MergeOp::average>;
template class ElementwiseMerge<MergeOp::maximum>;
template class ElementwiseMerge<MergeOp::minimum>;

// ---- Concatenate ------------------------------------------------------------------------------

ConcatenateLayer::ConcatenateLayer(ConcatenateOptions options)
    : Layer("Concatenate", std::move(options.layer)), axis_(options.axis) {
  set_supports_masking(true);
}

std::vector<Tensor> ElementwiseMergeLayer::compute_mask_list(
    const std::vector<Tensor>& /*inputs*/, const std::vector<Tensor>& masks) const {
  return {masks_or(masks)};
}

std::vector<Tensor> ElementwiseMergeLayer::call_list_with_masks(const std::vector<Tensor>& inputs,
                                                                const std::vector<Tensor>& masks,
                                                                bool training) {
  const bool masked_op =
      op_ == MergeOp::multiply || op_ == MergeOp::maximum || op_ == MergeOp::minimum;
  bool any_mask = false, same_rank = true;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    any_mask = any_mask || (i < masks.size() && masks[i].defined());
    same_rank = same_rank && inputs[i].rank() == inputs[0].rank();
  }
  // Keras reads the masks only when no input needs reshaping (equal ranks).
  if (!masked_op || !any_mask || !same_rank || masks.size() != inputs.size()) {
    return call_list(inputs, training);
  }
  std::vector<Shape> shapes;
  for (const Tensor& x : inputs) shapes.push_back(x.shape());
  (void)compute_output_shape_list(shapes);
  // A (batch, steps) mask as where()'s condition over (batch, steps, features).
  const auto over_features = [](const Tensor& m) {
    std::vector<std::int64_t> dims = m.shape().dims();
    dims.push_back(1);
    return reshape(mask_condition(m), Shape(std::move(dims)));
  };
  Tensor output, output_mask;
  if (op_ == MergeOp::multiply) {
    bool all_masked = true;
    for (const Tensor& m : masks) all_masked = all_masked && m.defined();
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      Tensor x = inputs[i];
      if (masks[i].defined()) {
        x = where(over_features(masks[i]), x, scalar_like(x, 1.0));
        if (all_masked) {
          output_mask = output_mask.defined() ? masks_or({output_mask, masks[i]}) : masks[i];
        }
      }
      output = output.defined() ? multiply(output, x) : x;
    }
    if (all_masked) {
      output = where(over_features(output_mask), output, scalar_like(output, 0.0));
      output.set_keras_mask(masks_or({output_mask}));
    }
    return {output};
  }
  // Keras's _apply_merge_op_and_or_mask.
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    Tensor x = inputs[i];
    const Tensor& m = masks[i];
    if (i == 0) {
      output = x;
      output_mask = m;
      continue;
    }
    if (m.defined()) x = where(over_features(m), x, output);
    if (output_mask.defined()) output = where(over_features(output_mask), output, x);
    output_mask = m.defined() && output_mask.defined() ? masks_or({output_mask, m}) : Tensor();
    output = op_ == MergeOp::maximum ? maximum(output, x) : minimum(output, x);
  }
  if (output_mask.defined()) output.set_keras_mask(masks_or({output_mask}));
  return {output};
}

std::vector<Tensor> ConcatenateLayer::compute_mask_list(const std::vector<Tensor>& inputs,
                                                        const std::vector<Tensor>& masks) const {
  NEURONA_CHECK(masks.size() == inputs.size(), ValueError, describe(),
                ": The lists `inputs` and `mask` should have the same length. Received: ",
                inputs.size(), " inputs and ", masks.size(), " masks");
  bool any_mask = false;
  for (const Tensor& m : masks) any_mask = any_mask || m.defined();
  if (!any_mask) return {};
  std::vector<Tensor> full;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    const Tensor& m = masks[i];
    if (!m.defined()) {
      full.push_back(ones(x.shape(), {.dtype = DType::float32, .device = x.device()}));
      continue;
    }
    Tensor f = cast(not_equal(m, scalar_like(m, 0.0)), DType::float32);
    if (m.rank() < x.rank()) {
      std::vector<std::int64_t> dims = m.shape().dims();
      dims.push_back(1);
      f = broadcast_to(reshape(f, Shape(std::move(dims))), x.shape());
    }
    full.push_back(f);
  }
  return {mask_any(concat(full, axis_), -1)};
}

ConfigValue ConcatenateLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("axis", axis_);
  return config;
}

void ConcatenateLayer::build_list(const std::vector<Shape>& input_shapes) {
  (void)compute_output_shape_list(input_shapes);
}

std::vector<Shape> ConcatenateLayer::compute_output_shape_list(
    const std::vector<Shape>& input_shapes) const {
  NEURONA_CHECK(!input_shapes.empty(), ValueError, describe(),
                ": A `Concatenate` layer should be called on a list of at least 1 input. "
                "Received: input_shape=[]");
  const int rank = input_shapes[0].rank();
  // Made only when thrown: this check runs on every eager call.
  const auto mismatch = [&] {
    return ValueError(neurona::detail::str(
        describe(),
        ": A `Concatenate` layer requires inputs with matching shapes except for the "
        "concatenation axis. Received: input_shape=",
        shapes_str(input_shapes)));
  };
  NEURONA_CHECK(axis_ >= -rank && axis_ < rank, ValueError, describe(), ": axis ", axis_,
                " is out of range for inputs of rank ", rank,
                " (input_shape=", shapes_str(input_shapes), ")");
  const int axis = axis_ < 0 ? axis_ + rank : axis_;
  NEURONA_CHECK(axis != 0, ValueError, describe(),
                ": cannot concatenate along the batch axis (axis 0)");
  std::vector<std::int64_t> dims = input_shapes[0].dims();
  for (std::size_t i = 1; i < input_shapes.size(); ++i) {
    const Shape& s = input_shapes[i];
    if (s.rank() != rank) throw mismatch();
    for (int d = 0; d < rank; ++d) {
      if (d == axis) continue;
      if (dims[d] >= 0 && s[d] >= 0 && dims[d] != s[d]) throw mismatch();
      if (dims[d] < 0) dims[d] = s[d];
    }
    dims[axis] = dims[axis] < 0 || s[axis] < 0 ? -1 : dims[axis] + s[axis];
  }
  return {Shape(std::move(dims))};
}

Tensor ConcatenateLayer::call(const Tensor& inputs, bool /*training*/) {
  throw ValueError(describe() +
                   ": A `Concatenate` layer should be called on a list of inputs. Received: "
                   "input_shape=" +
                   shape_str(inputs.shape()));
}

std::vector<Tensor> ConcatenateLayer::call_list(const std::vector<Tensor>& inputs,
                                                bool /*training*/) {
  std::vector<Shape> shapes;
  for (const Tensor& x : inputs) shapes.push_back(x.shape());
  (void)compute_output_shape_list(shapes);
  const int rank = inputs[0].rank();
  return {inputs.size() == 1 ? inputs[0] : concat(inputs, axis_ < 0 ? axis_ + rank : axis_)};
}

Concatenate::Concatenate(ConcatenateOptions options)
    : LayerHandle<ConcatenateLayer>(std::make_shared<ConcatenateLayer>(std::move(options))) {}

Concatenate Concatenate::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Concatenate");
  return Concatenate({.axis = static_cast<int>(r.integer("axis", -1)), .layer = r.layer_options()});
}

// ---- Dot --------------------------------------------------------------------------------------

DotLayer::DotLayer(DotOptions options)
    : Layer("Dot", options.layer), options_(std::move(options)) {}

ConfigValue DotLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  if (const int* a = std::get_if<int>(&options_.axes)) {
    config.set("axes", *a);
  } else {
    const auto& pair = std::get<std::array<int, 2>>(options_.axes);
    config.set("axes", ConfigValue::List{pair[0], pair[1]});
  }
  config.set("normalize", options_.normalize);
  return config;
}

std::array<int, 2> DotLayer::axes_for(int rank1, int rank2) const {
  auto wrap = [](int a, int rank) { return ((a % rank) + rank) % rank; };
  if (const int* a = std::get_if<int>(&options_.axes)) {
    return *a < 0 ? std::array{wrap(*a, rank1), wrap(*a, rank2)} : std::array{*a, *a};
  }
  const auto& pair = std::get<std::array<int, 2>>(options_.axes);
  return {pair[0] < 0 ? wrap(pair[0], rank1) : pair[0],
          pair[1] < 0 ? wrap(pair[1], rank2) : pair[1]};
}

void DotLayer::build_list(const std::vector<Shape>& input_shapes) {
  (void)compute_output_shape_list(input_shapes);
}

std::vector<Shape> DotLayer::compute_output_shape_list(
    const std::vector<Shape>& input_shapes) const {
  NEURONA_CHECK(input_shapes.size() == 2, ValueError, describe(),
                ": A `Dot` layer should be called on a list of 2 inputs. Received: input_shape=",
                shapes_str(input_shapes));
  const Shape& a = input_shapes[0];
  const Shape& b = input_shapes[1];
  NEURONA_CHECK(a.rank() >= 2 && b.rank() >= 2, ValueError, describe(),
                ": Cannot do batch_dot on inputs with rank < 2. Received inputs with shapes ",
                shape_str(a), " and ", shape_str(b), ".");
  (void)common_batch(*this, input_shapes);
  const auto axes = axes_for(a.rank(), b.rank());
  NEURONA_CHECK(axes[0] < a.rank() && axes[1] < b.rank(), ValueError, describe(), ": axes (",
                axes[0], ", ", axes[1], ") are out of range for inputs of shapes ", shape_str(a),
                " and ", shape_str(b));
  NEURONA_CHECK(axes[0] != 0 && axes[1] != 0, ValueError, describe(),
                ": Cannot perform batch_dot over axis 0. If your inputs are not batched, add a "
                "dummy batch dimension to your inputs using keras.ops.expand_dims(x, 0)");
  NEURONA_CHECK(a[axes[0]] < 0 || b[axes[1]] < 0 || a[axes[0]] == b[axes[1]], ValueError,
                describe(), ": Incompatible input shapes: axis values ", a[axes[0]], " (at axis ",
                axes[0], ") != ", b[axes[1]], " (at axis ", axes[1],
                "). Full input shapes: ", shape_str(a), ", ", shape_str(b));
  std::vector<std::int64_t> dims;
  for (int i = 0; i < a.rank(); ++i) {
    if (i != axes[0]) dims.push_back(a[i]);
  }
  for (int i = 1; i < b.rank(); ++i) {
    if (i != axes[1]) dims.push_back(b[i]);
  }
  if (dims.size() == 1) dims.push_back(1);
  return {Shape(std::move(dims))};
}

Tensor DotLayer::call(const Tensor& inputs, bool /*training*/) {
  throw ValueError(describe() +
                   ": A `Dot` layer should be called on exactly 2 inputs. Received: "
                   "inputs of shape " +
                   shape_str(inputs.shape()));
}

namespace {
// Keras's L2 normalize: x * min(rsqrt(sum(x^2, axis)), 1 / epsilon), epsilon 1e-7.
Tensor l2_normalize(const Tensor& x, int axis) {
  const Tensor inv = divide(scalar_like(x, 1.0), sqrt(sum(square(x), {axis}, /*keepdims=*/true)));
  return multiply(x, minimum(inv, scalar_like(x, 1e7)));
}

// Moves axis `from` of x to position `to`, keeping the others in order.
Tensor move_axis(const Tensor& x, int from, int to) {
  if (from == to) return x;
  std::vector<int> perm;
  for (int i = 0; i < x.rank(); ++i) {
    if (i != from) perm.push_back(i);
  }
  perm.insert(perm.begin() + to, from);
  return transpose(x, perm);
}
}  // namespace

std::vector<Tensor> DotLayer::call_list(const std::vector<Tensor>& inputs, bool /*training*/) {
  const std::vector<Shape> out = compute_output_shape_list({inputs[0].shape(), inputs[1].shape()});
  const auto axes = axes_for(inputs[0].rank(), inputs[1].rank());
  Tensor x = inputs[0];
  Tensor y = inputs[1];
  if (options_.normalize) {
    x = l2_normalize(x, axes[0]);
    y = l2_normalize(y, axes[1]);
  }
  // batch_dot: x as (batch, rest of x, k), y as (batch, k, rest of y), one batched matmul.
  x = move_axis(x, axes[0], x.rank() - 1);
  y = move_axis(y, axes[1], 1);
  const std::int64_t batch = x.shape()[0];
  const std::int64_t k = x.shape()[x.rank() - 1];
  x = reshape(x, Shape{batch, -1, k});
  y = reshape(y, Shape{batch, k, -1});
  std::vector<std::int64_t> dims = out[0].dims();
  dims[0] = batch;
  return {reshape(matmul(x, y), Shape(std::move(dims)))};
}

Dot::Dot(DotOptions options)
    : LayerHandle<DotLayer>(std::make_shared<DotLayer>(std::move(options))) {}

Dot::Dot(int axes, bool normalize) : Dot(DotOptions{.axes = axes, .normalize = normalize}) {}

Dot Dot::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Dot");
  const ConfigValue& axes = r.need("axes");
  DotOptions options{.normalize = r.boolean("normalize", false), .layer = r.layer_options()};
  if (axes.kind() == ConfigValue::Kind::List) {
    const std::vector<std::int64_t> a = r.ints("axes", axes);
    NEURONA_CHECK(a.size() == 2, ValueError, r.who(),
                  ": Invalid format for argument `axes`: it should contain two elements.");
    options.axes = std::array<int, 2>{static_cast<int>(a[0]), static_cast<int>(a[1])};
  } else {
    options.axes = static_cast<int>(r.integer("axes"));
  }
  return Dot(std::move(options));
}

}  // namespace neurona::layers
