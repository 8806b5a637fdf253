// Keras 3's image preprocessing and augmentation layers: Rescaling, Resizing, CenterCrop
// (deterministic, as Keras computes them); RandomFlip, RandomBrightness, RandomContrast,
// RandomTranslation, RandomRotation, RandomZoom (random per image in training, the identity
// otherwise) and RandomCrop (one window per batch in training, as Keras). The geometric ones run
// nr::affine_transform with transforms computed on the device from the draws. Images are
// channels_last, (batch, height, width, channels) or one image of rank 3. Every layer here takes
// integer images (uint8) and returns the compute dtype (float32, float16 under mixed_float16),
// eagerly and symbolically, as Keras's symbolic calls say.
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

/// inputs * scale + offset in the compute dtype (uint8 images included), as keras.layers.Rescaling:
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
  /// "bilinear", "nearest", "bicubic", "lanczos3", "lanczos5" (image_resize's, as Keras on
  /// JAX).
  std::string interpolation = "bilinear";
  /// Crop the centre to the target's aspect ratio first (the largest such window), so that the
  /// image is not distorted.
  bool crop_to_aspect_ratio = false;
  /// Pad the image (centred) to the target's aspect ratio first, so that it is not distorted.
  /// At most one of the two.
  bool pad_to_aspect_ratio = false;
  /// How the padding is filled: "constant" (Keras's only mode), with fill_value.
  std::string fill_mode = "constant";
  double fill_value = 0.0;
  /// Low-pass filter an axis that shrinks (image_resize's antialias), as Keras's antialias.
  bool antialias = false;
  std::string name = "";
};

/// Images resized to (height, width), as keras.layers.Resizing.
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

// ---- Random geometric augmentation (affine transforms) ----------------------------------------

/// The arguments RandomTranslation, RandomRotation and RandomZoom share, with Keras's defaults.
struct RandomAffineOptions {
  /// How points outside the image are filled: "reflect" (dcba|abcd|dcba), "wrap"
  /// (abcd|abcd|abcd), "constant" (fill_value) or "nearest" (aaaa|abcd|dddd).
  std::string fill_mode = "reflect";
  /// "bilinear" or "nearest".
  std::string interpolation = "bilinear";
  std::optional<std::uint64_t> seed = std::nullopt;
  /// The value of the points outside the image with fill_mode "constant".
  double fill_value = 0.0;
  std::string name = "";
};

/// In training, each image shifted by a fraction of its height and of its width drawn from the
/// factors (a number f: -f .. f; a pair: lower .. upper; each in [-1, 1]; positive moves the
/// content down / right), as keras.layers.RandomTranslation.
class RandomTranslationLayer : public Layer {
 public:
  RandomTranslationLayer(FactorRange height_factor, FactorRange width_factor,
                         RandomAffineOptions options = {});
  ConfigValue get_config() const override;
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

 private:
  FactorRange height_factor_, width_factor_;
  RandomAffineOptions options_;
  SeedGenerator generator_;
};

class RandomTranslation : public LayerHandle<RandomTranslationLayer> {
 public:
  RandomTranslation(FactorRange height_factor, FactorRange width_factor,
                    RandomAffineOptions options = {});
  static RandomTranslation from_config(const ConfigValue& config);
};

/// In training, each image rotated about its centre by an angle drawn from factor * 2 pi (a
/// number f: -f .. f; a pair: lower .. upper; in [-1, 1]; positive turns counter-clockwise),
/// as keras.layers.RandomRotation.
class RandomRotationLayer : public Layer {
 public:
  explicit RandomRotationLayer(FactorRange factor, RandomAffineOptions options = {});
  ConfigValue get_config() const override;
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

 private:
  FactorRange factor_;
  RandomAffineOptions options_;
  SeedGenerator generator_;
};

class RandomRotation : public LayerHandle<RandomRotationLayer> {
 public:
  explicit RandomRotation(FactorRange factor, RandomAffineOptions options = {});
  static RandomRotation from_config(const ConfigValue& config);
};

/// RandomZoom's arguments: RandomAffineOptions's and the width's factor.
struct RandomZoomOptions {
  /// The width's zoom range; not given: the width is scaled by the height's draw (the aspect
  /// ratio kept).
  std::optional<FactorRange> width_factor = std::nullopt;
  std::string fill_mode = "reflect";
  std::string interpolation = "bilinear";
  std::optional<std::uint64_t> seed = std::nullopt;
  double fill_value = 0.0;
  std::string name = "";
};

/// In training, each image zoomed about its centre: the height scaled by 1 + a draw from
/// height_factor (in (-1, 1]; positive zooms out, negative in), the width by 1 + a draw from
/// options.width_factor, or by the height's draw, as keras.layers.RandomZoom:
/// `RandomZoom({-0.3, 0.1}, {.width_factor = 0.2, .fill_mode = "constant"})`.
class RandomZoomLayer : public Layer {
 public:
  explicit RandomZoomLayer(FactorRange height_factor, RandomZoomOptions options = {});
  ConfigValue get_config() const override;
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

 private:
  FactorRange height_factor_;
  std::optional<FactorRange> width_factor_;
  RandomAffineOptions options_;
  SeedGenerator generator_;
};

class RandomZoom : public LayerHandle<RandomZoomLayer> {
 public:
  explicit RandomZoom(FactorRange height_factor, RandomZoomOptions options = {});
  static RandomZoom from_config(const ConfigValue& config);
};

struct RandomCropOptions {
  std::optional<std::uint64_t> seed = std::nullopt;
  std::string name = "";
};

/// In training, a (height, width) window at a random place, the same for every image of the
/// batch, as keras.layers.RandomCrop draws it. At inference, and in training when the images
/// are not larger than the window in both dimensions, the largest central window of the
/// target's aspect ratio, resized (bilinear) to (height, width): what Keras's documentation
/// says. (Keras 3.15's code differs from its documentation in both: at inference it returns
/// the images unchanged, of another shape than its compute_output_shape, and for small images
/// it slices a window of the target's size from that window's corner and stretches it.)
class RandomCropLayer : public Layer {
 public:
  RandomCropLayer(std::int64_t height, std::int64_t width, RandomCropOptions options = {});
  ConfigValue get_config() const override;
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 private:
  std::int64_t height_, width_;
  std::optional<std::uint64_t> seed_;
  SeedGenerator generator_;
};

class RandomCrop : public LayerHandle<RandomCropLayer> {
 public:
  RandomCrop(std::int64_t height, std::int64_t width, RandomCropOptions options = {});
  static RandomCrop from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
