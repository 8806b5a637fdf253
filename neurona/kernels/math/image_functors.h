// Image resizing written once for the host and the GPU: jax.image.resize (what
// keras.ops.image.resize and UpSampling2D run on Keras's JAX backend), forward and backward, and
// the weight matrices of its antialiased form. Each spatial axis maps output index o to the input
// at s = (o + 0.5) * in / out - 0.5 and weighs the inputs j with |s - j| < radius by the
// interpolation's kernel, renormalised over the j inside the image; an axis whose size does not
// change is copied, as JAX skips it. The backward pass is input-centric (each input element gathers
// from the outputs that read it), so it needs no atomics and gives the same sums on every device.
//
// Affine (projective) transforms of images, as keras.ops.image.affine_transform computes them
// on its JAX backend (jax.scipy.ndimage.map_coordinates of order 0 or 1): output pixel (y, x)
// reads the input at ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k), k = c0 x + c1 y + 1
// (TensorFlow's ImageProjectiveTransform; JAX's Keras uses k = 1), nearest rounding half away
// from zero, bilinear from the floor, points outside the image filled by the fill mode. Its
// backward pass scatters (each output adds to the inputs it read): an input may be read from
// anywhere under the wrap, mirror and reflect modes, so there is no cheap gather.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "neurona/core/half.h"
#include "neurona/core/macros.h"
#include "neurona/core/op_options.h"

