// IDX reading and writing. A gzip file is inflated in steps: first the header, which is
// validated, then the data, into a buffer that grows only as decompressed bytes arrive, so a
// header that declares gigabytes cannot make the reader allocate them.
#include "neurona/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <bit>
#include <climits>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <vector>

#include "neurona/core/error.h"
#include "neurona/core/io.h"
#include "neurona/data/bytes.h"

namespace neurona::data {

namespace {

using internal::ElementFormat;

constexpr int kMaxRank = 8;

std::string hex_byte(std::uint8_t b) {
  constexpr char kDigits[] = "0123456789abcdef";
  return std::string("0x") + kDigits[b >> 4] + kDigits[b & 0xF];
}

struct IdxType {
  std::uint8_t code;
  const char* name;
  ElementFormat format;
  DType dtype;  // what the reader returns
};

constexpr ElementFormat big(ElementFormat::Kind kind, int size) {
  return ElementFormat{kind, size, std::endian::big};
}

using K = ElementFormat::Kind;
constexpr std::array<IdxType, 6> kIdxTypes = {{
    {0x08, "unsigned byte", big(K::unsigned_int, 1), DType::uint8},
    {0x09, "signed byte", big(K::signed_int, 1), DType::int32},
    {0x0B, "short", big(K::signed_int, 2), DType::int32},
    {0x0C, "int", big(K::signed_int, 4), DType::int32},
    {0x0D, "float", big(K::floating, 4), DType::float32},
    {0x0E, "double", big(K::floating, 8), DType::float64},
}};

struct IdxHeader {
  const IdxType* type = nullptr;
  Shape shape;
  std::int64_t numel = 0;
  std::size_t header_bytes = 0;
  std::size_t data_bytes = 0;
};

std::string truncated_header(const std::string& source, std::size_t have, std::size_t need) {
  return detail::str(source, ": not a valid IDX file: it ends after ", have,
                     " bytes, inside the header (", need, " bytes needed)");
}

/// Validates the header at the start of `bytes` (which may hold more than the header).
IdxHeader parse_header(std::span<const std::uint8_t> bytes, const std::string& source,
                       const IdxOptions& options) {
  NEURONA_CHECK(bytes.size() >= 4, IoError, truncated_header(source, bytes.size(), 4));
  NEURONA_CHECK(bytes[0] == 0 && bytes[1] == 0, IoError, source,
                ": not an IDX file: the magic number starts with ", hex_byte(bytes[0]), " ",
                hex_byte(bytes[1]), ", expected two zero bytes");
  IdxHeader h;
  for (const IdxType& t : kIdxTypes) {
    if (t.code == bytes[2]) h.type = &t;
  }
  NEURONA_CHECK(h.type != nullptr, IoError, source, ": unknown IDX type code ", hex_byte(bytes[2]),
                " (known: 0x08 unsigned byte, 0x09 signed byte, 0x0b short, 0x0c int, 0x0d "
                "float, 0x0e double)");
  const int rank = bytes[3];
  NEURONA_CHECK(rank >= 1 && rank <= kMaxRank, IoError, source, ": IDX rank ", rank,
                " is not supported (1 to ", kMaxRank, ")");
  h.header_bytes = 4 + 4 * static_cast<std::size_t>(rank);
  NEURONA_CHECK(bytes.size() >= h.header_bytes, IoError,
                truncated_header(source, bytes.size(), h.header_bytes));
  std::vector<std::int64_t> dims(static_cast<std::size_t>(rank));
  bool has_zero = false;
  for (int i = 0; i < rank; ++i) {
    const std::uint8_t* p = bytes.data() + 4 + 4 * i;
    dims[static_cast<std::size_t>(i)] = (std::int64_t{p[0]} << 24) | (std::int64_t{p[1]} << 16) |
                                        (std::int64_t{p[2]} << 8) | std::int64_t{p[3]};
    has_zero = has_zero || dims[static_cast<std::size_t>(i)] == 0;
  }
  h.shape = Shape(std::move(dims));
  if (!has_zero) {
    // Each dimension is below 2^32, so the running product can overflow only on a multiply.
    std::int64_t n = 1;
    for (std::int64_t d : h.shape) {
      NEURONA_CHECK(n <= std::numeric_limits<std::int64_t>::max() / d, IoError, source,
                    ": the IDX dimensions ", h.shape,
                    " have an element count that overflows int64");
      n *= d;
    }
    h.numel = n;
  }
  NEURONA_CHECK(h.numel <= options.max_elements, IoError, source, ": the IDX dimensions ", h.shape,
                " declare ", h.numel, " elements, more than the limit of ", options.max_elements,
                " (IdxOptions::max_elements); the file is likely corrupt");
  // numel < 2^32 here unless the caller raised max_elements; the product cannot overflow then.
  const std::int64_t size = h.type->format.size;
  NEURONA_CHECK(h.numel <= options.max_bytes / size, IoError, source, ": the IDX dimensions ",
                h.shape, " of ", h.type->name, " declare ",
                h.numel > std::numeric_limits<std::int64_t>::max() / size ? "more than " : "",
                h.numel > std::numeric_limits<std::int64_t>::max() / size
                    ? std::numeric_limits<std::int64_t>::max()
                    : h.numel * size,
                " bytes of data, more than the limit of ", options.max_bytes,
                " (IdxOptions::max_bytes; raise it to read a larger file)");
  h.data_bytes = static_cast<std::size_t>(h.numel) * static_cast<std::size_t>(size);
  return h;
}

/// Checks that `bytes` holds exactly the header and its data, then converts the data.
Tensor decode(std::span<const std::uint8_t> bytes, const IdxHeader& h, const std::string& source,
              const char* what) {
  const std::size_t found = bytes.size() - h.header_bytes;
  NEURONA_CHECK(found >= h.data_bytes, IoError, source, ": truncated IDX ", what,
                ": the header declares shape ", h.shape, " of ", h.type->name, " (", h.data_bytes,
                " bytes of data after the ", h.header_bytes, "-byte header), but only ", found,
                " bytes follow it");
  NEURONA_CHECK(found == h.data_bytes, IoError, source, ": ", found - h.data_bytes,
                " unexpected bytes after the end of the IDX data in the ", what,
                " (the header declares shape ", h.shape, " of ", h.type->name, ": ", h.data_bytes,
                " bytes of data after the ", h.header_bytes, "-byte header, found ", found, ")");
  Tensor t = Tensor::empty(h.shape, h.type->dtype, Device::cpu());
  if (h.numel > 0) {
    internal::convert_elements(bytes.data() + h.header_bytes, h.type->format, h.numel, t.raw_data(),
                               h.type->dtype);
  }
  return t;
}

/// Inflates a gzip file held in memory, one or more concatenated members, verifying each
/// member's CRC and length.
class GzipReader {
 public:
  GzipReader(std::span<const std::uint8_t> in, const std::string& source)
      : in_(in), source_(source) {
    zs_.zalloc = Z_NULL;
    zs_.zfree = Z_NULL;
    zs_.opaque = Z_NULL;
    zs_.next_in = Z_NULL;
    zs_.avail_in = 0;
    // 16 + MAX_WBITS: a gzip wrapper only (a zlib or raw stream is not an IDX .gz file).
    NEURONA_CHECK(inflateInit2(&zs_, 16 + MAX_WBITS) == Z_OK, IoError, source_,
                  ": cannot initialise zlib to decompress it");
  }
  ~GzipReader() { inflateEnd(&zs_); }
  GzipReader(const GzipReader&) = delete;
  GzipReader& operator=(const GzipReader&) = delete;

