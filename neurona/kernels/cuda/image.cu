// CUDA image resizing and affine transforms: the shared functors of math/image_functors.h on a
// grid, one element per thread, so that every interpolation runs the CPU's arithmetic.
#include "neurona/core/config.h"
#include "neurona/kernels/cuda/launch.cuh"
#include "neurona/kernels/image_stubs.h"

namespace neurona::kernels::cuda {

namespace {

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

void resize_weights(Interpolation m, std::int64_t in, std::int64_t out, Tensor& w) {
  float_types(w.dtype(), [&](auto t) {
    using T = decltype(t);
    visit_interpolation(m, [&](auto mode) {
      Launch(w.device())(w.numel(),
                         ResizeWeightsFunctor<decltype(mode)::value, T>{w.data<T>(), in, out});
    });
  });
}

// The GPU's add for AffineBackwardFunctor: outputs of one image add to the same inputs from
// different threads.
struct AtomicAdd {
  template <typename T>
  NEURONA_HD_INLINE static void add(T* p, T v) {
#ifdef __CUDA_ARCH__
    atomicAdd(p, v);
#else
    *p += v;  // never run: the functor runs on the device only
#endif
  }
};

void affine_transform(Interpolation m, FillMode mode, double fill_value, const Tensor& x,
                      const Tensor& transforms, const AffineGeometry& g, Tensor& out) {
  const bool known = visit_float_dtype(x.dtype(), [&](auto t) {
    using T = decltype(t);
    using C = compute_t<T>;
    visit_affine_interpolation(m, [&](auto mc) {
      Launch(out.device())(g.outer * g.out_h * g.out_w,
                           AffineForwardFunctor<decltype(mc)::value, T>{
                               x.data<T>(), transforms.data<C>(), out.data<T>(), g, mode,
                               static_cast<C>(fill_value)});
    });
  });
  NEURONA_CHECK(known, ValueError, "affine_transform: no CUDA kernel for ", x.dtype());
}

void affine_transform_backward(Interpolation m, FillMode mode, const Tensor& grad_out,
                               const Tensor& transforms, const AffineGeometry& g, Tensor& dx) {
  NEURONA_CHECK(!config::op_determinism_enabled(), NotImplementedError,
                "affine_transform_backward (the gradient of affine_transform) on CUDA sums with "
                "atomicAdd, whose order varies from run to run, and op determinism is enabled "
                "(config::enable_op_determinism); run it on the CPU or disable op determinism");
  const auto run = [&](auto t) {
    using T = decltype(t);
    visit_affine_interpolation(m, [&](auto mc) {
      Launch(dx.device())(g.outer * g.out_h * g.out_w,
                          AffineBackwardFunctor<decltype(mc)::value, T, AtomicAdd>{
                              grad_out.data<T>(), transforms.data<T>(), dx.data<T>(), g, mode});
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
  resize_stub.cuda = resize;
  resize_backward_stub.cuda = resize_backward;
  resize_weights_stub.cuda = resize_weights;
  affine_transform_stub.cuda = affine_transform;
  affine_transform_backward_stub.cuda = affine_transform_backward;
}

}  // namespace neurona::kernels::cuda
