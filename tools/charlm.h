// The decoder-only transformer (GPT-2's layout) of `neurona train --model charlm`, `neurona
// generate` and `neurona bench --model gpt2`, written as a Keras user writes a subclassed model;
// for the character-level model, its hyperparameters and vocabulary saved beside the weights,
// and sampling.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "neurona/core/philox.h"
#include "neurona/neurona.h"

namespace neurona::tools {

/// The transformer's sizes.
struct TransformerLMConfig {
  std::int64_t vocab_size = 0;
  /// The longest input (positions learned for 0 .. context - 1).
  std::int64_t context = 256;
  std::int64_t num_layers = 4;
  std::int64_t num_heads = 4;
  /// The model's width (embedding size); a multiple of num_heads.
  std::int64_t width = 256;
  /// On the residual branches and the attention probabilities, while training.
  double dropout = 0.0;
  /// GPT-2's weight tying: the logits are the final activations times the transposed token
  /// embedding (no output Dense, no output bias). Off: a Dense to the vocabulary with a bias.
  bool tie_embeddings = false;
  /// The MLP's gelu in its tanh form (GPT-2's "gelu_new") instead of the exact one.
  bool gelu_approximate = false;
  /// Rematerialize each block (gradient checkpointing, llm.c's and nanoGPT's recompute): a
  /// block keeps its input for the gradient and runs again in the backward pass, instead of
  /// keeping every activation inside it.
  bool remat_blocks = false;
};

/// GPT-2 small (Radford et al. 2019; llm.c's and nanoGPT's "gpt2"): 12 layers, 12 heads, width
/// 768, context 1024, a vocabulary of 50257 with tied embeddings, tanh gelu; 124,439,808
/// parameters. The blocks' query, key and value are three Dense layers rather than GPT-2's
/// one c_attn (the same parameters, split by columns).
inline TransformerLMConfig gpt2_small_config() {
  return {.vocab_size = 50257,
          .context = 1024,
          .num_layers = 12,
          .num_heads = 12,
          .width = 768,
          .tie_embeddings = true,
          .gelu_approximate = true};
}

/// One pre-LayerNorm block: x + attention(ln_1(x)), then x + mlp(ln_2(x)), the attention causal
/// over num_heads heads through nr::dot_product_attention, the MLP 4 * width wide with gelu
/// (exact, or its tanh form).
class TransformerBlock : public layers::Layer {
 public:
  TransformerBlock(std::int64_t width, std::int64_t num_heads, double dropout,
                   bool gelu_approximate = false)
      : layers::Layer("TransformerBlock"),
        width_(width),
        num_heads_(num_heads),
        dropout_rate_(dropout),
        ln_1_(track(layers::LayerNormalization({.epsilon = 1e-5}), "ln_1")),
        query_(track(layers::Dense(width), "query")),
        key_(track(layers::Dense(width), "key")),
        value_(track(layers::Dense(width), "value")),
        attention_output_(track(layers::Dense(width), "attention_output")),
        ln_2_(track(layers::LayerNormalization({.epsilon = 1e-5}), "ln_2")),
        mlp_in_(track(layers::Dense(4 * width, {.activation = activations::gelu(gelu_approximate)}),
                      "mlp_in")),
        mlp_out_(track(layers::Dense(width), "mlp_out")),
        dropout_(track(layers::Dropout(dropout), "dropout")) {
    track_seed_generator(attention_seeds_);
  }

  Tensor call(const Tensor& x, bool training) override {
    const std::int64_t batch = x.shape()[0];
    const std::int64_t steps = x.shape()[1];
    // (batch, steps, width) -> (batch, steps, heads, head_dim): dot_product_attention's layout.
    const auto heads = [&](const Tensor& t) {
      return reshape(t, {batch, steps, num_heads_, width_ / num_heads_});
    };
    const Tensor h = ln_1_(x, training);
    const Tensor attended =
        dot_product_attention(heads(query_(h)), heads(key_(h)), heads(value_(h)),
                              {.is_causal = true,
                               .dropout_rate = training ? dropout_rate_ : 0.0,
                               .seed_generator = &attention_seeds_});
    const Tensor y =
        x + dropout_(attention_output_(reshape(attended, {batch, steps, width_})), training);
    return y + dropout_(mlp_out_(mlp_in_(ln_2_(y, training))), training);
  }

