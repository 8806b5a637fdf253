// The run-time table of device backends. The CPU backend is always there; the CUDA one is
// registered by core/cuda/ when the CUDA build is on. Code above kernels/ does not use this.
#pragma once

#include <cstddef>

#include "neurona/core/allocator.h"
#include "neurona/core/device.h"

namespace neurona {

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual int device_count() = 0;
  virtual Allocator& allocator(int index) = 0;
  /// Copies `nbytes` between any two devices of which at least one is of this backend's type.
  /// Returns once the destination holds the data when it is on the host.
  virtual void copy(void* dst, Device dst_device, const void* src, Device src_device,
                    std::size_t nbytes) = 0;
  /// Waits for all work queued on the device.
  virtual void synchronize(int index) = 0;
};

/// The backend for a device type, or nullptr when it is not built in.
DeviceBackend* backend_for(DeviceType type);

/// Copies bytes between devices through the right backend.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device,
                std::size_t nbytes);

namespace detail {
void register_backend(DeviceType type, DeviceBackend* backend);
}  // namespace detail

}  // namespace neurona
