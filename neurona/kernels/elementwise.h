// Elementwise ops with NumPy broadcasting, activations and casts: the front doors. Each
// checks dtypes, devices and shapes once, then dispatches to the CPU or CUDA kernel. Users
// call the same names in namespace neurona (autograd/ops.h), which also record gradients.
#pragma once

#include "neurona/core/tensor.h"

namespace neurona::kernels {

/// x + y with broadcasting; both operands must have the same dtype and device.
Tensor add(const Tensor& x, const Tensor& y);
Tensor subtract(const Tensor& x, const Tensor& y);
Tensor multiply(const Tensor& x, const Tensor& y);
/// True division: integer operands are promoted to float32, as keras.ops.divide does.
Tensor divide(const Tensor& x, const Tensor& y);
/// x ** y. For integers a negative exponent gives 0 (1 or -1 for a base of 1 or -1) rather
/// than an error as in NumPy, since a GPU cannot report it without stalling.
Tensor pow(const Tensor& x, const Tensor& y);
/// Elementwise maximum and minimum; NaN propagates.
Tensor maximum(const Tensor& x, const Tensor& y);
Tensor minimum(const Tensor& x, const Tensor& y);
/// The gradient of relu: grad * (x > 0) in one pass (grad and x of the same dtype; broadcast).
Tensor relu_grad(const Tensor& grad, const Tensor& x);
/// The gradients of gelu (exact) and of its tanh form: grad * gelu'(x) in one pass (floats;
/// grad and x of the same dtype; broadcast).
Tensor gelu_grad(const Tensor& grad, const Tensor& x);
Tensor gelu_approximate_grad(const Tensor& grad, const Tensor& x);

/// Comparisons return uint8 masks (1 where true), usable as where()'s condition.
Tensor equal(const Tensor& x, const Tensor& y);
Tensor not_equal(const Tensor& x, const Tensor& y);
Tensor less(const Tensor& x, const Tensor& y);
Tensor less_equal(const Tensor& x, const Tensor& y);
Tensor greater(const Tensor& x, const Tensor& y);
Tensor greater_equal(const Tensor& x, const Tensor& y);

/// x where `condition` (uint8) is nonzero, else y; all three broadcast together.
Tensor where(const Tensor& condition, const Tensor& x, const Tensor& y);

Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor square(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
/// The Gauss error function.
Tensor erf(const Tensor& x);
/// Sine and cosine (radians), and the largest integer not above x (float dtypes only).
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor floor(const Tensor& x);

/// Activations with Keras's definitions and defaults.
Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor elu(const Tensor& x, double alpha = 1.0);
Tensor selu(const Tensor& x);
/// The exact form 0.5 x (1 + erf(x / sqrt 2)), Keras's default (approximate = false).
Tensor gelu(const Tensor& x);
/// The tanh form 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))): Keras's approximate = true.
Tensor gelu_approximate(const Tensor& x);
Tensor silu(const Tensor& x);
inline Tensor swish(const Tensor& x) {
  return silu(x);
}
Tensor softplus(const Tensor& x);
Tensor softsign(const Tensor& x);
/// max(x, negative_slope * x); Keras's default slope is 0.2.
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.2);
/// Keras 3's hard_sigmoid: relu6(x + 3) / 6.
Tensor hard_sigmoid(const Tensor& x);

/// Converts to `dtype`. Float to integer truncates toward zero and saturates (NaN gives 0).
Tensor cast(const Tensor& x, DType dtype);

/// A scalar tensor of `like`'s dtype and device holding `value`.
Tensor scalar_like(const Tensor& like, double value);

}  // namespace neurona::kernels
