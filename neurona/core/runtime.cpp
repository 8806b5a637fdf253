// The devices of this process (core/runtime.h): counts, the default device and its
// NEURONA_DEVICE override, synchronisation and allocators, through the backends.
#include "neurona/core/runtime.h"

#include <cstdlib>
#include <mutex>
#include <optional>

#include "neurona/core/backend.h"
#include "neurona/core/capture.h"
#include "neurona/core/error.h"

namespace neurona {

int cuda_device_count() {
  DeviceBackend* b = backend_for(DeviceType::cuda);
  return b ? b->device_count() : 0;
}

bool cuda_built() {
  return backend_for(DeviceType::cuda) != nullptr;
}

void check_device_available(Device d, const char* op) {
  if (d.is_cpu()) return;
  NEURONA_CHECK(cuda_built(), ValueError, op, ": device ", d,
                " requested, but neurona was built without CUDA");
  const int n = cuda_device_count();
  NEURONA_CHECK(d.index() >= 0 && d.index() < n, ValueError, op, ": device ", d, " requested, but ",
                n, " CUDA GPU", n == 1 ? " is" : "s are", " available");
}

namespace detail {
Device resolve_default_device(const char* env_value, int gpu_count) {
  if (env_value && *env_value) {
    Device d;
    try {
      d = Device::parse(env_value);
    } catch (const ValueError& e) {
      throw ValueError(str("NEURONA_DEVICE: ", e.what()));
    }
    if (d.is_cuda()) {
      NEURONA_CHECK(d.index() < gpu_count, ValueError, "NEURONA_DEVICE=", env_value, " requests ",
                    d, ", but ", gpu_count, " CUDA GPU", gpu_count == 1 ? " is" : "s are",
                    " available");
    }
    return d;
  }
  return gpu_count > 0 ? Device::cuda(0) : Device::cpu();
}
}  // namespace detail

namespace {
std::mutex g_default_mu;
std::optional<Device> g_default;
}  // namespace

Device default_device() {
  std::lock_guard lock(g_default_mu);
  if (!g_default) {
    g_default = detail::resolve_default_device(std::getenv("NEURONA_DEVICE"), cuda_device_count());
  }
  return *g_default;
}

void set_default_device(Device d) {
  check_device_available(d, "set_default_device");
  std::lock_guard lock(g_default_mu);
  g_default = d;
}

void synchronize(Device d) {
  check_device_available(d, "synchronize");
  NEURONA_CHECK(detail::current_capture() == nullptr, ValueError, "synchronize: waiting for ", d,
                " during a graph capture (the captured work has "
                "not run; read results after a replay)");
  const detail::DeviceWorkGuard guard(d);
  backend_for(d.type())->synchronize(d.index());
}

Allocator& allocator_for(Device d) {
  check_device_available(d, "allocator");
  return backend_for(d.type())->allocator(d.index());
}

AllocatorStats memory_stats(Device d) {
  return allocator_for(d).stats();
}

void empty_cache(Device d) {
  allocator_for(d).empty_cache();
}

}  // namespace neurona
