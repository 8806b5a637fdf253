// CUDA image resizing: the shared functors of math/image_functors.h on a grid, one element per
// thread, so that every interpolation runs the CPU's arithmetic.
#include "neurona/kernels/cuda/launch.cuh"
#include "neurona/kernels/image_stubs.h"

namespace neurona::kernels::cuda {

namespace {

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
  NEURONA_CHECK(visit_float_dtype(t, f), ValueError, "resize: no CUDA kernel for ", t);
}

void resize(Interpolation m, const Tensor& x, const ResizeGeometry& g, Tensor& out) {
  float_types(x.dtype(), [&](auto t) {
    using T = decltype(t);
    visit_interpolation(m, [&](auto mode) {
      Launch(out.device())(out.numel(), ResizeForwardFunctor<decltype(mode)::value, T>{
                                            x.data<T>(), out.data<T>(), g});
    });
  });
}

void resize_backward(Interpolation m, const Tensor& grad_out, const ResizeGeometry& g, Tensor& dx) {
  float_types(grad_out.dtype(), [&](auto t) {
    using T = decltype(t);
    visit_interpolation(m, [&](auto mode) {
      Launch(dx.device())(dx.numel(), ResizeBackwardFunctor<decltype(mode)::value, T>{
                                          grad_out.data<T>(), dx.data<T>(), g});
    });
  });
}

}  // namespace

void register_image() {
  resize_stub.cuda = resize;
  resize_backward_stub.cuda = resize_backward;
}

}  // namespace neurona::kernels::cuda
