// Decompression bombs made at test time (a few kilobytes per gigabyte, built in milliseconds),
// and the process's peak memory, so that the loader tests can check that a hostile file is
// refused before it costs what it declares.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>

namespace neurona::testing {

/// A raw deflate stream (no zlib or gzip wrapper, as a zip entry holds it) of `n` bytes equal
/// to `byte`. One 1 MiB piece is compressed once, ending in a full flush (byte-aligned, no
/// reference to earlier data), and repeated: ~1 KiB of stream per MiB of data.
inline std::string deflate_repeated(unsigned char byte, std::uint64_t n) {
  constexpr std::uint64_t kPiece = std::uint64_t{1} << 20;
  auto compress = [&](std::uint64_t len, int flush) {
    z_stream zs{};
    if (deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 9, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
      throw std::runtime_error("deflateInit2 failed");
    }
    std::string in(len, static_cast<char>(byte));
    std::string out(deflateBound(&zs, static_cast<uLong>(len)) + 64, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(in.data());
    zs.avail_in = static_cast<uInt>(len);
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    const int ret = deflate(&zs, flush);
    out.resize(out.size() - zs.avail_out);
    deflateEnd(&zs);
    if (ret != (flush == Z_FINISH ? Z_STREAM_END : Z_OK))
      throw std::runtime_error("deflate failed");
    return out;
  };
  const std::string piece = compress(kPiece, Z_FULL_FLUSH);
  std::string out;
  for (std::uint64_t i = 0; i < n / kPiece; ++i) out += piece;
  out += compress(n % kPiece, Z_FINISH);  // the rest, in the final block
  return out;
}

/// CRC-32 of `n` bytes equal to `byte`, as zip and gzip record it.
inline std::uint32_t crc32_repeated(unsigned char byte, std::uint64_t n) {
  constexpr std::uint64_t kPiece = std::uint64_t{1} << 20;
  const std::string piece(kPiece, static_cast<char>(byte));
  const auto whole = static_cast<uLong>(
      ::crc32(0, reinterpret_cast<const Bytef*>(piece.data()), static_cast<uInt>(kPiece)));
  uLong crc = ::crc32(0, Z_NULL, 0);
  for (std::uint64_t i = 0; i < n / kPiece; ++i) {
    crc = ::crc32_combine(crc, whole, static_cast<z_off_t>(kPiece));
  }
  crc = ::crc32(crc, reinterpret_cast<const Bytef*>(piece.data()), static_cast<uInt>(n % kPiece));
  return static_cast<std::uint32_t>(crc);
}

/// One gzip member (as gzip writes it, compressed) of `n` bytes equal to `byte`.
inline std::string gzip_repeated(unsigned char byte, std::uint64_t n) {
  std::string out = {'\x1f', '\x8b', 8, 0, 0, 0, 0, 0, 0, '\xff'};
  out += deflate_repeated(byte, n);
  const std::uint32_t crc = crc32_repeated(byte, n);
  const auto size = static_cast<std::uint32_t>(n);
  for (int i = 0; i < 4; ++i) out += static_cast<char>((crc >> (8 * i)) & 0xFF);
  for (int i = 0; i < 4; ++i) out += static_cast<char>((size >> (8 * i)) & 0xFF);
  return out;
}

/// The most memory (resident set) the process holds from construction to peak_growth(), over
/// what it held at construction. Linux resets the peak on request (/proc/self/clear_refs), so
/// earlier tests in the same process do not hide it.
class PeakMemory {
 public:
  PeakMemory() {
    std::ofstream("/proc/self/clear_refs") << "5";
    start_ = field("VmRSS:");
  }
  /// In bytes.
  std::int64_t peak_growth() const { return field("VmHWM:") - start_; }

 private:
  static std::int64_t field(const std::string& name) {
    std::ifstream in("/proc/self/status");
    std::string key;
    while (in >> key) {
      if (key == name) {
        std::int64_t kib = 0;
        in >> kib;
        return kib * 1024;
      }
      in.ignore(1 << 12, '\n');
    }
    throw std::runtime_error("no " + name + " in /proc/self/status");
  }
  std::int64_t start_ = 0;
};

}  // namespace neurona::testing
