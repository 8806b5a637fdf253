// CPU image resizing: the shared functors of math/image_functors.h, one output (input) row
// per index, with each row's and column's taps found once per call by the same resize_taps a
// GPU thread runs. Measured on the 2-core machine, one thread, (8, 64, 64, 32) to 128 x 128:
// finding the taps per element took bilinear 24 ms forward and 48 ms backward (channels_first
// 385 and 358 ms), the tables 14 and 11 ms (43 and 36 ms); an add of the output's size, 2 ms.
#include <vector>

#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/image_stubs.h"

namespace neurona::kernels::cpu {

namespace {

// Calls f(std::integral_constant<Interpolation, m>) for the run-time m.
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

}  // namespace

void register_image() {
  resize_stub.cpu = resize;
  resize_backward_stub.cpu = resize_backward;
}

}  // namespace neurona::kernels::cpu
