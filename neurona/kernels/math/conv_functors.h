// Image kernels written once for the host and the GPU, all NHWC: im2col / col2im for the
// CPU's convolution-as-GEMM, max and average pooling forward and backward, zero padding.
// Backward passes are written input-centric (each input element gathers from the outputs
// that saw it), so they need no atomics and give the same sums on every device.
#pragma once

#include <cstdint>
#include <limits>

#include "neurona/core/half.h"
#include "neurona/core/macros.h"
#include "neurona/kernels/conv.h"

namespace neurona::kernels {

NEURONA_HD_INLINE std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const std::int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/// Patch matrix of images [n0, n0 + count) for group `g`, one row (n, oh, ow) per index; its
/// columns (i, j, c) are kernel taps of `c / groups` channels each, contiguous in NHWC, so
/// each tap is one run copied (or zeroed where it falls in the padding). CPU only (cuDNN
/// convolves on the GPU); launch with count * oh * ow indices.
template <typename T>
struct Im2ColFunctor {
  const T* x;
  T* col;
  Conv2DGeometry geo;
  std::int64_t n0, g;
  NEURONA_HD_INLINE void operator()(std::int64_t m) const {
    const std::int64_t cg = geo.c / geo.groups;
    const std::int64_t ow = m % geo.ow, q = m / geo.ow;
    const std::int64_t oh = q % geo.oh, n = n0 + q / geo.oh;
    T* dst = col + m * (geo.kh * geo.kw * cg);
    const T* image = x + n * geo.h * geo.w * geo.c + g * cg;
    for (std::int64_t i = 0; i < geo.kh; ++i) {
      const std::int64_t ih = oh * geo.sh - geo.pad_top + i * geo.dh;
      const bool row_in = ih >= 0 && ih < geo.h;
      for (std::int64_t j = 0; j < geo.kw; ++j, dst += cg) {
        const std::int64_t iw = ow * geo.sw - geo.pad_left + j * geo.dw;
        if (row_in && iw >= 0 && iw < geo.w) {
          const T* src = image + (ih * geo.w + iw) * geo.c;
          for (std::int64_t c = 0; c < cg; ++c) dst[c] = src[c];
        } else {
          for (std::int64_t c = 0; c < cg; ++c) dst[c] = T(0);
        }
      }
    }
  }
};

/// dx for images [n0, n0 + count), group g, from the patch-matrix gradient `dcol`, one input
/// pixel (n, ih, iw) per index: each channel sums, in tap order, the patch entries that
/// copied it, then adds the sum to dx. Channels go in blocks so the sums stay in registers
/// and the taps are read as contiguous runs. CPU only; launch with count * h * w indices.
template <typename T>
struct Col2ImFunctor {
  static constexpr std::int64_t kBlock = 16;
  const T* dcol;
  T* dx;
  Conv2DGeometry geo;
  std::int64_t n0, g;
  NEURONA_HD_INLINE void operator()(std::int64_t p) const {
    const std::int64_t cg = geo.c / geo.groups;
    const std::int64_t k = geo.kh * geo.kw * cg;
    const std::int64_t iw = p % geo.w, q = p / geo.w;
    const std::int64_t ih = q % geo.h, nl = q / geo.h;
    T* out = dx + (((n0 + nl) * geo.h + ih) * geo.w + iw) * geo.c + g * cg;
    for (std::int64_t c0 = 0; c0 < cg; c0 += kBlock) {
      const std::int64_t nc = cg - c0 < kBlock ? cg - c0 : kBlock;
      T acc[kBlock];
      for (std::int64_t c = 0; c < kBlock; ++c) acc[c] = T(0);
      for (std::int64_t i = 0; i < geo.kh; ++i) {
        const std::int64_t th = ih + geo.pad_top - i * geo.dh;  // = oh * sh
        // Unit strides (the common case) skip the 64-bit divisions.
        if (th < 0 || (geo.sh != 1 && th % geo.sh)) continue;
        const std::int64_t oh = geo.sh == 1 ? th : th / geo.sh;
        if (oh >= geo.oh) continue;
        for (std::int64_t j = 0; j < geo.kw; ++j) {
          const std::int64_t tw = iw + geo.pad_left - j * geo.dw;
          if (tw < 0 || (geo.sw != 1 && tw % geo.sw)) continue;
          const std::int64_t ow = geo.sw == 1 ? tw : tw / geo.sw;
          if (ow >= geo.ow) continue;
          const T* src = dcol + ((nl * geo.oh + oh) * geo.ow + ow) * k + (i * geo.kw + j) * cg + c0;
          if (nc == kBlock) {
            for (std::int64_t c = 0; c < kBlock; ++c) acc[c] += src[c];
          } else {
            for (std::int64_t c = 0; c < nc; ++c) acc[c] += src[c];
          }
        }
      }
      for (std::int64_t c = 0; c < nc; ++c) out[c0 + c] += acc[c];
    }
  }
};

/// Output element (n, oh, ow, c) of max or average pooling.
template <typename T>
struct PoolForwardFunctor {
  using C = compute_t<T>;  // float for the 16-bit types
  const T* x;
  T* out;
  Conv2DGeometry geo;
  bool max;
  NEURONA_HD_INLINE void operator()(std::int64_t idx) const {
    const std::int64_t c = idx % geo.c, q = idx / geo.c;
    const std::int64_t ow = q % geo.ow, r = q / geo.ow;
    const std::int64_t oh = r % geo.oh, n = r / geo.oh;
    C best = -std::numeric_limits<C>::infinity(), sum = 0;
    std::int64_t count = 0;
    for (std::int64_t i = 0; i < geo.kh; ++i) {
      const std::int64_t ih = oh * geo.sh - geo.pad_top + i;
      if (ih < 0 || ih >= geo.h) continue;
      for (std::int64_t j = 0; j < geo.kw; ++j) {
        const std::int64_t iw = ow * geo.sw - geo.pad_left + j;
        if (iw < 0 || iw >= geo.w) continue;
        const C v = x[((n * geo.h + ih) * geo.w + iw) * geo.c + c];
        best = (v > best || v != v) ? v : best;
        sum += v;
        ++count;
      }
    }
    out[idx] = max ? best : (count ? sum / static_cast<C>(count) : C(0));
  }