 private:
  std::int64_t width_;
  std::int64_t num_heads_;
  double dropout_rate_;
  layers::LayerNormalization ln_1_;
  layers::Dense query_, key_, value_, attention_output_;
  layers::LayerNormalization ln_2_;
  layers::Dense mlp_in_, mlp_out_;
  layers::Dropout dropout_;
  // The attention dropout's keys, drawn on the device (so that the training step is captured).
  SeedGenerator attention_seeds_;
};

/// Token embedding + learned positional embedding, num_layers TransformerBlocks, a final
/// LayerNormalization and a Dense to the vocabulary (or the tied token embedding): (batch,
/// steps) int32 token (character) indices -> (batch, steps, vocab_size) logits of the next one,
/// in the compute dtype.
class TransformerLM : public Model {
 public:
  explicit TransformerLM(const TransformerLMConfig& config)
      : Model("TransformerLM"),
        config_(config),
        token_embedding_(
            track(layers::Embedding(config.vocab_size, config.width, {.name = "token_embedding"}),
                  "token_embedding")),
        position_embedding_(
            track(layers::Embedding(config.context, config.width, {.name = "position_embedding"}),
                  "position_embedding")),
        dropout_(track(layers::Dropout(config.dropout), "dropout")) {
    NEURONA_CHECK(config.vocab_size >= 1 && config.context >= 1 && config.num_layers >= 1 &&
                      config.num_heads >= 1 && config.width >= 1,
                  ValueError, "TransformerLM: every size must be at least 1");
    NEURONA_CHECK(config.width % config.num_heads == 0, ValueError, "TransformerLM: the width (",
                  config.width, ") must be a multiple of the number of heads (", config.num_heads,
                  ")");
    for (std::int64_t i = 0; i < config.num_layers; ++i) {
      blocks_.push_back(std::make_shared<TransformerBlock>(
          config.width, config.num_heads, config.dropout, config.gelu_approximate));
      if (config.remat_blocks) blocks_.back()->set_remat_mode(RematOptions{.mode = "full"});
      track_layer(blocks_.back(), detail::str("block_", i));
    }
    ln_f_ = track(layers::LayerNormalization({.epsilon = 1e-5, .name = "ln_f"}), "ln_f");
    if (!config.tie_embeddings) {
      lm_head_ = track(layers::Dense(config.vocab_size, {.name = "lm_head"}), "lm_head");
    }
  }

  const TransformerLMConfig& config() const { return config_; }

  Tensor call(const Tensor& tokens, bool training) override {
    NEURONA_CHECK(tokens.rank() == 2, ShapeError,
                  "TransformerLM: expected (batch, steps) character indices, got shape ",
                  tokens.shape());
    const std::int64_t steps = tokens.shape()[1];
    NEURONA_CHECK(steps <= config_.context, ShapeError, "TransformerLM: ", steps,
                  " steps is more than the context of ", config_.context);
    const Tensor positions =
        arange(static_cast<double>(steps), {.dtype = DType::int32, .device = tokens.device()})
            .reshape({1, steps});
    Tensor x = dropout_(token_embedding_(tokens) + position_embedding_(positions), training);
    for (const auto& block : blocks_) x = (*block)(x, training);
    const Tensor h = (*ln_f_)(x, training);
    if (lm_head_) return (*lm_head_)(h);
    // Tied: h (batch * steps, width) @ embeddings (vocab, width)^T, the embedding read in the
    // compute dtype (a cast of the float32 weight under a mixed policy), its gradient the sum
    // of the lookup's and this product's.
    const std::int64_t batch = h.shape()[0];
    const Tensor logits = matmul(reshape(h, {batch * steps, config_.width}),
                                 read(token_embedding_->embeddings()), {.transpose_b = true});
    return reshape(logits, {batch, steps, config_.vocab_size});
  }

