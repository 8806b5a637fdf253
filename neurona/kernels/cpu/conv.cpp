// CPU convolution as im2col + OpenBLAS GEMM, a chunk of images at a time so that the patch
// matrix stays small, or through oneDNN (kernels/cpu/conv_onednn.cpp) for float32 where that
// measured faster; pooling and padding run the shared functors.

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "neurona/config.h"
#include "neurona/kernels/conv_stubs.h"
#include "neurona/kernels/cpu/bias_activation.h"
#include "neurona/kernels/cpu/blas.h"
#include "neurona/kernels/cpu/conv_onednn.h"
#include "neurona/kernels/cpu/kernels.h"
#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/math/conv_functors.h"

namespace neurona::kernels {

namespace {

constexpr int kUnread = -1;
std::atomic<int> g_conv_impl{kUnread};

void check_available(CpuConvImpl impl, const char* where) {
  NEURONA_CHECK(impl != CpuConvImpl::OneDnn || cpu_conv_onednn_available(), ValueError, where,
                ": 'onednn' asked for, but this build has no oneDNN (Debian: libdnnl-dev)");
}

}  // namespace

bool cpu_conv_onednn_available() {
  return NEURONA_WITH_ONEDNN != 0;
}

void set_cpu_conv_impl(CpuConvImpl impl) {
  check_available(impl, "set_cpu_conv_impl");
  g_conv_impl.store(static_cast<int>(impl));
}

CpuConvImpl cpu_conv_impl() {
  const int v = g_conv_impl.load();
  if (v != kUnread) return static_cast<CpuConvImpl>(v);
  const char* env = std::getenv("NEURONA_CPU_CONV");
  const std::string_view s = env ? env : "";
  CpuConvImpl impl = CpuConvImpl::Auto;
  if (s == "im2col") {
    impl = CpuConvImpl::Im2col;
  } else if (s == "onednn") {
    impl = CpuConvImpl::OneDnn;
  } else {
    NEURONA_CHECK(s.empty() || s == "auto", ValueError, "NEURONA_CPU_CONV: unknown value '", s,
                  "'; valid values are 'auto', 'im2col', 'onednn'");
  }
  check_available(impl, "NEURONA_CPU_CONV");
  int expected = kUnread;
  g_conv_impl.compare_exchange_strong(expected, static_cast<int>(impl));
  return static_cast<CpuConvImpl>(g_conv_impl.load());
}

}  // namespace neurona::kernels