namespace neurona::kernels {

/// A resize seen as (outer, height, width, inner): channels_last images are (n, h, w, c),
/// channels_first ones (n * c, h, w, 1).
struct ResizeGeometry {
  std::int64_t outer = 0, in_h = 0, in_w = 0, inner = 0, out_h = 0, out_w = 0;
};

/// Calls f(std::integral_constant<Interpolation, m>) for the run-time m (the host's dispatch
/// to the functors below).
template <typename F>
void visit_interpolation(Interpolation m, F&& f) {
  switch (m) {
    case Interpolation::Nearest:
      return f(std::integral_constant<Interpolation, Interpolation::Nearest>{});
    case Interpolation::Bilinear:
      return f(std::integral_constant<Interpolation, Interpolation::Bilinear>{});
    case Interpolation::Bicubic:
      return f(std::integral_constant<Interpolation, Interpolation::Bicubic>{});
    case Interpolation::Lanczos3:
      return f(std::integral_constant<Interpolation, Interpolation::Lanczos3>{});
    case Interpolation::Lanczos5:
      return f(std::integral_constant<Interpolation, Interpolation::Lanczos5>{});
  }
}

/// As visit_interpolation for affine_transform's two interpolations (Nearest, else Bilinear).
template <typename F>
void visit_affine_interpolation(Interpolation m, F&& f) {
  if (m == Interpolation::Nearest) {
    f(std::integral_constant<Interpolation, Interpolation::Nearest>{});
  } else {
    f(std::integral_constant<Interpolation, Interpolation::Bilinear>{});
  }
}

/// The number of inputs one output reads along an axis: twice the kernel's radius.
constexpr int resize_tap_count(Interpolation m) {
  switch (m) {
    case Interpolation::Nearest:
      return 1;
    case Interpolation::Bilinear:
      return 2;
    case Interpolation::Bicubic:
      return 4;
    case Interpolation::Lanczos3:
      return 6;
    case Interpolation::Lanczos5:
      return 10;
  }
  return 2;
}

/// The inputs [first, first + N) that output o reads along one axis, with their weights (0 for
/// those outside the image).
template <typename C, int N>
struct ResizeTaps {
  std::int64_t first;
  C w[N];
};

/// jax.image.resize's kernels at distance x >= 0 (jax/_src/image/scale.py).
template <Interpolation M, typename C>
NEURONA_HD_INLINE C resize_kernel(C x) {
  if constexpr (M == Interpolation::Bilinear) {
    return x < C(1) ? C(1) - x : C(0);
  } else if constexpr (M == Interpolation::Bicubic) {  // Keys, a = -0.5
    if (x >= C(2)) return C(0);
    if (x >= C(1)) return ((C(-0.5) * x + C(2.5)) * x - C(4)) * x + C(2);
    return ((C(1.5) * x - C(2.5)) * x) * x + C(1);
  } else {
    constexpr C kRadius = M == Interpolation::Lanczos3 ? C(3) : C(5);
    constexpr C kPi = C(3.14159265358979323846);
    if (x > kRadius) return C(0);
    if (x <= C(1e-3)) return C(1);
    return kRadius * std::sin(kPi * x) * std::sin(kPi * x / kRadius) / (kPi * kPi * x * x);
  }
}

/// The taps of output o along an axis of `in` inputs and `out` outputs.
template <Interpolation M, typename C>
NEURONA_HD_INLINE ResizeTaps<C, resize_tap_count(M)> resize_taps(std::int64_t o, std::int64_t in,
                                                                 std::int64_t out) {
  constexpr int N = resize_tap_count(M);
  ResizeTaps<C, N> t;
  for (int k = 0; k < N; ++k) t.w[k] = C(0);
  if constexpr (M == Interpolation::Nearest) {
    // floor((o + 0.5) * in / out) in integers: exact where JAX's float32 is.
    t.first = ((2 * o + 1) * in) / (2 * out);
    t.w[0] = C(1);
  } else {
    if (in == out) {
      t.first = o;
      t.w[0] = C(1);
      return t;
    }
    const C s = (static_cast<C>(o) + C(0.5)) * (static_cast<C>(in) / static_cast<C>(out)) - C(0.5);
    t.first = static_cast<std::int64_t>(std::floor(s)) - N / 2 + 1;
    C total = C(0);
    for (int k = 0; k < N; ++k) {
      const std::int64_t j = t.first + k;
      if (j < 0 || j >= in) continue;
      const C d = s - static_cast<C>(j);
      t.w[k] = resize_kernel<M, C>(d < C(0) ? -d : d);
      total += t.w[k];
    }
    // JAX zeroes an output whose weights sum to almost nothing (never for upsampling).
    const C tiny = C(1000) * C(1.1920928955078125e-07);
    const C scale = (total > tiny || total < -tiny) ? C(1) / total : C(0);
    for (int k = 0; k < N; ++k) t.w[k] *= scale;
  }
  return t;
}

/// The radius of an interpolation's kernel (where it falls to zero for good).
constexpr int resize_radius(Interpolation m) {
  return resize_tap_count(m) / 2;
}

/// Entry (o, j) of an antialiased resize's weight matrix along an axis of `in` inputs and `out`
/// outputs, as jax.image.resize(..., antialias=True) computes it (compute_weight_mat of
/// jax/_src/image/scale.py): where the axis shrinks, the kernel is stretched by in / out, so
/// that each output averages every input it covers (a low-pass filter before sampling) instead
/// of reading the few nearest ones; where it grows, the weights are resize_taps's. Each output's
/// weights are renormalised over the inputs inside the image, as resize_taps's are. Not for
/// Nearest (JAX ignores antialias there).
template <Interpolation M, typename C>
NEURONA_HD_INLINE C antialiased_resize_weight(std::int64_t o, std::int64_t j, std::int64_t in,
                                              std::int64_t out) {
  const C inv_scale = static_cast<C>(in) / static_cast<C>(out);
  const C stretch = inv_scale > C(1) ? inv_scale : C(1);
  const C s = (static_cast<C>(o) + C(0.5)) * inv_scale - C(0.5);
  const C reach = static_cast<C>(resize_radius(M)) * stretch;
  std::int64_t lo = static_cast<std::int64_t>(std::ceil(s - reach));
  std::int64_t hi = static_cast<std::int64_t>(std::floor(s + reach));
  lo = lo < 0 ? 0 : lo;
  hi = hi > in - 1 ? in - 1 : hi;
  if (j < lo || j > hi) return C(0);
  const auto at = [&](std::int64_t i) {
    const C d = s - static_cast<C>(i);
    return resize_kernel<M, C>((d < C(0) ? -d : d) / stretch);
  };
  C total = C(0);
  for (std::int64_t i = lo; i <= hi; ++i) total += at(i);
  const C tiny = C(1000) * C(1.1920928955078125e-07);
  return (total > tiny || total < -tiny) ? at(j) / total : C(0);
}

/// The (out, in) weight matrix of an antialiased resize along one axis, one entry per index
/// (antialiased_resize_weight), in T (as JAX casts it to the images' dtype).
template <Interpolation M, typename T>
struct ResizeWeightsFunctor {
  using C = compute_t<T>;
  T* w;
  std::int64_t in, out;