  /// Output pixel p = (n, oh, ow) with all its channels: the same comparisons and sums in the
  /// same tap order as operator(), with the window's bounds found once and each tap read as a
  /// contiguous run of channels (the CPU's launch; the GPU runs one element per thread).
  NEURONA_HD_INLINE void pixel(std::int64_t p) const {
    constexpr std::int64_t kBlock = 16;
    const std::int64_t ow = p % geo.ow, r = p / geo.ow;
    const std::int64_t oh = r % geo.oh, n = r / geo.oh;
    const std::int64_t h0 = oh * geo.sh - geo.pad_top, w0 = ow * geo.sw - geo.pad_left;
    const std::int64_t h_lo = h0 < 0 ? 0 : h0, w_lo = w0 < 0 ? 0 : w0;
    const std::int64_t h_hi = h0 + geo.kh < geo.h ? h0 + geo.kh : geo.h;
    const std::int64_t w_hi = w0 + geo.kw < geo.w ? w0 + geo.kw : geo.w;
    const std::int64_t count = h_hi > h_lo && w_hi > w_lo ? (h_hi - h_lo) * (w_hi - w_lo) : 0;
    const T* image = x + n * geo.h * geo.w * geo.c;
    T* dst = out + p * geo.c;
    for (std::int64_t c0 = 0; c0 < geo.c; c0 += kBlock) {
      const std::int64_t nc = geo.c - c0 < kBlock ? geo.c - c0 : kBlock;
      C acc[kBlock];
      for (std::int64_t c = 0; c < kBlock; ++c)
        acc[c] = max ? -std::numeric_limits<C>::infinity() : C(0);
      for (std::int64_t h = h_lo; h < h_hi; ++h) {
        for (std::int64_t w = w_lo; w < w_hi; ++w) {
          const T* src = image + (h * geo.w + w) * geo.c + c0;
          if (max) {
            for (std::int64_t c = 0; c < nc; ++c) {
              const C v = src[c];
              acc[c] = (v > acc[c] || v != v) ? v : acc[c];
            }
          } else {
            for (std::int64_t c = 0; c < nc; ++c) acc[c] += src[c];
          }
        }
      }
      for (std::int64_t c = 0; c < nc; ++c) {
        dst[c0 + c] = max ? acc[c] : (count ? acc[c] / static_cast<C>(count) : C(0));
      }
    }
  }
};

/// Input element (n, ih, iw, c) of the pooling gradient: the sum over the windows that
/// contain it of the window's gradient (max: only where it is the window's first maximum;
/// average: divided by the window's count). Where windows do not overlap (strides at least
/// the pool size, the usual case) an element lies in at most one window, found in O(1).
template <typename T>
struct PoolBackwardFunctor {
  using C = compute_t<T>;
  const T* x;
  const T* grad_out;
  T* dx;
  Conv2DGeometry geo;
  bool max;

