// CPU kernels of the fused batch normalization (arithmetic in math/batch_norm_ops.h), float32
// (accumulated in float64) and float64. Channels last (inner == 1), the common case: each
// thread walks a band of rows keeping a running mean and M2 (Welford) or sums per channel, the
// loop over a row's channels vectorising, and the bands are combined in order. Another axis:
// each (outer, channel) run of `inner` contiguous values gets its own mean and M2 (two passes
// over a run that sits in cache) or sums, and the runs are combined per channel. Then one
// elementwise pass writes y or dx. Reading x twice (statistics, then normalizing) and x and dy
// twice in the backward pass is the least a batch too large for the cache allows.
#include <omp.h>

#include <algorithm>
#include <vector>

#include "neurona/kernels/batch_norm_stubs.h"
#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/math/batch_norm_ops.h"

namespace neurona::kernels::cpu {

namespace {

using Acc = double;

// Per-channel count, mean and M2 of x viewed as (outer, channels, inner).
template <typename T>
std::vector<Welford<Acc>> channel_statistics(const T* x, const BatchNormGeometry& g) {
  const std::int64_t channels = g.channels;
  std::vector<Welford<Acc>> out(static_cast<std::size_t>(channels), Welford<Acc>{0, 0, 0});
  if (g.inner == 1) {
    const std::int64_t rows = g.outer;
    const int bands = bands_for(rows, rows * channels);
    std::vector<Acc> mean(static_cast<std::size_t>(bands * channels), 0.0);
    std::vector<Acc> m2(mean.size(), 0.0), count(static_cast<std::size_t>(bands), 0.0);
    for_each_band(bands, [&](int b) {
      Acc* mu = mean.data() + b * channels;
      Acc* q = m2.data() + b * channels;
      Acc n = 0;
      for (std::int64_t r = band_start(rows, b, bands); r < band_start(rows, b + 1, bands); ++r) {
        n += 1;
        const Acc inv_count = 1.0 / n;
        const T* row = x + r * channels;
        for (std::int64_t c = 0; c < channels; ++c) {
          welford_add(mu[c], q[c], static_cast<Acc>(row[c]), inv_count);
        }
      }
      count[static_cast<std::size_t>(b)] = n;
    });
    for (std::int64_t c = 0; c < channels; ++c) {
      Welford<Acc>& s = out[static_cast<std::size_t>(c)];
      for (int b = 0; b < bands; ++b) {
        const auto at = static_cast<std::size_t>(b * channels + c);
        s = welford_combine(s, Welford<Acc>{count[static_cast<std::size_t>(b)], mean[at], m2[at]});
      }
    }
    return out;
  }
  // One mean and M2 per run (o, c), which starts at (o * channels + c) * inner.
  const std::int64_t runs = g.outer * channels, inner = g.inner;
  std::vector<Acc> run_mean(static_cast<std::size_t>(runs)), run_m2(run_mean.size());
  Acc* const mean_p = run_mean.data();
  Acc* const m2_p = run_m2.data();
  Launch{}(runs, inner, [=](std::int64_t k) {
    const T* p = x + k * inner;
    Acc s = 0;
    for (std::int64_t i = 0; i < inner; ++i) s += static_cast<Acc>(p[i]);
    const Acc m = s / static_cast<Acc>(inner);
    Acc q = 0;
    for (std::int64_t i = 0; i < inner; ++i) {
      const Acc d = static_cast<Acc>(p[i]) - m;
      q += d * d;
    }
    mean_p[k] = m;
    m2_p[k] = q;
  });
  Welford<Acc>* const out_p = out.data();
  Launch{}(channels, g.outer, [=, outer = g.outer](std::int64_t c) {
    Welford<Acc> s{0, 0, 0};
    for (std::int64_t o = 0; o < outer; ++o) {
      const std::int64_t k = o * channels + c;
      s = welford_combine(s, Welford<Acc>{static_cast<Acc>(inner), mean_p[k], m2_p[k]});
    }
    out_p[c] = s;
  });
  return out;
}

// y = x * mul[c] + add[c], in T, over x viewed as (outer, channels, inner).
template <typename T>
void apply_affine(const T* x, T* y, const BatchNormGeometry& g, const std::vector<T>& mul,
                  const std::vector<T>& add) {
  const std::int64_t channels = g.channels, inner = g.inner;
  const T* const m = mul.data();
  const T* const a = add.data();
  if (inner == 1) {
    Launch{}(g.outer, channels, [=](std::int64_t r) {
      const T* xr = x + r * channels;
      T* yr = y + r * channels;
      for (std::int64_t c = 0; c < channels; ++c) yr[c] = xr[c] * m[c] + a[c];
    });
  } else {
    Launch{}(g.outer * channels, inner, [=](std::int64_t k) {
      const std::int64_t c = k % channels;
      const T mc = m[c], ac = a[c];
      const T* xr = x + k * inner;
      T* yr = y + k * inner;
      for (std::int64_t i = 0; i < inner; ++i) yr[i] = xr[i] * mc + ac;
    });
  }
}

template <typename T>
const T* optional_data(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// y from per-channel mean and inverse standard deviation (Keras's arithmetic, in float64 for
// the channel constants, then in T per value).
template <typename T>
void normalize(const Tensor& x, const BatchNormGeometry& g, const std::vector<Acc>& mean,
               const std::vector<Acc>& inv_std, const Tensor& offset, const Tensor& scale,
               Tensor& y) {
  std::vector<T> mul(mean.size()), add(mean.size());
  for (std::size_t c = 0; c < mean.size(); ++c) {
    const BatchNormAffine<Acc> f =
        batch_norm_affine(mean[c], inv_std[c], optional_data<T>(scale), optional_data<T>(offset),
                          static_cast<std::int64_t>(c));
    mul[c] = static_cast<T>(f.mul);
    add[c] = static_cast<T>(f.add);
  }
  apply_affine(x.data<T>(), y.data<T>(), g, mul, add);
}

template <typename T>
void training_typed(const Tensor& x, const BatchNormGeometry& g, const Tensor& offset,
                    const Tensor& scale, double epsilon, Tensor& y, Tensor& mean_out,
                    Tensor& variance_out, Tensor& inv_std_out) {
  const std::vector<Welford<Acc>> s = channel_statistics(x.data<T>(), g);
  std::vector<Acc> mean(s.size()), inv_std(s.size());
  T* const mean_p = mean_out.data<T>();
  T* const variance_p = variance_out.data<T>();
  T* const inv_std_p = inv_std_out.data<T>();
  for (std::size_t c = 0; c < s.size(); ++c) {
    const Acc variance = s[c].m2 / s[c].count;
    mean[c] = s[c].mean;
    inv_std[c] = batch_norm_inv_std(variance, epsilon);
    mean_p[c] = static_cast<T>(mean[c]);
    variance_p[c] = static_cast<T>(variance);
    inv_std_p[c] = static_cast<T>(inv_std[c]);
  }
  normalize<T>(x, g, mean, inv_std, offset, scale, y);
}

template <typename T>
void inference_typed(const Tensor& x, const BatchNormGeometry& g, const Tensor& mean_in,
                     const Tensor& variance_in, const Tensor& offset, const Tensor& scale,
                     double epsilon, Tensor& y) {
  const auto channels = static_cast<std::size_t>(g.channels);
  std::vector<Acc> mean(channels), inv_std(channels);
  const T* const mean_p = mean_in.data<T>();
  const T* const variance_p = variance_in.data<T>();
  for (std::size_t c = 0; c < channels; ++c) {
    mean[c] = static_cast<Acc>(mean_p[c]);
    inv_std[c] = batch_norm_inv_std(static_cast<Acc>(variance_p[c]), epsilon);
  }
  normalize<T>(x, g, mean, inv_std, offset, scale, y);
}

// Per-channel sum(dy) and sum(dy * (x - mean)), accumulated in float64.
template <typename T>
void backward_sums(const T* x, const T* dy, const BatchNormGeometry& g, const T* mean_in,
                   std::vector<Acc>& sum_dy, std::vector<Acc>& sum_dy_xmu) {
  const std::int64_t channels = g.channels, inner = g.inner;
  std::vector<Acc> mean(static_cast<std::size_t>(channels));
  for (std::int64_t c = 0; c < channels; ++c) mean[static_cast<std::size_t>(c)] = mean_in[c];
  sum_dy.assign(static_cast<std::size_t>(channels), 0.0);
  sum_dy_xmu.assign(sum_dy.size(), 0.0);
  if (inner == 1) {
    const std::int64_t rows = g.outer;
    const int bands = bands_for(rows, rows * channels);
    std::vector<Acc> band_dy(static_cast<std::size_t>(bands * channels), 0.0);
    std::vector<Acc> band_dy_xmu(band_dy.size(), 0.0);
    const Acc* const mu = mean.data();
    for_each_band(bands, [&](int b) {
      Acc* sd = band_dy.data() + b * channels;
      Acc* sx = band_dy_xmu.data() + b * channels;
      for (std::int64_t r = band_start(rows, b, bands); r < band_start(rows, b + 1, bands); ++r) {
        const T* xr = x + r * channels;
        const T* dr = dy + r * channels;
        for (std::int64_t c = 0; c < channels; ++c) {
          const Acc d = static_cast<Acc>(dr[c]);
          sd[c] += d;
          sx[c] += d * (static_cast<Acc>(xr[c]) - mu[c]);
        }
      }
    });
    for (int b = 0; b < bands; ++b) {
      for (std::int64_t c = 0; c < channels; ++c) {
        const auto at = static_cast<std::size_t>(b * channels + c);
        sum_dy[static_cast<std::size_t>(c)] += band_dy[at];
        sum_dy_xmu[static_cast<std::size_t>(c)] += band_dy_xmu[at];
      }
    }
    return;
  }
  const std::int64_t runs = g.outer * channels;
  std::vector<Acc> run_dy(static_cast<std::size_t>(runs)), run_dy_xmu(run_dy.size());
  Acc* const rd = run_dy.data();
  Acc* const rx = run_dy_xmu.data();
  const Acc* const mu = mean.data();
  Launch{}(runs, inner, [=](std::int64_t k) {
    const Acc m = mu[k % channels];
    const T* xr = x + k * inner;
    const T* dr = dy + k * inner;
    Acc sd = 0, sx = 0;
    for (std::int64_t i = 0; i < inner; ++i) {
      const Acc d = static_cast<Acc>(dr[i]);
      sd += d;
      sx += d * (static_cast<Acc>(xr[i]) - m);
    }
    rd[k] = sd;
    rx[k] = sx;
  });
  Acc* const out_dy = sum_dy.data();
  Acc* const out_dy_xmu = sum_dy_xmu.data();
  Launch{}(channels, g.outer, [=, outer = g.outer](std::int64_t c) {
    Acc sd = 0, sx = 0;
    for (std::int64_t o = 0; o < outer; ++o) {
      sd += rd[o * channels + c];
      sx += rx[o * channels + c];
    }
    out_dy[c] = sd;
    out_dy_xmu[c] = sx;
  });
}

template <typename T>
void backward_typed(const Tensor& x, const Tensor& grad, const BatchNormGeometry& g,
                    const Tensor& mean, const Tensor& inv_std, const Tensor& scale, Tensor& dx,
                    Tensor& dscale, Tensor& doffset) {
  std::vector<Acc> sum_dy, sum_dy_xmu;
  backward_sums(x.data<T>(), grad.data<T>(), g, mean.data<T>(), sum_dy, sum_dy_xmu);
  const T* const inv_std_p = inv_std.data<T>();
  const auto channels = static_cast<std::size_t>(g.channels);
  if (dscale.defined()) {
    T* const p = dscale.data<T>();
    for (std::size_t c = 0; c < channels; ++c) {
      p[c] = static_cast<T>(sum_dy_xmu[c] * static_cast<Acc>(inv_std_p[c]));
    }
  }
  if (doffset.defined()) {
    T* const p = doffset.data<T>();
    for (std::size_t c = 0; c < channels; ++c) p[c] = static_cast<T>(sum_dy[c]);
  }
  if (!dx.defined()) return;
  // The channel constants in float64, then rounded to T for the pass over the values.
  std::vector<BatchNormBackwardCoefficients<T>> k(channels);
  const T* const mean_p = mean.data<T>();
  const T* const scale_p = optional_data<T>(scale);
  for (std::size_t c = 0; c < channels; ++c) {
    const BatchNormBackwardCoefficients<Acc> kc = batch_norm_backward_coefficients(
        static_cast<Acc>(mean_p[c]), static_cast<Acc>(inv_std_p[c]), scale_p,
        static_cast<std::int64_t>(c), sum_dy[c], sum_dy_xmu[c], static_cast<Acc>(g.rows()));
    k[c] = {static_cast<T>(kc.mean), static_cast<T>(kc.mul), static_cast<T>(kc.mean_dy),
            static_cast<T>(kc.k)};
  }
  const T* const xp = x.data<T>();
  const T* const dyp = grad.data<T>();
  T* const dxp = dx.data<T>();
  const BatchNormBackwardCoefficients<T>* const kp = k.data();
  const std::int64_t cs = g.channels, inner = g.inner;
  if (inner == 1) {
    Launch{}(g.outer, cs, [=](std::int64_t r) {
      const std::int64_t at = r * cs;
      for (std::int64_t c = 0; c < cs; ++c) {
        dxp[at + c] = batch_norm_input_gradient(kp[c], xp[at + c], dyp[at + c]);
      }
    });
  } else {
    Launch{}(g.outer * cs, inner, [=](std::int64_t run) {
      const BatchNormBackwardCoefficients<T> kc = kp[run % cs];
      const std::int64_t at = run * inner;
      for (std::int64_t i = 0; i < inner; ++i) {
        dxp[at + i] = batch_norm_input_gradient(kc, xp[at + i], dyp[at + i]);
      }
    });
  }
}

// float32 and float64 (the front door widens 16-bit data; other dtypes never get here).
template <typename F>
void visit_float32_64(DType d, F&& f) {
  if (d == DType::float64) return f(double{});
  NEURONA_CHECK(d == DType::float32, ValueError, "batch_norm: ", d,
                " data reach the CPU kernel (front door bug)");
  f(float{});
}

void training(const Tensor& x, const BatchNormGeometry& g, const Tensor& offset,
              const Tensor& scale, double epsilon, Tensor& y, Tensor& mean, Tensor& variance,
              Tensor& inv_std) {
  visit_float32_64(x.dtype(), [&](auto t) {
    training_typed<decltype(t)>(x, g, offset, scale, epsilon, y, mean, variance, inv_std);
  });
}

void inference(const Tensor& x, const BatchNormGeometry& g, const Tensor& mean,
               const Tensor& variance, const Tensor& offset, const Tensor& scale, double epsilon,
               Tensor& y) {
  visit_float32_64(x.dtype(), [&](auto t) {
    inference_typed<decltype(t)>(x, g, mean, variance, offset, scale, epsilon, y);
  });
}

void backward(const Tensor& x, const Tensor& grad, const BatchNormGeometry& g, const Tensor& mean,
              const Tensor& inv_std, const Tensor& scale, Tensor& dx, Tensor& dscale,
              Tensor& doffset) {
  visit_float32_64(x.dtype(), [&](auto t) {
    backward_typed<decltype(t)>(x, grad, g, mean, inv_std, scale, dx, dscale, doffset);
  });
}

}  // namespace

void register_batch_norm() {
  batch_norm_training_stub.cpu = training;
  batch_norm_training_stub.cpu_dtypes = kFloat32And64;
  batch_norm_inference_stub.cpu = inference;
  batch_norm_inference_stub.cpu_dtypes = kFloat32And64;
  batch_norm_backward_stub.cpu = backward;
  batch_norm_backward_stub.cpu_dtypes = kFloat32And64;
}

}  // namespace neurona::kernels::cpu