  /// Fills `n` bytes of `dst`; fewer only when the (last) gzip member has ended.
  std::size_t read(std::uint8_t* dst, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      if (member_ended_) {
        if (consumed_ == in_.size()) break;
        // Another gzip member may follow (as `cat a.gz b.gz` makes); anything else is junk.
        NEURONA_CHECK(
            in_.size() - consumed_ >= 2 && in_[consumed_] == 0x1f && in_[consumed_ + 1] == 0x8b,
            IoError, source_, ": ", in_.size() - consumed_,
            " bytes that are not gzip data follow the end of the gzip stream");
        NEURONA_CHECK(inflateReset(&zs_) == Z_OK, IoError, source_,
                      ": zlib cannot restart for the next gzip member");
        member_ended_ = false;
      }
      const std::size_t in_chunk = std::min<std::size_t>(in_.size() - consumed_, UINT_MAX);
      const std::size_t out_chunk = std::min<std::size_t>(n - done, UINT_MAX);
      // zlib's next_in is not const-qualified in older headers; it never writes through it.
      zs_.next_in = const_cast<Bytef*>(in_.data() + consumed_);
      zs_.avail_in = static_cast<uInt>(in_chunk);
      zs_.next_out = dst + done;
      zs_.avail_out = static_cast<uInt>(out_chunk);
      const int ret = inflate(&zs_, Z_NO_FLUSH);
      consumed_ += in_chunk - zs_.avail_in;
      done += out_chunk - zs_.avail_out;
      produced_ += out_chunk - zs_.avail_out;
      if (ret == Z_STREAM_END) {
        member_ended_ = true;
      } else if (ret == Z_BUF_ERROR) {
        // No progress possible: the input ran out before the end of the member.
        throw IoError(detail::str(source_, ": the gzip stream is truncated: it ends after ",
                                  produced_,
                                  " decompressed bytes without its end marker (an incomplete "
                                  "download?)"));
      } else if (ret != Z_OK) {
        throw IoError(detail::str(source_, ": corrupt gzip stream (zlib: ",
                                  zs_.msg != nullptr ? zs_.msg : zError(ret), ")"));
      }
    }
    return done;
  }