  // Window (oh, ow)'s share of the gradient for input (n, ih, iw, c): `g` if (ih, iw) is
  // its first maximum (max) or g / count (average), else nothing.
  NEURONA_HD_INLINE void window(std::int64_t n, std::int64_t ih, std::int64_t iw, std::int64_t c,
                                std::int64_t oh, std::int64_t ow, C& acc) const {
    const C g = grad_out[((n * geo.oh + oh) * geo.ow + ow) * geo.c + c];
    const std::int64_t h0 = oh * geo.sh - geo.pad_top, w0 = ow * geo.sw - geo.pad_left;
    const std::int64_t h_lo = h0 < 0 ? 0 : h0, w_lo = w0 < 0 ? 0 : w0;
    const std::int64_t h_hi = h0 + geo.kh < geo.h ? h0 + geo.kh : geo.h;
    const std::int64_t w_hi = w0 + geo.kw < geo.w ? w0 + geo.kw : geo.w;
    if (!max) {
      acc += g / static_cast<C>((h_hi - h_lo) * (w_hi - w_lo));
      return;
    }
    // The window's first maximum in row-major order (a NaN wins over any number).
    std::int64_t best_h = -1, best_w = -1;
    C best = -std::numeric_limits<C>::infinity();
    for (std::int64_t h = h_lo; h < h_hi; ++h) {
      const T* row = x + ((n * geo.h + h) * geo.w) * geo.c + c;
      for (std::int64_t w = w_lo; w < w_hi; ++w) {
        const C v = row[w * geo.c];
        if (best_h < 0 || v > best || (v != v && best == best)) {
          best = v;
          best_h = h;
          best_w = w;
        }
      }
    }
    if (best_h == ih && best_w == iw) acc += g;
  }

  NEURONA_HD_INLINE void operator()(std::int64_t idx) const {
    const std::int64_t c = idx % geo.c, q = idx / geo.c;
    const std::int64_t iw = q % geo.w, r = q / geo.w;
    const std::int64_t ih = r % geo.h, n = r / geo.h;
    C acc = 0;
    if (geo.sh >= geo.kh && geo.sw >= geo.kw) {
      const std::int64_t oh = floor_div(ih + geo.pad_top, geo.sh);
      const std::int64_t ow = floor_div(iw + geo.pad_left, geo.sw);
      if (oh >= 0 && oh < geo.oh && ow >= 0 && ow < geo.ow &&
          ih + geo.pad_top - oh * geo.sh < geo.kh && iw + geo.pad_left - ow * geo.sw < geo.kw) {
        window(n, ih, iw, c, oh, ow, acc);
      }
      dx[idx] = acc;
      return;
    }
    // Windows oh with oh*sh - pad_top <= ih < oh*sh - pad_top + kh.
    const std::int64_t oh_lo = floor_div(ih + geo.pad_top - geo.kh, geo.sh) + 1;
    const std::int64_t oh_hi = floor_div(ih + geo.pad_top, geo.sh);
    const std::int64_t ow_lo = floor_div(iw + geo.pad_left - geo.kw, geo.sw) + 1;
    const std::int64_t ow_hi = floor_div(iw + geo.pad_left, geo.sw);
    for (std::int64_t oh = oh_lo < 0 ? 0 : oh_lo; oh <= oh_hi && oh < geo.oh; ++oh) {
      for (std::int64_t ow = ow_lo < 0 ? 0 : ow_lo; ow <= ow_hi && ow < geo.ow; ++ow) {
        window(n, ih, iw, c, oh, ow, acc);
      }
    }
    dx[idx] = acc;
  }

