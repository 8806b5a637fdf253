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

}  // namespace neurona
