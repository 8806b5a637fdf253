// Whole-file reads and byte-order-aware element conversion for the data readers.
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

std::vector<std::uint8_t> read_file_bytes(const std::string& path, const char* op,
                                          std::uint64_t max_bytes, const char* limit) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  NEURONA_CHECK(!ec && std::filesystem::exists(status), IoError, op, ": cannot open '", path,
                "': ", ec ? ec.message() : "No such file or directory");
  NEURONA_CHECK(!std::filesystem::is_directory(status), IoError, op, ": '", path,
                "' is a folder, not a file");
  // Checked before opening: opening a FIFO blocks until a writer comes, and a device such as
  // /dev/zero never ends.
  NEURONA_CHECK(std::filesystem::is_regular_file(status), IoError, op, ": '", path,
                "' is not a regular file (a device, FIFO or socket); neurona reads data from "
                "regular files");
  // O_NONBLOCK: should a FIFO have taken the file's place since, opening it does not block.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  NEURONA_CHECK(fd >= 0, IoError, op, ": cannot open '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw IoError(detail::str(op, ": '", path, "' is not a regular file"));
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(::fdopen(fd, "rb"), &std::fclose);
  if (f == nullptr) {
    const int e = errno;
    ::close(fd);
    throw IoError(detail::str(op, ": cannot open '", path, "': ", std::strerror(e)));
  }
  auto too_large = [&](const char* how, std::uint64_t size) {
    return IoError(detail::str(op, ": '", path, "' ", how, size, " bytes, more than the ",
                               max_bytes, " bytes allowed", *limit != '\0' ? " (" : "", limit,
                               *limit != '\0' ? ")" : ""));
  };
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    throw too_large("is ", static_cast<std::uint64_t>(st.st_size));
  }
  // Read in pieces rather than trusting the size: /proc files report 0, and a file may grow.
  std::vector<std::uint8_t> bytes;
  constexpr std::size_t kChunk = std::size_t{1} << 20;
  for (;;) {
    const std::size_t old = bytes.size();
    // At most one byte past max_bytes, which tells a longer file from one of max_bytes.
    const std::uint64_t left = max_bytes - old;
    const std::size_t want = left >= kChunk ? kChunk : static_cast<std::size_t>(left) + 1;
    bytes.resize(old + want);
    const std::size_t got = std::fread(bytes.data() + old, 1, want, f.get());
    bytes.resize(old + got);
    if (bytes.size() > max_bytes) throw too_large("holds more than ", max_bytes);
    if (got < want) break;
  }
  NEURONA_CHECK(!std::ferror(f.get()), IoError, op, ": cannot read '", path,
                "': ", std::strerror(errno));
  return bytes;
}

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
