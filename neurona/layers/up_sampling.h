// UpSampling1D and UpSampling2D: repeat steps (rows and columns), or interpolate between them,
// as keras.layers.UpSampling1D / UpSampling2D.
//   nr::layers::UpSampling2D(2);                                   // (b, 8, 8, c) -> (b, 16, 16,
//   c) nr::layers::UpSampling2D({2, 3}, {.interpolation = "bilinear"});
//   nr::layers::UpSampling1D(3);                                   // (b, 5, f) -> (b, 15, f)
#pragma once

#include <cstdint>
#include <string>

#include "neurona/layers/image_args.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

/// keras.layers.UpSampling2D's arguments after size, and defaults.
struct UpSampling2DOptions {
  /// "channels_last" (batch, h, w, c) or "channels_first" (batch, c, h, w), any case.
  std::string data_format = "channels_last";
  /// "nearest" (repeats rows and columns), "bilinear", "bicubic", "lanczos3" or "lanczos5"
  /// (any case): keras.ops.image.resize's interpolations, as its JAX backend computes them
  /// (half-pixel centres, no antialiasing).
  std::string interpolation = "nearest";
  std::string name = "";
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

class UpSampling2DLayer : public Layer {
 public:
  explicit UpSampling2DLayer(IntPair size = 2, UpSampling2DOptions options = {});
  ConfigValue get_config() const override;

  const IntPair& size() const { return size_; }
  DataFormat data_format() const { return data_format_; }
  Interpolation interpolation() const { return interpolation_; }

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  IntPair size_;
  DataFormat data_format_;
  Interpolation interpolation_;
};

/// `nr::layers::UpSampling2D({2, 2}, {.interpolation = "bilinear"})`.
class UpSampling2D : public LayerHandle<UpSampling2DLayer> {
 public:
  explicit UpSampling2D(IntPair size = 2, UpSampling2DOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's UpSampling2D.from_config; ValueError naming the key otherwise.
  static UpSampling2D from_config(const ConfigValue& config);
};

class UpSampling1DLayer : public Layer {
 public:
  explicit UpSampling1DLayer(std::int64_t size = 2, LayerOptions options = {});
  ConfigValue get_config() const override;

  std::int64_t size() const { return size_; }

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  std::int64_t size_;
};

/// `nr::layers::UpSampling1D(2)`: (batch, steps, features) -> (batch, steps * 2, features).
class UpSampling1D : public LayerHandle<UpSampling1DLayer> {
 public:
  explicit UpSampling1D(std::int64_t size = 2, LayerOptions options = {});
  /// The layer a config describes, as Keras's UpSampling1D.from_config.
  static UpSampling1D from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
