// Front doors of conv2d, pooling and padding: argument checks and output geometry (Keras's
// formulas), then dispatch. A 16-bit call whose kernel takes only float32 and float64 (the
// CPU's) runs widened here (kernels/widen.h); a fused op a device lacks runs as its parts.
#include "neurona/kernels/conv.h"

#include <array>
#include <cstdint>
#include <limits>

#include "neurona/kernels/checks.h"
#include "neurona/kernels/conv_stubs.h"
#include "neurona/kernels/creation.h"
#include "neurona/kernels/elementwise.h"
#include "neurona/kernels/reduction.h"
#include "neurona/kernels/widen.h"

namespace neurona::kernels {

DispatchStub<Pad2dFn> pad2d_stub{"pad2d"};

DispatchStub<Pool2DBackwardFn> pool2d_backward_stub{"pool2d_backward"};

DispatchStub<Pool2DFn> pool2d_stub{"pool2d"};

DispatchStub<Conv2DBackwardFilterBiasFn> conv2d_backward_filter_bias_stub{
    "conv2d_backward_filter_bias"};

DispatchStub<Conv2DBiasActivationFn> conv2d_bias_activation_stub{"conv2d_bias_activation"};

DispatchStub<Conv2DBackwardFilterFn> conv2d_backward_filter_stub{"conv2d_backward_filter"};

DispatchStub<Conv2DBackwardInputFn> conv2d_backward_input_stub{"conv2d_backward_input"};

DispatchStub<Conv2DFn> conv2d_stub{"conv2d"};

namespace {

// Window sizes, strides and dilations up to INT32_MAX (cuDNN and oneDNN take int): with them the
// window arithmetic below stays far inside int64, where an absurd value would wrap it to a small
// output size.
void check_window_range(const char* op, std::int64_t kh, std::int64_t kw,
                        const std::array<std::int64_t, 2>& strides,
                        const std::array<std::int64_t, 2>& dilation) {
  constexpr std::int64_t limit = std::numeric_limits<std::int32_t>::max();
  NEURONA_CHECK(kh <= limit && kw <= limit && strides[0] <= limit && strides[1] <= limit &&
                    dilation[0] <= limit && dilation[1] <= limit,
                ValueError, op, ": window (", kh, ", ", kw, "), strides (", strides[0], ", ",
                strides[1], ") and dilation_rate (", dilation[0], ", ", dilation[1],
                ") must each be at most ", limit);
}

}  // namespace

Conv2DGeometry conv2d_geometry(const char* op, const Shape& x_shape, std::int64_t kh,
                               std::int64_t kw, std::int64_t filters,
                               const std::array<std::int64_t, 2>& strides,
                               const std::array<std::int64_t, 2>& dilation, Padding padding,
                               std::int64_t groups) {
  NEURONA_CHECK(x_shape.rank() == 4, ShapeError, op,
                ": expected a 4-D input (batch, height, width, channels), got shape ", x_shape);
  NEURONA_CHECK(kh > 0 && kw > 0, ValueError, op, ": window (", kh, ", ", kw, ") must be positive");
  NEURONA_CHECK(strides[0] > 0 && strides[1] > 0, ValueError, op, ": strides (", strides[0], ", ",
                strides[1], ") must be positive");
  NEURONA_CHECK(dilation[0] > 0 && dilation[1] > 0, ValueError, op, ": dilation_rate (",
                dilation[0], ", ", dilation[1], ") must be positive");
  check_window_range(op, kh, kw, strides, dilation);
  Conv2DGeometry g;
  g.n = x_shape[0];
  g.h = x_shape[1];
  g.w = x_shape[2];
  g.c = x_shape[3];
  g.kh = kh;
  g.kw = kw;
  g.filters = filters;
  g.sh = strides[0];
  g.sw = strides[1];
  g.dh = dilation[0];
  g.dw = dilation[1];
  g.groups = groups;
  const std::int64_t eh = (kh - 1) * g.dh + 1, ew = (kw - 1) * g.dw + 1;
  if (padding == Padding::Valid) {
    NEURONA_CHECK(g.h >= eh && g.w >= ew, ShapeError, op, ": input of shape ", x_shape,
                  " is smaller than the (dilated) window (", eh, ", ", ew,
                  ") with padding 'valid'");
    g.oh = (g.h - eh) / g.sh + 1;
    g.ow = (g.w - ew) / g.sw + 1;
  } else {
    // TensorFlow's 'same': ceil(in / stride) outputs; the odd pixel of padding goes last.
    g.oh = g.h / g.sh + (g.h % g.sh != 0);
    g.ow = g.w / g.sw + (g.w % g.sw != 0);
    const std::int64_t ph = std::max<std::int64_t>((g.oh - 1) * g.sh + eh - g.h, 0);
    const std::int64_t pw = std::max<std::int64_t>((g.ow - 1) * g.sw + ew - g.w, 0);
    g.pad_top = ph / 2;
    g.pad_bottom = ph - g.pad_top;
    g.pad_left = pw / 2;
    g.pad_right = pw - g.pad_left;
  }
  return g;
}

namespace {

Conv2DGeometry conv_geometry(const char* op, const Shape& x_shape, const Shape& k_shape,
                             const ConvOptions& o) {
  NEURONA_CHECK(k_shape.rank() == 4, ShapeError, op,
                ": expected a 4-D kernel (kernel_h, kernel_w, in_channels / groups, filters), got "
                "shape ",
                k_shape);
  NEURONA_CHECK(o.data_format == DataFormat::ChannelsLast, ValueError, op,
                ": the kernel front door takes channels_last tensors (nr::conv2d converts)");
  NEURONA_CHECK(o.groups >= 1, ValueError, op, ": groups must be >= 1, got ", o.groups);
  Conv2DGeometry g = conv2d_geometry(op, x_shape, k_shape[0], k_shape[1], k_shape[3], o.strides,
                                     o.dilation_rate, o.padding, o.groups);
  NEURONA_CHECK(g.c % o.groups == 0 && g.filters % o.groups == 0, ValueError, op,
                ": input channels (", g.c, ") and filters (", g.filters,
                ") must both be divisible by groups (", o.groups, ")");
  NEURONA_CHECK(k_shape[2] == g.c / o.groups, ShapeError, op, ": kernel of shape ", k_shape,
                " expects ", k_shape[2] * o.groups, " input channels, got input of shape ",
                x_shape);
  return g;
}

// The forward ops' argument checks: the device, and the geometry.
std::pair<Device, Conv2DGeometry> check_forward(const char* op, const Tensor& x,
                                                const Tensor& kernel, const ConvOptions& options) {
  const Device d = check_same_device(op, {{"x", &x}, {"kernel", &kernel}});
  check_same_dtype(op, {{"x", &x}, {"kernel", &kernel}});
  check_floating(op, "x", x);
  return {d, conv_geometry(op, x.shape(), kernel.shape(), options)};
}

// The kernel-gradient ops' argument checks: the device, and the geometry.
std::pair<Device, Conv2DGeometry> check_backward_filter(const char* op, const Tensor& x,
                                                        const Tensor& grad_out,
                                                        const Shape& kernel_shape,
                                                        const ConvOptions& options) {
  const Device d = check_same_device(op, {{"x", &x}, {"grad_out", &grad_out}});
  check_same_dtype(op, {{"x", &x}, {"grad_out", &grad_out}});
  const Conv2DGeometry g = conv_geometry(op, x.shape(), kernel_shape, options);
  NEURONA_CHECK(grad_out.shape() == Shape({g.n, g.oh, g.ow, g.filters}), ShapeError, op,
                ": grad_out has shape ", grad_out.shape(), ", expected ",
                Shape({g.n, g.oh, g.ow, g.filters}));
  return {d, g};
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& kernel, const ConvOptions& options) {
  const auto [d, g] = check_forward("conv2d", x, kernel, options);
  Tensor out = Tensor::empty({g.n, g.oh, g.ow, g.filters}, x.dtype(), d);
  if (out.numel() == 0) return out;
  if (conv2d_stub.widens(d, x.dtype())) {
    Tensor wide = wide_like(out);
    conv2d_stub.get(d, DType::float32)(widen(x), widen(kernel), g, wide);
    narrow_into(wide, out);
  } else {
    conv2d_stub.get(d, x.dtype())(x, kernel, g, out);
  }
  return out;
}

Tensor conv2d_bias_activation(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                              FusedActivation activation, const ConvOptions& options) {
  const char* op = "conv2d_bias_activation";
  const auto [d, g] = check_forward(op, x, kernel, options);
  if (bias.defined()) {
    check_same_device(op, {{"x", &x}, {"bias", &bias}});
    check_same_dtype(op, {{"x", &x}, {"bias", &bias}});
    NEURONA_CHECK(bias.shape() == Shape({g.filters}), ShapeError, op, ": expected bias of shape ",
                  Shape({g.filters}), " for a kernel of shape ", kernel.shape(), ", got ",
                  bias.shape());
  }
  // Where the device does not fuse them, and for 16-bit data its kernel does not take: as on a
  // GPU (cuDNN writes the 16-bit convolution, then the epilogue adds the bias) and in Keras
  // (Conv2D's bias_add and activation run on the 16-bit convolution), the convolution rounds to
  // 16 bits before the bias and activation. Rounding once after all three instead flips relu's
  // mask wherever conv + bias is near 0, and the gradients of two devices then differ far
  // beyond rounding.
  if (!conv2d_bias_activation_stub.takes(d, x.dtype())) {
    Tensor out = conv2d(x, kernel, options);
    if (bias.defined()) out = add(out, bias);
    return activation == FusedActivation::relu ? relu(out) : out;
  }
  Tensor out = Tensor::empty({g.n, g.oh, g.ow, g.filters}, x.dtype(), d);
  if (out.numel() > 0)
    conv2d_bias_activation_stub.get(d, x.dtype())(x, kernel, bias, activation, g, out);
  return out;
}

Tensor conv2d_backward_input(const Tensor& grad_out, const Tensor& kernel, const Shape& x_shape,
                             const ConvOptions& options) {
  const Device d =
      check_same_device("conv2d_backward_input", {{"grad_out", &grad_out}, {"kernel", &kernel}});
  check_same_dtype("conv2d_backward_input", {{"grad_out", &grad_out}, {"kernel", &kernel}});
  const Conv2DGeometry g = conv_geometry("conv2d_backward_input", x_shape, kernel.shape(), options);
  NEURONA_CHECK(grad_out.shape() == Shape({g.n, g.oh, g.ow, g.filters}), ShapeError,
                "conv2d_backward_input: grad_out has shape ", grad_out.shape(), ", expected ",
                Shape({g.n, g.oh, g.ow, g.filters}));
  if (x_shape.numel() == 0 || grad_out.numel() == 0) {
    return zeros(x_shape, {.dtype = grad_out.dtype(), .device = d});
  }
  Tensor dx = Tensor::empty(x_shape, grad_out.dtype(), d);  // the kernel writes all of it
  if (conv2d_backward_input_stub.widens(d, dx.dtype())) {
    Tensor wide = wide_like(dx);
    conv2d_backward_input_stub.get(d, DType::float32)(widen(grad_out), widen(kernel), g, wide);
    narrow_into(wide, dx);
  } else {
    conv2d_backward_input_stub.get(d, grad_out.dtype())(grad_out, kernel, g, dx);
  }
  return dx;
}

Tensor conv2d_backward_filter(const Tensor& x, const Tensor& grad_out, const Shape& kernel_shape,
                              const ConvOptions& options) {
  const auto [d, g] =
      check_backward_filter("conv2d_backward_filter", x, grad_out, kernel_shape, options);
  if (kernel_shape.numel() == 0 || grad_out.numel() == 0) {
    return zeros(kernel_shape, {.dtype = x.dtype(), .device = d});
  }
  Tensor dk = Tensor::empty(kernel_shape, x.dtype(), d);  // the kernel writes all of it
  if (conv2d_backward_filter_stub.widens(d, dk.dtype())) {
    Tensor wide = wide_like(dk);
    conv2d_backward_filter_stub.get(d, DType::float32)(widen(x), widen(grad_out), g, wide);
    narrow_into(wide, dk);
  } else {
    conv2d_backward_filter_stub.get(d, x.dtype())(x, grad_out, g, dk);
  }
  return dk;
}

std::pair<Tensor, Tensor> conv2d_backward_filter_bias(const Tensor& x, const Tensor& grad_out,
                                                      const Shape& kernel_shape,
                                                      const ConvOptions& options) {
  const auto [d, g] =
      check_backward_filter("conv2d_backward_filter_bias", x, grad_out, kernel_shape, options);
  if (!conv2d_backward_filter_bias_stub.has(d)) {
    return {conv2d_backward_filter(x, grad_out, kernel_shape, options), sum(grad_out, {0, 1, 2})};
  }
  Tensor dk = zeros(kernel_shape, {.dtype = x.dtype(), .device = d});
  Tensor db = zeros({g.filters}, {.dtype = x.dtype(), .device = d});
  if (grad_out.numel() == 0) return {dk, db};
  if (conv2d_backward_filter_bias_stub.widens(d, x.dtype())) {
    Tensor wide_dk = widen(dk), wide_db = widen(db);  // zeros, as the kernel expects
    conv2d_backward_filter_bias_stub.get(d, DType::float32)(widen(x), widen(grad_out), g, wide_dk,
                                                            wide_db);
    narrow_into(wide_dk, dk);
    narrow_into(wide_db, db);
  } else {
    conv2d_backward_filter_bias_stub.get(d, x.dtype())(x, grad_out, g, dk, db);
  }
  return {dk, db};
}

namespace {

// The padding Keras adds around the stride-dilated input of a transposed convolution along one
// axis, {before, after} (keras.ops.conv_transpose on JAX:
// _convert_conv_transpose_padding_args_from_keras_to_jax); `output_padding` < 0 is None.
std::pair<std::int64_t, std::int64_t> transpose_padding(std::int64_t dilated_kernel,
                                                        std::int64_t stride, Padding padding,
                                                        std::int64_t output_padding) {
  const std::int64_t k = dilated_kernel;
  if (padding == Padding::Valid) {
    const std::int64_t extra = output_padding < 0 ? std::max(k, stride) - k : output_padding;
    return {k - 1, k - 1 + extra};
  }
  const std::int64_t total = output_padding < 0 ? stride + k - 2 : k + k % 2 - 2 + output_padding;
  const std::int64_t before = std::min(total / 2 + total % 2, k - 1);
  return {before, total - before};
}

// The convolution whose input gradient a transposed convolution is: its input is the transposed
// convolution's output (n, oh, ow, filters), its output the transposed convolution's input x.
// The padding is explicit, and the bottom and right may be negative (output_padding rows that
// no window reaches: zeros in the transposed convolution's output).
Conv2DGeometry transpose_geometry(const char* op, const Shape& x_shape, const Shape& k_shape,
                                  const ConvTransposeOptions& o) {
  NEURONA_CHECK(x_shape.rank() == 4, ShapeError, op,
                ": expected a 4-D input (batch, height, width, channels), got shape ", x_shape);
  NEURONA_CHECK(k_shape.rank() == 4, ShapeError, op,
                ": expected a 4-D kernel (kernel_h, kernel_w, filters, in_channels), got shape ",
                k_shape);
  NEURONA_CHECK(o.data_format == DataFormat::ChannelsLast, ValueError, op,
                ": the kernel front door takes channels_last tensors (nr::conv2d_transpose "
                "converts)");
  NEURONA_CHECK(k_shape[0] > 0 && k_shape[1] > 0, ValueError, op, ": kernel of shape ", k_shape,
                " has an empty window");
  NEURONA_CHECK(o.strides[0] > 0 && o.strides[1] > 0, ValueError, op, ": strides (", o.strides[0],
                ", ", o.strides[1], ") must be positive");
  NEURONA_CHECK(o.dilation_rate[0] > 0 && o.dilation_rate[1] > 0, ValueError, op,
                ": dilation_rate (", o.dilation_rate[0], ", ", o.dilation_rate[1],
                ") must be positive");
  check_window_range(op, k_shape[0], k_shape[1], o.strides, o.dilation_rate);
  NEURONA_CHECK(k_shape[3] == x_shape[3], ValueError, op,
                ": the number of input channels must match the kernel's input channels. "
                "Received: input channels=",
                x_shape[3], ", kernel input channels=", k_shape[3], " (input of shape ", x_shape,
                ", kernel of shape ", k_shape, ")");
  if (o.output_padding) {
    for (std::size_t i = 0; i < 2; ++i) {
      const std::int64_t p = (*o.output_padding)[i];
      NEURONA_CHECK(p >= 0 && p < o.strides[i], ValueError, op,
                    ": `output_padding` must be non-negative and strictly less than `strides` for "
                    "all dimensions. At dimension ",
                    i, ", `output_padding` is ", p, " but `strides` is ", o.strides[i]);
    }
  }
  Conv2DGeometry g;
  g.n = x_shape[0];
  g.oh = x_shape[1];
  g.ow = x_shape[2];
  g.filters = x_shape[3];
  g.kh = k_shape[0];
  g.kw = k_shape[1];
  g.c = k_shape[2];
  g.sh = o.strides[0];
  g.sw = o.strides[1];
  g.dh = o.dilation_rate[0];
  g.dw = o.dilation_rate[1];
  // Along one axis: the output size, and the convolution's padding before and after it.
  const auto axis = [&](std::size_t i, std::int64_t kernel, std::int64_t input) {
    const std::int64_t keff = (kernel - 1) * o.dilation_rate[i] + 1;
    const auto [before, after] = transpose_padding(keff, o.strides[i], o.padding,
                                                   o.output_padding ? (*o.output_padding)[i] : -1);
    std::int64_t strided = 0;  // (input - 1) * stride: a huge symbolic height could overflow it
    NEURONA_CHECK(!__builtin_mul_overflow(input - 1, o.strides[i], &strided), ShapeError, op,
                  ": input of shape ", x_shape, " with strides ", o.strides[i],
                  " gives an output size that overflows int64");
    const std::int64_t size = strided + 2 + before + after - keff;
    NEURONA_CHECK(size > 0, ShapeError, op, ": input of shape ", x_shape, " and kernel of shape ",
                  k_shape, " give a non-positive output size ", size, " on axis ", i + 1);
    return std::array<std::int64_t, 3>{size, keff - 1 - before, keff - 1 - after};
  };
  const auto [h, top, bottom] = axis(0, g.kh, g.oh);
  const auto [w, left, right] = axis(1, g.kw, g.ow);
  g.h = h;
  g.w = w;
  g.pad_top = top;
  g.pad_bottom = bottom;
  g.pad_left = left;
  g.pad_right = right;
  return g;
}

}  // namespace

// The three directions run the convolution's kernels on the transposed geometry: forward is
// the convolution's input gradient, the input gradient a convolution, and the kernel gradient
// the convolution's kernel gradient with the roles of input and output gradient swapped.
Tensor conv2d_transpose(const Tensor& x, const Tensor& kernel,
                        const ConvTransposeOptions& options) {
  const char* op = "conv2d_transpose";
  const Device d = check_same_device(op, {{"x", &x}, {"kernel", &kernel}});
  check_same_dtype(op, {{"x", &x}, {"kernel", &kernel}});
  check_floating(op, "x", x);
  const Conv2DGeometry g = transpose_geometry(op, x.shape(), kernel.shape(), options);
  const Shape out_shape{g.n, g.h, g.w, g.c};
  if (x.numel() == 0 || out_shape.numel() == 0) {
    return zeros(out_shape, {.dtype = x.dtype(), .device = d});
  }
  Tensor out = Tensor::empty(out_shape, x.dtype(), d);  // the kernel writes all of it
  if (conv2d_backward_input_stub.widens(d, x.dtype())) {
    Tensor wide = wide_like(out);
    conv2d_backward_input_stub.get(d, DType::float32)(widen(x), widen(kernel), g, wide);
    narrow_into(wide, out);
  } else {
    conv2d_backward_input_stub.get(d, x.dtype())(x, kernel, g, out);
  }
  return out;
}

Tensor conv2d_transpose_backward_input(const Tensor& grad_out, const Tensor& kernel,
                                       const Shape& x_shape, const ConvTransposeOptions& options) {
  const char* op = "conv2d_transpose_backward_input";
  const Device d = check_same_device(op, {{"grad_out", &grad_out}, {"kernel", &kernel}});
  check_same_dtype(op, {{"grad_out", &grad_out}, {"kernel", &kernel}});
  const Conv2DGeometry g = transpose_geometry(op, x_shape, kernel.shape(), options);
  NEURONA_CHECK(grad_out.shape() == Shape({g.n, g.h, g.w, g.c}), ShapeError, op,
                ": grad_out has shape ", grad_out.shape(), ", expected ",
                Shape({g.n, g.h, g.w, g.c}));
  if (x_shape.numel() == 0 || grad_out.numel() == 0) {
    return zeros(x_shape, {.dtype = grad_out.dtype(), .device = d});
  }
  Tensor dx = Tensor::empty(x_shape, grad_out.dtype(), d);
  if (conv2d_stub.widens(d, dx.dtype())) {
    Tensor wide = wide_like(dx);
    conv2d_stub.get(d, DType::float32)(widen(grad_out), widen(kernel), g, wide);
    narrow_into(wide, dx);
  } else {
    conv2d_stub.get(d, grad_out.dtype())(grad_out, kernel, g, dx);
  }
  return dx;
}

Tensor conv2d_transpose_backward_filter(const Tensor& x, const Tensor& grad_out,
                                        const Shape& kernel_shape,
                                        const ConvTransposeOptions& options) {
  const char* op = "conv2d_transpose_backward_filter";
  const Device d = check_same_device(op, {{"x", &x}, {"grad_out", &grad_out}});
  check_same_dtype(op, {{"x", &x}, {"grad_out", &grad_out}});
  const Conv2DGeometry g = transpose_geometry(op, x.shape(), kernel_shape, options);
  NEURONA_CHECK(grad_out.shape() == Shape({g.n, g.h, g.w, g.c}), ShapeError, op,
                ": grad_out has shape ", grad_out.shape(), ", expected ",
                Shape({g.n, g.h, g.w, g.c}));
  if (kernel_shape.numel() == 0 || x.numel() == 0) {
    return zeros(kernel_shape, {.dtype = x.dtype(), .device = d});
  }
  Tensor dk = Tensor::empty(kernel_shape, x.dtype(), d);
  if (conv2d_backward_filter_stub.widens(d, dk.dtype())) {
    Tensor wide = wide_like(dk);
    conv2d_backward_filter_stub.get(d, DType::float32)(widen(grad_out), widen(x), g, wide);
    narrow_into(wide, dk);
  } else {
    conv2d_backward_filter_stub.get(d, grad_out.dtype())(grad_out, x, g, dk);
  }
  return dk;
}

namespace {
Conv2DGeometry pool_geometry(const char* op, const Tensor& x, const Pool2DOptions& o) {
  NEURONA_CHECK(o.data_format == DataFormat::ChannelsLast, ValueError, op,
                ": the kernel front door takes channels_last tensors (nr::max_pool2d converts)");
  const auto strides = o.strides ? *o.strides : o.pool_size;
  Conv2DGeometry g = conv2d_geometry(op, x.shape(), o.pool_size[0], o.pool_size[1], 0, strides,
                                     {1, 1}, o.padding, 1);
  g.filters = g.c;
  return g;
}

Tensor pool(const char* op, bool max, const Tensor& x, const Pool2DOptions& o) {
  const Device d = check_same_device(op, {{"x", &x}});
  check_floating(op, "x", x);
  const Conv2DGeometry g = pool_geometry(op, x, o);
  Tensor out = Tensor::empty({g.n, g.oh, g.ow, g.c}, x.dtype(), d);
  if (out.numel() == 0) return out;
  if (pool2d_stub.widens(d, x.dtype())) {
    Tensor wide = wide_like(out);
    pool2d_stub.get(d, DType::float32)(max, widen(x), g, wide);
    narrow_into(wide, out);
  } else {
    pool2d_stub.get(d, x.dtype())(max, x, g, out);
  }
  return out;
}
}  // namespace

Tensor max_pool2d(const Tensor& x, const Pool2DOptions& options) {
  return pool("max_pool2d", true, x, options);
}

Tensor avg_pool2d(const Tensor& x, const Pool2DOptions& options) {
  return pool("avg_pool2d", false, x, options);
}

Tensor pool2d_backward(bool max, const Tensor& x, const Tensor& grad_out,
                       const Pool2DOptions& options) {
  const Device d = check_same_device("pool2d_backward", {{"x", &x}, {"grad_out", &grad_out}});
  check_same_dtype("pool2d_backward", {{"x", &x}, {"grad_out", &grad_out}});
  const Conv2DGeometry g = pool_geometry("pool2d_backward", x, options);
  NEURONA_CHECK(grad_out.shape() == Shape({g.n, g.oh, g.ow, g.c}), ShapeError,
                "pool2d_backward: grad_out has shape ", grad_out.shape(), ", expected ",
                Shape({g.n, g.oh, g.ow, g.c}));
  Tensor dx = Tensor::empty(x.shape(), x.dtype(), d);
  if (dx.numel() == 0) return dx;
  if (pool2d_backward_stub.widens(d, x.dtype())) {
    Tensor wide = wide_like(dx);
    pool2d_backward_stub.get(d, DType::float32)(max, widen(x), widen(grad_out), g, wide);
    narrow_into(wide, dx);
  } else {
    pool2d_backward_stub.get(d, x.dtype())(max, x, grad_out, g, dx);
  }
  return dx;
}

Tensor pad2d(const Tensor& x, std::int64_t top, std::int64_t bottom, std::int64_t left,
             std::int64_t right) {
  const Device d = check_same_device("pad2d", {{"x", &x}});
  NEURONA_CHECK(x.rank() == 4, ShapeError,
                "pad2d: expected a 4-D input (batch, height, width, channels), got shape ",
                x.shape());
  std::int64_t oh = 0, ow = 0;
  NEURONA_CHECK(!__builtin_add_overflow(x.shape()[1], top, &oh) &&
                    !__builtin_add_overflow(oh, bottom, &oh) &&
                    !__builtin_add_overflow(x.shape()[2], left, &ow) &&
                    !__builtin_add_overflow(ow, right, &ow),
                ShapeError, "pad2d: padding (", top, ", ", bottom, ", ", left, ", ", right,
                ") of an input of shape ", x.shape(), " overflows int64");
  NEURONA_CHECK(oh >= 0 && ow >= 0, ShapeError, "pad2d: cropping (", -top, ", ", -bottom, ", ",
                -left, ", ", -right, ") removes more than the input of shape ", x.shape(), " has");
  Tensor out = Tensor::empty({x.shape()[0], oh, ow, x.shape()[3]}, x.dtype(), d);
  if (out.numel() > 0) pad2d_stub.get(d)(x, top, left, out);
  return out;
}

}  // namespace neurona::kernels
