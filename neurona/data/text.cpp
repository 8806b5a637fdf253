// Character vocabularies and next-character windows (data/text.h).
#include "neurona/data/text.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>

#include "neurona/core/error.h"
#include "neurona/core/io.h"
#include "neurona/core/philox.h"

namespace neurona::data {

namespace fs = std::filesystem;

namespace {

// A character as an error message shows it: 'x' (U+0078), or only the code point for a
// control character.
std::string describe_char(char32_t c) {
  char code[16];
  std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(c));
  if (c < 0x20 || c == 0x7F) return code;
  return detail::str("'", utf8_encode(std::u32string_view(&c, 1)), "' (", code, ")");
}

void check_windows(const std::vector<std::int32_t>& ids, std::int64_t context, const char* who) {
  NEURONA_CHECK(context >= 1, ValueError, who, ": context must be at least 1, got ", context);
  // context + 1 in unsigned arithmetic: context may be INT64_MAX.
  NEURONA_CHECK(static_cast<std::int64_t>(ids.size()) > context, ValueError, who,
                ": a window of context ", context, " and its next-character targets need ",
                static_cast<std::uint64_t>(context) + 1, " characters, the text has ", ids.size());
}

TextWindows windows_at(const std::vector<std::int32_t>& ids, std::int64_t context,
                       const std::vector<std::int64_t>& starts) {
  const auto n = static_cast<std::int64_t>(starts.size());
  const TensorOptions cpu{.dtype = DType::int32, .device = Device::cpu()};
  TextWindows w{Tensor::empty({n, context}, cpu), Tensor::empty({n, context}, cpu)};
  std::int32_t* x = w.x.data<std::int32_t>();
  std::int32_t* y = w.y.data<std::int32_t>();
  const auto len = static_cast<std::size_t>(context) * sizeof(std::int32_t);
  for (std::int64_t i = 0; i < n; ++i) {
    std::memcpy(x + i * context, ids.data() + starts[static_cast<std::size_t>(i)], len);
    std::memcpy(y + i * context, ids.data() + starts[static_cast<std::size_t>(i)] + 1, len);
  }
  return w;
}

}  // namespace

std::u32string utf8_decode(std::string_view text, std::string_view who) {
  std::u32string out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  auto fail = [&](const char* what) {
    throw ValueError(
        detail::str(who, ": the text is not valid UTF-8 (", what, " at byte ", i, ")"));
  };
  while (i < n) {
    const unsigned char b = s[i];
    if (b < 0x80) {
      out.push_back(b);
      ++i;
      continue;
    }
    int extra = 0;
    char32_t c = 0;
    char32_t min = 0;
    if ((b & 0xE0) == 0xC0) {
      extra = 1, c = b & 0x1F, min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
      extra = 2, c = b & 0x0F, min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
      extra = 3, c = b & 0x07, min = 0x10000;
    } else {
      fail("a byte that starts no sequence");
    }
    if (i + static_cast<std::size_t>(extra) >= n) fail("a truncated sequence");
    for (int k = 1; k <= extra; ++k) {
      const unsigned char cont = s[i + static_cast<std::size_t>(k)];
      if ((cont & 0xC0) != 0x80) fail("a truncated sequence");
      c = (c << 6) | (cont & 0x3F);
    }
    if (c < min) fail("an overlong sequence");
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) fail("a code point that is not a character");
    out.push_back(c);
    i += static_cast<std::size_t>(extra) + 1;
  }
  return out;
}

std::string utf8_encode(std::u32string_view code_points) {
  std::string out;
  out.reserve(code_points.size());
  for (const char32_t c : code_points) {
    NEURONA_CHECK(c <= 0x10FFFF && !(c >= 0xD800 && c <= 0xDFFF), ValueError, "utf8_encode: U+",
                  std::hex, static_cast<unsigned>(c), " is not a character");
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (c >> 12)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (c >> 18)));
      out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

std::string read_text(const std::string& path) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (!fs::exists(status)) throw IoError(detail::str("read_text: no such file or folder: ", path));
  std::string text;
  if (fs::is_directory(status)) {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(path)) {
      if (entry.is_symlink() || !entry.is_regular_file()) continue;
      if (entry.path().extension() == ".dat") continue;
      files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const fs::path& f : files) text += read_regular_file(f.string(), "read_text", "text");
  } else {
    text = read_regular_file(path, "read_text", "text");
  }
  NEURONA_CHECK(!text.empty(), IoError, "read_text: ", path, " holds no text");
  return text;
}

