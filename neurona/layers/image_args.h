// The argument forms Keras's image layers accept, standardized once: an int or a pair
// (kernel_size, strides, pool_size, dilation_rate), and padding / data_format strings, which
// Keras lowercases before checking.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "neurona/core/op_options.h"
#include "neurona/core/shape.h"
#include "neurona/layers/config.h"

namespace neurona::layers {

/// An int for both spatial dimensions or a (height, width) pair, as Keras's
/// standardize_tuple: `Conv2D(8, 3)` and `Conv2D(8, {3, 5})`.
struct IntPair {
  IntPair(std::int64_t both) : values{both, both} {}  // NOLINT: implicit by design
  IntPair(std::int64_t height, std::int64_t width) : values{height, width} {}
  std::int64_t operator[](std::size_t i) const { return values[i]; }
  std::array<std::int64_t, 2> values;
};

/// An IntPair that may be absent (Keras's None), e.g. pooling strides that default to the
/// pool size: `.strides = 1`, `.strides = {2, 1}`, or left out.
struct OptionalIntPair {
  OptionalIntPair() = default;
  OptionalIntPair(std::int64_t both) : pair(IntPair(both)) {}  // NOLINT: implicit by design
  OptionalIntPair(std::int64_t height, std::int64_t width) : pair(IntPair(height, width)) {}
  OptionalIntPair(IntPair p) : pair(p) {}  // NOLINT: implicit by design
  std::optional<IntPair> pair;
};

/// `padding` ("valid" / "same", any case) for the layer `who`; ValueError naming it otherwise.
Padding standardize_padding(const std::string& who, const std::string& padding);
/// `data_format` ("channels_last" / "channels_first", any case); ValueError otherwise.
DataFormat standardize_data_format(const std::string& who, const std::string& data_format);
/// Checks that every value of `arg` is positive (or >= 0 with allow_zero), as
/// standardize_tuple does; ValueError naming the layer and the argument otherwise.
void check_pair(const std::string& who, const char* name, const IntPair& arg,
                bool allow_zero = false);

/// Keras's compute_conv_output_shape / compute_pooling_output_shape along one spatial axis:
/// -1 (unknown) stays -1; a non-positive result throws ShapeError naming `who` and `input`.
std::int64_t window_output_size(const std::string& who, const Shape& input, std::int64_t size,
                                std::int64_t window, std::int64_t stride, std::int64_t dilation,
                                Padding padding);

/// The indices of the height and width axes of a 4-D input in `data_format`.
inline std::array<int, 2> spatial_axes(DataFormat data_format) {
  return data_format == DataFormat::ChannelsLast ? std::array<int, 2>{1, 2}
                                                 : std::array<int, 2>{2, 3};
}
/// The index of the channel axis of a 4-D input in `data_format`.
inline int channel_axis(DataFormat data_format) {
  return data_format == DataFormat::ChannelsLast ? 3 : 1;
}

/// Keras's strings for the enums: "valid" / "same", "channels_last" / "channels_first".
std::string padding_name(Padding padding);
std::string data_format_name(DataFormat data_format);
/// A pair as Keras's configs write it: [2, 3].
ConfigValue pair_config(const IntPair& p);

/// "(2, 3)" for messages.
std::string pair_str(const IntPair& p);

}  // namespace neurona::layers
