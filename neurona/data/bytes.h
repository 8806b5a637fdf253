// Internal to data/: converting fixed-size elements of either byte order into a neurona dtype,
// which the IDX and .npy readers share (they read their files with core/io.h's
// read_regular_file_bytes).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "neurona/core/dtype.h"

namespace neurona::data::internal {

/// How an element is stored in a file: its kind, width in bytes and byte order.
struct ElementFormat {
  enum class Kind : std::uint8_t { unsigned_int, signed_int, floating };
  Kind kind = Kind::unsigned_int;
  int size = 1;  // 1, 2, 4 or 8 (floating: 4 or 8)
  std::endian order = std::endian::little;
};

/// Converts `n` elements stored as `format` at `src` into `dst` of type `dst_type`. Values
/// are converted by static_cast (the callers only pick targets that hold every value).
void convert_elements(const std::uint8_t* src, ElementFormat format, std::int64_t n, void* dst,
                      DType dst_type);

}  // namespace neurona::data::internal
