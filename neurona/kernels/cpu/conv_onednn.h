// oneDNN's convolutions for the CPU's float32 conv2d (kernels/cpu/conv_onednn.cpp, compiled
// where CMake found oneDNN; without it kernels/cpu/conv.cpp defines them to return false), and
// kernels/cpu/conv.cpp chooses between them and im2col + OpenBLAS.
#pragma once

#include "neurona/core/tensor.h"
#include "neurona/kernels/conv.h"

namespace neurona::kernels::cpu {

/// out = activation(conv2d(x, kernel) + bias) for float32 NHWC `x` and a (kh, kw, c / groups,
/// filters) kernel; `bias` may be undefined (none). Returns false, having written nothing,
/// where oneDNN has no primitive for the geometry.
bool onednn_conv2d(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                   FusedActivation activation, const Conv2DGeometry& g, Tensor& out);
/// dx = the gradient of conv2d with respect to x (overwritten, not accumulated); false as above.
bool onednn_conv2d_backward_input(const Tensor& grad_out, const Tensor& kernel,
                                  const Conv2DGeometry& g, Tensor& dx);
/// dk = the gradient of conv2d with respect to its kernel and, when `dbias` is given, *dbias =
/// that of a bias added to its output, in the same primitive (both overwritten); false as above.
bool onednn_conv2d_backward_filter(const Tensor& x, const Tensor& grad_out, const Conv2DGeometry& g,
                                   Tensor& dk, Tensor* dbias = nullptr);

}  // namespace neurona::kernels::cpu
