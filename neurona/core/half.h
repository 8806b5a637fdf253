// The 16-bit float types of mixed precision, usable on the host and the GPU: bfloat16 (8
// exponent bits, float32's range) and float16 (IEEE binary16). They are storage types: a value
// converts to float, the arithmetic happens in float, and the result is rounded back to nearest
// even. cuBLAS and cuDNN compute the same way (16-bit inputs, float32 accumulation).
//
// The conversions are written with integer operations only, so the host and every GPU give the
// same bits; they agree with __float2bfloat16_rn / __float2half_rn and with PyTorch's casts.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "neurona/core/macros.h"

namespace neurona {

namespace detail {
struct FromBits {};

NEURONA_HD_INLINE std::uint32_t float_bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
}
NEURONA_HD_INLINE float bits_float(std::uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

/// float -> bfloat16 bits, rounded to nearest even; a NaN stays a (quiet) NaN.
NEURONA_HD_INLINE std::uint16_t float_to_bfloat16_bits(float f) {
  const std::uint32_t u = float_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<std::uint16_t>((u >> 16) | 0x0040u);
  return static_cast<std::uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

/// float -> IEEE half bits, rounded to nearest even (overflow to infinity, gradual underflow).
/// F. Giesen's float_to_half_fast3_rtne.
NEURONA_HD_INLINE std::uint16_t float_to_float16_bits(float f) {
  std::uint32_t x = float_bits(f);
  const std::uint32_t sign = x & 0x80000000u;
  x ^= sign;
  std::uint16_t o;
  if (x >= (127u + 16u) << 23) {  // |f| >= 65536, infinity or NaN
    o = x > 0x7F800000u ? 0x7E00u : 0x7C00u;
  } else if (x < 113u << 23) {  // the result is subnormal or zero: let the float adder round
    constexpr std::uint32_t kMagic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
#if defined(__CUDA_ARCH__)
    const float sum = __fadd_rn(bits_float(x), bits_float(kMagic));
#else
    const float sum = bits_float(x) + bits_float(kMagic);
#endif
    o = static_cast<std::uint16_t>(float_bits(sum) - kMagic);
  } else {
    const std::uint32_t mantissa_odd = (x >> 13) & 1u;
    x += (static_cast<std::uint32_t>(15 - 127) << 23) + 0xFFFu + mantissa_odd;
    o = static_cast<std::uint16_t>(x >> 13);
  }
  return static_cast<std::uint16_t>(o | (sign >> 16));
}

/// IEEE half bits -> float (exact).
NEURONA_HD_INLINE float float16_bits_to_float(std::uint16_t h) {
  constexpr std::uint32_t kShiftedExp = 0x7C00u << 13;
  std::uint32_t o = (static_cast<std::uint32_t>(h) & 0x7FFFu) << 13;
  const std::uint32_t exp = kShiftedExp & o;
  o += (127u - 15u) << 23;
  if (exp == kShiftedExp) {
    o += (128u - 16u) << 23;  // infinity, NaN
  } else if (exp == 0) {      // zero, subnormal: renormalise through the float unit
    o += 1u << 23;
    o = float_bits(bits_float(o) - bits_float(113u << 23));
  }
  return bits_float(o | ((static_cast<std::uint32_t>(h) & 0x8000u) << 16));
}
}  // namespace detail

/// Google Brain's bfloat16: the upper half of a float32.
struct bfloat16 {
  std::uint16_t bits;  // no initialiser: a trivial type, allowed in CUDA __shared__ memory

  bfloat16() = default;
  constexpr bfloat16(std::uint16_t b, detail::FromBits /*tag*/) : bits(b) {}
  NEURONA_HD_INLINE bfloat16(float f) : bits(detail::float_to_bfloat16_bits(f)) {}  // NOLINT
  NEURONA_HD_INLINE operator float() const {  // NOLINT: converts like a built-in float
    return detail::bits_float(static_cast<std::uint32_t>(bits) << 16);
  }
  static constexpr bfloat16 from_bits(std::uint16_t b) { return {b, detail::FromBits{}}; }
};

/// IEEE 754 binary16.
struct float16 {
  std::uint16_t bits;  // no initialiser: a trivial type, allowed in CUDA __shared__ memory

  float16() = default;
  constexpr float16(std::uint16_t b, detail::FromBits /*tag*/) : bits(b) {}
  NEURONA_HD_INLINE float16(float f) : bits(detail::float_to_float16_bits(f)) {}  // NOLINT
  NEURONA_HD_INLINE operator float() const {  // NOLINT: converts like a built-in float
    return detail::float16_bits_to_float(bits);
  }
  static constexpr float16 from_bits(std::uint16_t b) { return {b, detail::FromBits{}}; }
};

static_assert(sizeof(bfloat16) == 2 && sizeof(float16) == 2);
static_assert(std::is_trivial_v<bfloat16> && std::is_trivial_v<float16>);

/// Whether T is a floating type, the 16-bit ones included (std::is_floating_point is false for
/// them).
template <typename T>
inline constexpr bool is_float_v =
    std::is_floating_point_v<T> || std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>;

/// The type a kernel computes in for elements of type T: float for the 16-bit types, T itself
/// otherwise.
template <typename T>
using compute_t =
    std::conditional_t<std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>, float, T>;

}  // namespace neurona

namespace neurona::detail {
/// The numeric_limits members the kernels use, from the 16-bit patterns of each value.
template <typename H, int Digits, std::uint16_t Lowest, std::uint16_t Max, std::uint16_t Min,
          std::uint16_t Epsilon, std::uint16_t Infinity, std::uint16_t QuietNaN>
struct HalfLimits {
  static constexpr bool is_specialized = true;
  static constexpr bool is_signed = true;
  static constexpr bool is_integer = false;
  static constexpr bool has_infinity = true;
  static constexpr bool has_quiet_NaN = true;
  static constexpr int digits = Digits;
  static constexpr H lowest() { return H::from_bits(Lowest); }
  static constexpr H max() { return H::from_bits(Max); }
  static constexpr H min() { return H::from_bits(Min); }
  static constexpr H epsilon() { return H::from_bits(Epsilon); }
  static constexpr H infinity() { return H::from_bits(Infinity); }
  static constexpr H quiet_NaN() { return H::from_bits(QuietNaN); }
};
}  // namespace neurona::detail

template <>
class std::numeric_limits<neurona::bfloat16>
    : public neurona::detail::HalfLimits<neurona::bfloat16, 8, 0xFF7F, 0x7F7F, 0x0080, 0x3C00,
                                         0x7F80, 0x7FC0> {};

template <>
class std::numeric_limits<neurona::float16>
    : public neurona::detail::HalfLimits<neurona::float16, 11, 0xFBFF, 0x7BFF, 0x0400, 0x1400,
                                         0x7C00, 0x7E00> {};
