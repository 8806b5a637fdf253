// ZeroPadding1D: steps of zeros at the start and the end of a sequence, as
// keras.layers.ZeroPadding1D.
//   nr::layers::ZeroPadding1D(2);        // (batch, 5, f) -> (batch, 9, f)
//   nr::layers::ZeroPadding1D({1, 3});   // 1 step before, 3 after
#pragma once

#include <string>

#include "neurona/layers/image_args.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

struct ZeroPadding1DOptions {
  /// "channels_last" (batch, steps, features, the default) or "channels_first" (batch,
  /// features, steps), any case.
  std::string data_format = "channels_last";
  std::string name = "";
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

class ZeroPadding1DLayer : public Layer {
 public:
  /// `padding`: (start, end), or one int for both.
  explicit ZeroPadding1DLayer(IntPair padding = 1, ZeroPadding1DOptions options = {});
  ConfigValue get_config() const override;

  const IntPair& padding() const { return padding_; }
  DataFormat data_format() const { return data_format_; }

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  IntPair padding_;
  DataFormat data_format_;
};

/// `nr::layers::ZeroPadding1D({1, 3})`.
class ZeroPadding1D : public LayerHandle<ZeroPadding1DLayer> {
 public:
  explicit ZeroPadding1D(IntPair padding = 1, ZeroPadding1DOptions options = {});
  /// The layer a config describes, as Keras's ZeroPadding1D.from_config.
  static ZeroPadding1D from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
