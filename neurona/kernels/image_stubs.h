// The dispatch stubs of kernels/image.h's ops: the signatures the CPU and CUDA kernels
// implement, and the tables the front doors in kernels/image.cpp call (and define).
// Private to kernels/.
#pragma once

#include "neurona/core/op_options.h"
#include "neurona/core/tensor.h"
#include "neurona/kernels/dispatch.h"
#include "neurona/kernels/math/image_functors.h"

namespace neurona::kernels {

/// Resizes x, seen as (outer, in_h, in_w, inner), into out (outer, out_h, out_w, inner).
using ResizeFn = void (*)(Interpolation interpolation, const Tensor& x, const ResizeGeometry& geo,
                          Tensor& out);

/// The gradient of a resize: dx (outer, in_h, in_w, inner) from grad_out; dx arrives
/// uninitialised and the kernel writes every element of it.
using ResizeBackwardFn = void (*)(Interpolation interpolation, const Tensor& grad_out,
                                  const ResizeGeometry& geo, Tensor& dx);

/// Fills w (out, in), a float tensor, with an antialiased resize's weights along an axis of `in`
/// inputs and `out` outputs (ResizeWeightsFunctor; not Nearest).
using ResizeWeightsFn = void (*)(Interpolation interpolation, std::int64_t in, std::int64_t out,
                                 Tensor& w);

/// Transforms x (outer, in_h, in_w, inner) into out (outer, out_h, out_w, inner); `transforms`
/// holds 8 numbers per transform in x's compute dtype (float32, or float64 for float64).
using AffineTransformFn = void (*)(Interpolation interpolation, FillMode mode, double fill_value,
                                   const Tensor& x, const Tensor& transforms,
                                   const AffineGeometry& geo, Tensor& out);

/// The gradient of an affine transform: dx (outer, in_h, in_w, inner) from grad_out, both
/// float32 or float64 as `transforms`; dx arrives zeroed and the kernel adds to it.
using AffineTransformBackwardFn = void (*)(Interpolation interpolation, FillMode mode,
                                           const Tensor& grad_out, const Tensor& transforms,
                                           const AffineGeometry& geo, Tensor& dx);

extern DispatchStub<ResizeFn> resize_stub;

extern DispatchStub<ResizeBackwardFn> resize_backward_stub;

extern DispatchStub<ResizeWeightsFn> resize_weights_stub;

extern DispatchStub<AffineTransformFn> affine_transform_stub;

extern DispatchStub<AffineTransformBackwardFn> affine_transform_backward_stub;

}  // namespace neurona::kernels
