// .npy reading and writing. The header is a Python dict literal; rather than evaluate
// Python, a strict parser accepts exactly what numpy.save writes (and the variants NumPy's
// own reader accepts: either quote, trailing commas, Python 2's long suffix) and nothing
// else, and reports where it stopped.
#include "neurona/data/npy.h"

#include <bit>
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
using K = ElementFormat::Kind;

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;
constexpr std::size_t kAlign = 64;

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<std::int64_t> shape;
};

/// A cursor over the header text that throws IoError naming the source and the offset.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& source) : s_(text), source_(source) {}

  NpyHeader parse() {
    NpyHeader h;
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    skip_space();
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      const std::size_t key_at = pos_;
      const std::string key = parse_string();
      skip_space();
      expect(':');
      skip_space();
      auto once = [&](bool& seen) {
        if (seen) fail(detail::str("the key '", key, "' appears twice"), key_at);
        seen = true;
      };
      if (key == "descr") {
        once(seen_descr);
        if (peek() != '\'' && peek() != '"') {
          fail(
              "'descr' is not a string (a list describes a structured array, which neurona "
              "cannot hold)",
              pos_);
        }
        h.descr = parse_string();
      } else if (key == "fortran_order") {
        once(seen_fortran);
        h.fortran_order = parse_bool();
      } else if (key == "shape") {
        once(seen_shape);
        h.shape = parse_shape();
      } else {
        fail(detail::str("unexpected key '", key,
                         "' (a .npy header has exactly 'descr', 'fortran_order' and 'shape')"),
             key_at);
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
      } else if (peek() != '}') {
        fail("expected ',' or '}' after a value", pos_);
      }
    }
    expect('}');
    skip_space();
    if (pos_ != s_.size()) fail("unexpected text after the closing '}'", pos_);
    if (!seen_descr || !seen_fortran || !seen_shape) {
      fail(detail::str("missing key(s):", seen_descr ? "" : " 'descr'",
                       seen_fortran ? "" : " 'fortran_order'", seen_shape ? "" : " 'shape'"),
           pos_);
    }
    return h;
  }

 private:
  [[noreturn]] void fail(const std::string& what, std::size_t at) const {
    throw IoError(detail::str(source_, ": malformed .npy header: ", what, " at character ", at,
                              " of the header '", printable(), "'"));
  }

  std::string printable() const {
    std::string out;
    for (char c : s_.substr(0, 200)) {
      const auto u = static_cast<unsigned char>(c);
      out += (u >= 0x20 && u < 0x7f) ? c : '?';
    }
    if (s_.size() > 200) out += "...";
    return out;
  }

  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }

  void skip_space() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) {
      ++pos_;
    }
  }

  void expect(char c) {
    if (peek() != c || pos_ >= s_.size()) fail(detail::str("expected '", c, "'"), pos_);
    ++pos_;
  }

  std::string parse_string() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("expected a quoted string", pos_);
    const std::size_t start = ++pos_;
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '\\') fail("escape sequences in strings are not supported", pos_);
      ++pos_;
    }
    if (pos_ >= s_.size()) fail("unterminated string", start - 1);
    return std::string(s_.substr(start, pos_++ - start));
  }

  bool parse_bool() {
    if (s_.substr(pos_, 4) == "True") {
      pos_ += 4;
      return true;
    }
    if (s_.substr(pos_, 5) == "False") {
      pos_ += 5;
      return false;
    }
    fail("'fortran_order' is not True or False", pos_);
  }

  std::vector<std::int64_t> parse_shape() {
    std::vector<std::int64_t> dims;
    expect('(');
    bool trailing_comma = false;
    for (;;) {
      skip_space();
      if (peek() == ')') break;
      dims.push_back(parse_dim());
      skip_space();
      trailing_comma = peek() == ',';
      if (trailing_comma) {
        ++pos_;
      } else if (peek() != ')') {
        fail("expected ',' or ')' in the shape tuple", pos_);
      }
    }
    // Python's (3) is the integer 3: a one-element tuple needs its comma, as NumPy insists.
    if (dims.size() == 1 && !trailing_comma) {
      fail("'shape' is a parenthesised integer, not a tuple (one dimension is written (n,))", pos_);
    }
    expect(')');
    return dims;
  }

  std::int64_t parse_dim() {
    const std::size_t start = pos_;
    if (peek() < '0' || peek() > '9') {
      fail("a shape entry is not a non-negative integer", pos_);
    }
    std::int64_t v = 0;
    while (peek() >= '0' && peek() <= '9') {
      const int digit = peek() - '0';
      if (v > (std::numeric_limits<std::int64_t>::max() - digit) / 10) {
        fail("a shape entry does not fit in int64", start);
      }
      v = v * 10 + digit;
      ++pos_;
    }
    if (peek() == 'L') ++pos_;  // Python 2's long literal, in files written by old NumPy
    return v;
  }

  std::string_view s_;
  const std::string& source_;
  std::size_t pos_ = 0;
};