  NEURONA_HD_INLINE void operator()(std::int64_t idx) const {
    w[idx] = static_cast<T>(antialiased_resize_weight<M, C>(idx / in, idx % in, in, out));
  }
};

/// The weight with which output o reads input i (0 when it does not).
template <Interpolation M, typename C>
NEURONA_HD_INLINE C resize_weight(std::int64_t o, std::int64_t i, std::int64_t in,
                                  std::int64_t out) {
  const auto t = resize_taps<M, C>(o, in, out);
  C w = C(0);
  for (int k = 0; k < resize_tap_count(M); ++k) {
    if (t.first + k == i) w = t.w[k];
  }
  return w;
}

/// The outputs [lo, hi] that may read input i (a superset; resize_weight says which do).
template <Interpolation M>
NEURONA_HD_INLINE void resize_readers(std::int64_t i, std::int64_t in, std::int64_t out,
                                      std::int64_t& lo, std::int64_t& hi) {
  if (M != Interpolation::Nearest && in == out) {
    lo = hi = i;
    return;
  }
  // s(o) = (o + 0.5) in / out - 0.5 reaches i when |s - i| < radius (nearest: s + 0.5 in
  // [i, i + 1)); one output of margin on each side absorbs rounding.
  const double radius = M == Interpolation::Nearest ? 0.5 : resize_tap_count(M) / 2;
  const double ratio = static_cast<double>(out) / static_cast<double>(in);
  lo = static_cast<std::int64_t>(std::floor((static_cast<double>(i) - radius + 0.5) * ratio - 0.5));
  hi = static_cast<std::int64_t>(std::ceil((static_cast<double>(i) + radius + 0.5) * ratio - 0.5));
  lo = lo - 1 < 0 ? 0 : lo - 1;
  hi = hi + 1 > out - 1 ? out - 1 : hi + 1;
}

/// Channels are accumulated in blocks of this many, so that the CPU's loops over a pixel's
/// contiguous channels have a fixed trip count (vectorised) and stay in registers.
inline constexpr int kResizeBlock = 16;

/// acc[0, n) += w * src[0, n) for n <= kResizeBlock, with the full block's loop unrolled.
template <typename C, typename T>
NEURONA_HD_INLINE void resize_accumulate(C* acc, C w, const T* src, std::int64_t n) {
  if (n == kResizeBlock) {
    for (int k = 0; k < kResizeBlock; ++k) acc[k] += w * static_cast<C>(src[k]);
  } else {
    for (std::int64_t k = 0; k < n; ++k) acc[k] += w * static_cast<C>(src[k]);
  }
}

/// Output element (n, oy, ox, k) of a resize: the sum over the taps (a, b), in that order, of
/// (wy[a] * wx[b]) * x[n, y_a, x_b, k].
template <Interpolation M, typename T>
struct ResizeForwardFunctor {
  using C = compute_t<T>;  // float for the 16-bit types
  using Taps = ResizeTaps<C, resize_tap_count(M)>;
  const T* x;
  T* out;
  ResizeGeometry g;
  /// Each output row's and column's taps (resize_taps), found once by the caller: what row()
  /// reads; operator() (a GPU thread) finds its own where they are null.
  const Taps* rows = nullptr;
  const Taps* cols = nullptr;

  NEURONA_HD_INLINE void operator()(std::int64_t idx) const {
    const std::int64_t k = idx % g.inner, p = idx / g.inner;
    const std::int64_t ox = p % g.out_w, q = p / g.out_w;  // q: the row (n, oy)
    const std::int64_t oy = q % g.out_h, n = q / g.out_h;
    const Taps ty = rows ? rows[oy] : resize_taps<M, C>(oy, g.in_h, g.out_h);
    const Taps tx = cols ? cols[ox] : resize_taps<M, C>(ox, g.in_w, g.out_w);
    C acc = C(0);
    accumulate(x + n * g.in_h * g.in_w * g.inner + k, ty, tx, 1, &acc);
    out[idx] = static_cast<T>(acc);
  }

