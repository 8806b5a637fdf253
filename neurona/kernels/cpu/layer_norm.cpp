// CPU kernels of the fused layer normalization (arithmetic in math/layer_norm_ops.h), float32
// and float64, computed in float64; RMS normalization (LayerNormGeometry::rms) takes the mean
// as 0. Forward: each row (parallel over rows) takes its mean,
// then its variance as the mean of squared deviations (two passes over a row that sits in
// cache: no cancellation where the mean is large against the spread), then writes y. A row's
// sums run in interleaved chains that vectorize (lanes.h). Backward:
// each thread walks a band of rows, taking a row's two sums (of dxhat and dxhat * xhat), writing
// its dx and adding its dy * xhat and dy to the band's per-feature sums; the bands' sums are
// combined in band order into dgamma and dbeta.
#include <vector>

#include "neurona/kernels/cpu/lanes.h"
#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/layer_norm_stubs.h"
#include "neurona/kernels/math/layer_norm_ops.h"

namespace neurona::kernels::cpu {

namespace {

using Acc = double;

template <typename T>
const T* optional_data(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <typename T>
void forward_typed(const Tensor& x, const LayerNormGeometry& g, const Tensor& gamma,
                   const Tensor& beta, double epsilon, Tensor& y, Tensor& mean, Tensor& inv_std) {
  const T* const xp = x.data<T>();
  T* const yp = y.data<T>();
  T* const mp = mean.data<T>();
  T* const ip = inv_std.data<T>();
  const T* const gp = optional_data<T>(gamma);
  const T* const bp = optional_data<T>(beta);
  const std::int64_t n = g.features;
  Launch{}(g.rows, n, [=](std::int64_t r) {
    const T* xr = xp + r * n;
    const Acc s = g.rms ? Acc(0) : lane_sum<Acc>(n, [xr](std::int64_t j) { return Acc(xr[j]); });
    const Acc mu = s / static_cast<Acc>(n);
    const Acc q = lane_sum<Acc>(n, [xr, mu](std::int64_t j) {
      const Acc d = static_cast<Acc>(xr[j]) - mu;
      return d * d;
    });
    const Acc inv = layer_norm_inv_std<Acc>(q / static_cast<Acc>(n), epsilon);
    mp[r] = static_cast<T>(mu);
    ip[r] = static_cast<T>(inv);
    // In float64: x - mean keeps the digits that the mean rounded to float32 would lose when it
    // is large against the spread.
    T* yr = yp + r * n;
    for (std::int64_t j = 0; j < n; ++j) {
      yr[j] = static_cast<T>(layer_norm_output(static_cast<Acc>(xr[j]), mu, inv, gp, bp, j));
    }
  });
}

// dx of one row from its dy, x, mean and inverse deviation: gamma given or not decided at
// compile time, so that the row's loops vectorize.
template <bool HasGamma, typename T>
void input_gradient_row(const T* xr, const T* dyr, const T* gp, std::int64_t n, Acc mu, Acc inv,
                        bool rms, T* dxr) {
  const auto dxhat_at = [dyr, gp](std::int64_t j) {
    if constexpr (HasGamma) {
      return static_cast<Acc>(dyr[j]) * static_cast<Acc>(gp[j]);
    } else {
      return static_cast<Acc>(dyr[j]);
    }
  };
  const auto xhat_at = [xr, mu, inv](std::int64_t j) {
    return (static_cast<Acc>(xr[j]) - mu) * inv;
  };
  const Acc s_dxhat = lane_sum<Acc>(n, dxhat_at);
  const Acc s_dxhat_xhat =
      lane_sum<Acc>(n, [&](std::int64_t j) { return dxhat_at(j) * xhat_at(j); });
  // RMS normalization subtracts no mean: no mean term in dx.
  const Acc a = rms ? Acc(0) : s_dxhat / static_cast<Acc>(n);
  const Acc c = s_dxhat_xhat / static_cast<Acc>(n);
  for (std::int64_t j = 0; j < n; ++j) {
    dxr[j] = static_cast<T>(layer_norm_input_gradient(dxhat_at(j), xhat_at(j), inv, a, c));
  }
}

template <typename T>
void backward_typed(const Tensor& x, const Tensor& grad, const LayerNormGeometry& g,
                    const Tensor& mean, const Tensor& inv_std, const Tensor& gamma, Tensor& dx,
                    Tensor& dgamma, Tensor& dbeta) {
  const T* const xp = x.data<T>();
  const T* const dyp = grad.data<T>();
  const T* const mp = mean.data<T>();
  const T* const ip = inv_std.data<T>();
  const T* const gp = optional_data<T>(gamma);
  T* const dxp = dx.defined() ? dx.data<T>() : nullptr;
  const bool sums = dgamma.defined() || dbeta.defined();
  const std::int64_t rows = g.rows, n = g.features;
  const int bands = bands_for(rows, rows * n);
  // Per band: n sums of dy * xhat, then n sums of dy.
  std::vector<Acc> partial(sums ? static_cast<std::size_t>(bands * 2 * n) : 0, 0.0);
  for_each_band(bands, [&](int b) {
    Acc* pg = sums ? partial.data() + b * 2 * n : nullptr;
    Acc* pb = sums ? pg + n : nullptr;
    for (std::int64_t r = band_start(rows, b, bands); r < band_start(rows, b + 1, bands); ++r) {
      const T* xr = xp + r * n;
      const T* dyr = dyp + r * n;
      const Acc mu = mp[r], inv = ip[r];
      if (dxp != nullptr) {
        if (gp != nullptr) {
          input_gradient_row<true>(xr, dyr, gp, n, mu, inv, g.rms, dxp + r * n);
        } else {
          input_gradient_row<false>(xr, dyr, gp, n, mu, inv, g.rms, dxp + r * n);
        }
      }
      if (sums) {
        for (std::int64_t j = 0; j < n; ++j) {
          const Acc dy = dyr[j];
          pg[j] += dy * ((static_cast<Acc>(xr[j]) - mu) * inv);
          pb[j] += dy;
        }
      }
    }
  });
  if (!sums) return;
  T* const dg = dgamma.defined() ? dgamma.data<T>() : nullptr;
  T* const db = dbeta.defined() ? dbeta.data<T>() : nullptr;
  for (std::int64_t j = 0; j < n; ++j) {
    Acc sg = 0, sb = 0;
    for (int b = 0; b < bands; ++b) {
      sg += partial[static_cast<std::size_t>(b * 2 * n + j)];
      sb += partial[static_cast<std::size_t>(b * 2 * n + n + j)];
    }
    if (dg != nullptr) dg[j] = static_cast<T>(sg);
    if (db != nullptr) db[j] = static_cast<T>(sb);
  }
}

// float32 and float64 (the front door widens 16-bit data; other dtypes never get here).
template <typename F>
void visit_float32_64(DType d, F&& f) {
  if (d == DType::float64) return f(double{});
  NEURONA_CHECK(d == DType::float32, ValueError, "layer_norm: ", d,
                " data reach the CPU kernel (front door bug)");
  f(float{});
}

void forward(const Tensor& x, const LayerNormGeometry& g, const Tensor& gamma, const Tensor& beta,
             double epsilon, Tensor& y, Tensor& mean, Tensor& inv_std) {
  visit_float32_64(x.dtype(), [&](auto t) {
    forward_typed<decltype(t)>(x, g, gamma, beta, epsilon, y, mean, inv_std);
  });
}

void backward(const Tensor& x, const Tensor& grad, const LayerNormGeometry& g, const Tensor& mean,
              const Tensor& inv_std, const Tensor& gamma, Tensor& dx, Tensor& dgamma,
              Tensor& dbeta) {
  visit_float32_64(x.dtype(), [&](auto t) {
    backward_typed<decltype(t)>(x, grad, g, mean, inv_std, gamma, dx, dgamma, dbeta);
  });
}

}  // namespace

void register_layer_norm() {
  layer_norm_forward_stub.cpu = forward;
  layer_norm_forward_stub.cpu_dtypes = kFloat32And64;
  layer_norm_backward_stub.cpu = backward;
  layer_norm_backward_stub.cpu_dtypes = kFloat32And64;
}

}  // namespace neurona::kernels::cpu
