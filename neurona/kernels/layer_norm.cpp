// Front doors of the fused layer normalization: argument checks (naming the op, the argument and
// the shapes), the (rows, features) view of the input, the 16-bit widening where a device's
// kernel takes float32 and float64 only (the CPU's), and dispatch.
#include "neurona/kernels/layer_norm.h"

#include <cmath>
#include <limits>
#include <vector>

#include "neurona/kernels/checks.h"
#include "neurona/kernels/creation.h"
#include "neurona/kernels/layer_norm_stubs.h"
#include "neurona/kernels/widen.h"

namespace neurona::kernels {

DispatchStub<LayerNormForwardFn> layer_norm_forward_stub{"layer_norm_forward"};
DispatchStub<LayerNormBackwardFn> layer_norm_backward_stub{"layer_norm_backward"};

namespace {

// The dtype of the statistics, gamma and beta: float32 for 16-bit inputs (what Keras computes
// them in), else the input's.
DType statistics_dtype(DType x) {
  return is_half(x) ? DType::float32 : x;
}

struct View {
  LayerNormGeometry g;
  int begin = 0;
  // x.shape()[begin:], the shape of gamma and beta.
  Shape features;
  // x.shape()[:begin], the shape of the statistics.
  Shape rows;
};

View view(const char* op, const Tensor& x, int begin_axis, bool rms) {
  check_floating(op, "x", x);
  NEURONA_CHECK(x.rank() >= 1, ShapeError, op,
                ": argument x needs an axis to normalize over, got shape ", x.shape());
  View v;
  v.g.rms = rms;
  v.begin = x.shape().normalize_axis(begin_axis, op);
  std::vector<std::int64_t> lead, trail;
  for (int i = 0; i < x.rank(); ++i) {
    (i < v.begin ? lead : trail).push_back(x.shape()[i]);
    (i < v.begin ? v.g.rows : v.g.features) *= x.shape()[i];
  }
  v.rows = Shape(std::move(lead));
  v.features = Shape(std::move(trail));
  return v;
}

// A per-feature argument (gamma, beta): undefined where `optional`, else of x's trailing shape
// and the statistics' dtype.
void check_feature_tensor(const char* op, const char* arg, const Tensor& t, const Tensor& x,
                          const View& v, bool optional) {
  if (optional && !t.defined()) return;
  NEURONA_CHECK(t.defined(), ValueError, op, ": argument ", arg, " is an undefined tensor");
  NEURONA_CHECK(t.shape() == v.features, ShapeError, op, ": argument ", arg, " has shape ",
                t.shape(), " but x of shape ", x.shape(), " normalized from axis ", v.begin,
                " needs its trailing shape ", v.features);
  const DType want = statistics_dtype(x.dtype());
  NEURONA_CHECK(t.dtype() == want, ValueError, op, ": argument ", arg, " has dtype ", t.dtype(),
                " (shape ", t.shape(), ") but x of dtype ", x.dtype(), " needs ", want,
                is_half(x.dtype()) ? " (16-bit inputs are normalized in float32)" : "",
                "; cast it with nr::cast");
  NEURONA_CHECK(t.device() == x.device(), ValueError, op, ": argument ", arg, " is on ", t.device(),
                " but x is on ", x.device(), "; move one with .to(device)");
}

// A per-row statistic (mean, inv_std) of the backward pass: x's leading shape.
void check_row_tensor(const char* op, const char* arg, const Tensor& t, const Tensor& x,
                      const View& v) {
  NEURONA_CHECK(t.defined(), ValueError, op, ": argument ", arg, " is an undefined tensor");
  NEURONA_CHECK(t.shape() == v.rows && t.dtype() == statistics_dtype(x.dtype()), ShapeError, op,
                ": argument ", arg, " has shape ", t.shape(), " and dtype ", t.dtype(),
                " but x of shape ", x.shape(), " and dtype ", x.dtype(), " normalized from axis ",
                v.begin, " needs shape ", v.rows, " and dtype ", statistics_dtype(x.dtype()));
}

}  // namespace

Tensor layer_norm_forward(const Tensor& x, int begin_axis, const Tensor& gamma, const Tensor& beta,
                          double epsilon, LayerNormStatistics* statistics, bool rms) {
  constexpr const char* op = "layer_norm_forward";
  const Device d = check_same_device(op, {{"x", &x}});
  const View v = view(op, x, begin_axis, rms);
  NEURONA_CHECK(!rms || !beta.defined(), ValueError, op,
                ": RMS normalization takes no beta (an offset), got one of shape ", beta.shape());
  check_feature_tensor(op, "gamma", gamma, x, v, true);
  check_feature_tensor(op, "beta", beta, x, v, true);
  NEURONA_CHECK(std::isfinite(epsilon) && epsilon >= 0, ValueError, op,
                ": epsilon must be finite and >= 0, got ", epsilon);
  const DType sd = statistics_dtype(x.dtype());
  Tensor y = Tensor::empty(x.shape(), x.dtype(), d);
  LayerNormStatistics s;
  if (v.g.features == 0) {
    // A row of no values: its mean is NaN, as Keras's mean over an empty axis (the RMS
    // normalization's mean statistic stays 0).
    const double nan = std::numeric_limits<double>::quiet_NaN();
    s.mean = fill(v.rows, rms ? 0.0 : nan, {.dtype = sd, .device = d});
    s.inv_std = fill(v.rows, nan, {.dtype = sd, .device = d});
  } else {
    s = {Tensor::empty(v.rows, sd, d), Tensor::empty(v.rows, sd, d)};
    if (v.g.rows > 0) {
      if (layer_norm_forward_stub.widens(d, x.dtype())) {
        Tensor wide = wide_like(y);
        layer_norm_forward_stub.get(d, DType::float32)(widen(x), v.g, gamma, beta, epsilon, wide,
                                                       s.mean, s.inv_std);
        narrow_into(wide, y);
      } else {
        layer_norm_forward_stub.get(d, x.dtype())(x, v.g, gamma, beta, epsilon, y, s.mean,
                                                  s.inv_std);
      }
    }
  }
  if (statistics != nullptr) *statistics = s;
  return y;
}

LayerNormGradients layer_norm_backward(const Tensor& x, const Tensor& grad, const Tensor& mean,
                                       const Tensor& inv_std, int begin_axis, const Tensor& gamma,
                                       LayerNormWanted wanted, bool rms) {
  constexpr const char* op = "layer_norm_backward";
  const Device d =
      check_same_device(op, {{"x", &x}, {"grad", &grad}, {"mean", &mean}, {"inv_std", &inv_std}});
  const View v = view(op, x, begin_axis, rms);
  NEURONA_CHECK(!rms || !wanted.dbeta, ValueError, op,
                ": RMS normalization has no beta, so no dbeta; ask for dx and dgamma only");
  NEURONA_CHECK(grad.shape() == x.shape() && grad.dtype() == x.dtype(), ShapeError, op,
                ": argument grad has shape ", grad.shape(), " and dtype ", grad.dtype(),
                " but x has shape ", x.shape(), " and dtype ", x.dtype(),
                "; the gradient of y has x's shape and dtype");
  check_row_tensor(op, "mean", mean, x, v);
  check_row_tensor(op, "inv_std", inv_std, x, v);
  check_feature_tensor(op, "gamma", gamma, x, v, true);
  const DType sd = statistics_dtype(x.dtype());
  LayerNormGradients r;
  if (wanted.dx) r.dx = Tensor::empty(x.shape(), x.dtype(), d);
  if (v.g.rows == 0 || v.g.features == 0) {
    // Sums over no rows (and a dx of no values).
    if (wanted.dgamma) r.dgamma = zeros(v.features, {.dtype = sd, .device = d});
    if (wanted.dbeta) r.dbeta = zeros(v.features, {.dtype = sd, .device = d});
    return r;
  }
  if (wanted.dgamma) r.dgamma = Tensor::empty(v.features, sd, d);
  if (wanted.dbeta) r.dbeta = Tensor::empty(v.features, sd, d);
  if (!wanted.dx && !wanted.dgamma && !wanted.dbeta) return r;
  if (layer_norm_backward_stub.widens(d, x.dtype())) {
    Tensor wide = wanted.dx ? wide_like(r.dx) : Tensor();
    layer_norm_backward_stub.get(d, DType::float32)(widen(x), widen(grad), v.g, mean, inv_std,
                                                    gamma, wide, r.dgamma, r.dbeta);
    if (wanted.dx) narrow_into(wide, r.dx);
  } else {
    layer_norm_backward_stub.get(d, x.dtype())(x, grad, v.g, mean, inv_std, gamma, r.dx, r.dgamma,
                                               r.dbeta);
  }
  return r;
}

}  // namespace neurona::kernels