struct NpyType {
  ElementFormat format;
  DType dtype;       // what the reader returns
  bool bool_values;  // '|b1': normalise every nonzero byte to 1
};

NpyType parse_descr(const std::string& descr, const std::string& source) {
  auto unsupported = [&](const char* why) {
    return IoError(detail::str(source, ": unsupported .npy dtype '", descr, "': ", why));
  };
  if (descr.size() < 3) throw unsupported("not a '<f4'-style type string");
  const char order = descr[0];
  const char kind = descr[1];
  const std::string size_text = descr.substr(2);
  if (order != '<' && order != '>' && order != '|' && order != '=') {
    throw unsupported("the first character is not a byte order ('<', '>', '|' or '=')");
  }
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') {
    throw unsupported(
        "neurona reads bool, signed and unsigned integers and floats (kinds 'b', 'i', 'u', "
        "'f'), not complex numbers, strings, objects, datetimes or raw bytes");
  }
  int size = 0;
  if (size_text == "1" || size_text == "2" || size_text == "4" || size_text == "8") {
    size = size_text[0] - '0';
  } else {
    throw unsupported("neurona reads elements of 1, 2, 4 or 8 bytes");
  }
  if (order == '|' && size != 1) {
    throw unsupported("'|' (no byte order) is only valid for one-byte types");
  }
  const std::endian endian = order == '>'   ? std::endian::big
                             : order == '<' ? std::endian::little
                                            : std::endian::native;
  switch (kind) {
    case 'f':
      if (size == 4) return {{K::floating, 4, endian}, DType::float32, false};
      if (size == 8) return {{K::floating, 8, endian}, DType::float64, false};
      if (size == 2) return {{K::floating, 2, endian}, DType::float16, false};
      throw unsupported("there is no one-byte float");
    case 'i':
      if (size == 8) return {{K::signed_int, 8, endian}, DType::int64, false};
      return {{K::signed_int, size, endian}, DType::int32, false};
    case 'u':
      if (size == 1) return {{K::unsigned_int, 1, endian}, DType::uint8, false};
      if (size == 8) {
        throw unsupported(
            "uint64 values may not fit int64, the widest integer neurona has; convert with "
            "astype(np.int64) in NumPy");
      }
      return {{K::unsigned_int, size, endian}, size == 4 ? DType::int64 : DType::int32, false};
    default:  // 'b'
      if (size == 1) return {{K::unsigned_int, 1, endian}, DType::uint8, true};
      throw unsupported("a bool is one byte");
  }
}

