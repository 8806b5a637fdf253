// Dropout: in training, zeroes each input with probability `rate` and scales the rest by
// 1 / (1 - rate) (inverted dropout), as keras.layers.Dropout; outside training, the identity.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "neurona/core/random.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

struct DropoutOptions {
  /// A seed makes the sequence of masks reproducible (each call still draws a new mask, from the
  /// layer's SeedGenerator, as in Keras); without one the generator's seed is taken from the
  /// global seed (set_seed) at the first call.
  std::optional<std::uint64_t> seed = std::nullopt;
  /// Keras's noise_shape: the mask's shape, broadcast over the inputs (-1 for None: the
  /// input's dimension). `{-1, 1, -1}` drops whole rows of a (batch, timesteps, features) input.
  std::optional<std::vector<std::int64_t>> noise_shape = std::nullopt;
  std::string name = "";
};

/// Keras's backend.random.dropout: each element of `x` kept with probability 1 - rate and
/// scaled by 1 / (1 - rate), else 0, from a mask of `mask_shape` (which broadcasts to x's) drawn
/// from `generator`. For 0 <= rate < 1.
Tensor random_dropout(const Tensor& x, double rate, SeedGenerator& generator,
                      const Shape& mask_shape);

class DropoutLayer : public Layer {
 public:
  explicit DropoutLayer(double rate, DropoutOptions options = {});
  ConfigValue get_config() const override;
  double rate() const { return rate_; }
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

 private:
  double rate_;
  std::optional<std::uint64_t> seed_;
  SeedGenerator seed_generator_;
  std::optional<std::vector<std::int64_t>> noise_shape_;
};

/// `nr::layers::Dropout(0.2)`.
class Dropout : public LayerHandle<DropoutLayer> {
 public:
  explicit Dropout(double rate, DropoutOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's Dropout.from_config; ValueError naming the key otherwise.
  static Dropout from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
