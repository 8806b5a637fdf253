// The character transformer of `neurona train --model charlm` (charlm.h): it learns a
// repetitive text in a few steps, its settings file round-trips, and sampling is deterministic.
#include "charlm.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

namespace nr = neurona;
namespace fs = std::filesystem;

namespace {

nr::tools::CharLMConfig tiny(std::int64_t vocab_size) {
  return {.vocab_size = vocab_size, .context = 8, .num_layers = 1, .num_heads = 2, .width = 16};
}

std::string repeated(const std::string& unit, int times) {
  std::string s;
  for (int i = 0; i < times; ++i) s += unit;
  return s;
}

}  // namespace

TEST(CharLM, OutputsLogitsPerStepAndRefusesMoreThanTheContext) {
  nr::set_seed(1);
  nr::tools::CharTransformer model(tiny(5));
  const nr::Tensor logits = model(nr::zeros({2, 8}, {.dtype = nr::DType::int32}));
  EXPECT_EQ(logits.shape(), (nr::Shape{2, 8, 5}));
  EXPECT_EQ(model(nr::zeros({1, 3}, {.dtype = nr::DType::int32})).shape(), (nr::Shape{1, 3, 5}));
  // Embeddings 5x16 + 8x16, a block (2 LayerNorms, 4 Dense 16x16, Dense 16x64 and 64x16), the
  // final LayerNorm and the Dense to the 5 characters.
  const std::int64_t block = 2 * 32 + 4 * (16 * 16 + 16) + (16 * 64 + 64) + (64 * 16 + 16);
  EXPECT_EQ(model.count_params(), 5 * 16 + 8 * 16 + block + 32 + (16 * 5 + 5));
  EXPECT_THROW(model(nr::zeros({1, 9}, {.dtype = nr::DType::int32})), nr::ShapeError);
  EXPECT_THROW(nr::tools::CharTransformer({.vocab_size = 5, .num_heads = 3, .width = 16}),
               nr::ValueError);
}

TEST(CharLM, LossFallsOnARepetitiveText) {
  nr::set_seed(1);
  const std::string text = repeated("abcd", 64);
  const auto vocab = nr::data::CharVocabulary::from_text(text);
  const auto windows = nr::data::char_windows(vocab.encode(text), 8, 1);
  nr::tools::CharTransformer model(tiny(vocab.size()));
  model.compile({.optimizer = nr::optimizers::AdamW(1e-2),
                 .loss = nr::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                 .metrics = {nr::tools::bits_per_character()}});
  const auto history =
      model.fit(windows.x, windows.y, {.batch_size = 32, .epochs = 6, .verbose = 0});
  const auto& loss = history.history.at("loss");
  const auto& bpc = history.history.at("bpc");
  EXPECT_GT(loss.front(), 0.5);  // ln 4 = 1.39 at the start
  EXPECT_LT(loss.back(), 0.05);  // the next character is certain
  EXPECT_NEAR(bpc.back(), loss.back() / std::log(2.0), 1e-4);
  // Greedy sampling continues the pattern.
  EXPECT_EQ(nr::tools::sample_text(model, vocab, "abcdab", {.length = 10, .temperature = 0.0}),
            "cdabcdabcd");
}

TEST(CharLM, SamplingIsDeterministicWithASeedAndTopOneIsGreedy) {
  nr::set_seed(3);
  const auto vocab = nr::data::CharVocabulary::from_text("abcdefgh");
  nr::tools::CharTransformer model(tiny(vocab.size()));
  const auto a = nr::tools::sample_text(model, vocab, "abc", {.length = 40, .seed = 5});
  EXPECT_EQ(a.size(), 40u);
  EXPECT_EQ(a, nr::tools::sample_text(model, vocab, "abc", {.length = 40, .seed = 5}));
  EXPECT_NE(a, nr::tools::sample_text(model, vocab, "abc", {.length = 40, .seed = 6}));
  EXPECT_EQ(nr::tools::sample_text(model, vocab, "abc", {.length = 20, .top_k = 1, .seed = 9}),
            nr::tools::sample_text(model, vocab, "abc", {.length = 20, .temperature = 0.0}));
  try {
    nr::tools::sample_text(model, vocab, "abxy", {.length = 1});
    FAIL() << "a prompt with unknown characters was accepted";
  } catch (const nr::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("'x' (U+0078), 'y' (U+0079)"), std::string::npos)
        << e.what();
  }
}

TEST(CharLM, SettingsFileRebuildsTheModel) {
  const fs::path dir = fs::temp_directory_path() / "neurona_charlm_test";
  fs::create_directories(dir);
  const fs::path weights = dir / "charlm.weights.h5";
  EXPECT_EQ(nr::tools::charlm_config_path(weights), dir / "charlm.json");
  const auto vocab = nr::data::CharVocabulary::from_text("hé\nllo");
  nr::tools::CharLMConfig config = tiny(vocab.size());
  config.dropout = 0.25;
  nr::tools::save_charlm_config(dir / "charlm.json", config, vocab, "corpus.txt");
  const auto saved = nr::tools::load_charlm_config(dir / "charlm.json");
  EXPECT_EQ(saved.vocab.chars(), vocab.chars());
  EXPECT_EQ(saved.config.width, 16);
  EXPECT_EQ(saved.config.num_heads, 2);
  EXPECT_EQ(saved.config.context, 8);
  EXPECT_EQ(saved.config.dropout, 0.25);
  fs::remove_all(dir);
}
