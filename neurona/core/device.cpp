// Device names.
#include "neurona/core/device.h"

#include <charconv>

#include "neurona/core/error.h"

namespace neurona {

Device Device::parse(std::string_view s) {
  if (s == "cpu") return cpu();
  if (s == "cuda" || s == "gpu") return cuda(0);
  for (std::string_view prefix : {"cuda:", "gpu:"}) {
    if (s.substr(0, prefix.size()) == prefix) {
      const std::string_view num = s.substr(prefix.size());
      int index = -1;
      auto [ptr, ec] = std::from_chars(num.data(), num.data() + num.size(), index);
      if (ec == std::errc() && ptr == num.data() + num.size() && !num.empty() && index >= 0) {
        return cuda(index);
      }
    }
  }
  throw ValueError(detail::str("Device: cannot parse '", s,
                               "'; expected 'cpu', 'cuda' or 'cuda:N' with N >= 0"));
}

std::string Device::str() const {
  return is_cpu() ? std::string("cpu") : "cuda:" + std::to_string(index_);
}

}  // namespace neurona
