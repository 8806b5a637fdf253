// Device names, the default device and its NEURONA_DEVICE override.
#include "neurona/core/device.h"

#include <charconv>
#include <cstdlib>
#include <mutex>
#include <optional>

#include "neurona/core/backend.h"
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

}  // namespace neurona
