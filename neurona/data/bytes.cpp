// Byte-order-aware element conversion for the data readers.
#include "neurona/data/bytes.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "neurona/core/error.h"

namespace neurona::data::internal {

namespace {

template <int Size>
struct UnsignedOf;
template <>
struct UnsignedOf<1> {
  using type = std::uint8_t;
};
template <>
struct UnsignedOf<2> {
  using type = std::uint16_t;
};
template <>
struct UnsignedOf<4> {
  using type = std::uint32_t;
};
template <>
struct UnsignedOf<8> {
  using type = std::uint64_t;
};

template <typename Src, typename Dst>
void convert_typed(const std::uint8_t* src, std::endian order, std::int64_t n, Dst* dst) {
  using U = typename UnsignedOf<sizeof(Src)>::type;
  if (order == std::endian::native) {
    if constexpr (std::is_same_v<Src, Dst>) {
      std::memcpy(dst, src, static_cast<std::size_t>(n) * sizeof(Src));
      return;
    }
  }
  const bool swap = order != std::endian::native;
  for (std::int64_t i = 0; i < n; ++i) {
    U u;
    std::memcpy(&u, src + static_cast<std::size_t>(i) * sizeof(U), sizeof(U));
    if (swap) {
      U r = 0;
      for (std::size_t b = 0; b < sizeof(U); ++b) {
        r = static_cast<U>((r << 8) | ((u >> (8 * b)) & 0xFF));
      }
      u = r;
    }
    dst[i] = static_cast<Dst>(std::bit_cast<Src>(u));
  }
}

template <typename Dst>
void convert_to_type(const std::uint8_t* src, ElementFormat f, std::int64_t n, Dst* dst) {
  using K = ElementFormat::Kind;
  switch (f.kind) {
    case K::unsigned_int:
      switch (f.size) {
        case 1:
          return convert_typed<std::uint8_t>(src, f.order, n, dst);
        case 2:
          return convert_typed<std::uint16_t>(src, f.order, n, dst);
        case 4:
          return convert_typed<std::uint32_t>(src, f.order, n, dst);
        case 8:
          return convert_typed<std::uint64_t>(src, f.order, n, dst);
      }
      break;
    case K::signed_int:
      switch (f.size) {
        case 1:
          return convert_typed<std::int8_t>(src, f.order, n, dst);
        case 2:
          return convert_typed<std::int16_t>(src, f.order, n, dst);
        case 4:
          return convert_typed<std::int32_t>(src, f.order, n, dst);
        case 8:
          return convert_typed<std::int64_t>(src, f.order, n, dst);
      }
      break;
    case K::floating:
      switch (f.size) {
        case 2:
          return convert_typed<float16>(src, f.order, n, dst);
        case 4:
          return convert_typed<float>(src, f.order, n, dst);
        case 8:
          return convert_typed<double>(src, f.order, n, dst);
      }
      break;
  }
  throw ValueError(
      detail::str("convert_elements: no element type of ", f.size, " bytes for this kind"));
}

}  // namespace

void convert_elements(const std::uint8_t* src, ElementFormat format, std::int64_t n, void* dst,
                      DType dst_type) {
  if (n == 0) return;
  visit_dtype(dst_type, [&](auto tag) {
    using T = decltype(tag);
    convert_to_type<T>(src, format, n, static_cast<T*>(dst));
  });
}

}  // namespace neurona::data::internal
