// Image kernels written once for the host and the GPU, all NHWC: im2col / col2im for the
// CPU's convolution-as-GEMM, max and average pooling forward and backward, zero padding.
// Backward passes are written input-centric (each input element gathers from the outputs
// that saw it), so they need no atomics and give the same sums on every device.
#pragma once

#include <cstdint>
#include <limits>

#include "neurona/core/macros.h"
#include "neurona/kernels/conv.h"

namespace neurona::kernels {

NEURONA_HD_INLINE std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/// Patch matrix of images [n0, n0 + count) for group `g`: row (n, oh, ow), column (i, j, c).
template <typename T>
struct Im2ColFunctor {
  const T* x;
  T* col;
  Conv2DGeometry geo;
  std::int64_t n0, g;
  NEURONA_HD_INLINE void operator()(std::int64_t idx) const {
    const std::int64_t cg = geo.c / geo.groups;
    const std::int64_t k = geo.kh * geo.kw * cg;
    const std::int64_t m = idx / k, r = idx % k;
    const std::int64_t c = r % cg, j = (r / cg) % geo.kw, i = r / cg / geo.kw;
    const std::int64_t ow = m % geo.ow, oh = (m / geo.ow) % geo.oh, n = n0 + m / geo.ow / geo.oh;
    const std::int64_t ih = oh * geo.sh - geo.pad_top + i * geo.dh;
    const std::int64_t iw = ow * geo.sw - geo.pad_left + j * geo.dw;
    col[idx] = (ih >= 0 && ih < geo.h && iw >= 0 && iw < geo.w)
                   ? x[((n * geo.h + ih) * geo.w + iw) * geo.c + g * cg + c]
                   : T(0);
  }
};

/// dx for images [n0, n0 + count), group g, from the patch-matrix gradient `dcol`: each input
/// element sums the patch entries that copied it.
template <typename T>
struct Col2ImFunctor {
  const T* dcol;
  T* dx;
  Conv2DGeometry geo;
  std::int64_t n0, g;
  NEURONA_HD_INLINE void operator()(std::int64_t idx) const {
    const std::int64_t cg = geo.c / geo.groups;
    const std::int64_t k = geo.kh * geo.kw * cg;
    const std::int64_t c = idx % cg, iw = (idx / cg) % geo.w, ih = (idx / cg / geo.w) % geo.h,
                       nl = idx / cg / geo.w / geo.h;
    T acc = 0;
    for (std::int64_t i = 0; i < geo.kh; ++i) {
      const std::int64_t th = ih + geo.pad_top - i * geo.dh;  // = oh * sh
      if (th < 0 || th % geo.sh) continue;
      const std::int64_t oh = th / geo.sh;
      if (oh >= geo.oh) continue;
      for (std::int64_t j = 0; j < geo.kw; ++j) {
        const std::int64_t tw = iw + geo.pad_left - j * geo.dw;
        if (tw < 0 || tw % geo.sw) continue;
        const std::int64_t ow = tw / geo.sw;
        if (ow >= geo.ow) continue;
        const std::int64_t m = (nl * geo.oh + oh) * geo.ow + ow;
        acc += dcol[m * k + (i * geo.kw + j) * cg + c];
      }
    }
    dx[(((n0 + nl) * geo.h + ih) * geo.w + iw) * geo.c + g * cg + c] += acc;
  }
};

/// Output element (n, oh, ow, c) of max or average pooling.
template <typename T>
struct PoolForwardFunctor {
  const T* x;
  T* out;
  Conv2DGeometry geo;
  bool max;
  NEURONA_HD_INLINE void operator()(std::int64_t idx) const {
    const std::int64_t c = idx % geo.c, ow = (idx / geo.c) % geo.ow,
                       oh = (idx / geo.c / geo.ow) % geo.oh, n = idx / geo.c / geo.ow / geo.oh;
    T best = -std::numeric_limits<T>::infinity(), sum = 0;
    std::int64_t count = 0;
    for (std::int64_t i = 0; i < geo.kh; ++i) {
      const std::int64_t ih = oh * geo.sh - geo.pad_top + i;
      if (ih < 0 || ih >= geo.h) continue;
      for (std::int64_t j = 0; j < geo.kw; ++j) {
        const std::int64_t iw = ow * geo.sw - geo.pad_left + j;
        if (iw < 0 || iw >= geo.w) continue;
        const T v = x[((n * geo.h + ih) * geo.w + iw) * geo.c + c];
        best = (v > best || v != v) ? v : best;
        sum += v;
        ++count;
      }
    }
    out[idx] = max ? best : (count ? sum / static_cast<T>(count) : T(0));
  }
};

/// Input element (n, ih, iw, c) of the pooling gradient: the sum over the windows that
/// contain it of the window's gradient (max: only where it is the window's first maximum;
/// average: divided by the window's count).
template <typename T>
struct PoolBackwardFunctor {
  const T* x;
  const T* grad_out;
  T* dx;
  Conv2DGeometry geo;
  bool max;
  NEURONA_HD_INLINE void operator()(std::int64_t idx) const {
    const std::int64_t c = idx % geo.c, iw = (idx / geo.c) % geo.w,
                       ih = (idx / geo.c / geo.w) % geo.h, n = idx / geo.c / geo.w / geo.h;
    // Windows oh with oh*sh - pad_top <= ih < oh*sh - pad_top + kh.
    const std::int64_t oh_lo = floor_div(ih + geo.pad_top - geo.kh, geo.sh) + 1;
    const std::int64_t oh_hi = floor_div(ih + geo.pad_top, geo.sh);
    const std::int64_t ow_lo = floor_div(iw + geo.pad_left - geo.kw, geo.sw) + 1;
    const std::int64_t ow_hi = floor_div(iw + geo.pad_left, geo.sw);
    T acc = 0;
    for (std::int64_t oh = oh_lo < 0 ? 0 : oh_lo; oh <= oh_hi && oh < geo.oh; ++oh) {
      for (std::int64_t ow = ow_lo < 0 ? 0 : ow_lo; ow <= ow_hi && ow < geo.ow; ++ow) {
        const T g = grad_out[((n * geo.oh + oh) * geo.ow + ow) * geo.c + c];
        // Scan the window: its first maximum, or its count of positions inside the input.
        std::int64_t best_h = -1, best_w = -1, count = 0;
        T best = -std::numeric_limits<T>::infinity();
        for (std::int64_t i = 0; i < geo.kh; ++i) {
          const std::int64_t h = oh * geo.sh - geo.pad_top + i;
          if (h < 0 || h >= geo.h) continue;
          for (std::int64_t j = 0; j < geo.kw; ++j) {
            const std::int64_t w = ow * geo.sw - geo.pad_left + j;
            if (w < 0 || w >= geo.w) continue;
            ++count;
            const T v = x[((n * geo.h + h) * geo.w + w) * geo.c + c];
            if (best_h < 0 || v > best || (v != v && best == best)) {
              best = v;
              best_h = h;
              best_w = w;
            }
          }
        }
        if (max) {
          if (best_h == ih && best_w == iw) acc += g;
        } else {
          acc += g / static_cast<T>(count);
        }
      }
    }
    dx[idx] = acc;
  }
};

/// Output element of zero padding (negative amounts crop).
template <typename T>
struct Pad2dFunctor {
  const T* x;
  T* out;
  std::int64_t h, w, c, oh, ow, top, left;
  NEURONA_HD_INLINE void operator()(std::int64_t idx) const {
    const std::int64_t ch = idx % c, ox = (idx / c) % ow, oy = (idx / c / ow) % oh,
                       n = idx / c / ow / oh;
    const std::int64_t iy = oy - top, ix = ox - left;
    out[idx] =
        (iy >= 0 && iy < h && ix >= 0 && ix < w) ? x[((n * h + iy) * w + ix) * c + ch] : T(0);
  }
};

}  // namespace neurona::kernels