std::uint32_t read_le(const std::uint8_t* p, int n) {
  std::uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

/// Reorders `n` elements of `elem` bytes from Fortran (column-major) to C (row-major) order.
void fortran_to_c(const std::uint8_t* src, std::uint8_t* dst, const std::vector<std::int64_t>& d,
                  std::int64_t n, std::size_t elem) {
  const std::size_t rank = d.size();
  std::vector<std::int64_t> stride(rank), idx(rank, 0);
  for (std::size_t k = 0; k < rank; ++k) stride[k] = k == 0 ? 1 : stride[k - 1] * d[k - 1];
  std::int64_t f = 0;  // Fortran offset of the C-order element c
  for (std::int64_t c = 0; c < n; ++c) {
    std::memcpy(dst + static_cast<std::size_t>(c) * elem, src + static_cast<std::size_t>(f) * elem,
                elem);
    // Advance the C-order multi-index (last axis fastest) and its Fortran offset.
    for (std::size_t k = rank; k-- > 0;) {
      ++idx[k];
      f += stride[k];
      if (idx[k] < d[k] || k == 0) break;
      f -= idx[k] * stride[k];
      idx[k] = 0;
    }
  }
}

std::string descr_of(DType t) {
  const char order = std::endian::native == std::endian::little ? '<' : '>';
  switch (t) {
    case DType::float32:
      return std::string(1, order) + "f4";
    case DType::float64:
      return std::string(1, order) + "f8";
    case DType::int32:
      return std::string(1, order) + "i4";
    case DType::int64:
      return std::string(1, order) + "i8";
    case DType::uint8:
      return "|u1";
    case DType::float16:
      return std::string(1, order) + "f2";
    case DType::bfloat16:
      throw ValueError(
          "encode_npy: .npy has no bfloat16 type (NumPy lacks one); cast the tensor to float32 "
          "first");
  }
  throw ValueError(detail::str("encode_npy: no .npy type for ", t));
}

}  // namespace

namespace {

Tensor parse_npy_bytes(std::span<const std::uint8_t> bytes, const std::string& source) {
  NEURONA_CHECK(
      bytes.size() >= kMagicSize + 2 && std::memcmp(bytes.data(), kMagic, kMagicSize) == 0, IoError,
      source, ": not a .npy file: it does not start with \"\\x93NUMPY\"",
      bytes.size() < kMagicSize + 2 ? " and a version (it is too short)" : "");
  const int major = bytes[6], minor = bytes[7];
  NEURONA_CHECK((major == 1 || major == 2 || major == 3) && minor == 0, IoError, source,
                ": unsupported .npy format version ", major, ".", minor,
                " (neurona reads 1.0, 2.0 and 3.0)");
  const std::size_t len_bytes = major == 1 ? 2 : 4;
  const std::size_t prefix = kMagicSize + 2 + len_bytes;
  NEURONA_CHECK(bytes.size() >= prefix, IoError, source, ": truncated .npy file: it ends after ",
                bytes.size(), " bytes, inside the header length field");
  const std::size_t header_len =
      read_le(bytes.data() + kMagicSize + 2, static_cast<int>(len_bytes));
  NEURONA_CHECK(header_len <= bytes.size() - prefix, IoError, source,
                ": truncated .npy file: the header is ", header_len, " bytes long, but only ",
                bytes.size() - prefix, " bytes follow the header length field");
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + prefix), header_len);
  const NpyHeader h = HeaderParser(text, source).parse();
  const NpyType type = parse_descr(h.descr, source);

  Shape shape(h.shape);
  std::int64_t numel = 0;
  try {
    numel = shape.numel();
  } catch (const ShapeError&) {
    throw IoError(detail::str(source, ": the .npy shape ", shape,
                              " has an element count that overflows int64"));
  }
  const std::size_t elem = static_cast<std::size_t>(type.format.size);
  const std::size_t found = bytes.size() - prefix - header_len;
  // Compared by division so that a huge declared count cannot overflow the product.
  const bool fits = static_cast<std::uint64_t>(numel) <= found / elem;
  NEURONA_CHECK(fits, IoError, source, ": truncated .npy data: shape ", shape, " of '", h.descr,
                "' needs ", numel, " elements of ", elem, " bytes, but only ", found,
                " bytes follow the ", prefix + header_len, "-byte header");
  const std::size_t need = static_cast<std::size_t>(numel) * elem;
  NEURONA_CHECK(found == need, IoError, source, ": ", found - need,
                " unexpected bytes after the .npy data (shape ", shape, " of '", h.descr,
                "' needs ", need, " bytes after the ", prefix + header_len, "-byte header, found ",
                found, ")");

  const std::uint8_t* data = bytes.data() + prefix + header_len;
  std::vector<std::uint8_t> reordered;
  if (h.fortran_order && shape.rank() > 1 && numel > 0) {
    reordered.resize(need);
    fortran_to_c(data, reordered.data(), h.shape, numel, elem);
    data = reordered.data();
  }
  Tensor t = Tensor::empty(shape, type.dtype, Device::cpu());
  if (numel > 0) {
    internal::convert_elements(data, type.format, numel, t.raw_data(), type.dtype);
    if (type.bool_values) {
      auto* p = t.data<std::uint8_t>();
      for (std::int64_t i = 0; i < numel; ++i) p[i] = p[i] != 0 ? 1 : 0;
    }
  }
  return t;
}

}  // namespace