  /// Output row q = (n, oy) with all its pixels and channels, each tap read as a contiguous
  /// run of channels: the same sums in the same order as operator() (the CPU's launch, with
  /// `rows` and `cols`; a row keeps the index arithmetic out of the inner loops).
  NEURONA_HD_INLINE void row(std::int64_t q) const {
    const std::int64_t oy = q % g.out_h, n = q / g.out_h;
    const Taps& ty = rows[oy];
    const T* image = x + n * g.in_h * g.in_w * g.inner;
    T* dst = out + q * g.out_w * g.inner;
    if (g.inner == 1) {  // channels_first: one value per pixel, kept in a register
      for (std::int64_t ox = 0; ox < g.out_w; ++ox) {
        C acc = C(0);
        accumulate(image, ty, cols[ox], 1, &acc);
        dst[ox] = static_cast<T>(acc);
      }
      return;
    }
    for (std::int64_t ox = 0; ox < g.out_w; ++ox, dst += g.inner) {
      for (std::int64_t k0 = 0; k0 < g.inner; k0 += kResizeBlock) {
        const std::int64_t nk = g.inner - k0 < kResizeBlock ? g.inner - k0 : kResizeBlock;
        C acc[kResizeBlock];
        accumulate(image + k0, ty, cols[ox], nk, acc);
        for (std::int64_t k = 0; k < nk; ++k) dst[k0 + k] = static_cast<T>(acc[k]);
      }
    }
  }

 private:
  // acc[0, nk) = the resize at taps (ty, tx) of the nk channels from `image` (image n's
  // first channel of the block) on.
  NEURONA_HD_INLINE void accumulate(const T* image, const Taps& ty, const Taps& tx, std::int64_t nk,
                                    C* acc) const {
    constexpr int N = resize_tap_count(M);
    for (std::int64_t k = 0; k < nk; ++k) acc[k] = C(0);
    for (int a = 0; a < N; ++a) {
      if (ty.w[a] == C(0)) continue;  // also every tap outside the image
      for (int b = 0; b < N; ++b) {
        if (tx.w[b] == C(0)) continue;
        const T* src = image + ((ty.first + a) * g.in_w + tx.first + b) * g.inner;
        resize_accumulate(acc, ty.w[a] * tx.w[b], src, nk);
      }
    }
  }
};

/// An output that reads an input along one axis, and its (nonzero) weight.
template <typename C>
struct ResizeReader {
  std::int64_t o;
  C w;
};

/// Input element (n, iy, ix, k) of a resize's gradient: the sum over the outputs (oy, ox) that
/// read it, in increasing order, of (wy * wx) * grad_out[n, oy, ox, k].
template <Interpolation M, typename T>
struct ResizeBackwardFunctor {
  using C = compute_t<T>;
  const T* grad_out;
  T* dx;
  ResizeGeometry g;
  /// For each input row (column) i, the outputs that read it, in increasing order, with their
  /// nonzero weights: readers[offsets[i], offsets[i + 1]). Found once by the caller from the
  /// same resize_taps: what row() reads; operator() (a GPU thread) searches for its own.
  const std::int64_t* row_offsets = nullptr;
  const ResizeReader<C>* row_readers = nullptr;
  const std::int64_t* col_offsets = nullptr;
  const ResizeReader<C>* col_readers = nullptr;

  NEURONA_HD_INLINE void operator()(std::int64_t idx) const {
    const std::int64_t k = idx % g.inner, p = idx / g.inner;
    const std::int64_t ix = p % g.in_w, q = p / g.in_w;  // q: the row (n, iy)
    const std::int64_t iy = q % g.in_h, n = q / g.in_h;
    const T* image = grad_out + n * g.out_h * g.out_w * g.inner + k;
    std::int64_t y_lo, y_hi, x_lo, x_hi;
    resize_readers<M>(iy, g.in_h, g.out_h, y_lo, y_hi);
    resize_readers<M>(ix, g.in_w, g.out_w, x_lo, x_hi);
    C acc = C(0);
    for (std::int64_t oy = y_lo; oy <= y_hi; ++oy) {
      const C wy = resize_weight<M, C>(oy, iy, g.in_h, g.out_h);
      if (wy == C(0)) continue;
      for (std::int64_t ox = x_lo; ox <= x_hi; ++ox) {
        const C wx = resize_weight<M, C>(ox, ix, g.in_w, g.out_w);
        if (wx == C(0)) continue;
        acc += (wy * wx) * static_cast<C>(image[(oy * g.out_w + ox) * g.inner]);
      }
    }
    dx[idx] = static_cast<T>(acc);
  }

