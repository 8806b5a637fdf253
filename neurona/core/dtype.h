// Element types of a Tensor. float32 first; float64 for gradient checks on the CPU;
// bfloat16 and float16 for mixed precision (core/half.h); integers and uint8 for labels,
// indices, masks and raw data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "neurona/core/half.h"

namespace neurona {

enum class DType : std::uint8_t { float32, float64, int32, int64, uint8, bfloat16, float16 };

inline constexpr DType float32 = DType::float32;
inline constexpr DType float64 = DType::float64;
inline constexpr DType int32 = DType::int32;
inline constexpr DType int64 = DType::int64;
inline constexpr DType uint8 = DType::uint8;
// The constants `neurona::bfloat16` and `neurona::float16` would clash with the element types
// of core/half.h: write DType::bfloat16 and DType::float16.

/// Bytes per element.
constexpr std::size_t size_of(DType t) {
  switch (t) {
    case DType::float32:
      return 4;
    case DType::float64:
      return 8;
    case DType::int32:
      return 4;
    case DType::int64:
      return 8;
    case DType::uint8:
      return 1;
    case DType::bfloat16:
    case DType::float16:
      return 2;
  }
  return 0;
}

/// Keras's name of the dtype: "float32", "int64", ...
constexpr std::string_view name(DType t) {
  switch (t) {
    case DType::float32:
      return "float32";
    case DType::float64:
      return "float64";
    case DType::int32:
      return "int32";
    case DType::int64:
      return "int64";
    case DType::uint8:
      return "uint8";
    case DType::bfloat16:
      return "bfloat16";
    case DType::float16:
      return "float16";
  }
  return "?";
}

constexpr bool is_floating(DType t) {
  return t == DType::float32 || t == DType::float64 || t == DType::bfloat16 || t == DType::float16;
}

/// bfloat16 or float16: stored in 16 bits, computed in float32.
constexpr bool is_half(DType t) {
  return t == DType::bfloat16 || t == DType::float16;
}

/// Parses "float32", "float64", "bfloat16", "float16", "int32", "int64" or "uint8"; throws
/// ValueError otherwise.
DType dtype_from_string(std::string_view s);

/// The dtype for a C++ element type: dtype_of<float> is float32.
template <typename T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::float32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::float64;
}
template <>
constexpr DType dtype_of<std::int32_t>() {
  return DType::int32;
}
template <>
constexpr DType dtype_of<std::int64_t>() {
  return DType::int64;
}
template <>
constexpr DType dtype_of<std::uint8_t>() {
  return DType::uint8;
}
template <>
constexpr DType dtype_of<bfloat16>() {
  return DType::bfloat16;
}
template <>
constexpr DType dtype_of<float16>() {
  return DType::float16;
}

inline std::ostream& operator<<(std::ostream& os, DType t) {
  return os << name(t);
}

/// Calls `f(T{})` with the C++ type that `t` stands for.
template <typename F>
decltype(auto) visit_dtype(DType t, F&& f) {
  switch (t) {
    case DType::float32:
      return f(float{});
    case DType::float64:
      return f(double{});
    case DType::int32:
      return f(std::int32_t{});
    case DType::int64:
      return f(std::int64_t{});
    case DType::uint8:
      return f(std::uint8_t{});
    case DType::bfloat16:
      return f(bfloat16{});
    case DType::float16:
      return f(float16{});
  }
  return f(float{});
}

/// Calls `f(T{})` for the float dtypes (float32, float64, bfloat16, float16); for any other,
/// nothing, and returns false (the caller says which op refuses it).
template <typename F>
bool visit_float_dtype(DType t, F&& f) {
  if (!is_floating(t)) return false;
  visit_dtype(t, [&](auto v) {
    if constexpr (is_float_v<decltype(v)>) f(v);
  });
  return true;
}

}  // namespace neurona