 private:
  std::span<const std::uint8_t> in_;
  const std::string& source_;
  z_stream zs_{};
  std::size_t consumed_ = 0;
  std::size_t produced_ = 0;
  bool member_ended_ = false;
};

bool is_gzip(std::span<const std::uint8_t> bytes) {
  return bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b;
}

Tensor read_gzip_idx(std::span<const std::uint8_t> bytes, const std::string& source,
                     const IdxOptions& options) {
  GzipReader gz(bytes, source);
  std::vector<std::uint8_t> buf;
  // Grows buf to `want` bytes, or fewer at the end of the stream, at most doubling per step so
  // that memory follows the data actually decompressed.
  auto fill = [&](std::size_t want) {
    while (buf.size() < want) {
      const std::size_t old = buf.size();
      const std::size_t target =
          std::min(want, std::max<std::size_t>(2 * old, std::size_t{1} << 20));
      buf.resize(target);
      const std::size_t got = gz.read(buf.data() + old, target - old);
      buf.resize(old + got);
      if (got < target - old) return;
    }
  };
  fill(4);
  const std::size_t rank = buf.size() >= 4 ? std::min<std::size_t>(buf[3], kMaxRank) : 0;
  fill(4 + 4 * rank);
  const IdxHeader h = parse_header(buf, source, options);
  const std::size_t total = h.header_bytes + h.data_bytes;
  fill(total + 1);  // one byte more tells trailing data apart from none
  if (buf.size() > total) {
    // Count the rest for the message, within reason.
    std::vector<std::uint8_t> sink(std::size_t{1} << 16);
    std::size_t extra = buf.size() - total;
    constexpr std::size_t kCountLimit = std::size_t{1} << 30;
    while (extra < kCountLimit) {
      const std::size_t got = gz.read(sink.data(), sink.size());
      extra += got;
      if (got < sink.size()) break;
    }
    throw IoError(detail::str(
        source, ": ", extra >= kCountLimit ? "more than " : "", extra,
        " unexpected bytes after the end of the IDX data in the decompressed gzip stream (the "
        "header declares shape ",
        h.shape, " of ", h.type->name, ": ", h.data_bytes, " bytes of data after the ",
        h.header_bytes, "-byte header)"));
  }
  return decode(buf, h, source, "data in the decompressed gzip stream");
}

/// The IDX file: `header`, then the elements of `host` in big-endian order.
std::string encode(const Tensor& host, const std::string& header) {
  const std::size_t size = size_of(host.dtype());
  std::string out(header.size() + host.nbytes(), '\0');
  std::memcpy(out.data(), header.data(), header.size());
  if (host.numel() == 0) return out;
  const auto* src = static_cast<const std::uint8_t*>(host.raw_data());
  char* dst = out.data() + header.size();
  for (std::size_t i = 0; i < static_cast<std::size_t>(host.numel()); ++i) {
    for (std::size_t b = 0; b < size; ++b) {
      const std::size_t from = std::endian::native == std::endian::big ? b : size - 1 - b;
      dst[i * size + b] = static_cast<char>(src[i * size + from]);
    }
  }
  return out;
}

std::string gzip_compress(const std::string& raw, const std::string& path) {
  z_stream zs{};
  NEURONA_CHECK(deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
                             Z_DEFAULT_STRATEGY) == Z_OK,
                IoError, "save_idx: cannot initialise zlib to compress '", path, "'");
  std::string out(deflateBound(&zs, static_cast<uLong>(raw.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  const int ret = deflate(&zs, Z_FINISH);
  out.resize(out.size() - zs.avail_out);
  deflateEnd(&zs);
  NEURONA_CHECK(ret == Z_STREAM_END, IoError, "save_idx: zlib failed to compress '", path,
                "': ", zError(ret));
  return out;
}

}  // namespace

Tensor read_idx_bytes(std::span<const std::uint8_t> bytes, const std::string& source,
                      IdxOptions options) {
  try {
    if (is_gzip(bytes)) return read_gzip_idx(bytes, source, options);
    const IdxHeader h = parse_header(bytes, source, options);
    return decode(bytes, h, source, "file");
  } catch (const std::bad_alloc& e) {
    throw OutOfMemoryError(
        detail::str(source, ": out of memory reading IDX data (", e.what(), ")"));
  }
}

Tensor read_idx(const std::string& path, IdxOptions options) {
  // The largest file that can hold max_bytes of data: the header (at most 36 bytes), and for
  // gzip its member headers and trailers (18 bytes and more) and deflate's stored blocks
  // (5 bytes per 65535), 1/64 and 64 KiB being far more than either.
  const std::uint64_t max_data =
      static_cast<std::uint64_t>(std::max<std::int64_t>(options.max_bytes, 0));
  const std::uint64_t max_file = max_data + max_data / 64 + (std::uint64_t{64} << 10);
  std::vector<std::uint8_t> bytes;
  try {
    bytes = read_regular_file_bytes(path, "read_idx", "data", max_file,
                                    "the file that IdxOptions::max_bytes of data can take");
  } catch (const std::bad_alloc& e) {
    throw OutOfMemoryError(
        detail::str("read_idx: out of memory reading '", path, "' (", e.what(), ")"));
  }
  return read_idx_bytes(bytes, path, options);
}

void save_idx(const std::string& path, const Tensor& t, SaveIdxOptions options) {
  NEURONA_CHECK(t.defined(), ValueError, "save_idx('", path, "'): the tensor is undefined");
  const IdxType* type = nullptr;
  for (const IdxType& it : kIdxTypes) {
    if (it.dtype == t.dtype() && static_cast<std::size_t>(it.format.size) == size_of(t.dtype())) {
      type = &it;
    }
  }
  NEURONA_CHECK(type != nullptr, ValueError, "save_idx('", path, "'): IDX has no type for ",
                t.dtype(), " (it stores uint8, int32, float32 and float64; cast first)");
  NEURONA_CHECK(t.rank() >= 1 && t.rank() <= kMaxRank, ValueError, "save_idx('", path,
                "'): IDX stores ranks 1 to ", kMaxRank, ", got shape ", t.shape());
  std::string header = {'\0', '\0', static_cast<char>(type->code), static_cast<char>(t.rank())};
  for (std::int64_t d : t.shape()) {
    NEURONA_CHECK(d <= std::int64_t{0xFFFFFFFF}, ValueError, "save_idx('", path, "'): dimension ",
                  d, " of shape ", t.shape(), " does not fit the header's 32 bits");
    for (int shift = 24; shift >= 0; shift -= 8) {
      header.push_back(static_cast<char>((d >> shift) & 0xFF));
    }
  }
  const std::string raw = encode(t.to(Device::cpu()), header);
  if (options.gzip) {
    NEURONA_CHECK(raw.size() <= UINT_MAX, ValueError, "save_idx('", path, "'): ", raw.size(),
                  " bytes are too many to compress in one step (at most ", UINT_MAX, ")");
    write_file_atomic(path, gzip_compress(raw, path), "save_idx");
  } else {
    write_file_atomic(path, raw, "save_idx");
  }
}

}  // namespace neurona::data
