// The arithmetic of every elementwise op, written once for the host and the GPU. Keras's
// definitions: gelu is the exact erf form (gelu_approximate the tanh form), hard_sigmoid is relu6(x
// + 3) / 6, selu uses the constants of Klambauer et al., softplus is computed without overflow.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "neurona/core/half.h"
#include "neurona/core/macros.h"

namespace neurona::kernels {

enum class BinaryOp : std::uint8_t {
  add,
  subtract,
  multiply,
  divide,
  pow,
  maximum,
  minimum,
  relu_grad,  // a * (b > 0): the gradient a of relu at its input b, in one pass
  gelu_grad,  // a * gelu'(b): the gradient a of the exact gelu at its input b, in one pass
  gelu_approximate_grad,  // the same for gelu's tanh form
  equal,
  not_equal,
  less,
  less_equal,
  greater,
  greater_equal,
};

constexpr bool is_comparison(BinaryOp op) {
  return op >= BinaryOp::equal;
}

/// Ops defined for float dtypes only (the front doors widen or refuse integers).
constexpr bool binary_float_only(BinaryOp op) {
  return op == BinaryOp::divide || op == BinaryOp::gelu_grad ||
         op == BinaryOp::gelu_approximate_grad;
}

enum class UnaryOp : std::uint8_t {
  neg,
  abs,
  square,
  exp,
  log,
  sqrt,
  relu,
  sigmoid,
  tanh,
  elu,
  selu,
  gelu,
  silu,
  softplus,
  softsign,
  leaky_relu,
  hard_sigmoid,
  erf,
  gelu_approximate,
  sin,
  cos,
  floor,
};

/// Ops defined for integer dtypes too; the rest need float32 or float64.
constexpr bool unary_allows_integers(UnaryOp op) {
  return op == UnaryOp::neg || op == UnaryOp::abs || op == UnaryOp::square || op == UnaryOp::relu;
}

// Integer arithmetic wraps around, as in TensorFlow and NumPy; done in unsigned arithmetic
// because signed overflow is undefined in C++.
template <typename T>
NEURONA_HD_INLINE T wrap_add(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return a + b;
  } else {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  }
}
template <typename T>
NEURONA_HD_INLINE T wrap_sub(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return a - b;
  } else {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
  }
}
template <typename T>
NEURONA_HD_INLINE T wrap_mul(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    return a * b;
  } else {
    // uint16-sized operands would promote to (signed) int: multiply as unsigned int instead.
    using U = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) * static_cast<U>(b)));
  }
}

template <typename T>
NEURONA_HD_INLINE T int_pow(T base, T exp) {
  if constexpr (std::is_signed_v<T>) {
    if (exp < 0) {
      if (base == 1) return 1;
      if (base == -1) return (exp % 2) ? T(-1) : T(1);
      return 0;  // |base| > 1: 1 / base^n truncates to 0
    }
  }
  T result = 1;
  while (exp) {
    if (exp & 1) result = wrap_mul(result, base);
    base = wrap_mul(base, base);
    exp = static_cast<T>(exp / 2);
  }
  return result;
}

template <typename T>
NEURONA_HD_INLINE bool is_nan(T v) {
  if constexpr (is_float_v<T>) {
    return v != v;
  } else {
    return false;
  }
}

template <BinaryOp Op, typename T>
NEURONA_HD_INLINE auto binary_apply(T a, T b) {
  if constexpr (Op == BinaryOp::add)
    return wrap_add(a, b);
  else if constexpr (Op == BinaryOp::subtract)
    return wrap_sub(a, b);
  else if constexpr (Op == BinaryOp::multiply)
    return wrap_mul(a, b);
  else if constexpr (Op == BinaryOp::divide)
    return static_cast<T>(a / b);  // floats only
  else if constexpr (Op == BinaryOp::pow) {
    if constexpr (std::is_floating_point_v<T>)
      return static_cast<T>(std::pow(a, b));
    else
      return int_pow<T>(a, b);
  }
  // maximum/minimum propagate NaN, as tf.maximum and np.maximum do.
  else if constexpr (Op == BinaryOp::maximum)
    return (is_nan(a) || a > b) ? a : b;
  else if constexpr (Op == BinaryOp::minimum)
    return (is_nan(a) || a < b) ? a : b;
  // The product with a 0/1 mask, not a select, so that it gives the same bits as
  // multiply(a, cast(b > 0)): a NaN gradient stays NaN, an infinite one is NaN where b <= 0.
  else if constexpr (Op == BinaryOp::relu_grad)
    return wrap_mul(a, b > T(0) ? T(1) : T(0));
  else if constexpr (Op == BinaryOp::gelu_grad) {
    // d/dx x Phi(x) = Phi(x) + x phi(x) (floats only)
    constexpr T kInvSqrt2 = T(0.70710678118654752440084436210);
    constexpr T kInvSqrt2Pi = T(0.39894228040143267793994605993);
    return a * (T(0.5) * (T(1) + std::erf(b * kInvSqrt2)) +
                b * (kInvSqrt2Pi * std::exp(T(-0.5) * b * b)));
  } else if constexpr (Op == BinaryOp::gelu_approximate_grad) {
    // y = x (1 + t) / 2 with t = tanh(u), u = c (x + k x^3):
    // y' = (1 + t) / 2 + x (1 - t^2) c (1 + 3 k x^2) / 2 (floats only)
    constexpr T kC = T(0.79788456080286535587989211986876), kK = T(0.044715);
    const T b2 = b * b;
    const T t = std::tanh(kC * (b + kK * b2 * b));
    return a * (T(0.5) * (T(1) + t) + T(0.5) * b * (T(1) - t * t) * kC * (T(1) + T(3) * kK * b2));
  } else if constexpr (Op == BinaryOp::equal)
    return static_cast<std::uint8_t>(a == b);
  else if constexpr (Op == BinaryOp::not_equal)
    return static_cast<std::uint8_t>(a != b);
  else if constexpr (Op == BinaryOp::less)
    return static_cast<std::uint8_t>(a < b);
  else if constexpr (Op == BinaryOp::less_equal)
    return static_cast<std::uint8_t>(a <= b);
  else if constexpr (Op == BinaryOp::greater)
    return static_cast<std::uint8_t>(a > b);
  else
    return static_cast<std::uint8_t>(a >= b);
}

