// The option types users pass to ops (`nr::conv2d(x, k, {.padding = nr::Padding::Same})`,
// `nr::sum(x, {0, 2})`): one header for all of them, below every folder that names them
// (kernels/ implements the ops, autograd/ and layers/ expose them).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

namespace neurona {

/// Keras's padding modes: 'valid' (none) and 'same' (output = ceil(input / stride), with the
/// odd pixel of padding at the bottom and right).
enum class Padding { Valid, Same };
/// Keras's data formats: channels_last (NHWC, the default) and channels_first (NCHW).
enum class DataFormat { ChannelsLast, ChannelsFirst };

/// `Padding` from Keras's strings "valid" / "same"; throws ValueError listing them.
Padding padding_from_string(std::string_view s);
/// `DataFormat` from "channels_last" / "channels_first"; throws ValueError listing them.
DataFormat data_format_from_string(std::string_view s);

/// A 2-D convolution's arguments (the op's; the Conv2D layer has its own, Keras's, in
/// layers::Conv2DOptions).
struct ConvOptions {
  std::array<std::int64_t, 2> strides = {1, 1};
  Padding padding = Padding::Valid;
  std::array<std::int64_t, 2> dilation_rate = {1, 1};
  std::int64_t groups = 1;
  DataFormat data_format = DataFormat::ChannelsLast;
};

/// A 2-D transposed convolution's arguments (keras.ops.conv_transpose's; the Conv2DTranspose
/// layer has its own, Keras's, in layers::Conv2DTransposeOptions).
struct ConvTransposeOptions {
  std::array<std::int64_t, 2> strides = {1, 1};
  Padding padding = Padding::Valid;
  /// Extra rows and columns at the bottom and right of the output, each below its stride; not
  /// given (Keras's None): what 'valid' or 'same' gives alone.
  std::optional<std::array<std::int64_t, 2>> output_padding = std::nullopt;
  std::array<std::int64_t, 2> dilation_rate = {1, 1};
  DataFormat data_format = DataFormat::ChannelsLast;
};

/// A 2-D pooling's arguments.
struct Pool2DOptions {
  std::array<std::int64_t, 2> pool_size = {2, 2};
  /// Defaults to pool_size, as in Keras.
  std::optional<std::array<std::int64_t, 2>> strides = std::nullopt;
  Padding padding = Padding::Valid;
  DataFormat data_format = DataFormat::ChannelsLast;
};

/// keras.ops.image.resize's interpolations, as its JAX backend computes them (jax.image.resize
/// without antialiasing): half-pixel centres; nearest takes floor((o + 0.5) * in / out); the
/// others weigh the inputs by a kernel (triangle; Keys cubic with a = -0.5; Lanczos of radius 3
/// or 5) renormalised over the taps inside the image.
enum class Interpolation { Nearest, Bilinear, Bicubic, Lanczos3, Lanczos5 };

/// `Interpolation` from Keras's strings "nearest", "bilinear", "bicubic", "lanczos3",
/// "lanczos5"; throws ValueError listing them.
Interpolation interpolation_from_string(std::string_view s);
/// Keras's string for an Interpolation.
const char* interpolation_name(Interpolation interpolation);

/// An image resize's arguments (keras.ops.image.resize's).
struct ResizeOptions {
  Interpolation interpolation = Interpolation::Bilinear;
  DataFormat data_format = DataFormat::ChannelsLast;
  /// Resize the largest central window of the target's aspect ratio (the image is cropped, not
  /// distorted).
  bool crop_to_aspect_ratio = false;
  /// Pad the image, centred, with fill_value to the target's aspect ratio, then resize (not
  /// distorted). At most one of the two.
  bool pad_to_aspect_ratio = false;
  /// The padding's value (Keras's fill_mode "constant", the only one it has).
  double fill_value = 0.0;
  /// Keras's antialias: along an axis that shrinks, stretch the kernel by in / out so that
  /// each output averages all the inputs it covers (jax.image.resize's antialiasing) instead of
  /// sampling a few; no effect where an axis grows or keeps its size, nor with Nearest.
  bool antialias = false;
};

/// How keras.ops.image.affine_transform fills the points that map outside the input (its JAX
/// backend, jax.scipy.ndimage.map_coordinates's modes): `Constant` with fill_value, `Nearest`
/// repeats the edge (aaaa|abcd|dddd), `Wrap` tiles (abcd|abcd|abcd), `Mirror` reflects about the
/// edge pixels' centres (dcb|abcd|cba), `Reflect` about their outer edges (dcba|abcd|dcba).
enum class FillMode { Constant, Nearest, Wrap, Mirror, Reflect };

/// `FillMode` from Keras's strings "constant", "nearest", "wrap", "mirror", "reflect"; throws
/// ValueError listing them.
FillMode fill_mode_from_string(std::string_view s);
/// Keras's string for a FillMode.
const char* fill_mode_name(FillMode mode);

/// keras.ops.image.affine_transform's arguments, and the output's (height, width), which
/// TensorFlow's ImageProjectiveTransformV3 takes (default: the input's).
struct AffineTransformOptions {
  /// Nearest (rounding half away from zero) or Bilinear, the two Keras allows here.
  Interpolation interpolation = Interpolation::Bilinear;
  FillMode fill_mode = FillMode::Constant;
  double fill_value = 0.0;
  DataFormat data_format = DataFormat::ChannelsLast;
  std::optional<std::array<std::int64_t, 2>> output_size = std::nullopt;
};

/// A matrix product's arguments.
struct MatmulOptions {
  bool transpose_a = false;  ///< use the transpose of a's last two axes
  bool transpose_b = false;  ///< use the transpose of b's last two axes
};

/// The activation a fused dense or convolution op applies to its result (cuBLASLt's and
/// cuDNN's epilogues).
enum class FusedActivation { linear, relu };

/// Which axes a reduction folds: all of them (Keras's axis=None, the default), one axis, or a
/// list; negative axes count from the end. `nr::sum(x)`, `nr::sum(x, 1)`, `nr::sum(x, {0, 2})`.
class Axes {
 public:
  Axes() = default;
  Axes(int axis) : axes_(std::vector<int>{axis}) {}  // NOLINT: implicit by design
  Axes(std::initializer_list<int> axes) : axes_(std::vector<int>(axes)) {}
  explicit Axes(std::vector<int> axes) : axes_(std::move(axes)) {}
  bool all() const { return !axes_.has_value(); }
  const std::vector<int>& list() const { return *axes_; }

 private:
  std::optional<std::vector<int>> axes_;
};

}  // namespace neurona
