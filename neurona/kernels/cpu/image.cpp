// CPU image resizing and affine transforms: the shared functors of math/image_functors.h, one
// output (input) row per index, with each row's and column's taps found once per call by the same
// resize_taps a GPU thread runs. Measured on the 2-core machine, one thread, (8, 64, 64, 32) to 128
// x 128: finding the taps per element took bilinear 24 ms forward and 48 ms backward
// (channels_first 385 and 358 ms), the tables 14 and 11 ms (43 and 36 ms); an add of the output's
// size, 2 ms.
#include <vector>

#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/image_stubs.h"

namespace neurona::kernels::cpu {

namespace {

template <typename F>
void float_types(DType t, F&& f) {
  NEURONA_CHECK(visit_float_dtype(t, f), ValueError, "resize: no CPU kernel for ", t);
}

// Each output index's taps along an axis of `in` inputs and `out` outputs.
template <Interpolation M, typename C>
std::vector<ResizeTaps<C, resize_tap_count(M)>> tap_table(std::int64_t in, std::int64_t out) {
  std::vector<ResizeTaps<C, resize_tap_count(M)>> table;
  table.reserve(static_cast<std::size_t>(out));
  for (std::int64_t o = 0; o < out; ++o) table.push_back(resize_taps<M, C>(o, in, out));
  return table;
}

// The same taps turned around: for each input index, the outputs that read it (increasing)
// with their nonzero weights, as offsets (in + 1) into one list.
template <typename C>
struct ReaderTable {
  std::vector<std::int64_t> offsets;
  std::vector<ResizeReader<C>> readers;
};

template <Interpolation M, typename C>
ReaderTable<C> reader_table(std::int64_t in, std::int64_t out) {
  const auto taps = tap_table<M, C>(in, out);
  ReaderTable<C> t;
  t.offsets.assign(static_cast<std::size_t>(in) + 1, 0);
  for (const auto& tap : taps) {
    for (int k = 0; k < resize_tap_count(M); ++k) {
      if (tap.w[k] != C(0)) ++t.offsets[static_cast<std::size_t>(tap.first + k) + 1];
    }
  }
  for (std::size_t i = 1; i < t.offsets.size(); ++i) t.offsets[i] += t.offsets[i - 1];
  t.readers.resize(static_cast<std::size_t>(t.offsets.back()));
  std::vector<std::int64_t> next(t.offsets.begin(), t.offsets.end() - 1);
  for (std::int64_t o = 0; o < out; ++o) {
    const auto& tap = taps[static_cast<std::size_t>(o)];
    for (int k = 0; k < resize_tap_count(M); ++k) {
      if (tap.w[k] == C(0)) continue;
      t.readers[static_cast<std::size_t>(next[static_cast<std::size_t>(tap.first + k)]++)] = {
          o, tap.w[k]};
    }
  }
  return t;
}

void resize(Interpolation m, const Tensor& x, const ResizeGeometry& g, Tensor& out) {
  float_types(x.dtype(), [&](auto t) {
    using T = decltype(t);
    visit_interpolation(m, [&](auto mode) {
      constexpr Interpolation M = decltype(mode)::value;
      using C = compute_t<T>;
      const auto rows = tap_table<M, C>(g.in_h, g.out_h);
      const auto cols = tap_table<M, C>(g.in_w, g.out_w);
      const ResizeForwardFunctor<M, T> f{x.data<T>(), out.data<T>(), g, rows.data(), cols.data()};
      Launch{}(g.outer * g.out_h, g.out_w * g.inner, [&f](std::int64_t q) { f.row(q); });
    });
  });
}

void resize_backward(Interpolation m, const Tensor& grad_out, const ResizeGeometry& g, Tensor& dx) {
  float_types(grad_out.dtype(), [&](auto t) {
    using T = decltype(t);
    visit_interpolation(m, [&](auto mode) {
      constexpr Interpolation M = decltype(mode)::value;
      using C = compute_t<T>;
      const auto rows = reader_table<M, C>(g.in_h, g.out_h);
      const auto cols = reader_table<M, C>(g.in_w, g.out_w);
      const ResizeBackwardFunctor<M, T> f{
          grad_out.data<T>(),  dx.data<T>(),       g, rows.offsets.data(), rows.readers.data(),
          cols.offsets.data(), cols.readers.data()};
      Launch{}(g.outer * g.in_h, g.in_w * g.inner, [&f](std::int64_t q) { f.row(q); });
    });
  });
}

void resize_weights(Interpolation m, std::int64_t in, std::int64_t out, Tensor& w) {
  float_types(w.dtype(), [&](auto t) {
    using T = decltype(t);
    visit_interpolation(m, [&](auto mode) {
      const ResizeWeightsFunctor<decltype(mode)::value, T> f{w.data<T>(), in, out};
      Launch{}(out, in, [&f, in](std::int64_t o) {
        for (std::int64_t i = o * in; i < (o + 1) * in; ++i) f(i);
      });
    });
  });
}

// The CPU's add for AffineBackwardFunctor: one thread owns each image's gradient.
struct PlainAdd {
  template <typename T>
  static void add(T* p, T v) {
    *p += v;
  }
};

void affine_transform(Interpolation m, FillMode mode, double fill_value, const Tensor& x,
                      const Tensor& transforms, const AffineGeometry& g, Tensor& out) {
  NEURONA_CHECK(visit_float_dtype(x.dtype(),
                                  [&](auto t) {
                                    using T = decltype(t);
                                    using C = compute_t<T>;
                                    visit_affine_interpolation(m, [&](auto mc) {
                                      const AffineForwardFunctor<decltype(mc)::value, T> f{
                                          x.data<T>(), transforms.data<C>(),      out.data<T>(), g,
                                          mode,        static_cast<C>(fill_value)};
                                      Launch{}(g.outer * g.out_h, g.out_w * g.inner,
                                               [&f](std::int64_t q) { f.row(q); });
                                    });
                                  }),
                ValueError, "affine_transform: no CPU kernel for ", x.dtype());
}

void affine_transform_backward(Interpolation m, FillMode mode, const Tensor& grad_out,
                               const Tensor& transforms, const AffineGeometry& g, Tensor& dx) {
  const auto run = [&](auto t) {
    using T = decltype(t);
    visit_affine_interpolation(m, [&](auto mc) {
      const AffineBackwardFunctor<decltype(mc)::value, T, PlainAdd> f{
          grad_out.data<T>(), transforms.data<T>(), dx.data<T>(), g, mode};
      const std::int64_t pixels = g.out_h * g.out_w;
      // One slice's outputs write only that slice's gradient: the slices run in parallel, each
      // in pixel order, so the sums are the same on every run.
      Launch{}(g.outer, pixels * g.inner, [&f, pixels](std::int64_t o) {
        for (std::int64_t p = o * pixels; p < (o + 1) * pixels; ++p) f(p);
      });
    });
  };
  if (dx.dtype() == DType::float64) {
    run(double{});
  } else {
    NEURONA_CHECK(dx.dtype() == DType::float32, ValueError,
                  "affine_transform_backward: sums in float32 or float64, got ", dx.dtype());
    run(float{});
  }
}

}  // namespace

void register_image() {
  resize_stub.cpu = resize;
  resize_backward_stub.cpu = resize_backward;
  resize_weights_stub.cpu = resize_weights;
  affine_transform_stub.cpu = affine_transform;
  affine_transform_backward_stub.cpu = affine_transform_backward;
}

}  // namespace neurona::kernels::cpu
