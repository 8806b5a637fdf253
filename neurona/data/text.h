// Text for character-level language models: a vocabulary of the text's Unicode code points
// (UTF-8 decoded, sorted), the text encoded as indices into it, and (inputs, next-character
// targets) windows of a context length, as a Keras tutorial builds them with tf.data.
//   auto text = nr::data::read_text("/usr/share/games/fortunes");
//   auto vocab = nr::data::CharVocabulary::from_text(text);
//   auto split = nr::data::split_text(vocab.encode(text), 0.1);
//   auto train = nr::data::char_windows(split.train, 256);   // x, y: int32 (n, 256)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "neurona/core/tensor.h"

namespace neurona::data {

/// The code points of UTF-8 `text`. Throws ValueError naming `who` and the byte offset of the
/// first invalid sequence (a stray continuation byte, a truncated sequence, an overlong form,
/// a surrogate or a value past U+10FFFF).
std::u32string utf8_decode(std::string_view text, std::string_view who = "utf8_decode");
/// The UTF-8 bytes of code points (each at most U+10FFFF, not a surrogate).
std::string utf8_encode(std::u32string_view code_points);

/// A text file, or a folder's regular files (not `.dat` index files, not symbolic links)
/// joined in name order: Debian's fortune files are such a folder. Throws IoError naming the
/// path when it is missing, not a file or folder, or has no text.
std::string read_text(const std::string& path);

/// The characters of a text, sorted by code point; index i stands for chars()[i].
class CharVocabulary {
 public:
  /// From the characters themselves (sorted and made unique here).
  explicit CharVocabulary(std::u32string chars);
  /// Every code point that occurs in UTF-8 `text`.
  static CharVocabulary from_text(std::string_view text);

  std::int64_t size() const { return static_cast<std::int64_t>(chars_.size()); }
  const std::u32string& chars() const { return chars_; }
  /// The index of each character of UTF-8 `text`. Throws ValueError naming `who` and every
  /// character that is not in the vocabulary (quoted, with its code point), in order of first
  /// appearance.
  std::vector<std::int32_t> encode(std::string_view text,
                                   std::string_view who = "CharVocabulary::encode") const;
  /// The UTF-8 text of indices (ValueError for an index outside [0, size())).
  std::string decode(const std::vector<std::int32_t>& ids) const;

 private:
  std::u32string chars_;
};

/// An encoded text cut in two: the first (1 - validation_fraction) of it and the rest.
struct TextSplit {
  std::vector<std::int32_t> train;
  std::vector<std::int32_t> validation;
};
/// The last `validation_fraction` (in [0, 1)) of `ids` for validation, the rest for training.
TextSplit split_text(const std::vector<std::int32_t>& ids, double validation_fraction = 0.1);

/// Inputs and next-character targets: x[i] = ids[s_i : s_i + context], y[i] = ids[s_i + 1 :
/// s_i + context + 1]. int32 CPU tensors of shape (n, context).
struct TextWindows {
  Tensor x;
  Tensor y;
};
/// Windows starting at 0, stride, 2 * stride, ... while a whole window and its target fit
/// (stride 0: the context, windows side by side). ValueError when `ids` holds fewer than
/// context + 1 characters.
TextWindows char_windows(const std::vector<std::int32_t>& ids, std::int64_t context,
                         std::int64_t stride = 0);
/// `count` windows at starts drawn uniformly from the text (a Philox stream of `seed`), as
/// nanoGPT samples its batches. ValueError as char_windows.
TextWindows random_char_windows(const std::vector<std::int32_t>& ids, std::int64_t context,
                                std::int64_t count, std::uint64_t seed);

}  // namespace neurona::data
