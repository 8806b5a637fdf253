// keras.layers.Normalization: (x - mean) / sqrt(variance) per position of the kept axes, with
// the mean and variance given or learnt from data by adapt() (or the inverse, with invert).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "neurona/layers/layer.h"

namespace neurona::layers {

struct NormalizationOptions {
  /// The axes that keep a mean and variance of their own (negative counts from the end); the
  /// others are averaged over. Empty: one mean and variance for everything (Keras's None).
  std::vector<int> axis = {-1};
  /// Given values instead of adapt(): both or neither, of the kept axes' shape (or its trailing
  /// part, or one value), broadcast like Keras.
  std::optional<std::vector<double>> mean = std::nullopt;
  std::optional<std::vector<double>> variance = std::nullopt;
  /// Undo a normalization: mean + x * sqrt(variance).
  bool invert = false;
  std::string name = "";
};

/// `nr::layers::Normalization()`, then `norm->adapt(x_train)` before training:
///
///   nr::layers::Normalization norm;
///   norm->adapt(x_train);                   // mean and variance of every feature (last axis)
///   auto model = nr::Sequential({nr::layers::Input({8}), norm, nr::layers::Dense(1)});
///
/// Adapted layers keep Keras's non-trainable weights mean, variance and count (int32, which
/// Keras leaves 0), so that .weights.h5 and .keras files load in Keras and back.
class NormalizationLayer : public Layer {
 public:
  explicit NormalizationLayer(NormalizationOptions options = {});
  ConfigValue get_config() const override;
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

  /// Learns the mean and variance of `data` (rows of samples, as the layer's inputs), building
  /// the layer for its shape first if needed. ShapeError when a kept axis differs from the
  /// shape the layer was built for.
  void adapt(const Tensor& data);
  /// adapt over batches: `next` gives them until it gives none (a Dataset's first components:
  /// `[it = ds.iterator()]() mutable { auto e = it.next(); ... }`). The mean and variance are
  /// combined batch by batch as Keras combines them.
  void adapt_batches(const std::function<std::optional<Tensor>()>& next);

  /// The mean and variance the layer applies, in the broadcast shape (ValueError before build).
  Tensor mean() const;
  Tensor variance() const;

 protected:
  void build(const Shape& input_shape) override;

 private:
  NormalizationOptions options_;
  Shape build_shape_;
  std::vector<int> keep_;  // kept axes, non-negative and sorted
  Shape broadcast_shape_;  // input rank, 1 on the reduced axes
  std::optional<Variable> adapt_mean_, adapt_variance_, count_;
  Tensor given_mean_, given_variance_;  // in the broadcast shape
};

class Normalization : public LayerHandle<NormalizationLayer> {
 public:
  explicit Normalization(NormalizationOptions options = {});
  static Normalization from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