CharVocabulary::CharVocabulary(std::u32string chars) : chars_(std::move(chars)) {
  std::sort(chars_.begin(), chars_.end());
  chars_.erase(std::unique(chars_.begin(), chars_.end()), chars_.end());
}

CharVocabulary CharVocabulary::from_text(std::string_view text) {
  return CharVocabulary(utf8_decode(text, "CharVocabulary::from_text"));
}

std::vector<std::int32_t> CharVocabulary::encode(std::string_view text,
                                                 std::string_view who) const {
  const std::u32string code_points = utf8_decode(text, who);
  std::vector<std::int32_t> ids;
  ids.reserve(code_points.size());
  std::u32string unknown;
  for (const char32_t c : code_points) {
    const auto it = std::lower_bound(chars_.begin(), chars_.end(), c);
    if (it == chars_.end() || *it != c) {
      if (unknown.find(c) == std::u32string::npos) unknown.push_back(c);
      continue;
    }
    ids.push_back(static_cast<std::int32_t>(it - chars_.begin()));
  }
  if (!unknown.empty()) {
    std::ostringstream names;
    for (std::size_t i = 0; i < unknown.size(); ++i) {
      names << (i ? ", " : "") << describe_char(unknown[i]);
    }
    throw ValueError(detail::str(who, ": ", unknown.size() == 1 ? "a character" : "characters",
                                 " not in the vocabulary of ", chars_.size(),
                                 " characters: ", names.str()));
  }
  return ids;
}

std::string CharVocabulary::decode(const std::vector<std::int32_t>& ids) const {
  std::u32string code_points;
  code_points.reserve(ids.size());
  for (const std::int32_t id : ids) {
    NEURONA_CHECK(id >= 0 && id < size(), ValueError, "CharVocabulary::decode: index ", id,
                  " is outside the vocabulary of ", size(), " characters");
    code_points.push_back(chars_[static_cast<std::size_t>(id)]);
  }
  return utf8_encode(code_points);
}

TextSplit split_text(const std::vector<std::int32_t>& ids, double validation_fraction) {
  NEURONA_CHECK(validation_fraction >= 0.0 && validation_fraction < 1.0, ValueError,
                "split_text: validation_fraction must be in [0, 1), got ", validation_fraction);
  const auto n_val =
      static_cast<std::size_t>(static_cast<double>(ids.size()) * validation_fraction);
  const auto cut = static_cast<std::ptrdiff_t>(ids.size() - n_val);
  return {std::vector<std::int32_t>(ids.begin(), ids.begin() + cut),
          std::vector<std::int32_t>(ids.begin() + cut, ids.end())};
}

TextWindows char_windows(const std::vector<std::int32_t>& ids, std::int64_t context,
                         std::int64_t stride) {
  check_windows(ids, context, "char_windows");
  NEURONA_CHECK(stride >= 0, ValueError, "char_windows: stride must be at least 0, got ", stride);
  if (stride == 0) stride = context;
  std::vector<std::int64_t> starts;
  const auto last = static_cast<std::int64_t>(ids.size()) - context - 1;  // the last start
  for (std::int64_t s = 0; s <= last; s += stride) starts.push_back(s);
  return windows_at(ids, context, starts);
}

TextWindows random_char_windows(const std::vector<std::int32_t>& ids, std::int64_t context,
                                std::int64_t count, std::uint64_t seed) {
  check_windows(ids, context, "random_char_windows");
  NEURONA_CHECK(count >= 0, ValueError, "random_char_windows: count must be at least 0, got ",
                count);
  const auto starts_possible = static_cast<std::uint64_t>(ids.size()) -
                               static_cast<std::uint64_t>(context);  // starts 0 .. ids - ctx - 1
  std::vector<std::int64_t> starts(static_cast<std::size_t>(count));
  for (std::int64_t i = 0; i < count; ++i) {
    const Philox4x32 r = philox_words({.seed = seed, .call = 0}, static_cast<std::uint64_t>(i), 0);
    const std::uint64_t word = (static_cast<std::uint64_t>(r.v[0]) << 32) | r.v[1];
    starts[static_cast<std::size_t>(i)] = static_cast<std::int64_t>(word % starts_possible);
  }
  return windows_at(ids, context, starts);
}

}  // namespace neurona::data
