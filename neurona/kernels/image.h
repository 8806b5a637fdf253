// Image ops that are not convolutions: resizing and affine transforms, as keras.ops.image.resize
// and keras.ops.image.affine_transform (the front doors).
#pragma once

#include <array>
#include <cstdint>

#include "neurona/core/op_options.h"
#include "neurona/core/tensor.h"

namespace neurona::kernels {

/// `images` (batch, h, w, c), or (batch, c, h, w) with channels_first; 3-D for a single image)
/// resized to `size` = (height, width) as keras.ops.image.resize on the JAX backend, cropped or
/// padded to the target's aspect ratio first where the options say. Float dtypes. The
/// antialiased resize of a shrinking axis multiplies by its weight matrix (one matmul per
/// changed axis); every other resize runs one kernel pass over fixed taps.
Tensor resize(const Tensor& images, const std::array<std::int64_t, 2>& size,
              const ResizeOptions& options = {});

/// The height and width axes of images of `shape` (rank 3 or 4) in `format`; ShapeError naming
/// `op` and the shape otherwise.
std::array<int, 2> image_axes(const char* op, const Shape& shape, DataFormat format);

/// A box of rows [top, top + height) and columns [left, left + width).
struct ImageBox {
  std::int64_t top, left, height, width;
};

/// Keras's crop_to_aspect_ratio window of an h x w image for a target of th x tw: the largest
/// central box of the target's aspect ratio (at least one row and column).
ImageBox crop_to_aspect_box(std::int64_t h, std::int64_t w, std::int64_t th, std::int64_t tw);

/// Keras's pad_to_aspect_ratio frame of an h x w image for a target of th x tw: `top` rows of
/// fill above and below the image, or else `left` columns on each side (Keras pads one axis,
/// the same amount on both sides), and the padded size.
ImageBox pad_to_aspect_box(std::int64_t h, std::int64_t w, std::int64_t th, std::int64_t tw);

/// What a resize with crop_to_aspect_ratio or pad_to_aspect_ratio does before the plain resize
/// (`plain`, the options without them), so that kernels::resize and the recorded nr::image_resize
/// do the same: crop `box` (rows on h_axis, columns on w_axis), or put a band of fill of
/// `band_shape` on both sides of the images along `band_axis`; or nothing. Checks the options
/// and the images' rank (ValueError, ShapeError naming `op`).
struct AspectStep {
  enum Kind { none, crop, pad } kind = none;
  ImageBox box{};
  int h_axis = 0, w_axis = 0, band_axis = 0;
  Shape band_shape;
  ResizeOptions plain;
};
AspectStep aspect_step(const char* op, const Shape& images_shape,
                       const std::array<std::int64_t, 2>& size, const ResizeOptions& options);

/// The gradient of resize with respect to its input (of shape `images_shape`), from the gradient
/// `grad_out` of its output.
Tensor resize_backward(const Tensor& grad_out, const Shape& images_shape,
                       const ResizeOptions& options = {});

/// `images` ((batch, h, w, c), or (batch, c, h, w) with channels_first; 3-D for a single image)
/// under the projective transforms [a0, a1, a2, b0, b1, b2, c0, c1] of `transforms` ((8,) or
/// (1, 8) for all images, (batch, 8) for one each): output pixel (y, x) reads the input at
/// ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k), k = c0 x + c1 y + 1, as
/// keras.ops.image.affine_transform on its JAX backend (which takes c0 = c1 = 0) and
/// TensorFlow's ImageProjectiveTransformV3. Output size: options.output_size, or the input's.
/// Float images; float transforms (used in float32, or float64 for float64 images).
Tensor affine_transform(const Tensor& images, const Tensor& transforms,
                        const AffineTransformOptions& options = {});

/// The gradient of affine_transform with respect to its images (of shape `images_shape`), from
/// the gradient `grad_out` of its output. 16-bit gradients are summed in float32. On a GPU the
/// sums use atomicAdd, whose order varies, so it refuses to run under op determinism.
Tensor affine_transform_backward(const Tensor& grad_out, const Tensor& transforms,
                                 const Shape& images_shape,
                                 const AffineTransformOptions& options = {});

}  // namespace neurona::kernels
