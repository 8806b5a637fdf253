// Convolution, pooling and zero padding over images: the front doors. Tensors here are NHWC
// (Keras's channels_last); the ops users call (autograd/ops.h) also accept channels_first and
// transpose around these. Kernels are (kh, kw, in / groups, filters), as in Keras.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "neurona/core/op_options.h"
#include "neurona/core/tensor.h"
#include "neurona/kernels/linalg.h"

namespace neurona::kernels {

/// Everything a 2-D convolution or pooling kernel needs, computed once by the front door.
struct Conv2DGeometry {
  std::int64_t n = 0, h = 0, w = 0, c = 0;   // input (NHWC)
  std::int64_t kh = 1, kw = 1, filters = 0;  // kernel / window
  std::int64_t oh = 0, ow = 0;               // output
  std::int64_t sh = 1, sw = 1, dh = 1, dw = 1;
  std::int64_t pad_top = 0, pad_bottom = 0, pad_left = 0, pad_right = 0;
  std::int64_t groups = 1;
};

/// conv2d of NHWC `x` with a (kh, kw, c / groups, filters) kernel; NHWC result.
Tensor conv2d(const Tensor& x, const Tensor& kernel, const ConvOptions& options = {});
/// activation(conv2d(x, kernel) + bias): `bias` of shape (filters,) or undefined (none). One
/// oneDNN primitive on the CPU (the bias and a relu post-op); elsewhere the three ops.
Tensor conv2d_bias_activation(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                              FusedActivation activation, const ConvOptions& options = {});
/// The gradient of conv2d with respect to its input.
Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& kernel, const Shape& x_shape,
                             const ConvOptions& options = {});
/// The gradient of conv2d with respect to its kernel.
Tensor conv2d_backward_filter(const Tensor& x, const Tensor& grad_out, const Shape& kernel_shape,
                              const ConvOptions& options = {});

/// The gradients of conv2d_bias_activation's kernel and bias (grad_out summed over n, h and
/// w) for the gradient `grad_out` of the sum before the activation; one oneDNN primitive on
/// the CPU.
std::pair<Tensor, Tensor> conv2d_backward_filter_bias(const Tensor& x, const Tensor& grad_out,
                                                      const Shape& kernel_shape,
                                                      const ConvOptions& options = {});
/// The transposed convolution of NHWC `x` (batch, h, w, in) with Keras's (kh, kw, filters, in)
/// kernel: the gradient of the convolution of a (batch, oh, ow, filters) input with that kernel
/// (conv2d_backward_input's kernel; cuDNN's backward-data on a GPU), oh and ow as Keras's
/// deconv_output_length gives them. NHWC result (batch, oh, ow, filters).
Tensor conv2d_transpose(const Tensor& x, const Tensor& kernel,
                        const ConvTransposeOptions& options = {});
/// The gradient of conv2d_transpose with respect to its input: a convolution of `grad_out`.
Tensor conv2d_transpose_backward_input(const Tensor& grad_out, const Tensor& kernel,
                                       const Shape& x_shape,
                                       const ConvTransposeOptions& options = {});
/// The gradient of conv2d_transpose with respect to its kernel.
Tensor conv2d_transpose_backward_filter(const Tensor& x, const Tensor& grad_out,
                                        const Shape& kernel_shape,
                                        const ConvTransposeOptions& options = {});
/// Max pooling of NHWC `x`; padded positions never win.
Tensor max_pool2d(const Tensor& x, const Pool2DOptions& options = {});
/// Average pooling of NHWC `x` over the positions inside the input (padding not counted).
Tensor avg_pool2d(const Tensor& x, const Pool2DOptions& options = {});
/// The gradient of max_pool2d (to the first maximum of each window) or avg_pool2d.
Tensor pool2d_backward(bool max, const Tensor& x, const Tensor& grad_out,
                       const Pool2DOptions& options = {});

/// NHWC `x` with rows of zeros added above and below and columns left and right; negative
/// amounts crop instead.
Tensor pad2d(const Tensor& x, std::int64_t top, std::int64_t bottom, std::int64_t left,
             std::int64_t right);

/// The CPU's implementations of float32 conv2d and its gradients (float64 always runs im2col:
/// oneDNN has no float64 convolution). Auto takes, per case, whichever measured faster on this
/// project's machines (benchmarks/results/2026-11-30-cpu-conv-onednn.md).
enum class CpuConvImpl { Auto, Im2col, OneDnn };
/// Selects the CPU convolution for the rest of the process. Until called, the environment
/// variable NEURONA_CPU_CONV ("auto", "im2col", "onednn") decides, and Auto where it is unset;
/// an unknown value throws ValueError at the first convolution. OneDnn throws ValueError in a
/// build without oneDNN (see cpu_conv_onednn_available()).
void set_cpu_conv_impl(CpuConvImpl impl);
/// The CPU convolution in use (after NEURONA_CPU_CONV or set_cpu_conv_impl()).
CpuConvImpl cpu_conv_impl();
/// Whether this build has oneDNN (CMake found Debian's libdnnl-dev).
bool cpu_conv_onednn_available();

/// The geometry of a convolution (or a pooling window when `kernel_hw` is the pool size).
Conv2DGeometry conv2d_geometry(const char* op, const Shape& x_shape, std::int64_t kh,
                               std::int64_t kw, std::int64_t filters,
                               const std::array<std::int64_t, 2>& strides,
                               const std::array<std::int64_t, 2>& dilation, Padding padding,
                               std::int64_t groups);

}  // namespace neurona::kernels
