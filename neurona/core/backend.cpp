// The backend table and the CPU backend. The CUDA backend joins the table the first time any
// backend is looked up (a call, so that static-library linking cannot drop it).
#include "neurona/core/backend.h"

#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>

#include "neurona/config.h"
#include "neurona/core/capture.h"
#include "neurona/core/error.h"
#if NEURONA_WITH_CUDA
#include "neurona/core/cuda/cuda_backend.h"
#endif

namespace neurona {

namespace {

// Host memory is cached like GPU memory: a large buffer freed and allocated again every step
// would otherwise go back to the kernel and be faulted in anew (about 10% of a 1024^3 SGEMM
// on the build machine). Sanitizer builds allocate plainly so that AddressSanitizer sees
// every free.
std::unique_ptr<Allocator> make_cpu_allocator() {
#if NEURONA_PLAIN_CPU_ALLOCATOR
  return std::make_unique<CpuAllocator>();
#else
  return std::make_unique<CachingAllocator>(
      "cpu", [](std::size_t n) { return std::aligned_alloc(CpuAllocator::kAlignment, n); },
      [](void* p) { std::free(p); });
#endif
}

class CpuBackend final : public DeviceBackend {
 public:
  int device_count() override { return 1; }
  // The first "model name" line of /proc/cpuinfo, read once.
  std::string device_name(int /*index*/) override {
    static const std::string name = [] {
      std::ifstream cpuinfo("/proc/cpuinfo");
      std::string line;
      while (std::getline(cpuinfo, line)) {
        if (!line.starts_with("model name")) continue;
        const auto colon = line.find(':');
        if (colon == std::string::npos) break;
        const auto start = line.find_first_not_of(" \t", colon + 1);
        if (start != std::string::npos) return line.substr(start);
      }
      return std::string("CPU");
    }();
    return name;
  }
  Allocator& allocator(int /*index*/) override { return *allocator_; }
  void copy(void* dst, Device, const void* src, Device, std::size_t nbytes) override {
    if (nbytes) std::memcpy(dst, src, nbytes);
  }
  void synchronize(int) override {}

 private:
  std::unique_ptr<Allocator> allocator_ = make_cpu_allocator();
};

std::array<DeviceBackend*, 2> g_backends{};

void initialize_backends() {
  static std::once_flag once;
  std::call_once(once, [] {
    // Leaked on purpose: tensors in static objects may outlive any destructor order.
    g_backends[static_cast<int>(DeviceType::cpu)] = new CpuBackend();
#if NEURONA_WITH_CUDA
    g_backends[static_cast<int>(DeviceType::cuda)] = &cuda::backend();
#endif
  });
}

}  // namespace

DeviceBackend* backend_for(DeviceType type) {
  initialize_backends();
  return g_backends[static_cast<int>(type)];
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device,
                std::size_t nbytes) {
  if (nbytes == 0) return;
  const Device d = dst_device.is_cuda() ? dst_device : src_device;
  DeviceBackend* b = backend_for(d.type());
  NEURONA_CHECK(b != nullptr, ValueError, "copy: no backend for ", d);
  // Waits while another thread captures on either device (core/graph.h).
  const detail::DeviceWorkGuard guard(dst_device, src_device);
  if (const detail::CaptureState* capture = detail::current_capture(); capture != nullptr) {
    NEURONA_CHECK(capture->record_calls || (dst_device.is_cuda() && src_device.is_cuda()),
                  ValueError, "copy: a copy between ", src_device, " and ", dst_device,
                  " cannot be captured in a graph (copy the host's data before the capture)");
  }
  if (detail::record_call(d, [=] { b->copy(dst, dst_device, src, src_device, nbytes); })) return;
  b->copy(dst, dst_device, src, src_device, nbytes);
}

}  // namespace neurona
