// The run-time table of device backends. The CPU backend is always there; the CUDA one
// (core/cuda/) joins it when the CUDA build is on. Code above kernels/ does not use this: it
// asks core/runtime.h and Tensor.
#pragma once

#include <cstddef>

#include "neurona/core/device.h"
#include "neurona/core/device_backend.h"

namespace neurona {

/// The backend for a device type, or nullptr when it is not built in.
DeviceBackend* backend_for(DeviceType type);

/// Copies bytes between devices through the right backend.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device,
                std::size_t nbytes);

}  // namespace neurona
