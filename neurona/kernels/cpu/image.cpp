// CPU image resizing: the shared functors of math/image_functors.h, one output (input) pixel
// with all its channels per index, so that each pixel's taps are found once.
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

void resize(Interpolation m, const Tensor& x, const ResizeGeometry& g, Tensor& out) {
  float_types(x.dtype(), [&](auto t) {
    using T = decltype(t);
    visit_interpolation(m, [&](auto mode) {
      const ResizeForwardFunctor<decltype(mode)::value, T> f{x.data<T>(), out.data<T>(), g};
      Launch{}(g.outer * g.out_h * g.out_w, g.inner, [&f](std::int64_t p) { f.pixel(p); });
    });
  });
}

void resize_backward(Interpolation m, const Tensor& grad_out, const ResizeGeometry& g, Tensor& dx) {
  float_types(grad_out.dtype(), [&](auto t) {
    using T = decltype(t);
    visit_interpolation(m, [&](auto mode) {
      const ResizeBackwardFunctor<decltype(mode)::value, T> f{grad_out.data<T>(), dx.data<T>(), g};
      Launch{}(g.outer * g.in_h * g.in_w, g.inner, [&f](std::int64_t p) { f.pixel(p); });
    });
  });
}

}  // namespace

void register_image() {
  resize_stub.cpu = resize;
  resize_backward_stub.cpu = resize_backward;
}

}  // namespace neurona::kernels::cpu
