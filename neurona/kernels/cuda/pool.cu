// CUDA pooling and zero padding: the shared functors of math/conv_functors.h on a grid, so
// that every padding Keras allows (including the asymmetric 'same') runs the CPU's code.
#include "neurona/kernels/conv_stubs.h"
#include "neurona/kernels/cuda/kernels.h"
#include "neurona/kernels/cuda/launch.cuh"
#include "neurona/kernels/math/conv_functors.h"

namespace neurona::kernels::cuda {

namespace {

// The float dtypes (the 16-bit ones compute in float32 inside the functors).
template <typename F>
void float_types(DType t, F&& f) {
  NEURONA_CHECK(visit_float_dtype(t, f), ValueError, "pool2d: no CUDA kernel for ", t);
}

void pool2d(bool max, const Tensor& x, const Conv2DGeometry& g, Tensor& out) {
  float_types(x.dtype(), [&](auto t) {
    using T = decltype(t);
    Launch(out.device())(out.numel(), PoolForwardFunctor<T>{x.data<T>(), out.data<T>(), g, max});
  });
}

void pool2d_backward(bool max, const Tensor& x, const Tensor& go, const Conv2DGeometry& g,
                     Tensor& dx) {
  float_types(x.dtype(), [&](auto t) {
    using T = decltype(t);
    Launch(dx.device())(dx.numel(),
                        PoolBackwardFunctor<T>{x.data<T>(), go.data<T>(), dx.data<T>(), g, max});
  });
}

}  // namespace

void pad2d(const Tensor& x, std::int64_t top, std::int64_t left, Tensor& out) {
  visit_dtype(x.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    Launch(out.device())(out.numel(),
                         Pad2dFunctor<T>{x.data<T>(), out.data<T>(), x.shape()[1], x.shape()[2],
                                         x.shape()[3], out.shape()[1], out.shape()[2], top, left});
  });
}

void register_pool() {
  pool2d_stub.cuda = pool2d;
  pool2d_backward_stub.cuda = pool2d_backward;
  pad2d_stub.cuda = pad2d;
}

}  // namespace neurona::kernels::cuda
