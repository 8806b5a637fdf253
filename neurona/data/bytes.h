// Internal to data/: reading a whole file with clear errors, and converting fixed-size
// elements of either byte order into a neurona dtype. The IDX and .npy readers share them.
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

/// The whole of the regular file `path` in memory, at most `max_bytes` of it. Throws IoError
/// naming `op`, the path and the system's reason when it does not exist, is a folder, is not a
/// regular file (a device such as /dev/zero or a FIFO, which may never end) or cannot be read;
/// and, naming its size and `limit` (the setting that raises it), when it holds more than
/// `max_bytes` (checked on its size before reading, and on the bytes read, for a file that
/// grows or whose size the system does not know).
std::vector<std::uint8_t> read_file_bytes(
    const std::string& path, const char* op,
    std::uint64_t max_bytes = std::numeric_limits<std::uint64_t>::max(), const char* limit = "");

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
