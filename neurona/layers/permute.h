// Permute and RepeatVector: rearranging the non-batch dimensions, as keras.layers.Permute
// and keras.layers.RepeatVector.
//   nr::layers::Permute({2, 1});      // (batch, 10, 64) -> (batch, 64, 10)
//   nr::layers::RepeatVector(3);      // (batch, 32) -> (batch, 3, 32)
#pragma once

#include <cstdint>
#include <vector>

#include "neurona/layers/layer.h"

namespace neurona::layers {

class PermuteLayer : public Layer {
 public:
  /// `dims`: a permutation of 1..rank (the batch dimension, 0, stays first).
  explicit PermuteLayer(std::vector<int> dims, LayerOptions options = {});
  ConfigValue get_config() const override;

  const std::vector<int>& dims() const { return dims_; }

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  std::vector<int> dims_;
};

/// `nr::layers::Permute({2, 1})`.
class Permute : public LayerHandle<PermuteLayer> {
 public:
  explicit Permute(std::vector<int> dims, LayerOptions options = {});
  /// The layer a config describes, as Keras's Permute.from_config.
  static Permute from_config(const ConfigValue& config);
};

class RepeatVectorLayer : public Layer {
 public:
  explicit RepeatVectorLayer(std::int64_t n, LayerOptions options = {});
  ConfigValue get_config() const override;

  std::int64_t n() const { return n_; }

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  std::int64_t n_;
};

/// `nr::layers::RepeatVector(3)`: (batch, features) -> (batch, 3, features).
class RepeatVector : public LayerHandle<RepeatVectorLayer> {
 public:
  explicit RepeatVector(std::int64_t n, LayerOptions options = {});
  /// The layer a config describes, as Keras's RepeatVector.from_config.
  static RepeatVector from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
