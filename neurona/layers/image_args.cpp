// Keras's argument standardization for image layers (argument_validation.standardize_tuple,
// backend.standardize_data_format, standardize_padding) and output-size formulas.
#include "neurona/layers/image_args.h"

#include <algorithm>
#include <cctype>

#include "neurona/core/error.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}
}  // namespace

std::string pair_str(const IntPair& p) {
  return detail::str("(", p[0], ", ", p[1], ")");
}

Padding standardize_padding(const std::string& who, const std::string& padding) {
  const std::string p = lower(padding);
  if (p == "valid") return Padding::Valid;
  if (p == "same") return Padding::Same;
  throw ValueError(detail::str(who, ": the `padding` argument must be one of {'valid', 'same'}. ",
                               "Received: padding=", padding));
}

DataFormat standardize_data_format(const std::string& who, const std::string& data_format) {
  const std::string f = lower(data_format);
  if (f == "channels_last") return DataFormat::ChannelsLast;
  if (f == "channels_first") return DataFormat::ChannelsFirst;
  throw ValueError(detail::str(who,
                               ": the `data_format` argument must be one of {'channels_first', "
                               "'channels_last'}. Received: data_format=",
                               data_format));
}

void check_pair(const std::string& who, const char* name, const IntPair& arg, bool allow_zero) {
  const bool ok = allow_zero ? (arg[0] >= 0 && arg[1] >= 0) : (arg[0] > 0 && arg[1] > 0);
  NEURONA_CHECK(ok, ValueError, who, ": the `", name,
                "` argument must be a tuple of 2 integers with values ",
                allow_zero ? ">= 0" : "> 0", ". Received: ", name, "=", pair_str(arg));
}

std::int64_t window_output_size(const std::string& who, const Shape& input, std::int64_t size,
                                std::int64_t window, std::int64_t stride, std::int64_t dilation,
                                Padding padding) {
  if (size < 0) return -1;
  const std::int64_t dilated = (window - 1) * dilation + 1;
  // Floor division of a possibly negative numerator, as NumPy's floor in Keras.
  auto floor_div = [](std::int64_t a, std::int64_t b) {
    return a >= 0 ? a / b : -((-a + b - 1) / b);
  };
  const std::int64_t out = padding == Padding::Valid ? floor_div(size - dilated, stride) + 1
                                                     : floor_div(size - 1, stride) + 1;
  NEURONA_CHECK(out > 0, ShapeError, who, ": computed output size would be ", out,
                " (not positive) for input shape ", shape_str(input), ", window ", window,
                ", stride ", stride, ", dilation ", dilation, " and padding '",
                padding == Padding::Valid ? "valid" : "same", "'");
  return out;
}

std::string padding_name(Padding padding) {
  return padding == Padding::Same ? "same" : "valid";
}

std::string data_format_name(DataFormat data_format) {
  return data_format == DataFormat::ChannelsFirst ? "channels_first" : "channels_last";
}

ConfigValue pair_config(const IntPair& p) {
  return ConfigValue::List{p[0], p[1]};
}

}  // namespace neurona::layers
