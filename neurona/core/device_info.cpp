// Device names (core/device_info.h), from the backends.
#include "neurona/core/device_info.h"

#include "neurona/core/backend.h"
#include "neurona/core/runtime.h"

namespace neurona {

std::string device_name(Device d) {
  check_device_available(d, "device_name");
  return backend_for(d.type())->device_name(d.index());
}

}  // namespace neurona
