// Per-op tables of kernel function pointers by device (PyTorch's DispatchStub, much reduced).
// The CPU and CUDA translation units fill them at first use; a front door calls
// `stub.get(device)(args...)`. A missing entry throws `no CUDA kernel for <op>`. While tests
// emulate graph capture on the CPU (core/graph.h), the call is recorded with copies of its
// arguments instead of run.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

#include "neurona/core/capture.h"
#include "neurona/core/device.h"
#include "neurona/core/error.h"
#include "neurona/core/tensor.h"

namespace neurona::kernels {

/// Fills every stub with the kernels compiled into this build (once; thread-safe).
void ensure_kernels_registered();

/// A kernel of one device, ready to call: `stub.get(d)(args...)`.
template <typename Fn>
struct KernelCall {
  Fn fn;
  Device device;

  template <typename... Args>
  void operator()(Args&&... args) const {
    // Waits while another thread captures on this device (its stream would take our work).
    const detail::DeviceWorkGuard guard(device);
    // Only the CPU's emulated capture records calls (a CUDA capture records what the kernel
    // queues on the stream), so only then are the arguments copied into a closure.
    if (detail::CaptureState* capture = detail::recording_capture(device); capture != nullptr) {
      capture->calls.push_back([f = fn, ... a = std::decay_t<Args>(args)]() mutable { f(a...); });
      return;
    }
    fn(std::forward<Args>(args)...);
  }
};

template <typename Fn>
struct DispatchStub {
  const char* name;
  Fn cpu = nullptr;
  Fn cuda = nullptr;

  KernelCall<Fn> get(Device d) const {
    ensure_kernels_registered();
    Fn f = d.is_cpu() ? cpu : cuda;
    NEURONA_CHECK(f != nullptr, NotImplementedError, "no ", d.is_cpu() ? "CPU" : "CUDA",
                  " kernel for ", name);
    return {f, d};
  }
  /// Whether `d` has the kernel (for ops that only some devices fuse).
  bool has(Device d) const {
    ensure_kernels_registered();
    return (d.is_cpu() ? cpu : cuda) != nullptr;
  }
};

}  // namespace neurona::kernels
