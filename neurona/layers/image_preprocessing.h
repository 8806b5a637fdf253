// Keras 3's image preprocessing and augmentation layers that work on whole images with the ops
// neurona has: Rescaling, Resizing, CenterCrop (deterministic, as Keras computes them) and
// RandomFlip, RandomBrightness, RandomContrast (random per image in training, the identity
// otherwise). Images are channels_last, (batch, height, width, channels) or one image of rank 3.
// The random layers draw from their SeedGenerator on the device, so a training step replayed
// from a CUDA graph draws anew; inside a Dataset map they draw from the map's per-element
// stream (ScopedRandomStream).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>

#include "neurona/core/random.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

/// A random layer's `factor`: one number f (the range -f .. f) or two numbers (lower, upper), as
/// Keras takes it: `RandomBrightness(0.2)`, `RandomBrightness({-0.1, 0.3})`.
class FactorRange {
 public:
  FactorRange(double f) : lower_(-f), upper_(f), scalar_(true) {}  // NOLINT: implicit by design
  FactorRange(std::initializer_list<double> range);                // NOLINT: implicit by design
  double lower() const { return lower_; }
  double upper() const { return upper_; }
  bool is_scalar() const { return scalar_; }

 private:
  double lower_, upper_;
  bool scalar_ = false;
};

// ---- Rescaling ------------------------------------------------------------------------------

struct RescalingOptions {
  double offset = 0.0;
  std::string name = "";
};

/// inputs * scale + offset in float32 (uint8 images included), as keras.layers.Rescaling:
/// `Rescaling(1.0 / 255)` maps bytes to [0, 1], `Rescaling(1.0 / 127.5, {.offset = -1})` to
/// [-1, 1].
class RescalingLayer : public Layer {
 public:
  explicit RescalingLayer(double scale, RescalingOptions options = {});
  ConfigValue get_config() const override;
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

 private:
  double scale_, offset_;
};

class Rescaling : public LayerHandle<RescalingLayer> {
 public:
  explicit Rescaling(double scale, RescalingOptions options = {});
  static Rescaling from_config(const ConfigValue& config);
};

// ---- Resizing and CenterCrop ------------------------------------------------------------------

struct ResizingOptions {
  /// "bilinear", "nearest", "bicubic" (image_resize's, as Keras on JAX).
  std::string interpolation = "bilinear";
  /// Crop the centre to the target's aspect ratio first (the largest such window), so that the
  /// image is not distorted.
  bool crop_to_aspect_ratio = false;
  std::string name = "";
};

/// Images resized to (height, width), as keras.layers.Resizing (antialias=False).
class ResizingLayer : public Layer {
 public:
  ResizingLayer(std::int64_t height, std::int64_t width, ResizingOptions options = {});
  ConfigValue get_config() const override;
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  std::int64_t height_, width_;
  ResizingOptions options_;
};

class Resizing : public LayerHandle<ResizingLayer> {
 public:
  Resizing(std::int64_t height, std::int64_t width, ResizingOptions options = {});
  static Resizing from_config(const ConfigValue& config);
};

struct CenterCropOptions {
  std::string name = "";
};

/// The central (height, width) window of each image, as keras.layers.CenterCrop; an image smaller
/// than that is cropped to the target's aspect ratio and resized (bilinear), as Keras's
/// smart_resize does.
class CenterCropLayer : public Layer {
 public:
  CenterCropLayer(std::int64_t height, std::int64_t width, CenterCropOptions options = {});
  ConfigValue get_config() const override;
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  std::int64_t height_, width_;
};

class CenterCrop : public LayerHandle<CenterCropLayer> {
 public:
  CenterCrop(std::int64_t height, std::int64_t width, CenterCropOptions options = {});
  static CenterCrop from_config(const ConfigValue& config);
};

// ---- Random augmentation ----------------------------------------------------------------------

struct RandomFlipOptions {
  std::optional<std::uint64_t> seed = std::nullopt;
  std::string name = "";
};

/// In training, each image flipped left-right ("horizontal"), upside down ("vertical"), or both
/// ("horizontal_and_vertical": one draw decides both, as Keras) with probability 1/2.
class RandomFlipLayer : public Layer {
 public:
  explicit RandomFlipLayer(std::string mode = "horizontal_and_vertical",
                           RandomFlipOptions options = {});
  ConfigValue get_config() const override;
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

 private:
  std::string mode_;
  std::optional<std::uint64_t> seed_;
  SeedGenerator generator_;
};

class RandomFlip : public LayerHandle<RandomFlipLayer> {
 public:
  explicit RandomFlip(std::string mode = "horizontal_and_vertical", RandomFlipOptions options = {});
  static RandomFlip from_config(const ConfigValue& config);
};

struct RandomColorOptions {
  /// The range of the pixel values (the result is clipped to it; brightness deltas are a
  /// fraction of its width).
  FactorRange value_range = {0.0, 255.0};
  std::optional<std::uint64_t> seed = std::nullopt;
  std::string name = "";
};

/// In training, each image plus a delta drawn from factor * (value_range width), clipped to
/// value_range, as keras.layers.RandomBrightness. factor in [-1, 1].
class RandomBrightnessLayer : public Layer {
 public:
  explicit RandomBrightnessLayer(FactorRange factor, RandomColorOptions options = {});
  ConfigValue get_config() const override;
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

 private:
  FactorRange factor_;
  RandomColorOptions options_;
  SeedGenerator generator_;
};

class RandomBrightness : public LayerHandle<RandomBrightnessLayer> {
 public:
  explicit RandomBrightness(FactorRange factor, RandomColorOptions options = {});
  static RandomBrightness from_config(const ConfigValue& config);
};

/// In training, each image's contrast scaled by c drawn from [1 - lower, 1 + upper] about its
/// per-channel mean, (x - mean) * c + mean, clipped to value_range. factor f in [0, 1] means
/// lower = upper = f: Keras's documented range. (Keras 3.15's code draws from [1, 1 + f] for a
/// single number, only ever raising the contrast; neurona follows the documentation.)
class RandomContrastLayer : public Layer {
 public:
  explicit RandomContrastLayer(FactorRange factor, RandomColorOptions options = {});
  ConfigValue get_config() const override;
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

 private:
  FactorRange factor_;
  RandomColorOptions options_;
  SeedGenerator generator_;
};

class RandomContrast : public LayerHandle<RandomContrastLayer> {
 public:
  explicit RandomContrast(FactorRange factor, RandomColorOptions options = {});
  static RandomContrast from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
