// Keras's strings for the op option types.
#include "neurona/core/op_options.h"

#include "neurona/core/error.h"

namespace neurona {

Padding padding_from_string(std::string_view s) {
  if (s == "valid") return Padding::Valid;
  if (s == "same") return Padding::Same;
  throw ValueError(
      detail::str("padding: unknown value '", s, "'; valid values are 'valid', 'same'"));
}

DataFormat data_format_from_string(std::string_view s) {
  if (s == "channels_last") return DataFormat::ChannelsLast;
  if (s == "channels_first") return DataFormat::ChannelsFirst;
  throw ValueError(detail::str("data_format: unknown value '", s,
                               "'; valid values are 'channels_last', 'channels_first'"));
}

Interpolation interpolation_from_string(std::string_view s) {
  for (Interpolation i : {Interpolation::Bilinear, Interpolation::Nearest, Interpolation::Lanczos3,
                          Interpolation::Lanczos5, Interpolation::Bicubic}) {
    if (s == interpolation_name(i)) return i;
  }
  // keras.ops.image.resize's message (JAX backend).
  throw ValueError(detail::str(
      "Invalid value for argument `interpolation`. Expected of one ('bilinear', 'nearest', "
      "'lanczos3', 'lanczos5', 'bicubic'). Received: interpolation=",
      s));
}

const char* interpolation_name(Interpolation interpolation) {
  switch (interpolation) {
    case Interpolation::Nearest:
      return "nearest";
    case Interpolation::Bilinear:
      return "bilinear";
    case Interpolation::Bicubic:
      return "bicubic";
    case Interpolation::Lanczos3:
      return "lanczos3";
    case Interpolation::Lanczos5:
      return "lanczos5";
  }
  return "bilinear";
}

FillMode fill_mode_from_string(std::string_view s) {
  for (FillMode m : {FillMode::Reflect, FillMode::Wrap, FillMode::Constant, FillMode::Nearest,
                     FillMode::Mirror}) {
    if (s == fill_mode_name(m)) return m;
  }
  // keras.ops.image.affine_transform's message (JAX backend).
  throw ValueError(detail::str(
      "Invalid value for argument `fill_mode`. Expected of one ('constant', 'nearest', 'wrap', "
      "'mirror', 'reflect'). Received: fill_mode=",
      s));
}

const char* fill_mode_name(FillMode mode) {
  switch (mode) {
    case FillMode::Constant:
      return "constant";
    case FillMode::Nearest:
      return "nearest";
    case FillMode::Wrap:
      return "wrap";
    case FillMode::Mirror:
      return "mirror";
    case FillMode::Reflect:
      return "reflect";
  }
  return "constant";
}

}  // namespace neurona