  /// Input row q = (n, iy) with all its pixels and channels in blocks: the same sums in the
  /// same order as operator() (the CPU's launch, with the reader tables).
  NEURONA_HD_INLINE void row(std::int64_t q) const {
    const std::int64_t iy = q % g.in_h, n = q / g.in_h;
    const T* image = grad_out + n * g.out_h * g.out_w * g.inner;
    T* dst = dx + q * g.in_w * g.inner;
    if (g.inner == 1) {  // channels_first: one value per pixel, kept in a register
      for (std::int64_t ix = 0; ix < g.in_w; ++ix) {
        C acc = C(0);
        for (std::int64_t a = row_offsets[iy]; a < row_offsets[iy + 1]; ++a) {
          const ResizeReader<C> y = row_readers[a];
          for (std::int64_t b = col_offsets[ix]; b < col_offsets[ix + 1]; ++b) {
            const ResizeReader<C> x = col_readers[b];
            acc += (y.w * x.w) * static_cast<C>(image[y.o * g.out_w + x.o]);
          }
        }
        dst[ix] = static_cast<T>(acc);
      }
      return;
    }
    for (std::int64_t ix = 0; ix < g.in_w; ++ix, dst += g.inner) {
      for (std::int64_t k0 = 0; k0 < g.inner; k0 += kResizeBlock) {
        const std::int64_t nk = g.inner - k0 < kResizeBlock ? g.inner - k0 : kResizeBlock;
        C acc[kResizeBlock];
        for (std::int64_t k = 0; k < nk; ++k) acc[k] = C(0);
        for (std::int64_t a = row_offsets[iy]; a < row_offsets[iy + 1]; ++a) {
          const ResizeReader<C> y = row_readers[a];
          for (std::int64_t b = col_offsets[ix]; b < col_offsets[ix + 1]; ++b) {
            const ResizeReader<C> x = col_readers[b];
            resize_accumulate(acc, y.w * x.w, image + (y.o * g.out_w + x.o) * g.inner + k0, nk);
          }
        }
        for (std::int64_t k = 0; k < nk; ++k) dst[k0 + k] = static_cast<T>(acc[k]);
      }
    }
  }
};

// ---- Affine transforms ------------------------------------------------------------------------

/// An affine transform seen as (outer, height, width, inner), as ResizeGeometry; `per_transform`
/// consecutive outer slices share a transform (channels_first's channels), and with
/// `shared_transform` every slice uses the first.
struct AffineGeometry {
  std::int64_t outer = 0, in_h = 0, in_w = 0, inner = 0, out_h = 0, out_w = 0;
  std::int64_t per_transform = 1;
  bool shared_transform = false;
};

/// Points this far (in pixels) or farther from the origin, and non-finite ones, read fill_value
/// under every fill mode, so that the index arithmetic never overflows.
inline constexpr double kAffineCoordinateLimit = 1073741824.0;  // 2^30

/// map_coordinates's index fixers (jax/_src/scipy/ndimage.py): the input index that index i
/// of an axis of `size` reads under `mode` (Constant: i itself, checked by the caller).
NEURONA_HD_INLINE std::int64_t affine_fix_index(FillMode mode, std::int64_t i, std::int64_t size) {
  if (i >= 0 && i < size) return i;  // every mode's answer inside, without its divisions
  switch (mode) {
    case FillMode::Constant:
      return i;
    case FillMode::Nearest:
      return i < 0 ? 0 : (i >= size ? size - 1 : i);
    case FillMode::Wrap: {
      const std::int64_t r = i % size;
      return r < 0 ? r + size : r;
    }
    case FillMode::Mirror: {  // |((i + s) mod 2s) - s| with s = size - 1
      const std::int64_t s = size - 1;
      if (s == 0) return 0;
      std::int64_t r = (i + s) % (2 * s);
      if (r < 0) r += 2 * s;
      return r > s ? r - s : s - r;
    }
    case FillMode::Reflect: {  // (mirror(2 i + 1, 2 size + 1) - 1) / 2, the mirror odd and >= 1
      const std::int64_t s = 2 * size;
      std::int64_t r = (2 * i + 1 + s) % (2 * s);
      if (r < 0) r += 2 * s;
      const std::int64_t m = r > s ? r - s : s - r;
      return (m - 1) / 2;
    }
  }
  return i;
}

/// The input points that one output pixel reads: rows y[0, ny) and columns x[0, nx) (one each
/// for nearest, two for bilinear), their weights, and whether each is inside the image (under
/// Constant a point outside reads fill_value; under the other modes every point is fixed to
/// one inside). ny = nx = 0: the pixel is fill_value (a non-finite or too distant point).
template <typename C>
struct AffineTaps {
  int ny = 0, nx = 0;
  std::int64_t y[2] = {0, 0}, x[2] = {0, 0};
  C wy[2] = {C(0), C(0)}, wx[2] = {C(0), C(0)};
  bool vy[2] = {false, false}, vx[2] = {false, false};
};

/// One axis's taps at coordinate s (|s| below the limit).
template <Interpolation M, typename C>
NEURONA_HD_INLINE int affine_axis_taps(C s, std::int64_t size, FillMode mode, std::int64_t* index,
                                       C* weight, bool* valid) {
  const int n = M == Interpolation::Nearest ? 1 : 2;
  // Rounded and floored by hand: |s| < 2^30, and std::floor and std::round are calls into the
  // C library on x86-64 without SSE4.1 (they took most of the CPU's time here).
  std::int64_t first = static_cast<std::int64_t>(s);  // toward zero
  const C frac = s - static_cast<C>(first);           // exact
  if constexpr (M == Interpolation::Nearest) {
    // Half away from zero, as lax.round.
    if (frac >= C(0.5)) {
      ++first;
    } else if (frac <= C(-0.5)) {
      --first;
    }
    weight[0] = C(1);
  } else {
    weight[1] = frac;
    if (frac < C(0)) {  // the floor is one lower
      --first;
      weight[1] = frac + C(1);
    }
    weight[0] = C(1) - weight[1];
  }
  for (int a = 0; a < n; ++a) {
    const std::int64_t i = first + a;
    valid[a] = mode != FillMode::Constant || (i >= 0 && i < size);
    index[a] = affine_fix_index(mode, i, size);
  }
  return n;
}

/// The taps of output pixel (oy, ox) under the transform t[0, 8).
template <Interpolation M, typename C>
NEURONA_HD_INLINE AffineTaps<C> affine_taps(const C* t, std::int64_t oy, std::int64_t ox,
                                            std::int64_t in_h, std::int64_t in_w, FillMode mode) {
  AffineTaps<C> taps;
  const C xf = static_cast<C>(ox), yf = static_cast<C>(oy);
  // Rounded step by step (mul_rn, add_rn), as the host computes them: an FMA that nvcc would
  // make could move a coordinate next to a pixel's edge by an ulp, and nearest would then
  // read another pixel on the GPU than on the CPU.
  C sx = add_rn(add_rn(mul_rn(t[0], xf), mul_rn(t[1], yf)), t[2]);
  C sy = add_rn(add_rn(mul_rn(t[3], xf), mul_rn(t[4], yf)), t[5]);
  if (t[6] != C(0) || t[7] != C(0)) {  // projective: divide by k (affine ones skip it)
    const C k = add_rn(add_rn(mul_rn(t[6], xf), mul_rn(t[7], yf)), C(1));
    sx /= k;
    sy /= k;
  }
  const C limit = static_cast<C>(kAffineCoordinateLimit);
  // Also false for NaN, and for the infinities a k of 0 gives.
  if (!(sx < limit && sx > -limit && sy < limit && sy > -limit)) return taps;
  taps.ny = affine_axis_taps<M, C>(sy, in_h, mode, taps.y, taps.wy, taps.vy);
  taps.nx = affine_axis_taps<M, C>(sx, in_w, mode, taps.x, taps.wx, taps.vx);
  return taps;
}

/// The first of the 8 numbers of the transform of outer slice o.
template <typename C>
NEURONA_HD_INLINE const C* affine_transform_of(const C* transforms, const AffineGeometry& g,
                                               std::int64_t o) {
  return g.shared_transform ? transforms : transforms + (o / g.per_transform) * 8;
}

/// Output pixel p = (o, oy, ox), all its channels: the sum over the taps (a, b), in that order,
/// of (wy[a] * wx[b]) * (the input there, or fill_value outside under Constant).
template <Interpolation M, typename T>
struct AffineForwardFunctor {
  using C = compute_t<T>;
  const T* x;
  const C* transforms;
  T* out;
  AffineGeometry g;
  FillMode mode;
  C fill;