template <UnaryOp Op, typename T>
NEURONA_HD_INLINE T unary_apply(T x, T alpha) {
  if constexpr (Op == UnaryOp::neg)
    return wrap_sub(T(0), x);
  else if constexpr (Op == UnaryOp::abs) {
    if constexpr (std::is_unsigned_v<T>)
      return x;
    else
      return x < 0 ? wrap_sub(T(0), x) : x;
  } else if constexpr (Op == UnaryOp::square)
    return wrap_mul(x, x);
  else if constexpr (Op == UnaryOp::relu)  // NaN stays NaN, as in TensorFlow and PyTorch
    return (x > 0 || is_nan(x)) ? x : static_cast<T>(0);
  else if constexpr (Op == UnaryOp::exp)
    return std::exp(x);
  else if constexpr (Op == UnaryOp::log)
    return std::log(x);
  else if constexpr (Op == UnaryOp::sqrt)
    return std::sqrt(x);
  else if constexpr (Op == UnaryOp::tanh)
    return std::tanh(x);
  else if constexpr (Op == UnaryOp::sigmoid) {
    // Stable on both sides: never exp of a large positive number.
    if (x >= 0) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
  } else if constexpr (Op == UnaryOp::elu)
    return x > 0 ? x : alpha * std::expm1(x);
  else if constexpr (Op == UnaryOp::selu) {
    constexpr T kAlpha = T(1.67326324235437728481704299167);
    constexpr T kScale = T(1.05070098735548049341933498529);
    return kScale * (x > 0 ? x : kAlpha * std::expm1(x));
  } else if constexpr (Op == UnaryOp::gelu) {
    constexpr T kInvSqrt2 = T(0.70710678118654752440084436210);
    return T(0.5) * x * (T(1) + std::erf(x * kInvSqrt2));
  } else if constexpr (Op == UnaryOp::silu) {
    return x * unary_apply<UnaryOp::sigmoid, T>(x, alpha);
  } else if constexpr (Op == UnaryOp::softplus) {
    // log(1 + e^x) = max(x, 0) + log1p(e^-|x|)
    return (x > 0 ? x : T(0)) + std::log1p(std::exp(-(x < 0 ? -x : x)));
  } else if constexpr (Op == UnaryOp::softsign)
    return x / (T(1) + (x < 0 ? -x : x));
  else if constexpr (Op == UnaryOp::leaky_relu)
    return x > 0 ? x : alpha * x;
  else if constexpr (Op == UnaryOp::erf)
    return std::erf(x);
  else if constexpr (Op == UnaryOp::sin)
    return std::sin(x);
  else if constexpr (Op == UnaryOp::cos)
    return std::cos(x);
  else if constexpr (Op == UnaryOp::floor)
    return std::floor(x);
  else if constexpr (Op == UnaryOp::gelu_approximate) {
    // jax.nn.gelu(approximate=True), what keras.activations.gelu(x, approximate=True) runs.
    constexpr T kSqrt2OverPi = T(0.79788456080286535587989211986876);
    return T(0.5) * x * (T(1) + std::tanh(kSqrt2OverPi * (x + T(0.044715) * x * x * x)));
  } else {  // hard_sigmoid
    const T y = x / T(6) + T(0.5);
    return y < 0 ? T(0) : (y > 1 ? T(1) : y);
  }
}

/// Converts with saturation and NaN -> 0 where C++ would be undefined (float to integer), so
/// that the host and the GPU agree on every input. The 16-bit floats go through float32 (as
/// PyTorch's casts do): a float64 is rounded to float32, then to 16 bits.
template <typename To, typename From>
NEURONA_HD_INLINE To saturate_cast(From v) {
  if constexpr (!std::is_same_v<compute_t<From>, From>) {
    return saturate_cast<To>(static_cast<float>(v));
  } else if constexpr (!std::is_same_v<compute_t<To>, To>) {
    return To(static_cast<float>(v));
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if (v != v) return To(0);
    constexpr double lo = static_cast<double>(std::numeric_limits<To>::lowest());
    constexpr double hi = static_cast<double>(std::numeric_limits<To>::max());
    const double d = static_cast<double>(v);
    if (d <= lo) return std::numeric_limits<To>::lowest();
    if (d >= hi) return std::numeric_limits<To>::max();
    return static_cast<To>(d);
  } else {
    return static_cast<To>(v);  // integer narrowing wraps (defined since C++20)
  }
}

}  // namespace neurona::kernels
