// Cropping1D and Cropping2D: remove steps (rows and columns) at the edges, as
// keras.layers.Cropping1D / Cropping2D.
//   nr::layers::Cropping1D({1, 2});             // 1 step at the start, 2 at the end
//   nr::layers::Cropping2D(1);                  // 1 on every side
//   nr::layers::Cropping2D({{2, 0}, {1, 1}});   // ((top, bottom), (left, right))
#pragma once

#include <optional>
#include <string>

#include "neurona/layers/image_args.h"
#include "neurona/layers/layer.h"
#include "neurona/layers/zero_padding2d.h"

namespace neurona::layers {

/// Keras's three forms of Cropping2D's `cropping`: an int (all four sides), a pair (symmetric
/// height, symmetric width), or ((top, bottom), (left, right)); as ZeroPadding2D's padding.
using Cropping2DAmounts = Padding2DAmounts;

struct Cropping2DOptions {
  /// "channels_last" (batch, h, w, c, the default) or "channels_first" (batch, c, h, w).
  /// Optional for the reason ZeroPadding2DOptions's is: `Cropping2D({{1, 1}, {0, 0}})` stays
  /// unambiguous.
  std::optional<std::string> data_format = std::nullopt;
  std::string name = "";
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

class Cropping2DLayer : public Layer {
 public:
  explicit Cropping2DLayer(Cropping2DAmounts cropping = 0, Cropping2DOptions options = {});
  ConfigValue get_config() const override;

  const Cropping2DAmounts& cropping() const { return cropping_; }
  DataFormat data_format() const { return data_format_; }

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  Cropping2DAmounts cropping_;
  DataFormat data_format_;
};

/// `nr::layers::Cropping2D({{2, 0}, {1, 1}})`.
class Cropping2D : public LayerHandle<Cropping2DLayer> {
 public:
  explicit Cropping2D(Cropping2DAmounts cropping = 0, Cropping2DOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's Cropping2D.from_config; ValueError naming the key otherwise.
  static Cropping2D from_config(const ConfigValue& config);
};

class Cropping1DLayer : public Layer {
 public:
  /// `cropping`: (start, end), or one int for both.
  explicit Cropping1DLayer(IntPair cropping = 1, LayerOptions options = {});
  ConfigValue get_config() const override;

  const IntPair& cropping() const { return cropping_; }

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  IntPair cropping_;
};

/// `nr::layers::Cropping1D({1, 2})`: (batch, steps, features) -> (batch, steps - 3, features).
class Cropping1D : public LayerHandle<Cropping1DLayer> {
 public:
  explicit Cropping1D(IntPair cropping = 1, LayerOptions options = {});
  /// The layer a config describes, as Keras's Cropping1D.from_config.
  static Cropping1D from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