  NEURONA_HD_INLINE void operator()(std::int64_t p) const {
    const std::int64_t ox = p % g.out_w, q = p / g.out_w;
    pixel(q / g.out_h, q % g.out_h, ox, out + p * g.inner);
  }

  /// Output row q = (o, oy), pixel by pixel: the same sums as operator() without its index
  /// divisions (the CPU's launch).
  NEURONA_HD_INLINE void row(std::int64_t q) const {
    const std::int64_t o = q / g.out_h, oy = q % g.out_h;
    T* dst = out + q * g.out_w * g.inner;
    for (std::int64_t ox = 0; ox < g.out_w; ++ox, dst += g.inner) pixel(o, oy, ox, dst);
  }

 private:
  static constexpr int kPoints = M == Interpolation::Nearest ? 1 : 4;

  NEURONA_HD_INLINE void pixel(std::int64_t o, std::int64_t oy, std::int64_t ox, T* dst) const {
    const AffineTaps<C> t =
        affine_taps<M, C>(affine_transform_of(transforms, g, o), oy, ox, g.in_h, g.in_w, mode);
    if (t.ny == 0) {
      for (std::int64_t k = 0; k < g.inner; ++k) dst[k] = static_cast<T>(fill);
      return;
    }
    // The points as (offset of their first channel, or -1 for fill_value; weight), in the
    // order (a, b) of the sum.
    const T* image = x + o * g.in_h * g.in_w * g.inner;
    std::int64_t offset[kPoints];
    C weight[kPoints];
    for (int a = 0, i = 0; a < t.ny; ++a) {
      for (int b = 0; b < t.nx; ++b, ++i) {
        offset[i] = t.vy[a] && t.vx[b] ? (t.y[a] * g.in_w + t.x[b]) * g.inner : -1;
        weight[i] = t.wy[a] * t.wx[b];
      }
    }
    for (std::int64_t k = 0; k < g.inner; ++k) {
      C acc = C(0);
      for (int i = 0; i < kPoints; ++i) {
        acc += weight[i] * (offset[i] < 0 ? fill : static_cast<C>(image[offset[i] + k]));
      }
      dst[k] = static_cast<T>(acc);
    }
  }
};

/// The gradient of output pixel p = (o, oy, ox), all its channels, added to the inputs it read
/// (weights as the forward pass; fill_value's points take nothing) through `Add::add(T*, T)`:
/// a plain += where one thread owns image o's gradient (the CPU), atomicAdd on the GPU. dx
/// starts at zero.
template <Interpolation M, typename T, typename Add>
struct AffineBackwardFunctor {
  const T* grad_out;
  const T* transforms;
  T* dx;
  AffineGeometry g;
  FillMode mode;

  NEURONA_HD_INLINE void operator()(std::int64_t p) const {
    const std::int64_t ox = p % g.out_w, q = p / g.out_w;
    const std::int64_t oy = q % g.out_h, o = q / g.out_h;
    const AffineTaps<T> t =
        affine_taps<M, T>(affine_transform_of(transforms, g, o), oy, ox, g.in_h, g.in_w, mode);
    T* image = dx + o * g.in_h * g.in_w * g.inner;
    const T* src = grad_out + p * g.inner;
    for (int a = 0; a < t.ny; ++a) {
      for (int b = 0; b < t.nx; ++b) {
        if (!(t.vy[a] && t.vx[b])) continue;
        const T w = t.wy[a] * t.wx[b];
        T* dst = image + (t.y[a] * g.in_w + t.x[b]) * g.inner;
        for (std::int64_t k = 0; k < g.inner; ++k) Add::add(dst + k, w * src[k]);
      }
    }
  }
};

}  // namespace neurona::kernels
