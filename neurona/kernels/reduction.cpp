// Front doors of the reductions: axis normalisation, output shapes and the walk plan.
#include "neurona/kernels/reduction.h"

#include <algorithm>
#include <string>

#include "neurona/kernels/checks.h"
#include "neurona/kernels/elementwise.h"
#include "neurona/kernels/reduction_stubs.h"

namespace neurona::kernels {

DispatchStub<SoftmaxFn> softmax_stub{"softmax"};

DispatchStub<ReduceFn> reduce_stub{"reductions"};

ReducePlan reduce_plan(const Shape& shape, const std::vector<bool>& mask, const char* op) {
  const std::vector<std::int64_t> strides = kernels::contiguous_strides(shape);
  std::vector<std::int64_t> kept_dims, kept_strides[1], red_dims, red_strides[1];
  for (std::size_t u = 0; u < mask.size(); ++u) {
    const std::int64_t n = shape.dims()[u];
    if (mask[u]) {
      red_dims.push_back(n);
      red_strides[0].push_back(strides[u]);
    } else {
      kept_dims.push_back(n);
      kept_strides[0].push_back(strides[u]);
    }
  }
  ReducePlan plan;
  plan.kept = kernels::build_indexer<1>(kept_dims, kept_strides, op);
  plan.reduced = kernels::build_indexer<1>(red_dims, red_strides, op);
  plan.num_out = Shape(kept_dims).numel();
  plan.num_reduce = Shape(red_dims).numel();
  return plan;
}

std::vector<bool> reduced_axes(const Shape& shape, const Axes& axes, const char* op) {
  std::vector<bool> mask(static_cast<std::size_t>(shape.rank()), axes.all());
  if (axes.all()) return mask;
  for (int a : axes.list()) {
    const int n = shape.normalize_axis(a, op);
    NEURONA_CHECK(!mask[static_cast<std::size_t>(n)], ValueError, op, ": axis ", a,
                  " is listed twice for a tensor of shape ", shape);
    mask[static_cast<std::size_t>(n)] = true;
  }
  return mask;
}

namespace {

Tensor reduce(const char* op_name, ReduceOp op, const Tensor& x, const std::vector<bool>& mask,
              bool keepdims, DType out_dtype) {
  const Device d = kernels::check_same_device(op_name, {{"x", &x}});
  const ReducePlan plan = reduce_plan(x.shape(), mask, op_name);
  std::vector<std::int64_t> out_dims;
  for (std::size_t u = 0; u < mask.size(); ++u) {
    if (!mask[u]) {
      out_dims.push_back(x.shape().dims()[u]);
    } else if (keepdims) {
      out_dims.push_back(1);
    }
  }
  Tensor out = Tensor::empty(Shape(out_dims), out_dtype, d);
  if (op == ReduceOp::argmax || op == ReduceOp::argmin) {
    NEURONA_CHECK(plan.num_reduce > 0 || plan.num_out == 0, ValueError, op_name,
                  ": cannot take the index of an empty sequence (shape ", x.shape(), ")");
  }
  // max and min have no identity: over zero elements they are an error, as in Keras 3 and
  // NumPy (TensorFlow's -inf/+inf, the lowest/highest value, would pass silently).
  if ((op == ReduceOp::max || op == ReduceOp::min) && plan.num_reduce == 0 && plan.num_out > 0) {
    std::string axes;
    for (std::size_t i = 0; i < mask.size(); ++i) {
      if (mask[i]) axes += (axes.empty() ? "" : ", ") + std::to_string(i);
    }
    throw ValueError(detail::str(op_name, ": cannot reduce over zero elements (axes [", axes,
                                 "] of x with shape ", x.shape(), "); the ", op_name,
                                 " of an empty set is undefined"));
  }
  if (plan.num_out > 0) kernels::reduce_stub.get(d)(op, x, plan, out);
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, Axes axes, bool keepdims) {
  kernels::check_same_device("sum", {{"x", &x}});
  return reduce("sum", ReduceOp::sum, x, reduced_axes(x.shape(), axes, "sum"), keepdims, x.dtype());
}

Tensor mean(const Tensor& x, Axes axes, bool keepdims) {
  kernels::check_same_device("mean", {{"x", &x}});
  const Tensor xf = is_floating(x.dtype()) ? x : cast(x, DType::float32);
  return reduce("mean", ReduceOp::mean, xf, reduced_axes(x.shape(), axes, "mean"), keepdims,
                xf.dtype());
}

Tensor max(const Tensor& x, Axes axes, bool keepdims) {
  kernels::check_same_device("max", {{"x", &x}});
  return reduce("max", ReduceOp::max, x, reduced_axes(x.shape(), axes, "max"), keepdims, x.dtype());
}

Tensor min(const Tensor& x, Axes axes, bool keepdims) {
  kernels::check_same_device("min", {{"x", &x}});
  return reduce("min", ReduceOp::min, x, reduced_axes(x.shape(), axes, "min"), keepdims, x.dtype());
}

namespace {
Tensor arg_reduce(const char* op_name, ReduceOp op, const Tensor& x, std::optional<int> axis,
                  bool keepdims) {
  kernels::check_same_device(op_name, {{"x", &x}});
  if (!axis) {
    const Tensor flat = x.reshape({-1});
    Tensor r = reduce(op_name, op, flat, {true}, false, DType::int64);
    if (!keepdims) return r;
    return r.reshape(Shape(std::vector<std::int64_t>(static_cast<std::size_t>(x.rank()), 1)));
  }
  NEURONA_CHECK(x.rank() > 0, ShapeError, op_name, ": axis ", *axis,
                " given for a scalar (shape ())");
  return reduce(op_name, op, x, reduced_axes(x.shape(), Axes(*axis), op_name), keepdims,
                DType::int64);
}

Tensor softmax_impl(const char* op_name, bool log, const Tensor& x, int axis) {
  const Device d = kernels::check_same_device(op_name, {{"x", &x}});
  kernels::check_floating(op_name, "x", x);
  NEURONA_CHECK(x.rank() > 0, ShapeError, op_name, ": needs at least one dimension, got shape ()");
  const int a = x.shape().normalize_axis(axis, op_name);
  std::int64_t outer = 1, inner = 1;
  for (int i = 0; i < a; ++i) outer *= x.shape()[i];
  for (int i = a + 1; i < x.rank(); ++i) inner *= x.shape()[i];
  Tensor out = Tensor::empty(x.shape(), x.dtype(), d);
  if (out.numel() > 0) kernels::softmax_stub.get(d)(log, x, outer, x.shape()[a], inner, out);
  return out;
}
}  // namespace

Tensor argmax(const Tensor& x, std::optional<int> axis, bool keepdims) {
  return arg_reduce("argmax", ReduceOp::argmax, x, axis, keepdims);
}
Tensor argmin(const Tensor& x, std::optional<int> axis, bool keepdims) {
  return arg_reduce("argmin", ReduceOp::argmin, x, axis, keepdims);
}

Tensor softmax(const Tensor& x, int axis) {
  return softmax_impl("softmax", false, x, axis);
}
Tensor log_softmax(const Tensor& x, int axis) {
  return softmax_impl("log_softmax", true, x, axis);
}

}  // namespace neurona::kernels
