// Front doors of the elementwise ops.
#include "neurona/kernels/elementwise.h"

#include "neurona/kernels/checks.h"
#include "neurona/kernels/creation.h"
#include "neurona/kernels/elementwise_stubs.h"
#include "neurona/kernels/widen.h"

namespace neurona::kernels {

DispatchStub<CastFn> cast_stub{"cast"};

DispatchStub<WhereFn> where_stub{"where"};

DispatchStub<UnaryFn> unary_stub{"unary elementwise ops"};

DispatchStub<BinaryFn> binary_stub{"binary elementwise ops"};

namespace {

Tensor binary(const char* op_name, BinaryOp op, const Tensor& x, const Tensor& y) {
  const Device d = kernels::check_same_device(op_name, {{"x", &x}, {"y", &y}});
  kernels::check_same_dtype(op_name, {{"x", &x}, {"y", &y}});
  const Shape shape = broadcast_shapes(x.shape(), y.shape(), op_name);
  const DType out_dtype = kernels::is_comparison(op) ? DType::uint8 : x.dtype();
  Tensor out = Tensor::empty(shape, out_dtype, d);
  if (out.numel() > 0) kernels::binary_stub.get(d)(op, x, y, out);
  return out;
}

Tensor unary(const char* op_name, UnaryOp op, const Tensor& x, double alpha = 0.0) {
  const Device d = kernels::check_same_device(op_name, {{"x", &x}});
  if (!kernels::unary_allows_integers(op)) kernels::check_floating(op_name, "x", x);
  Tensor out = Tensor::empty(x.shape(), x.dtype(), d);
  if (out.numel() > 0) kernels::unary_stub.get(d)(op, alpha, x, out);
  return out;
}

}  // namespace

Tensor add(const Tensor& x, const Tensor& y) {
  return binary("add", BinaryOp::add, x, y);
}
Tensor subtract(const Tensor& x, const Tensor& y) {
  return binary("subtract", BinaryOp::subtract, x, y);
}
Tensor multiply(const Tensor& x, const Tensor& y) {
  return binary("multiply", BinaryOp::multiply, x, y);
}
Tensor divide(const Tensor& x, const Tensor& y) {
  if (x.defined() && y.defined() && !is_floating(x.dtype()) && x.dtype() == y.dtype()) {
    return binary("divide", BinaryOp::divide, cast(x, DType::float32), cast(y, DType::float32));
  }
  return binary("divide", BinaryOp::divide, x, y);
}
Tensor pow(const Tensor& x, const Tensor& y) {
  return binary("pow", BinaryOp::pow, x, y);
}
Tensor maximum(const Tensor& x, const Tensor& y) {
  return binary("maximum", BinaryOp::maximum, x, y);
}
Tensor minimum(const Tensor& x, const Tensor& y) {
  return binary("minimum", BinaryOp::minimum, x, y);
}
Tensor relu_grad(const Tensor& grad, const Tensor& x) {
  return binary("relu_grad", BinaryOp::relu_grad, grad, x);
}
Tensor gelu_grad(const Tensor& grad, const Tensor& x) {
  kernels::check_floating("gelu_grad", "x", x);
  return binary("gelu_grad", BinaryOp::gelu_grad, grad, x);
}
Tensor gelu_approximate_grad(const Tensor& grad, const Tensor& x) {
  kernels::check_floating("gelu_approximate_grad", "x", x);
  return binary("gelu_approximate_grad", BinaryOp::gelu_approximate_grad, grad, x);
}
Tensor equal(const Tensor& x, const Tensor& y) {
  return binary("equal", BinaryOp::equal, x, y);
}
Tensor not_equal(const Tensor& x, const Tensor& y) {
  return binary("not_equal", BinaryOp::not_equal, x, y);
}
Tensor less(const Tensor& x, const Tensor& y) {
  return binary("less", BinaryOp::less, x, y);
}
Tensor less_equal(const Tensor& x, const Tensor& y) {
  return binary("less_equal", BinaryOp::less_equal, x, y);
}
Tensor greater(const Tensor& x, const Tensor& y) {
  return binary("greater", BinaryOp::greater, x, y);
}
Tensor greater_equal(const Tensor& x, const Tensor& y) {
  return binary("greater_equal", BinaryOp::greater_equal, x, y);
}

Tensor where(const Tensor& condition, const Tensor& x, const Tensor& y) {
  const Device d =
      kernels::check_same_device("where", {{"condition", &condition}, {"x", &x}, {"y", &y}});
  NEURONA_CHECK(condition.dtype() == DType::uint8, ValueError,
                "where: argument condition must be a uint8 mask (as comparisons return), got ",
                condition.dtype(), " with shape ", condition.shape());
  kernels::check_same_dtype("where", {{"x", &x}, {"y", &y}});
  const Shape shape =
      broadcast_shapes(broadcast_shapes(condition.shape(), x.shape(), "where"), y.shape(), "where");
  Tensor out = Tensor::empty(shape, x.dtype(), d);
  if (out.numel() > 0) kernels::where_stub.get(d)(condition, x, y, out);
  return out;
}

Tensor neg(const Tensor& x) {
  return unary("neg", UnaryOp::neg, x);
}
Tensor abs(const Tensor& x) {
  return unary("abs", UnaryOp::abs, x);
}
Tensor square(const Tensor& x) {
  return unary("square", UnaryOp::square, x);
}
Tensor exp(const Tensor& x) {
  return unary("exp", UnaryOp::exp, x);
}
Tensor log(const Tensor& x) {
  return unary("log", UnaryOp::log, x);
}
Tensor sqrt(const Tensor& x) {
  return unary("sqrt", UnaryOp::sqrt, x);
}
Tensor erf(const Tensor& x) {
  return unary("erf", UnaryOp::erf, x);
}
Tensor sin(const Tensor& x) {
  return unary("sin", UnaryOp::sin, x);
}
Tensor cos(const Tensor& x) {
  return unary("cos", UnaryOp::cos, x);
}
Tensor floor(const Tensor& x) {
  return unary("floor", UnaryOp::floor, x);
}
Tensor relu(const Tensor& x) {
  return unary("relu", UnaryOp::relu, x);
}
Tensor sigmoid(const Tensor& x) {
  return unary("sigmoid", UnaryOp::sigmoid, x);
}
Tensor tanh(const Tensor& x) {
  return unary("tanh", UnaryOp::tanh, x);
}
Tensor elu(const Tensor& x, double alpha) {
  return unary("elu", UnaryOp::elu, x, alpha);
}
Tensor selu(const Tensor& x) {
  return unary("selu", UnaryOp::selu, x);
}
Tensor gelu(const Tensor& x) {
  return unary("gelu", UnaryOp::gelu, x);
}
Tensor gelu_approximate(const Tensor& x) {
  return unary("gelu_approximate", UnaryOp::gelu_approximate, x);
}
Tensor silu(const Tensor& x) {
  return unary("silu", UnaryOp::silu, x);
}
Tensor softplus(const Tensor& x) {
  return unary("softplus", UnaryOp::softplus, x);
}
Tensor softsign(const Tensor& x) {
  return unary("softsign", UnaryOp::softsign, x);
}
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  return unary("leaky_relu", UnaryOp::leaky_relu, x, negative_slope);
}
Tensor hard_sigmoid(const Tensor& x) {
  return unary("hard_sigmoid", UnaryOp::hard_sigmoid, x);
}

Tensor cast(const Tensor& x, DType dtype) {
  const Device d = kernels::check_same_device("cast", {{"x", &x}});
  if (x.dtype() == dtype) return x;
  Tensor out = Tensor::empty(x.shape(), dtype, d);
  if (out.numel() > 0) kernels::cast_stub.get(d)(x, out);
  return out;
}

Tensor widen(const Tensor& t) {
  if (!t.defined() || !is_half(t.dtype())) return t;
  return cast(t, DType::float32);
}

Tensor wide_like(const Tensor& out) {
  return Tensor::empty(out.shape(), DType::float32, out.device());
}

void narrow_into(const Tensor& wide, Tensor& out) {
  if (out.numel() > 0) kernels::cast_stub.get(out.device())(wide, out);
}

Tensor scalar_like(const Tensor& like, double value) {
  NEURONA_CHECK(like.defined(), ValueError, "scalar_like: the tensor is undefined");
  return fill({}, value, {.dtype = like.dtype(), .device = like.device()});
}

}  // namespace neurona::kernels
