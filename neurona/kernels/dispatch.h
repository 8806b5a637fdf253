// Per-op tables of kernel function pointers by device (PyTorch's DispatchStub, much reduced).
// The CPU and CUDA translation units fill them at first use; a front door calls
// `stub.get(device, dtype)(args...)` (or `stub.get(device)(args...)` for a kernel of every
// dtype). A missing entry throws `no CUDA kernel for <op>`. While tests
// emulate graph capture on the CPU (core/graph.h), the call is recorded with copies of its
// arguments instead of run.
//
// Each entry says which dtypes its kernel takes (all by default). The front door decides what
// happens to the others, once for every device: a 16-bit call runs widened to float32 (the
// inputs widened, the result rounded once, as cuBLAS and cuDNN compute 16-bit data), a fused
// op runs as its unfused ops. It then fetches the kernel with `stub.get(device, dtype)`, which
// refuses a dtype the kernel does not take (ValueError naming the op and the dtypes it takes:
// float64 on a GPU, say) rather than let it read the data as another type;
// `get(device)` is for the stubs whose kernels take every dtype (it refuses the others, so a
// front door cannot forget the check). Kernels never make that choice and never call a front
// door; a kernel that needs another op calls that op's kernel on its own device (cpu/kernels.h,
// cuda/kernels.h).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "neurona/core/capture.h"
#include "neurona/core/device.h"
#include "neurona/core/dtype.h"
#include "neurona/core/error.h"
#include "neurona/core/tensor.h"

namespace neurona::kernels {

/// Fills every stub with the kernels compiled into this build (once; thread-safe).
void ensure_kernels_registered();

/// A kernel of one device, ready to call: `stub.get(d, dtype)(args...)`.
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

/// A set of dtypes: the ones a kernel takes.
class DTypeSet {
 public:
  /// Every dtype.
  constexpr DTypeSet() = default;
  constexpr DTypeSet(std::initializer_list<DType> dtypes) : bits_(0) {
    for (DType t : dtypes) bits_ |= bit(t);
  }
  constexpr bool contains(DType t) const { return (bits_ & bit(t)) != 0; }
  /// Whether the set holds every dtype (the default).
  constexpr bool all() const { return bits_ == ~0u; }
  /// "float32, bfloat16 and float16": the set's dtypes, for messages (dispatch.cpp).
  std::string str() const;

 private:
  static constexpr std::uint32_t bit(DType t) { return 1u << static_cast<unsigned>(t); }
  std::uint32_t bits_ = ~0u;
};

/// float32 and float64: the kernels whose 16-bit calls the front door widens.
inline constexpr DTypeSet kFloat32And64{DType::float32, DType::float64};

template <typename Fn>
struct DispatchStub {
  const char* name;
  Fn cpu = nullptr;
  Fn cuda = nullptr;
  /// The dtypes each device's kernel takes (set beside the kernel where it registers).
  DTypeSet cpu_dtypes{};
  DTypeSet cuda_dtypes{};

  /// The kernel of `d`, for a stub whose kernel there takes every dtype. NotImplementedError
  /// without a kernel; std::logic_error for a stub whose kernel takes only some dtypes (a
  /// front-door bug: use get(d, dtype)).
  KernelCall<Fn> get(Device d) const {
    Fn f = kernel(d);  // registers the kernels, and with them their dtype sets
    if (!dtypes(d).all())
      throw std::logic_error(detail::str(name, ": the ", device_name(d),
                                         " kernel takes only some dtypes: fetch it with "
                                         "get(device, dtype)"));
    return {f, d};
  }
  /// The kernel of `d` for data of `dtype`: NotImplementedError without a kernel; ValueError
  /// (an argument of a dtype the device cannot compute) when the kernel does not take `dtype`,
  /// naming the op, the device, the dtype and the ones it takes.
  KernelCall<Fn> get(Device d, DType dtype) const {
    Fn f = kernel(d);
    NEURONA_CHECK(dtypes(d).contains(dtype), ValueError, name, ": ", neurona::name(dtype),
                  " data have no ", device_name(d), " kernel (", dtypes(d).str(), " do)",
                  d.is_cuda() ? "; compute them on the CPU" : "");
    return {f, d};
  }
  /// Whether `d` has the kernel (for ops that only some devices fuse).
  bool has(Device d) const {
    ensure_kernels_registered();
    return (d.is_cpu() ? cpu : cuda) != nullptr;
  }
  /// Whether `d` has the kernel and it takes `dtype`.
  bool takes(Device d, DType dtype) const { return has(d) && dtypes(d).contains(dtype); }
  /// Whether a `dtype` call on `d` runs in float32: a 16-bit dtype the kernel does not take.
  bool widens(Device d, DType dtype) const { return is_half(dtype) && !takes(d, dtype); }

 private:
  static const char* device_name(Device d) { return d.is_cpu() ? "CPU" : "CUDA"; }
  const DTypeSet& dtypes(Device d) const { return d.is_cpu() ? cpu_dtypes : cuda_dtypes; }
  Fn kernel(Device d) const {
    ensure_kernels_registered();
    Fn f = d.is_cpu() ? cpu : cuda;
    NEURONA_CHECK(f != nullptr, NotImplementedError, "no ", device_name(d), " kernel for ", name);
    return f;
  }
};

}  // namespace neurona::kernels
