// What a device backend provides (the CPU's in core/backend.cpp, CUDA's in core/cuda/): its
// devices, their allocators, copies, synchronisation and capture. An interface only, so that a
// backend depends on it and not on the table that holds the backends (core/backend.h).
// Internal to core/ and kernels/.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "neurona/core/allocator.h"
#include "neurona/core/capture.h"
#include "neurona/core/device.h"
#include "neurona/core/error.h"

namespace neurona {

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual int device_count() = 0;
  /// The device's name as its driver reports it (core/device_info.h).
  virtual std::string device_name(int index) = 0;
  virtual Allocator& allocator(int index) = 0;
  /// Copies `nbytes` between any two devices of which at least one is of this backend's type.
  /// Returns once the destination holds the data when it is on the host.
  virtual void copy(void* dst, Device dst_device, const void* src, Device src_device,
                    std::size_t nbytes) = 0;
  /// Waits for all work queued on the device.
  virtual void synchronize(int index) = 0;
  /// Whether capture() works on this backend's devices.
  virtual bool can_capture() const { return false; }
  /// Runs `fn`, capturing what it queues on device `index` into a graph instead of running it
  /// (core/graph.h's capture_graph calls it with this thread's capture state set). Throws
  /// NotImplementedError where the backend cannot capture.
  virtual std::unique_ptr<CapturedGraph> capture(int /*index*/,
                                                 const std::function<void()>& /*fn*/) {
    throw NotImplementedError("capture: this device's backend cannot capture work into a graph");
  }
};

}  // namespace neurona
