// ZeroPadding2D: rows of zeros above and below, columns left and right, as
// keras.layers.ZeroPadding2D.
//   nr::layers::ZeroPadding2D(1);                  // 1 on every side
//   nr::layers::ZeroPadding2D({1, 2});             // 1 above and below, 2 left and right
//   nr::layers::ZeroPadding2D({{1, 0}, {2, 3}});   // ((top, bottom), (left, right))
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "neurona/layers/image_args.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

/// The three forms Keras's ZeroPadding2D takes for `padding`: an int (all four sides), a pair
/// (symmetric height, symmetric width), or ((top, bottom), (left, right)).
struct Padding2DAmounts {
  Padding2DAmounts(std::int64_t all)  // NOLINT: implicit by design
      : top(all), bottom(all), left(all), right(all) {}
  Padding2DAmounts(std::int64_t height, std::int64_t width)
      : top(height), bottom(height), left(width), right(width) {}
  Padding2DAmounts(std::array<std::int64_t, 2> height, std::array<std::int64_t, 2> width)
      : top(height[0]), bottom(height[1]), left(width[0]), right(width[1]) {}
  std::int64_t top, bottom, left, right;
};

struct ZeroPadding2DOptions {
  /// "channels_last" (batch, h, w, c, the default) or "channels_first" (batch, c, h, w).
  /// Optional rather than a string with a default so that `ZeroPadding2D({{1, 1}, {0, 0}})`
  /// is not ambiguous with a copy of a ZeroPadding2D built from ({1, 1}, {0, 0}) (a literal 0
  /// converts to std::string through const char*).
  std::optional<std::string> data_format = std::nullopt;
  std::string name = "";
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

class ZeroPadding2DLayer : public Layer {
 public:
  explicit ZeroPadding2DLayer(Padding2DAmounts padding = 1, ZeroPadding2DOptions options = {});
  ConfigValue get_config() const override;

  const Padding2DAmounts& padding() const { return padding_; }
  DataFormat data_format() const { return data_format_; }

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  Padding2DAmounts padding_;
  DataFormat data_format_;
};

/// `nr::layers::ZeroPadding2D({{1, 0}, {2, 3}})`.
class ZeroPadding2D : public LayerHandle<ZeroPadding2DLayer> {
 public:
  explicit ZeroPadding2D(Padding2DAmounts padding = 1, ZeroPadding2DOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's ZeroPadding2D.from_config; ValueError naming the key otherwise.
  static ZeroPadding2D from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
