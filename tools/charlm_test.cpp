// The transformer of `neurona train --model charlm` and `neurona bench --model gpt2`
// (charlm.h): it learns a repetitive text in a few steps, its settings file round-trips,
// sampling is deterministic, GPT-2's tied embeddings are one weight, and GPT-2 small has
// GPT-2's parameter count; the benchmark's FLOP and peak figures (model_benchmark.h).
#include "charlm.h"

#include <gtest/gtest.h>

#include "model_benchmark.h"

#include <filesystem>
#include <string>

namespace nr = neurona;
namespace fs = std::filesystem;

namespace {

nr::tools::TransformerLMConfig tiny(std::int64_t vocab_size) {
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
  nr::tools::TransformerLM model(tiny(5));
  const nr::Tensor logits = model(nr::zeros({2, 8}, {.dtype = nr::DType::int32}));
  EXPECT_EQ(logits.shape(), (nr::Shape{2, 8, 5}));
  EXPECT_EQ(model(nr::zeros({1, 3}, {.dtype = nr::DType::int32})).shape(), (nr::Shape{1, 3, 5}));
  // Embeddings 5x16 + 8x16, a block (2 LayerNorms, 4 Dense 16x16, Dense 16x64 and 64x16), the
  // final LayerNorm and the Dense to the 5 characters.
  const std::int64_t block = 2 * 32 + 4 * (16 * 16 + 16) + (16 * 64 + 64) + (64 * 16 + 16);
  EXPECT_EQ(model.count_params(), 5 * 16 + 8 * 16 + block + 32 + (16 * 5 + 5));
  EXPECT_THROW(model(nr::zeros({1, 9}, {.dtype = nr::DType::int32})), nr::ShapeError);
  EXPECT_THROW(nr::tools::TransformerLM({.vocab_size = 5, .num_heads = 3, .width = 16}),
               nr::ValueError);
}

TEST(CharLM, LossFallsOnARepetitiveText) {
  nr::set_seed(1);
  const std::string text = repeated("abcd", 64);
  const auto vocab = nr::data::CharVocabulary::from_text(text);
  const auto windows = nr::data::char_windows(vocab.encode(text), 8, 1);
  nr::tools::TransformerLM model(tiny(vocab.size()));
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
  nr::tools::TransformerLM model(tiny(vocab.size()));
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
  nr::tools::TransformerLMConfig config = tiny(vocab.size());
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

TEST(TransformerLM, TiedEmbeddingsAreOneWeightThatTheOutputUses) {
  nr::set_seed(2);
  nr::tools::TransformerLMConfig config = tiny(5);
  nr::tools::TransformerLM untied(config);
  config.tie_embeddings = true;
  config.gelu_approximate = true;
  nr::tools::TransformerLM tied(config);
  const nr::Tensor tokens = nr::constant(std::vector<std::int32_t>{0, 1, 1, 0}, {1, 4});
  EXPECT_EQ(tied(tokens).shape(), (nr::Shape{1, 4, 5}));
  (void)untied(tokens);
  // No Dense to the vocabulary: its 16x5 kernel and 5 biases are gone.
  EXPECT_EQ(tied.count_params(), untied.count_params() - (16 * 5 + 5));
  EXPECT_EQ(tied.weights().size(), untied.weights().size() - 2);
  // Only tokens 0 and 1 are looked up, so the embedding rows of 2, 3 and 4 get a gradient only
  // through the output product: non-zero when tied.
  const nr::Variable embeddings = tied.weights().front();
  ASSERT_EQ(embeddings.shape(), (nr::Shape{5, 16}));
  nr::GradientTape tape;
  const nr::Tensor loss = nr::mean(nr::losses::sparse_categorical_crossentropy(
      nr::constant(std::vector<std::int32_t>{1, 0, 0, 1}, {1, 4}), tied(tokens, true),
      {.from_logits = true}));
  const auto grads = tape.gradient(loss, {embeddings});
  const std::vector<float> g = grads[0].to_vector<float>();
  for (int row = 2; row < 5; ++row) {
    double norm = 0;
    for (int j = 0; j < 16; ++j) norm += std::abs(g[static_cast<std::size_t>(row * 16 + j)]);
    EXPECT_GT(norm, 1e-6) << "row " << row;
  }
}

TEST(TransformerLM, Gpt2SmallHasGpt2sParameterCount) {
  nr::set_seed(1);
  nr::tools::TransformerLM model(nr::tools::gpt2_small_config());
  (void)model(nr::zeros({1, 2}, {.dtype = nr::DType::int32}));
  // GPT-2 small with tied embeddings (llm.c and Hugging Face count the same).
  EXPECT_EQ(model.count_params(), 124439808);
}

TEST(ModelBenchmark, FlopsFollowLlmcAndPeaksFollowTheDataSheets) {
  // llm.c: 6 N + 6 L C T per token; GPT-2 small at context 1024, 16 sequences.
  const double per_token = 6.0 * 124439808 + 6.0 * 12 * 768 * 1024;
  EXPECT_DOUBLE_EQ(nr::tools::gpt_flops_per_step(124439808, nr::tools::gpt2_small_config(), 16),
                   per_token * 16 * 1024);
  EXPECT_EQ(nr::tools::peak_tflops("NVIDIA H200", true), 989.4);
  EXPECT_EQ(nr::tools::peak_tflops("NVIDIA H100 80GB HBM3", false), 494.7);
  EXPECT_EQ(nr::tools::peak_tflops("NVIDIA H100 PCIe", true), 756.5);
  EXPECT_EQ(nr::tools::peak_tflops("NVIDIA A100-SXM4-80GB", true), 312.0);
  EXPECT_FALSE(nr::tools::peak_tflops("Intel(R) Xeon(R) Processor", true).has_value());
}

TEST(ModelBenchmark, RefusesUnknownModelsAndTooFewEpochs) {
  EXPECT_THROW(nr::tools::run_model_benchmark({.model = "vgg16"}), nr::ValueError);
  EXPECT_THROW(nr::tools::run_model_benchmark({.model = "gpt2", .epochs = 1}), nr::ValueError);
}

TEST(CharLM, RematerializedBlocksTrainAlikeAndKeepLessForTheGradient) {
  // Two blocks with dropout: the same weights after three steps with and without
  // rematerialization (the recomputation draws the same masks), and less memory held by the
  // tape after the forward pass.
  const std::string text = repeated("abcdefgh", 32);
  const auto vocab = nr::data::CharVocabulary::from_text(text);
  const auto windows = nr::data::char_windows(vocab.encode(text), 32, 1);
  const nr::Tensor x = windows.x.slice(0, 16);
  const nr::Tensor y = windows.y.slice(0, 16);
  std::vector<nr::Tensor> weights[2];
  std::size_t held[2] = {0, 0};
  for (const int remat : {0, 1}) {
    nr::clear_session();
    nr::set_seed(2);
    nr::tools::TransformerLM model({.vocab_size = vocab.size(),
                                    .context = 32,
                                    .num_layers = 2,
                                    .num_heads = 2,
                                    .width = 32,
                                    .dropout = 0.1,
                                    .remat_blocks = remat == 1});
    (void)model(x.slice(0, 1));
    {
      const auto& cpu = nr::allocator_for(nr::Device::cpu());
      const std::size_t before = cpu.stats().bytes_in_use;
      nr::GradientTape tape;
      const nr::Tensor logits = model(x, true);
      held[remat] = cpu.stats().bytes_in_use - before;
    }
    model.compile({.optimizer = nr::optimizers::AdamW(1e-2),
                   .loss = nr::losses::SparseCategoricalCrossentropy({.from_logits = true})});
    for (int step = 0; step < 3; ++step) (void)model.train_on_batch(x, y);
    weights[remat] = model.get_weights();
  }
  ASSERT_EQ(weights[0].size(), weights[1].size());
  for (std::size_t i = 0; i < weights[0].size(); ++i) {
    EXPECT_LT(nr::max(nr::abs(weights[0][i] - weights[1][i])).item<float>(), 1e-5f)
        << "weight " << i;
  }
  EXPECT_LT(held[1] * 2, held[0]) << held[1] << " bytes kept with remat, " << held[0] << " without";
}
