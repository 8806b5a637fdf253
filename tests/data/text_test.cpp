// Character vocabularies, UTF-8 and next-character windows (data/text.h).
#include "neurona/data/text.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "neurona/core/error.h"

namespace nr = neurona;
namespace fs = std::filesystem;

namespace {

// The message of the exception `f` throws, or "" when it throws none.
template <typename E, typename F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Text, VocabularyIsTheSortedUniqueCodePoints) {
  const auto vocab = nr::data::CharVocabulary::from_text("héllo wörld");
  EXPECT_EQ(vocab.chars(), U" dhlorwéö");  // no plain e
  EXPECT_EQ(vocab.size(), 9);
  const auto ids = vocab.encode("wörld");
  EXPECT_EQ(ids, (std::vector<std::int32_t>{6, 8, 5, 3, 1}));
  EXPECT_EQ(vocab.decode(ids), "wörld");
}

TEST(Text, Utf8RoundTripsEveryLength) {
  const std::string text = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // a, é, €, 😀
  const std::u32string points = nr::data::utf8_decode(text);
  EXPECT_EQ(points, (std::u32string{U'a', 0xE9, 0x20AC, 0x1F600}));
  EXPECT_EQ(nr::data::utf8_encode(points), text);
}

TEST(Text, InvalidUtf8NamesTheByte) {
  EXPECT_EQ(message_of<nr::ValueError>([] { nr::data::utf8_decode("ab\xC3", "read"); }),
            "read: the text is not valid UTF-8 (a truncated sequence at byte 2)");
  EXPECT_NE(message_of<nr::ValueError>([] { nr::data::utf8_decode("a\xC0\x80"); }).find("overlong"),
            std::string::npos);
  EXPECT_NE(message_of<nr::ValueError>([] { nr::data::utf8_decode("\x80"); }).find("at byte 0"),
            std::string::npos);
}

TEST(Text, EncodeNamesEveryUnknownCharacterOnce) {
  const auto vocab = nr::data::CharVocabulary::from_text("abc");
  EXPECT_EQ(message_of<nr::ValueError>([&] { vocab.encode("abzé\tz", "--prompt"); }),
            "--prompt: characters not in the vocabulary of 3 characters: 'z' (U+007A), "
            "'\xC3\xA9' (U+00E9), U+0009");
}

TEST(Text, SplitKeepsTheLastTenthForValidation) {
  std::vector<std::int32_t> ids(100);
  for (int i = 0; i < 100; ++i) ids[static_cast<std::size_t>(i)] = i;
  const auto split = nr::data::split_text(ids, 0.1);
  ASSERT_EQ(split.train.size(), 90u);
  ASSERT_EQ(split.validation.size(), 10u);
  EXPECT_EQ(split.train.back(), 89);
  EXPECT_EQ(split.validation.front(), 90);
}

TEST(Text, WindowsTargetTheNextCharacter) {
  const std::vector<std::int32_t> ids = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  const auto w = nr::data::char_windows(ids, 3);  // starts 0, 3, 6
  ASSERT_EQ(w.x.shape(), (nr::Shape{3, 3}));
  EXPECT_EQ(w.x.dtype(), nr::DType::int32);
  EXPECT_EQ(w.x.to_vector<int>(), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(w.y.to_vector<int>(), (std::vector<int>{1, 2, 3, 4, 5, 6, 7, 8, 9}));
  const auto all = nr::data::char_windows(ids, 4, 1);  // every start 0 .. 5
  EXPECT_EQ(all.x.shape(), (nr::Shape{6, 4}));
  EXPECT_EQ(message_of<nr::ValueError>([&] { nr::data::char_windows(ids, 10); }),
            "char_windows: a window of context 10 and its next-character targets need 11 "
            "characters, the text has 10");
  EXPECT_EQ(message_of<nr::ValueError>([&] { nr::data::char_windows(ids, INT64_MAX); }),
            "char_windows: a window of context 9223372036854775807 and its next-character "
            "targets need 9223372036854775808 characters, the text has 10");
}

TEST(Text, RandomWindowsAreSeededAndInsideTheText) {
  std::vector<std::int32_t> ids(50);
  for (int i = 0; i < 50; ++i) ids[static_cast<std::size_t>(i)] = i;
  const auto a = nr::data::random_char_windows(ids, 8, 20, 7);
  const auto b = nr::data::random_char_windows(ids, 8, 20, 7);
  EXPECT_EQ(a.x.to_vector<int>(), b.x.to_vector<int>());
  const auto x = a.x.to_vector<int>();
  const auto y = a.y.to_vector<int>();
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], x[i] + 1);
  for (std::size_t r = 0; r < 20; ++r) EXPECT_LE(x[r * 8], 50 - 9);
  EXPECT_NE(x, nr::data::random_char_windows(ids, 8, 20, 8).x.to_vector<int>());
}

TEST(Text, ReadsAFolderOfFilesInNameOrderWithoutDatFiles) {
  const fs::path dir = fs::temp_directory_path() / "neurona_text_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "b") << "second";
  std::ofstream(dir / "a") << "first ";
  std::ofstream(dir / "a.dat") << "index";
  EXPECT_EQ(nr::data::read_text(dir.string()), "first second");
  EXPECT_EQ(nr::data::read_text((dir / "b").string()), "second");
  EXPECT_EQ(message_of<nr::IoError>([&] { nr::data::read_text((dir / "none").string()); }),
            "read_text: no such file or folder: " + (dir / "none").string());
  fs::remove_all(dir);
}