  /// Whether band() applies: windows that do not overlap (strides at least the pool size).
  NEURONA_HD_INLINE bool windows_disjoint() const { return geo.sh >= geo.kh && geo.sw >= geo.kw; }

  /// The same gradient as operator(), written output-centric for disjoint windows (the CPU's
  /// launch; one index per band b = (n, oh) of input rows, which the bands tile): zero the
  /// band's rows (one contiguous run in NHWC), then each window of the row of windows `oh`
  /// puts its gradient where operator() would take it from (its first maximum, found with the
  /// same comparisons in the same order; or g / count everywhere in it). Each element is
  /// written by one band only, so bands run in parallel without atomics, and the values are
  /// those of operator() (which adds them to 0, as here).
  NEURONA_HD_INLINE void band(std::int64_t b) const {
    constexpr std::int64_t kBlock = 16;
    const std::int64_t oh = b % geo.oh, n = b / geo.oh;
    auto clamp_h = [&](std::int64_t v) { return v < 0 ? 0 : (v > geo.h ? geo.h : v); };
    const std::int64_t h0 = oh * geo.sh - geo.pad_top;
    const std::int64_t r_lo = oh == 0 ? 0 : clamp_h(h0);
    const std::int64_t r_hi = oh == geo.oh - 1 ? geo.h : clamp_h(h0 + geo.sh);
    const std::int64_t row = geo.w * geo.c;
    T* image = dx + n * geo.h * row;
    for (std::int64_t i = r_lo * row; i < r_hi * row; ++i) image[i] = T(0);
    const T* x_image = x + n * geo.h * row;
    const std::int64_t h_lo = h0 < 0 ? 0 : h0;
    const std::int64_t h_hi = h0 + geo.kh < geo.h ? h0 + geo.kh : geo.h;
    for (std::int64_t ow = 0; ow < geo.ow; ++ow) {
      const std::int64_t w0 = ow * geo.sw - geo.pad_left;
      const std::int64_t w_lo = w0 < 0 ? 0 : w0;
      const std::int64_t w_hi = w0 + geo.kw < geo.w ? w0 + geo.kw : geo.w;
      if (h_hi <= h_lo || w_hi <= w_lo) continue;
      const T* g = grad_out + ((n * geo.oh + oh) * geo.ow + ow) * geo.c;
      if (!max) {
        const C count = static_cast<C>((h_hi - h_lo) * (w_hi - w_lo));
        for (std::int64_t h = h_lo; h < h_hi; ++h) {
          for (std::int64_t w = w_lo; w < w_hi; ++w) {
            T* dst = image + h * row + w * geo.c;
            for (std::int64_t c = 0; c < geo.c; ++c) dst[c] = T(0) + g[c] / count;
          }
        }
        continue;
      }
      for (std::int64_t c0 = 0; c0 < geo.c; c0 += kBlock) {
        const std::int64_t nc = geo.c - c0 < kBlock ? geo.c - c0 : kBlock;
        C best[kBlock];
        std::int64_t at[kBlock];  // offset of the first maximum's pixel in the image, -1: none
        for (std::int64_t c = 0; c < kBlock; ++c) {
          best[c] = -std::numeric_limits<C>::infinity();
          at[c] = -1;
        }
        for (std::int64_t h = h_lo; h < h_hi; ++h) {
          for (std::int64_t w = w_lo; w < w_hi; ++w) {
            const std::int64_t offset = h * row + w * geo.c;
            const T* src = x_image + offset + c0;
            for (std::int64_t c = 0; c < nc; ++c) {
              const C v = src[c];
              const bool take = at[c] < 0 || v > best[c] || (v != v && best[c] == best[c]);
              best[c] = take ? v : best[c];
              at[c] = take ? offset : at[c];
            }
          }
        }
        for (std::int64_t c = 0; c < nc; ++c) image[at[c] + c0 + c] = T(0) + g[c0 + c];
      }
    }
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
