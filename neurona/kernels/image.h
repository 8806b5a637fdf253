// Image ops that are not convolutions: resizing, as keras.ops.image.resize (the front doors).
#pragma once

#include <array>
#include <cstdint>

#include "neurona/core/op_options.h"
#include "neurona/core/tensor.h"

namespace neurona::kernels {

/// `images` (batch, h, w, c), or (batch, c, h, w) with channels_first; 3-D for a single image)
/// resized to `size` = (height, width) as keras.ops.image.resize(..., antialias=False) on the
/// JAX backend. Float dtypes.
Tensor resize(const Tensor& images, const std::array<std::int64_t, 2>& size,
              const ResizeOptions& options = {});

/// The gradient of resize with respect to its input (of shape `images_shape`), from the gradient
/// `grad_out` of its output.
Tensor resize_backward(const Tensor& grad_out, const Shape& images_shape,
                       const ResizeOptions& options = {});

}  // namespace neurona::kernels
