// 2-D pooling layers as Keras 3's: MaxPooling2D and AveragePooling2D (windows over height and
// width, 'same' averages counting only the pixels inside the input), and the global poolings
// GlobalMaxPooling2D / GlobalAveragePooling2D (max / mean over height and width).
//   auto pool = nr::layers::MaxPooling2D(2);          // (batch, 8, 8, c) -> (batch, 4, 4, c)
//   auto gap = nr::layers::GlobalAveragePooling2D();  // (batch, 8, 8, c) -> (batch, c)
#pragma once

#include <optional>

#include "neurona/layers/image_args.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

/// keras.layers.MaxPooling2D / AveragePooling2D's arguments after pool_size, and defaults.
struct Pooling2DOptions {
  /// Defaults to pool_size.
  OptionalIntPair strides = {};
  /// "valid" or "same" (any case).
  std::string padding = "valid";
  /// "channels_last" (batch, h, w, c) or "channels_first" (batch, c, h, w).
  std::string data_format = "channels_last";
  std::string name = "";
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

/// MaxPooling2D and AveragePooling2D (`max` chooses).
class Pooling2DLayer : public Layer {
 public:
  Pooling2DLayer(bool max, IntPair pool_size, Pooling2DOptions options = {});
  ConfigValue get_config() const override;

  const IntPair& pool_size() const { return pool_size_; }
  const IntPair& strides() const { return strides_; }
  Padding padding() const { return padding_; }
  DataFormat data_format() const { return data_format_; }

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  bool max_;
  IntPair pool_size_;
  IntPair strides_;
  Padding padding_;
  DataFormat data_format_;
};

/// `nr::layers::MaxPooling2D(2, {.strides = 1, .padding = "same"})`.
class MaxPooling2D : public LayerHandle<Pooling2DLayer> {
 public:
  explicit MaxPooling2D(IntPair pool_size = 2, Pooling2DOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's MaxPooling2D.from_config; ValueError naming the key otherwise.
  static MaxPooling2D from_config(const ConfigValue& config);
};

/// `nr::layers::AveragePooling2D(2)`.
class AveragePooling2D : public LayerHandle<Pooling2DLayer> {
 public:
  explicit AveragePooling2D(IntPair pool_size = 2, Pooling2DOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's AveragePooling2D.from_config; ValueError naming the key otherwise.
  static AveragePooling2D from_config(const ConfigValue& config);
};

/// keras.layers.GlobalMaxPooling2D / GlobalAveragePooling2D's arguments and defaults.
struct GlobalPooling2DOptions {
  std::string data_format = "channels_last";
  /// Keep height and width as dimensions of size 1: (batch, 1, 1, c) instead of (batch, c).
  bool keepdims = false;
  std::string name = "";
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

/// GlobalMaxPooling2D and GlobalAveragePooling2D (`max` chooses).
class GlobalPooling2DLayer : public Layer {
 public:
  GlobalPooling2DLayer(bool max, GlobalPooling2DOptions options = {});
  ConfigValue get_config() const override;

  DataFormat data_format() const { return data_format_; }
  bool keepdims() const { return keepdims_; }

  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  bool max_;
  DataFormat data_format_;
  bool keepdims_;
};

/// `nr::layers::GlobalMaxPooling2D()`.
class GlobalMaxPooling2D : public LayerHandle<GlobalPooling2DLayer> {
 public:
  explicit GlobalMaxPooling2D(GlobalPooling2DOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's GlobalMaxPooling2D.from_config; ValueError naming the key otherwise.
  static GlobalMaxPooling2D from_config(const ConfigValue& config);
};

/// `nr::layers::GlobalAveragePooling2D({.keepdims = true})`.
class GlobalAveragePooling2D : public LayerHandle<GlobalPooling2DLayer> {
 public:
  explicit GlobalAveragePooling2D(GlobalPooling2DOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's GlobalAveragePooling2D.from_config; ValueError naming the key otherwise.
  static GlobalAveragePooling2D from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
