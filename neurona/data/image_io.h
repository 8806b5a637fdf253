// Decoding PNG (libpng) and JPEG (libjpeg-turbo) images into uint8 tensors (height, width,
// channels), as tf.io.decode_image does for keras.utils.image_dataset_from_directory. The bytes
// are untrusted: a truncated or corrupt file is an IoError naming it, never a crash.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "neurona/core/tensor.h"

namespace neurona::data {

/// Keras's color modes: "grayscale" (1 channel), "rgb" (3), "rgba" (4); ValueError otherwise.
int channels_of_color_mode(const std::string& color_mode);

/// The image in `bytes` (PNG or JPEG, told apart by their signatures) as a uint8 CPU tensor
/// (height, width, channels). `channels` 0 keeps the file's own (1 gray, 2 gray + alpha, 3 RGB,
/// 4 RGBA); 1, 3 or 4 converts: gray to RGB repeats the value, RGB to gray weighs it as ITU-R
/// BT.601 (0.299 R + 0.587 G + 0.114 B, rounded: what PIL's convert("L") gives), alpha is
/// dropped or added as 255. Palette PNGs are expanded, 16-bit PNGs reduced to 8 bits. A JPEG in
/// CMYK is refused. `source` names the image in errors. Throws IoError for bytes that are not
/// a whole PNG or JPEG (a JPEG with corrupt or missing data too, as tf.io.decode_jpeg), or an
/// image over 2^26 pixels (8192 x 8192).
Tensor decode_image(std::span<const std::uint8_t> bytes, int channels = 0,
                    const std::string& source = "<memory>");

/// decode_image of the regular file at `path`.
Tensor read_image(const std::string& path, int channels = 0);

/// The bytes of a PNG file holding `image`: uint8 (height, width, channels) with 1 (gray),
/// 2 (gray + alpha), 3 (RGB) or 4 (RGBA) channels, on any device. ValueError otherwise.
std::string encode_png(const Tensor& image);

/// encode_png written to `path` atomically (a temporary file renamed into place).
void write_png(const std::string& path, const Tensor& image);

}  // namespace neurona::data