Tensor parse_npy(std::span<const std::uint8_t> bytes, const std::string& source) {
  try {
    return parse_npy_bytes(bytes, source);
  } catch (const std::bad_alloc& e) {
    throw OutOfMemoryError(
        detail::str(source, ": out of memory reading .npy data (", e.what(), ")"));
  }
}

Tensor load_npy(const std::string& path) {
  std::vector<std::uint8_t> bytes;
  try {
    bytes = read_regular_file_bytes(path, "load_npy", "data");
  } catch (const std::bad_alloc& e) {
    throw OutOfMemoryError(
        detail::str("load_npy: out of memory reading '", path, "' (", e.what(), ")"));
  }
  return parse_npy(bytes, path);
}

std::string encode_npy(const Tensor& t) {
  NEURONA_CHECK(t.defined(), ValueError, "encode_npy: the tensor is undefined");
  std::string dict = "{'descr': '" + descr_of(t.dtype()) + "', 'fortran_order': False, 'shape': (";
  // As Python prints tuples: (2, 3), (3,) and ().
  for (int i = 0; i < t.rank(); ++i) {
    if (i > 0) dict += ", ";
    dict += std::to_string(t.shape()[i]);
  }
  if (t.rank() == 1) dict += ',';
  dict += "), }";
  const bool v1 = dict.size() + 1 + kMagicSize + 2 + 2 <= 65535;
  const std::size_t prefix = kMagicSize + 2 + (v1 ? 2 : 4);
  // Pad with spaces so that the data starts on a 64-byte boundary; the header ends in '\n'.
  const std::size_t unpadded = prefix + dict.size() + 1;
  const std::size_t padded = (unpadded + kAlign - 1) / kAlign * kAlign;
  dict.append(padded - unpadded, ' ');
  dict += '\n';
  const std::size_t header_len = dict.size();

  const Tensor host = t.to(Device::cpu());
  std::string out;
  out.reserve(prefix + header_len + host.nbytes());
  out.append(kMagic, kMagicSize);
  out += static_cast<char>(v1 ? 1 : 2);
  out += '\0';
  for (std::size_t i = 0; i < prefix - kMagicSize - 2; ++i) {
    out += static_cast<char>((header_len >> (8 * i)) & 0xFF);
  }
  out += dict;
  if (host.numel() > 0) out.append(static_cast<const char*>(host.raw_data()), host.nbytes());
  return out;
}

void save_npy(const std::string& path, const Tensor& t) {
  NEURONA_CHECK(t.defined(), ValueError, "save_npy('", path, "'): the tensor is undefined");
  write_file_atomic(path, encode_npy(t), "save_npy");
}

}  // namespace neurona::data
