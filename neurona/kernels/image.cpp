// Front doors of the image ops: shapes, the (outer, h, w, inner) view each data format gives,
// then dispatch. Both data formats run the same kernel, without transposes.
#include "neurona/kernels/image.h"

#include <algorithm>
#include <vector>

#include "neurona/kernels/array.h"
#include "neurona/kernels/checks.h"
#include "neurona/kernels/creation.h"
#include "neurona/kernels/elementwise.h"
#include "neurona/kernels/image_stubs.h"
#include "neurona/kernels/linalg.h"

namespace neurona::kernels {

DispatchStub<ResizeFn> resize_stub{"resize"};

DispatchStub<ResizeBackwardFn> resize_backward_stub{"resize_backward"};

DispatchStub<ResizeWeightsFn> resize_weights_stub{"resize_weights"};

DispatchStub<AffineTransformFn> affine_transform_stub{"affine_transform"};

DispatchStub<AffineTransformBackwardFn> affine_transform_backward_stub{"affine_transform_backward"};

namespace {

// The geometry of resizing `shape` (3-D or 4-D in `format`) to out_h x out_w.
ResizeGeometry resize_geometry(const char* op, const Shape& shape, std::int64_t out_h,
                               std::int64_t out_w, DataFormat format) {
  (void)image_axes(op, shape, format);  // the rank
  NEURONA_CHECK(out_h > 0 && out_w > 0, ValueError, op, ": the target size must be positive, got (",
                out_h, ", ", out_w, ")");
  const int r = shape.rank();
  const std::int64_t batch = r == 4 ? shape[0] : 1;
  ResizeGeometry g;
  g.out_h = out_h;
  g.out_w = out_w;
  if (format == DataFormat::ChannelsLast) {
    g.outer = batch;
    g.in_h = shape[r - 3];
    g.in_w = shape[r - 2];
    g.inner = shape[r - 1];
  } else {
    g.outer = batch * shape[r - 3];
    g.in_h = shape[r - 2];
    g.in_w = shape[r - 1];
    g.inner = 1;
  }
  NEURONA_CHECK(g.in_h > 0 && g.in_w > 0, ShapeError, op, ": cannot resize images of shape ", shape,
                ": height and width must be positive");
  return g;
}

Shape resized_shape(const Shape& shape, std::int64_t out_h, std::int64_t out_w, DataFormat format) {
  std::vector<std::int64_t> dims(shape.begin(), shape.end());
  const std::size_t h = dims.size() - (format == DataFormat::ChannelsLast ? 3 : 2);
  dims[h] = out_h;
  dims[h + 1] = out_w;
  return Shape(std::move(dims));
}

// Whether a resize takes the antialiased path: JAX's antialias changes the weights only along
// an axis that shrinks, and never nearest's.
bool antialiased(const ResizeOptions& options, const ResizeGeometry& g) {
  return options.antialias && options.interpolation != Interpolation::Nearest &&
         (g.out_h < g.in_h || g.out_w < g.in_w);
}

// The (out, in) weights of an antialiased resize along one axis, made on the device.
Tensor resize_weights(Interpolation m, std::int64_t in, std::int64_t out, DType dtype, Device d) {
  Tensor w = Tensor::empty(Shape{out, in}, dtype, d);
  resize_weights_stub.get(d)(m, in, out, w);
  return w;
}

// An antialiased resize as jax.image.resize computes it: the images (outer, in_h, in_w, inner)
// multiplied by each changed axis's weight matrix (the stretched kernel of a shrinking axis
// reads more inputs than the fixed taps of the kernels hold), rows then columns.
Tensor antialiased_resize(const Tensor& images, const ResizeGeometry& g, Interpolation m,
                          const Shape& out_shape) {
  Tensor t = images.reshape({g.outer, g.in_h, g.in_w * g.inner});
  if (g.out_h != g.in_h) {  // (out_h, in_h) @ (outer, in_h, in_w * inner)
    t = matmul(resize_weights(m, g.in_h, g.out_h, images.dtype(), images.device()), t);
  }
  if (g.out_w != g.in_w) {
    const Tensor ww = resize_weights(m, g.in_w, g.out_w, images.dtype(), images.device());
    t = g.inner == 1 ? matmul(t.reshape({g.outer * g.out_h, g.in_w}), ww, {.transpose_b = true})
                     : matmul(ww, t.reshape({g.outer * g.out_h, g.in_w, g.inner}));
  }
  return t.reshape(out_shape);
}

// Its gradient: grad_out multiplied by the transposed weight matrices, columns then rows.
Tensor antialiased_resize_backward(const Tensor& grad_out, const ResizeGeometry& g, Interpolation m,
                                   const Shape& images_shape) {
  Tensor t = grad_out.reshape({g.outer * g.out_h, g.out_w, g.inner});
  if (g.out_w != g.in_w) {
    const Tensor ww = resize_weights(m, g.in_w, g.out_w, grad_out.dtype(), grad_out.device());
    t = g.inner == 1 ? matmul(t.reshape({g.outer * g.out_h, g.out_w}), ww)
                     : matmul(ww, t, {.transpose_a = true});
  }
  t = t.reshape({g.outer, g.out_h, g.in_w * g.inner});
  if (g.out_h != g.in_h) {
    t = matmul(resize_weights(m, g.in_h, g.out_h, grad_out.dtype(), grad_out.device()), t,
               {.transpose_a = true});
  }
  return t.reshape(images_shape);
}

// Keras's int(float(a * b) / c) (backend/jax/image.py's resize), which truncates the
// non-negative values it gets, as its int(float(d) / 2) does (here d / 2).
std::int64_t ratio(std::int64_t a, std::int64_t b, std::int64_t c) {
  return static_cast<std::int64_t>(static_cast<double>(a * b) / static_cast<double>(c));
}

}  // namespace

std::array<int, 2> image_axes(const char* op, const Shape& shape, DataFormat format) {
  NEURONA_CHECK(shape.rank() == 3 || shape.rank() == 4, ShapeError, op,
                ": Invalid images rank: expected rank 3 (single image) or rank 4 (batch of "
                "images). Received input with shape: images.shape=",
                shape);
  const int h = format == DataFormat::ChannelsLast ? shape.rank() - 3 : shape.rank() - 2;
  return {h, h + 1};
}

ImageBox crop_to_aspect_box(std::int64_t h, std::int64_t w, std::int64_t th, std::int64_t tw) {
  const std::int64_t ch = std::max<std::int64_t>(std::min(h, ratio(w, th, tw)), 1);
  const std::int64_t cw = std::max<std::int64_t>(std::min(w, ratio(h, tw, th)), 1);
  return {(h - ch) / 2, (w - cw) / 2, ch, cw};
}

ImageBox pad_to_aspect_box(std::int64_t h, std::int64_t w, std::int64_t th, std::int64_t tw) {
  const std::int64_t top = (std::max(h, ratio(w, th, tw)) - h) / 2;
  const std::int64_t left = (std::max(w, ratio(h, tw, th)) - w) / 2;
  if (top > 0) return {top, 0, h + 2 * top, w};
  if (left > 0) return {0, left, h, w + 2 * left};
  return {0, 0, h, w};
}

AspectStep aspect_step(const char* op, const Shape& images_shape,
                       const std::array<std::int64_t, 2>& size, const ResizeOptions& options) {
  AspectStep step;
  step.plain = {.interpolation = options.interpolation,
                .data_format = options.data_format,
                .antialias = options.antialias};
  if (!options.crop_to_aspect_ratio && !options.pad_to_aspect_ratio) return step;
  NEURONA_CHECK(!(options.crop_to_aspect_ratio && options.pad_to_aspect_ratio), ValueError, op,
                ": Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be True.");
  const auto [ha, wa] = image_axes(op, images_shape, options.data_format);
  NEURONA_CHECK(size[0] > 0 && size[1] > 0, ValueError, op,
                ": the target size must be positive, got (", size[0], ", ", size[1], ")");
  step.h_axis = ha;
  step.w_axis = wa;
  const std::int64_t h = images_shape[ha], w = images_shape[wa];
  if (options.crop_to_aspect_ratio) {
    step.kind = AspectStep::crop;
    step.box = crop_to_aspect_box(h, w, size[0], size[1]);
    return step;
  }
  step.box = pad_to_aspect_box(h, w, size[0], size[1]);
  if (step.box.top == 0 && step.box.left == 0) return step;
  step.kind = AspectStep::pad;
  step.band_axis = step.box.top > 0 ? ha : wa;
  std::vector<std::int64_t> dims(images_shape.begin(), images_shape.end());
  dims[static_cast<std::size_t>(step.band_axis)] = step.box.top > 0 ? step.box.top : step.box.left;
  step.band_shape = Shape(std::move(dims));
  return step;
}

Tensor resize(const Tensor& images, const std::array<std::int64_t, 2>& size,
              const ResizeOptions& options) {
  const Device d = check_same_device("resize", {{"images", &images}});
  check_floating("resize", "images", images);
  const AspectStep step = aspect_step("resize", images.shape(), size, options);
  if (step.kind == AspectStep::crop) {
    const ImageBox& b = step.box;
    return resize(
        narrow(narrow(images, step.h_axis, b.top, b.height), step.w_axis, b.left, b.width), size,
        step.plain);
  }
  if (step.kind == AspectStep::pad) {
    const Tensor band =
        fill(step.band_shape, options.fill_value, {.dtype = images.dtype(), .device = d});
    return resize(concat({band, images, band}, step.band_axis), size, step.plain);
  }
  const ResizeGeometry g =
      resize_geometry("resize", images.shape(), size[0], size[1], options.data_format);
  const Shape out_shape = resized_shape(images.shape(), size[0], size[1], options.data_format);
  if (antialiased(options, g)) {
    return antialiased_resize(images, g, options.interpolation, out_shape);
  }
  Tensor out = Tensor::empty(out_shape, images.dtype(), d);
  if (out.numel() > 0) resize_stub.get(d)(options.interpolation, images, g, out);
  return out;
}

Tensor resize_backward(const Tensor& grad_out, const Shape& images_shape,
                       const ResizeOptions& options) {
  const Device d = check_same_device("resize_backward", {{"grad_out", &grad_out}});
  check_floating("resize_backward", "grad_out", grad_out);
  NEURONA_CHECK((images_shape.rank() == 3 || images_shape.rank() == 4) &&
                    grad_out.rank() == images_shape.rank(),
                ShapeError, "resize_backward: grad_out of shape ", grad_out.shape(),
                " does not match images of shape ", images_shape);
  const int h = options.data_format == DataFormat::ChannelsLast ? images_shape.rank() - 3
                                                                : images_shape.rank() - 2;
  const ResizeGeometry g = resize_geometry("resize_backward", images_shape, grad_out.shape()[h],
                                           grad_out.shape()[h + 1], options.data_format);
  const Shape expected = resized_shape(images_shape, g.out_h, g.out_w, options.data_format);
  NEURONA_CHECK(grad_out.shape() == expected, ShapeError, "resize_backward: grad_out has shape ",
                grad_out.shape(), ", expected ", expected);
  if (antialiased(options, g)) {
    return antialiased_resize_backward(grad_out, g, options.interpolation, images_shape);
  }
  Tensor dx = Tensor::empty(images_shape, grad_out.dtype(), d);
  if (dx.numel() > 0) resize_backward_stub.get(d)(options.interpolation, grad_out, g, dx);
  return dx;
}

namespace {

// The (outer, h, w, inner) view of an affine transform of images of `shape` by transforms of
// `transforms_shape` into out_h x out_w.
AffineGeometry affine_geometry(const char* op, const Shape& shape, const Shape& transforms_shape,
                               std::int64_t out_h, std::int64_t out_w, DataFormat format) {
  const ResizeGeometry r = resize_geometry(op, shape, out_h, out_w, format);
  NEURONA_CHECK(transforms_shape.rank() == 1 || transforms_shape.rank() == 2, ShapeError, op,
                ": Invalid transform rank: expected rank 1 (single transform) or rank 2 (batch "
                "of transforms). Received input with shape: transform.shape=",
                transforms_shape);
  const std::int64_t batch = shape.rank() == 4 ? shape[0] : 1;
  const std::int64_t count = transforms_shape.rank() == 2 ? transforms_shape[0] : 1;
  NEURONA_CHECK(
      transforms_shape[transforms_shape.rank() - 1] == 8 && (count == 1 || count == batch),
      ShapeError, op, ": transform.shape=", transforms_shape, " does not fit images.shape=", shape,
      ": expected (8,), (1, 8) or (", batch, ", 8)");
  AffineGeometry g;
  g.outer = r.outer;
  g.in_h = r.in_h;
  g.in_w = r.in_w;
  g.inner = r.inner;
  g.out_h = r.out_h;
  g.out_w = r.out_w;
  g.per_transform = format == DataFormat::ChannelsLast ? 1 : shape[shape.rank() - 3];
  g.shared_transform = count == 1;
  return g;
}

void check_affine_interpolation(const char* op, Interpolation m) {
  NEURONA_CHECK(m == Interpolation::Nearest || m == Interpolation::Bilinear, ValueError, op,
                ": Invalid value for argument `interpolation`. Expected of one {'nearest', "
                "'bilinear'}. Received: interpolation=",
                interpolation_name(m));
}

// The transforms in the dtype the kernels compute in for `dtype`.
Tensor transforms_for(const char* op, const Tensor& transforms, DType dtype) {
  check_floating(op, "transform", transforms);
  const DType want = dtype == DType::float64 ? DType::float64 : DType::float32;
  return transforms.dtype() == want ? transforms : cast(transforms, want);
}

}  // namespace

Tensor affine_transform(const Tensor& images, const Tensor& transforms,
                        const AffineTransformOptions& options) {
  const Device d =
      check_same_device("affine_transform", {{"images", &images}, {"transform", &transforms}});
  check_floating("affine_transform", "images", images);
  check_affine_interpolation("affine_transform", options.interpolation);
  NEURONA_CHECK(images.rank() == 3 || images.rank() == 4, ShapeError,
                "affine_transform: Invalid images rank: expected rank 3 (single image) or rank 4 "
                "(batch of images). Received input with shape: images.shape=",
                images.shape());
  const int h =
      options.data_format == DataFormat::ChannelsLast ? images.rank() - 3 : images.rank() - 2;
  const auto size = options.output_size.value_or(
      std::array<std::int64_t, 2>{images.shape()[h], images.shape()[h + 1]});
  const AffineGeometry g = affine_geometry("affine_transform", images.shape(), transforms.shape(),
                                           size[0], size[1], options.data_format);
  const Tensor t = transforms_for("affine_transform", transforms, images.dtype());
  Tensor out = Tensor::empty(resized_shape(images.shape(), size[0], size[1], options.data_format),
                             images.dtype(), d);
  if (out.numel() > 0) {
    affine_transform_stub.get(d)(options.interpolation, options.fill_mode, options.fill_value,
                                 images, t, g, out);
  }
  return out;
}

Tensor affine_transform_backward(const Tensor& grad_out, const Tensor& transforms,
                                 const Shape& images_shape, const AffineTransformOptions& options) {
  const Device d = check_same_device("affine_transform_backward",
                                     {{"grad_out", &grad_out}, {"transform", &transforms}});
  check_floating("affine_transform_backward", "grad_out", grad_out);
  check_affine_interpolation("affine_transform_backward", options.interpolation);
  NEURONA_CHECK((images_shape.rank() == 3 || images_shape.rank() == 4) &&
                    grad_out.rank() == images_shape.rank(),
                ShapeError, "affine_transform_backward: grad_out of shape ", grad_out.shape(),
                " does not match images of shape ", images_shape);
  const int h = options.data_format == DataFormat::ChannelsLast ? images_shape.rank() - 3
                                                                : images_shape.rank() - 2;
  const AffineGeometry g =
      affine_geometry("affine_transform_backward", images_shape, transforms.shape(),
                      grad_out.shape()[h], grad_out.shape()[h + 1], options.data_format);
  const Shape expected = resized_shape(images_shape, g.out_h, g.out_w, options.data_format);
  NEURONA_CHECK(grad_out.shape() == expected, ShapeError,
                "affine_transform_backward: grad_out has shape ", grad_out.shape(), ", expected ",
                expected);
  // Summed in float32 (float64 for float64): the GPU's atomicAdd takes no 16-bit types here.
  const DType acc = grad_out.dtype() == DType::float64 ? DType::float64 : DType::float32;
  const Tensor g_acc = grad_out.dtype() == acc ? grad_out : cast(grad_out, acc);
  const Tensor t = transforms_for("affine_transform_backward", transforms, acc);
  Tensor dx = zeros(images_shape, {.dtype = acc, .device = d});
  if (g_acc.numel() > 0 && dx.numel() > 0) {
    affine_transform_backward_stub.get(d)(options.interpolation, options.fill_mode, g_acc, t, g,
                                          dx);
  }
  return dx.dtype() == grad_out.dtype() ? dx : cast(dx, grad_out.dtype());
}

}  // namespace neurona::kernels
