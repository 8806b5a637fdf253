// The dispatch stubs of kernels/conv.h's ops: the signatures the CPU and CUDA kernels
// implement, and the tables the front doors in kernels/conv.cpp call (and define).
// Private to kernels/.
#pragma once

#include <cstdint>
#include <vector>

#include "neurona/core/op_options.h"
#include "neurona/core/tensor.h"
#include "neurona/kernels/conv.h"
#include "neurona/kernels/dispatch.h"

namespace neurona::kernels {

/// NHWC convolution with a (kh, kw, c / groups, filters) kernel.
using Conv2DFn = void (*)(const Tensor& x, const Tensor& kernel, const Conv2DGeometry& geo,
                          Tensor& out);

/// The gradients of a convolution: dx (dkernel) arrives uninitialised and the kernel writes every
/// element of it.
using Conv2DBackwardInputFn = void (*)(const Tensor& grad_out, const Tensor& kernel,
                                       const Conv2DGeometry& geo, Tensor& dx);

using Conv2DBackwardFilterFn = void (*)(const Tensor& x, const Tensor& grad_out,
                                        const Conv2DGeometry& geo, Tensor& dkernel);

/// conv2d, then + bias (per filter; may be undefined) and the activation, in one go. Only
/// devices that fuse them fill it: elsewhere the front door runs the three ops.
using Conv2DBiasActivationFn = void (*)(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                                        FusedActivation activation, const Conv2DGeometry& geo,
                                        Tensor& out);

/// The kernel's gradient and the bias's (grad_out summed over n, h, w) in one go; filled only
/// where that is one pass (elsewhere the front door sums apart).
using Conv2DBackwardFilterBiasFn = void (*)(const Tensor& x, const Tensor& grad_out,
                                            const Conv2DGeometry& geo, Tensor& dkernel,
                                            Tensor& dbias);

using Pool2DFn = void (*)(bool max, const Tensor& x, const Conv2DGeometry& geo, Tensor& out);

using Pool2DBackwardFn = void (*)(bool max, const Tensor& x, const Tensor& grad_out,
                                  const Conv2DGeometry& geo, Tensor& dx);

using Pad2dFn = void (*)(const Tensor& x, std::int64_t top, std::int64_t left, Tensor& out);

extern DispatchStub<Conv2DFn> conv2d_stub;

extern DispatchStub<Conv2DBackwardInputFn> conv2d_backward_input_stub;

extern DispatchStub<Conv2DBackwardFilterFn> conv2d_backward_filter_stub;

extern DispatchStub<Conv2DBiasActivationFn> conv2d_bias_activation_stub;

extern DispatchStub<Conv2DBackwardFilterBiasFn> conv2d_backward_filter_bias_stub;

extern DispatchStub<Pool2DFn> pool2d_stub;

extern DispatchStub<Pool2DBackwardFn> pool2d_backward_stub;

extern DispatchStub<Pad2dFn> pad2d_stub;

}  // namespace neurona::kernels
