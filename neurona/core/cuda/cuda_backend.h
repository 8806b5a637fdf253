// The CUDA backend of the device table (core/backend.h). Internal to core/.
#pragma once

#include "neurona/core/device_backend.h"

namespace neurona::cuda {

/// The CUDA backend, made on first use and never destroyed; core/backend.cpp puts it in the
/// table.
DeviceBackend& backend();

}  // namespace neurona::cuda
