// Front doors of the fused batch normalization: argument checks (naming the op, the argument and
// the shapes), the (outer, channels, inner) view of the input, the 16-bit widening where a
// device's kernel takes float32 and float64 only (the CPU's), and dispatch.
#include "neurona/kernels/batch_norm.h"

#include <cmath>
#include <limits>

#include "neurona/kernels/batch_norm_stubs.h"
#include "neurona/kernels/checks.h"
#include "neurona/kernels/creation.h"
#include "neurona/kernels/widen.h"

namespace neurona::kernels {

DispatchStub<BatchNormTrainingFn> batch_norm_training_stub{"batch_norm_training"};
DispatchStub<BatchNormInferenceFn> batch_norm_inference_stub{"batch_norm_inference"};
DispatchStub<BatchNormBackwardFn> batch_norm_backward_stub{"batch_norm_backward"};

namespace {

// The dtype of the statistics, the scale and the offset: float32 for 16-bit inputs (what Keras
// computes them in), else the input's.
DType statistics_dtype(DType x) {
  return is_half(x) ? DType::float32 : x;
}

BatchNormGeometry geometry(const char* op, const Tensor& x, int axis) {
  check_floating(op, "x", x);
  NEURONA_CHECK(x.rank() >= 1, ShapeError, op,
                ": argument x needs an axis to normalize over, got shape ", x.shape());
  const int a = x.shape().normalize_axis(axis, op);
  BatchNormGeometry g;
  for (int i = 0; i < a; ++i) g.outer *= x.shape()[i];
  g.channels = x.shape()[a];
  for (int i = a + 1; i < x.rank(); ++i) g.inner *= x.shape()[i];
  return g;
}

// A per-channel argument: undefined where `optional`, else of shape (channels,) and the
// statistics' dtype.
void check_channel_vector(const char* op, const char* arg, const Tensor& t, const Tensor& x,
                          int axis, const BatchNormGeometry& g, bool optional) {
  if (optional && !t.defined()) return;
  NEURONA_CHECK(t.defined(), ValueError, op, ": argument ", arg, " is an undefined tensor");
  NEURONA_CHECK(t.shape() == Shape({g.channels}), ShapeError, op, ": argument ", arg, " has shape ",
                t.shape(), " but x of shape ", x.shape(), " has ", g.channels, " channels on axis ",
                axis, "; expected shape ", Shape({g.channels}));
  const DType want = statistics_dtype(x.dtype());
  NEURONA_CHECK(t.dtype() == want, ValueError, op, ": argument ", arg, " has dtype ", t.dtype(),
                " (shape ", t.shape(), ") but x of dtype ", x.dtype(), " needs ", want,
                is_half(x.dtype()) ? " (16-bit inputs are normalized in float32)" : "",
                "; cast it with nr::cast");
  NEURONA_CHECK(t.device() == x.device(), ValueError, op, ": argument ", arg, " is on ", t.device(),
                " but x is on ", x.device(), "; move one with .to(device)");
}

void check_epsilon(const char* op, double epsilon) {
  NEURONA_CHECK(std::isfinite(epsilon) && epsilon >= 0, ValueError, op,
                ": epsilon must be finite and >= 0, got ", epsilon);
}

Tensor channel_tensor(const BatchNormGeometry& g, DType dtype, Device d) {
  return Tensor::empty({g.channels}, dtype, d);
}

}  // namespace

Tensor batch_norm_training(const Tensor& x, int axis, const Tensor& offset, const Tensor& scale,
                           double epsilon, BatchNormStatistics* statistics) {
  constexpr const char* op = "batch_norm_training";
  const Device d = check_same_device(op, {{"x", &x}});
  const BatchNormGeometry g = geometry(op, x, axis);
  check_channel_vector(op, "offset", offset, x, axis, g, true);
  check_channel_vector(op, "scale", scale, x, axis, g, true);
  check_epsilon(op, epsilon);
  const DType sd = statistics_dtype(x.dtype());
  Tensor y = Tensor::empty(x.shape(), x.dtype(), d);
  BatchNormStatistics s;
  if (g.rows() == 0 || g.channels == 0) {
    // No values: the mean of none is NaN, as Keras's mean of an empty batch.
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (Tensor* t : {&s.mean, &s.variance, &s.inv_std}) {
      *t = fill({g.channels}, nan, {.dtype = sd, .device = d});
    }
  } else {
    s = {channel_tensor(g, sd, d), channel_tensor(g, sd, d), channel_tensor(g, sd, d)};
    if (batch_norm_training_stub.widens(d, x.dtype())) {
      Tensor wide = wide_like(y);
      batch_norm_training_stub.get(d, DType::float32)(widen(x), g, offset, scale, epsilon, wide,
                                                      s.mean, s.variance, s.inv_std);
      narrow_into(wide, y);
    } else {
      batch_norm_training_stub.get(d, x.dtype())(x, g, offset, scale, epsilon, y, s.mean,
                                                 s.variance, s.inv_std);
    }
  }
  if (statistics != nullptr) *statistics = s;
  return y;
}

Tensor batch_norm_inference(const Tensor& x, const Tensor& mean, const Tensor& variance, int axis,
                            const Tensor& offset, const Tensor& scale, double epsilon) {
  constexpr const char* op = "batch_norm_inference";
  const Device d = check_same_device(op, {{"x", &x}, {"mean", &mean}, {"variance", &variance}});
  const BatchNormGeometry g = geometry(op, x, axis);
  check_channel_vector(op, "mean", mean, x, axis, g, false);
  check_channel_vector(op, "variance", variance, x, axis, g, false);
  check_channel_vector(op, "offset", offset, x, axis, g, true);
  check_channel_vector(op, "scale", scale, x, axis, g, true);
  check_epsilon(op, epsilon);
  Tensor y = Tensor::empty(x.shape(), x.dtype(), d);
  if (y.numel() == 0) return y;
  if (batch_norm_inference_stub.widens(d, x.dtype())) {
    Tensor wide = wide_like(y);
    batch_norm_inference_stub.get(d, DType::float32)(widen(x), g, mean, variance, offset, scale,
                                                     epsilon, wide);
    narrow_into(wide, y);
  } else {
    batch_norm_inference_stub.get(d, x.dtype())(x, g, mean, variance, offset, scale, epsilon, y);
  }
  return y;
}

BatchNormGradients batch_norm_backward(const Tensor& x, const Tensor& grad, const Tensor& mean,
                                       const Tensor& inv_std, int axis, const Tensor& scale,
                                       BatchNormWanted wanted) {
  constexpr const char* op = "batch_norm_backward";
  const Device d =
      check_same_device(op, {{"x", &x}, {"grad", &grad}, {"mean", &mean}, {"inv_std", &inv_std}});
  const BatchNormGeometry g = geometry(op, x, axis);
  NEURONA_CHECK(grad.shape() == x.shape() && grad.dtype() == x.dtype(), ShapeError, op,
                ": argument grad has shape ", grad.shape(), " and dtype ", grad.dtype(),
                " but x has shape ", x.shape(), " and dtype ", x.dtype(),
                "; the gradient of y has x's shape and dtype");
  check_channel_vector(op, "mean", mean, x, axis, g, false);
  check_channel_vector(op, "inv_std", inv_std, x, axis, g, false);
  check_channel_vector(op, "scale", scale, x, axis, g, true);
  const DType sd = statistics_dtype(x.dtype());
  BatchNormGradients r;
  if (wanted.dx) r.dx = Tensor::empty(x.shape(), x.dtype(), d);
  if (g.rows() == 0 || g.channels == 0) {
    // Sums over no values.
    if (wanted.dscale) r.dscale = zeros({g.channels}, {.dtype = sd, .device = d});
    if (wanted.doffset) r.doffset = zeros({g.channels}, {.dtype = sd, .device = d});
    return r;
  }
  if (wanted.dscale) r.dscale = channel_tensor(g, sd, d);
  if (wanted.doffset) r.doffset = channel_tensor(g, sd, d);
  if (!wanted.dx && !wanted.dscale && !wanted.doffset) return r;
  if (batch_norm_backward_stub.widens(d, x.dtype())) {
    Tensor wide = wanted.dx ? wide_like(r.dx) : Tensor();
    batch_norm_backward_stub.get(d, DType::float32)(widen(x), widen(grad), g, mean, inv_std, scale,
                                                    wide, r.dscale, r.doffset);
    if (wanted.dx) narrow_into(wide, r.dx);
  } else {
    batch_norm_backward_stub.get(d, x.dtype())(x, grad, g, mean, inv_std, scale, r.dx, r.dscale,
                                               r.doffset);
  }
  return r;
}

}  // namespace neurona::kernels
