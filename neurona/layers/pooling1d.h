// 1-D pooling layers as Keras 3's: MaxPooling1D and AveragePooling1D (windows over the steps,
// 'same' averages counting only the steps inside the input), and the global poolings
// GlobalMaxPooling1D / GlobalAveragePooling1D (max / mean over the steps; the average may take
// a mask of the steps to leave out).
//   auto pool = nr::layers::MaxPooling1D(2);          // (batch, 10, f) -> (batch, 5, f)
//   auto gap = nr::layers::GlobalAveragePooling1D();  // (batch, 10, f) -> (batch, f)
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "neurona/layers/image_args.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

/// keras.layers.MaxPooling1D / AveragePooling1D's arguments after pool_size, and defaults.
struct Pooling1DOptions {
  /// Defaults to pool_size.
  std::optional<std::int64_t> strides = std::nullopt;
  /// "valid" or "same" (any case).
  std::string padding = "valid";
  /// "channels_last" (batch, steps, features) or "channels_first" (batch, features, steps).
  std::string data_format = "channels_last";
  std::string name = "";
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

/// MaxPooling1D and AveragePooling1D (`max` chooses).
class Pooling1DLayer : public Layer {
 public:
  Pooling1DLayer(bool max, std::int64_t pool_size, Pooling1DOptions options = {});
  ConfigValue get_config() const override;

  std::int64_t pool_size() const { return pool_size_; }
  std::int64_t strides() const { return strides_; }
  Padding padding() const { return padding_; }
  DataFormat data_format() const { return data_format_; }

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  bool max_;
  std::int64_t pool_size_;
  std::int64_t strides_;
  Padding padding_;
  DataFormat data_format_;
};

/// `nr::layers::MaxPooling1D(2, {.strides = 1, .padding = "same"})`.
class MaxPooling1D : public LayerHandle<Pooling1DLayer> {
 public:
  explicit MaxPooling1D(std::int64_t pool_size = 2, Pooling1DOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's MaxPooling1D.from_config; ValueError naming the key otherwise.
  static MaxPooling1D from_config(const ConfigValue& config);
};

/// `nr::layers::AveragePooling1D(3)`; pool_size has no default, as in Keras.
class AveragePooling1D : public LayerHandle<Pooling1DLayer> {
 public:
  explicit AveragePooling1D(std::int64_t pool_size, Pooling1DOptions options = {});
  /// The layer a config describes, as Keras's AveragePooling1D.from_config.
  static AveragePooling1D from_config(const ConfigValue& config);
};

/// keras.layers.GlobalMaxPooling1D / GlobalAveragePooling1D's arguments and defaults.
struct GlobalPooling1DOptions {
  std::string data_format = "channels_last";
  /// Keep the steps as a dimension of size 1: (batch, 1, features) instead of (batch, features).
  bool keepdims = false;
  std::string name = "";
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

/// GlobalMaxPooling1D and GlobalAveragePooling1D (`max` chooses).
class GlobalPooling1DLayer : public Layer {
 public:
  GlobalPooling1DLayer(bool max, GlobalPooling1DOptions options = {});
  ConfigValue get_config() const override;

  DataFormat data_format() const { return data_format_; }
  bool keepdims() const { return keepdims_; }

  Tensor call(const Tensor& inputs, bool training) override;
  /// GlobalAveragePooling1D's call(inputs, mask), as Keras's: `mask` (batch, steps), nonzero
  /// (true) for the steps to average; the mean is over those steps only (NaN where a row has
  /// none, as in Keras). GlobalMaxPooling1D ignores masks, as Keras's does.
  Tensor call_with_mask(const Tensor& inputs, const Tensor& mask, bool training) override;
  /// None: the steps are pooled away.
  Tensor compute_mask(const Tensor& /*inputs*/, const Tensor& /*mask*/) const override {
    return {};
  }
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  bool max_;
  DataFormat data_format_;
  bool keepdims_;
};

/// `nr::layers::GlobalMaxPooling1D()`.
class GlobalMaxPooling1D : public LayerHandle<GlobalPooling1DLayer> {
 public:
  explicit GlobalMaxPooling1D(GlobalPooling1DOptions options = {});
  /// The layer a config describes, as Keras's GlobalMaxPooling1D.from_config.
  static GlobalMaxPooling1D from_config(const ConfigValue& config);
};

/// `nr::layers::GlobalAveragePooling1D({.keepdims = true})`; `gap(x, mask)` masks steps.
class GlobalAveragePooling1D : public LayerHandle<GlobalPooling1DLayer> {
 public:
  explicit GlobalAveragePooling1D(GlobalPooling1DOptions options = {});
  using LayerHandle<GlobalPooling1DLayer>::operator();
  /// The layer a config describes, as Keras's GlobalAveragePooling1D.from_config.
  static GlobalAveragePooling1D from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