 private:
  TransformerLMConfig config_;
  layers::Embedding token_embedding_;
  layers::Embedding position_embedding_;
  layers::Dropout dropout_;
  std::vector<std::shared_ptr<TransformerBlock>> blocks_;
  std::optional<layers::LayerNormalization> ln_f_;
  std::optional<layers::Dense> lm_head_;
};

/// Bits per character: the cross-entropy of the logits in bits (loss / ln 2), as a Keras
/// MeanMetricWrapper; logged as "bpc" and "val_bpc".
inline std::shared_ptr<metrics::MeanMetricWrapper> bits_per_character() {
  return std::make_shared<metrics::MeanMetricWrapper>(
      [](const Tensor& y_true, const Tensor& y_pred) {
        return losses::sparse_categorical_crossentropy(y_true, y_pred, {.from_logits = true}) *
               (1.0 / std::log(2.0));
      },
      "bpc");
}

/// The file beside `weights` (`<name>.weights.h5`) that holds the vocabulary and the
/// hyperparameters: `<name>.json`.
inline std::filesystem::path charlm_config_path(const std::filesystem::path& weights) {
  std::string name = weights.filename().string();
  const std::string suffix = ".weights.h5";
  if (name.size() > suffix.size() && name.ends_with(suffix)) {
    name.resize(name.size() - suffix.size());
  }
  return weights.parent_path() / (name + ".json");
}

/// Writes the vocabulary (code points, and as text) and the sizes as JSON, atomically.
inline void save_charlm_config(const std::filesystem::path& path, const TransformerLMConfig& config,
                               const data::CharVocabulary& vocab, const std::string& corpus) {
  nlohmann::ordered_json j;
  j["format"] = "neurona.charlm";
  j["version"] = 1;
  j["vocab_size"] = config.vocab_size;
  j["context"] = config.context;
  j["num_layers"] = config.num_layers;
  j["num_heads"] = config.num_heads;
  j["width"] = config.width;
  j["dropout"] = config.dropout;
  j["tie_embeddings"] = config.tie_embeddings;
  j["gelu_approximate"] = config.gelu_approximate;
  j["corpus"] = corpus;
  j["vocabulary"] = std::vector<std::uint32_t>(vocab.chars().begin(), vocab.chars().end());
  j["vocabulary_text"] = data::utf8_encode(vocab.chars());
  write_file_atomic(path, j.dump(2) + "\n", "save_charlm_config");
}

/// What save_charlm_config wrote. IoError naming the file when it is missing or malformed.
struct CharLMSaved {
  TransformerLMConfig config;
  data::CharVocabulary vocab;
};
inline CharLMSaved load_charlm_config(const std::filesystem::path& path) {
  const std::string text = read_regular_file(path.string(), "generate", "settings");
  try {
    const auto j = nlohmann::json::parse(text);
    if (j.at("format") != "neurona.charlm") throw std::runtime_error("not a neurona.charlm file");
    const auto points = j.at("vocabulary").get<std::vector<std::uint32_t>>();
    data::CharVocabulary vocab(std::u32string(points.begin(), points.end()));
    TransformerLMConfig config{.vocab_size = j.at("vocab_size").get<std::int64_t>(),
                               .context = j.at("context").get<std::int64_t>(),
                               .num_layers = j.at("num_layers").get<std::int64_t>(),
                               .num_heads = j.at("num_heads").get<std::int64_t>(),
                               .width = j.at("width").get<std::int64_t>(),
                               .dropout = j.at("dropout").get<double>(),
                               // Not written before 2026-12-06: those models had neither.
                               .tie_embeddings = j.value("tie_embeddings", false),
                               .gelu_approximate = j.value("gelu_approximate", false)};
    if (config.vocab_size != vocab.size()) {
      throw std::runtime_error("vocab_size does not match the vocabulary");
    }
    return {config, std::move(vocab)};
  } catch (const std::exception& e) {
    throw IoError(detail::str("generate: ", path.string(),
                              " is not a character model's settings file: ", e.what()));
  }
}

/// Sampling's options.
struct SampleOptions {
  std::int64_t length = 500;
  /// Divides the logits; 0 picks the most likely character (greedy).
  double temperature = 1.0;
  /// Sample among the k most likely characters only; 0: all.
  std::int64_t top_k = 0;
  std::uint64_t seed = 1;
};

/// `length` characters sampled one at a time after `prompt` (not repeated in the result), the
/// model seeing the last `context` characters each step. The same seed gives the same text.
inline std::string sample_text(TransformerLM& model, const data::CharVocabulary& vocab,
                               const std::string& prompt, const SampleOptions& options) {
  std::vector<std::int32_t> ids = vocab.encode(prompt, "generate: --prompt");
  NEURONA_CHECK(!ids.empty(), ValueError, "generate: --prompt must not be empty");
  const std::int64_t context = model.config().context;
  const std::size_t first_new = ids.size();
  for (std::int64_t step = 0; step < options.length; ++step) {
    const auto start = ids.size() > static_cast<std::size_t>(context)
                           ? ids.size() - static_cast<std::size_t>(context)
                           : std::size_t{0};
    const auto steps = static_cast<std::int64_t>(ids.size() - start);
    Tensor x = Tensor::empty({1, steps}, {.dtype = DType::int32, .device = Device::cpu()});
    std::copy(ids.begin() + static_cast<std::ptrdiff_t>(start), ids.end(), x.data<std::int32_t>());
    const Tensor logits = model(x.to(default_device()), false);
    const std::int64_t v = logits.shape()[2];
    const std::vector<float> all =
        logits.reshape({steps, v}).slice(steps - 1, steps).to(Device::cpu()).to_vector<float>();
    std::vector<double> row(all.begin(), all.end());
    std::vector<std::size_t> order(row.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](std::size_t a, std::size_t b) { return row[a] > row[b]; });
    std::int32_t next = static_cast<std::int32_t>(order[0]);
    if (options.temperature > 0.0) {
      const std::size_t k = options.top_k > 0
                                ? std::min(order.size(), static_cast<std::size_t>(options.top_k))
                                : order.size();
      std::vector<double> p(k);
      double total = 0.0;
      for (std::size_t i = 0; i < k; ++i) {
        p[i] = std::exp((row[order[i]] - row[order[0]]) / options.temperature);
        total += p[i];
      }
      const Philox4x32 r =
          philox_words({.seed = options.seed, .call = 0}, static_cast<std::uint64_t>(step), 0);
      const double u = static_cast<double>(r.v[0] >> 8) / 16777216.0 * total;  // [0, total)
      double acc = 0.0;
      next = static_cast<std::int32_t>(order[k - 1]);
      for (std::size_t i = 0; i < k; ++i) {
        acc += p[i];
        if (u < acc) {
          next = static_cast<std::int32_t>(order[i]);
          break;
        }
      }
    }
    ids.push_back(next);
  }
  return vocab.decode(
      std::vector<std::int32_t>(ids.begin() + static_cast<std::ptrdiff_t>(first_new), ids.end()));
}

}  // namespace neurona::tools