namespace neurona::kernels::cpu {

#if !NEURONA_WITH_ONEDNN
// Without oneDNN (CMake did not find it) every convolution is im2col's.
bool onednn_conv2d(const Tensor&, const Tensor&, const Tensor&, FusedActivation,
                   const Conv2DGeometry&, Tensor&) {
  return false;
}
bool onednn_conv2d_backward_input(const Tensor&, const Tensor&, const Conv2DGeometry&, Tensor&) {
  return false;
}
bool onednn_conv2d_backward_filter(const Tensor&, const Tensor&, const Conv2DGeometry&, Tensor&,
                                   Tensor*) {
  return false;
}
#endif

namespace {

enum class ConvDirection { forward, backward_input, backward_filter };

// Whether oneDNN convolves this float32 case. Auto's rule, from bench_conv_cpu on the 2-core
// AVX-512 machine (benchmarks/results/2026-11-30-cpu-conv-onednn.md): oneDNN took 0.01-0.75x
// im2col's time in the directions and shapes measured, except the input gradient of an
// ungrouped convolution of at most 4 input channels: there oneDNN's kernel, vectorised over
// 16 channels, takes the same time as for 8 (1.5x im2col's at 1 channel, 1.08x at 4, 0.7x at
// 8). (One more loss, the kernel gradient of a 1x1 convolution over 7x7x256, 0.9-1.4x, is
// left to oneDNN: one shape is no rule.)
bool use_onednn(ConvDirection dir, const Tensor& t, const Conv2DGeometry& g) {
  if (t.dtype() != DType::float32) return false;
  switch (cpu_conv_impl()) {
    case CpuConvImpl::Im2col:
      return false;
    case CpuConvImpl::OneDnn:
      return true;
    case CpuConvImpl::Auto:
      break;
  }
  return !(dir == ConvDirection::backward_input && g.groups == 1 && g.c <= 4);
}

// Rows of the patch matrix per chunk (bounds its size to about 16 MiB of float32).
constexpr std::int64_t kMaxPatchElements = std::int64_t{1} << 22;

struct Chunks {
  std::int64_t images_per_chunk, k, rows_per_image;
};

Chunks chunking(const Conv2DGeometry& g) {
  const std::int64_t k = g.kh * g.kw * (g.c / g.groups);
  const std::int64_t rows = g.oh * g.ow;
  const std::int64_t per =
      std::max<std::int64_t>(1, kMaxPatchElements / std::max<std::int64_t>(1, rows * k));
  return {std::min(per, g.n), k, rows};
}

// Runs f(n0, count, col) for each chunk of images, with `col` sized for the chunk.
template <typename T, typename F>
void for_chunks(const Conv2DGeometry& g, F&& f) {
  const Chunks ch = chunking(g);
  Tensor col =
      Tensor::empty({ch.images_per_chunk * ch.rows_per_image * ch.k}, dtype_of<T>(), Device::cpu());
  for (std::int64_t n0 = 0; n0 < g.n; n0 += ch.images_per_chunk) {
    f(n0, std::min(ch.images_per_chunk, g.n - n0), col.data<T>(), ch);
  }
}

template <typename T>
void conv_forward(const Tensor& x, const Tensor& kernel, const Conv2DGeometry& g, Tensor& out) {
  const std::int64_t fg = g.filters / g.groups;
  for_chunks<T>(g, [&](std::int64_t n0, std::int64_t count, T* col, const Chunks& ch) {
    const std::int64_t m = count * ch.rows_per_image;
    for (std::int64_t grp = 0; grp < g.groups; ++grp) {
      Launch{}(m, ch.k, Im2ColFunctor<T>{x.data<T>(), col, g, n0, grp});
      // out[chunk rows, group's filters] = col (m x k) * kernel[:, group's filters] (k x fg)
      gemm<T>(false, false, m, fg, ch.k, T(1), col, ch.k, kernel.data<T>() + grp * fg, g.filters,
              T(0), out.data<T>() + n0 * ch.rows_per_image * g.filters + grp * fg, g.filters);
    }
  });
}

template <typename T>
void conv_backward_input(const Tensor& grad_out, const Tensor& kernel, const Conv2DGeometry& g,
                         Tensor& dx) {
  const std::int64_t fg = g.filters / g.groups;
  for_chunks<T>(g, [&](std::int64_t n0, std::int64_t count, T* dcol, const Chunks& ch) {
    const std::int64_t m = count * ch.rows_per_image;
    for (std::int64_t grp = 0; grp < g.groups; ++grp) {
      // dcol (m x k) = grad_out[chunk rows, group's filters] (m x fg) * kernel_g^T (fg x k)
      gemm<T>(false, true, m, ch.k, fg, T(1),
              grad_out.data<T>() + n0 * ch.rows_per_image * g.filters + grp * fg, g.filters,
              kernel.data<T>() + grp * fg, g.filters, T(0), dcol, ch.k);
      Launch{}(count * g.h * g.w, ch.k, Col2ImFunctor<T>{dcol, dx.data<T>(), g, n0, grp});
    }
  });
}

template <typename T>
void conv_backward_filter(const Tensor& x, const Tensor& grad_out, const Conv2DGeometry& g,
                          Tensor& dk) {
  const std::int64_t fg = g.filters / g.groups;
  for_chunks<T>(g, [&](std::int64_t n0, std::int64_t count, T* col, const Chunks& ch) {
    const std::int64_t m = count * ch.rows_per_image;
    for (std::int64_t grp = 0; grp < g.groups; ++grp) {
      Launch{}(m, ch.k, Im2ColFunctor<T>{x.data<T>(), col, g, n0, grp});
      // dk[:, group's filters] (k x fg) += col^T (k x m) * grad_out[chunk rows, group] (m x fg)
      gemm<T>(true, false, ch.k, fg, m, T(1), col, ch.k,
              grad_out.data<T>() + n0 * ch.rows_per_image * g.filters + grp * fg, g.filters, T(1),
              dk.data<T>() + grp * fg, g.filters);
    }
  });
}

template <typename F>
void float_types(DType t, F&& f) {
  if (t == DType::float32) {
    f(float{});
  } else if (t == DType::float64) {
    f(double{});
  } else {
    throw ValueError(detail::str("conv2d: no CPU kernel for ", t,
                                 " (a front door bug: 16-bit types are widened before this)"));
  }
}

// The oneDNN paths return false where oneDNN has no primitive for the geometry: im2col then.
void conv2d_bias_activation(const Tensor& x, const Tensor& k, const Tensor& bias,
                            FusedActivation act, const Conv2DGeometry& g, Tensor& out) {
  if (use_onednn(ConvDirection::forward, x, g) && onednn_conv2d(x, k, bias, act, g, out)) return;
  float_types(x.dtype(), [&](auto t) {
    using T = decltype(t);
    conv_forward<T>(x, k, g, out);
    bias_activation_rows(out.data<T>(), g.n * g.oh * g.ow, g.filters,
                         bias.defined() ? bias.data<T>() : nullptr, act);
  });
}
void conv2d(const Tensor& x, const Tensor& k, const Conv2DGeometry& g, Tensor& out) {
  conv2d_bias_activation(x, k, Tensor(), FusedActivation::linear, g, out);
}
// dx and dk arrive uninitialised (the front doors; cuDNN overwrites them on a GPU): oneDNN
// overwrites them, im2col zeroes them and adds into them.
void conv2d_backward_input(const Tensor& go, const Tensor& k, const Conv2DGeometry& g, Tensor& dx) {
  if (use_onednn(ConvDirection::backward_input, go, g) &&
      onednn_conv2d_backward_input(go, k, g, dx)) {
    return;
  }
  std::memset(dx.raw_data(), 0, dx.nbytes());
  float_types(go.dtype(), [&](auto t) { conv_backward_input<decltype(t)>(go, k, g, dx); });
}
void conv2d_backward_filter(const Tensor& x, const Tensor& go, const Conv2DGeometry& g,
                            Tensor& dk) {
  if (use_onednn(ConvDirection::backward_filter, x, g) &&
      onednn_conv2d_backward_filter(x, go, g, dk)) {
    return;
  }
  std::memset(dk.raw_data(), 0, dk.nbytes());
  float_types(x.dtype(), [&](auto t) { conv_backward_filter<decltype(t)>(x, go, g, dk); });
}
// dk and db arrive as zeros.
void conv2d_backward_filter_bias(const Tensor& x, const Tensor& go, const Conv2DGeometry& g,
                                 Tensor& dk, Tensor& db) {
  if (use_onednn(ConvDirection::backward_filter, x, g) &&
      onednn_conv2d_backward_filter(x, go, g, dk, &db)) {
    return;
  }
  float_types(x.dtype(), [&](auto t) {
    using T = decltype(t);
    conv_backward_filter<T>(x, go, g, dk);
    // The reduction the unfused bias gradient runs (sum over n, h and w: cpu/reduction.cpp's
    // column sums), so that both give the same values.
    reduce(ReduceOp::sum, go, reduce_plan(go.shape(), {true, true, true, false}, "conv2d"), db);
  });
}
// Four float32 lanes with GCC's vector extensions (SSE2 on the portable x86-64 build).
using V4 = float __attribute__((vector_size(16)));
using M4 = std::int32_t __attribute__((vector_size(16)));
V4 load4(const float* p) {
  V4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
void store4(float* p, V4 v) {
  std::memcpy(p, &v, sizeof v);
}
// Whether `b` replaces `best` as a window's maximum: larger, or a NaN (which then stays), as
// PoolForwardFunctor and PoolBackwardFunctor decide.
M4 takes4(V4 b, V4 best) {
  return (b > best) | ((b != b) & (best == best));
}
bool is_max_pool_2x2(const Tensor& x, const Conv2DGeometry& g) {
  return x.dtype() == DType::float32 && g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 &&
         g.dh == 1 && g.dw == 1 && g.pad_top == 0 && g.pad_left == 0 && g.pad_bottom == 0 &&
         g.pad_right == 0 && g.c % 4 == 0;
}

// The usual max pooling (2x2 windows, stride 2, no padding) of float32, forward, four channels
// at a time: the values PoolForwardFunctor gives (the first NaN of a window wins).
bool max_pool_2x2(const Tensor& x, const Conv2DGeometry& g, Tensor& out) {
  if (!is_max_pool_2x2(x, g)) return false;
  const float* xs = x.data<float>();
  float* os = out.data<float>();
  const std::int64_t row = g.w * g.c;
  Launch{}(g.n * g.oh, 2 * g.ow * g.c, [&](std::int64_t b) {
    const std::int64_t oh = b % g.oh, n = b / g.oh;
    const float* x0 = xs + (n * g.h + 2 * oh) * row;
    float* o = os + b * g.ow * g.c;
    for (std::int64_t ow = 0; ow < g.ow; ++ow) {
      const float* s0 = x0 + 2 * ow * g.c;
      const float* s1 = s0 + row;
      for (std::int64_t c = 0; c < g.c; c += 4) {
        V4 best = load4(s0 + c);
        for (const float* p : {s0 + g.c + c, s1 + c, s1 + g.c + c}) {
          const V4 v = load4(p);
          best = takes4(v, best) ? v : best;
        }
        store4(o + ow * g.c + c, best);
      }
    }
  });
  return true;
}

void pool2d(bool max, const Tensor& x, const Conv2DGeometry& g, Tensor& out) {
  if (max && max_pool_2x2(x, g, out)) return;
  float_types(x.dtype(), [&](auto t) {
    using T = decltype(t);
    const PoolForwardFunctor<T> f{x.data<T>(), out.data<T>(), g, max};
    Launch{}(g.n * g.oh * g.ow, g.kh * g.kw * g.c, [&f](std::int64_t p) { f.pixel(p); });
  });
}
// The same pooling, backward: for each window and channel the gradient goes to the first
// maximum in row-major order (a NaN wins over a number), +0 everywhere else in the window, and
// +0 in the rows and columns no window covers (odd sizes): PoolBackwardFunctor::band's values.
bool max_pool_backward_2x2(const Tensor& x, const Tensor& go, const Conv2DGeometry& g, Tensor& dx) {
  if (!is_max_pool_2x2(x, g)) return false;
  const float* xs = x.data<float>();
  const float* gs = go.data<float>();
  float* ds = dx.data<float>();
  const std::int64_t row = g.w * g.c;
  // One band b = (n, oh): input rows 2 oh and 2 oh + 1, plus the last odd row for the last oh.
  Launch{}(g.n * g.oh, 2 * row, [&](std::int64_t b) {
    const std::int64_t oh = b % g.oh, n = b / g.oh;
    const float* x0 = xs + (n * g.h + 2 * oh) * row;
    float* d0 = ds + (n * g.h + 2 * oh) * row;
    const std::int64_t rows_below = oh == g.oh - 1 ? g.h - 2 * g.oh : 0;
    std::fill(d0 + 2 * row, d0 + (2 + rows_below) * row, 0.0f);
    const V4 zero = {0, 0, 0, 0};
    for (std::int64_t ow = 0; ow < g.ow; ++ow) {
      const float* s0 = x0 + 2 * ow * g.c;
      const float* s1 = s0 + row;
      float* t0 = d0 + 2 * ow * g.c;
      float* t1 = t0 + row;
      const float* gw = gs + ((n * g.oh + oh) * g.ow + ow) * g.c;
      for (std::int64_t c = 0; c < g.c; c += 4) {
        const V4 v0 = load4(s0 + c), v1 = load4(s0 + g.c + c), v2 = load4(s1 + c),
                 v3 = load4(s1 + g.c + c);
        V4 best = v0;
        M4 at = {0, 0, 0, 0};
        M4 take = takes4(v1, best);
        best = take ? v1 : best;
        at = take ? M4{1, 1, 1, 1} : at;
        take = takes4(v2, best);
        best = take ? v2 : best;
        at = take ? M4{2, 2, 2, 2} : at;
        take = takes4(v3, best);
        at = take ? M4{3, 3, 3, 3} : at;
        const V4 gv = zero + load4(gw + c);
        store4(t0 + c, at == 0 ? gv : zero);
        store4(t0 + g.c + c, at == 1 ? gv : zero);
        store4(t1 + c, at == 2 ? gv : zero);
        store4(t1 + g.c + c, at == 3 ? gv : zero);
      }
    }
    // The last column of an odd width belongs to no window.
    if (g.w > 2 * g.ow) {
      for (std::int64_t r = 0; r < 2; ++r) {
        std::fill(d0 + r * row + 2 * g.ow * g.c, d0 + (r + 1) * row, 0.0f);
      }
    }
  });
  return true;
}

void pool2d_backward(bool max, const Tensor& x, const Tensor& go, const Conv2DGeometry& g,
                     Tensor& dx) {
  if (max && max_pool_backward_2x2(x, go, g, dx)) return;
  float_types(x.dtype(), [&](auto t) {
    using T = decltype(t);
    const PoolBackwardFunctor<T> f{x.data<T>(), go.data<T>(), dx.data<T>(), g, max};
    if (f.windows_disjoint()) {
      Launch{}(g.n * g.oh, g.sh * g.w * g.c, [&f](std::int64_t b) { f.band(b); });
    } else {
      Launch{}(dx.numel(), f);
    }
  });
}
void pad2d(const Tensor& x, std::int64_t top, std::int64_t left, Tensor& out) {
  visit_dtype(x.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    Launch{}(out.numel(), Pad2dFunctor<T>{x.data<T>(), out.data<T>(), x.shape()[1], x.shape()[2],
                                          x.shape()[3], out.shape()[1], out.shape()[2], top, left});
  });
}

}  // namespace

void register_conv() {
  conv2d_stub.cpu = conv2d;
  conv2d_bias_activation_stub.cpu = conv2d_bias_activation;
  conv2d_backward_filter_bias_stub.cpu = conv2d_backward_filter_bias;
  conv2d_backward_input_stub.cpu = conv2d_backward_input;
  conv2d_backward_filter_stub.cpu = conv2d_backward_filter;
  pool2d_stub.cpu = pool2d;
  pool2d_backward_stub.cpu = pool2d_backward;
  // float32 and float64 only: the front doors widen 16-bit data.
  for (DTypeSet* dtypes :
       {&conv2d_stub.cpu_dtypes, &conv2d_bias_activation_stub.cpu_dtypes,
        &conv2d_backward_filter_bias_stub.cpu_dtypes, &conv2d_backward_input_stub.cpu_dtypes,
        &conv2d_backward_filter_stub.cpu_dtypes, &pool2d_stub.cpu_dtypes,
        &pool2d_backward_stub.cpu_dtypes}) {
    *dtypes = kFloat32And64;
  }
  pad2d_stub.cpu = pad2d;
}

}  // namespace neurona::kernels::cpu
