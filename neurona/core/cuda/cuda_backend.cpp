// The CUDA backend: device discovery, the caching allocator over cudaMalloc, copies, and
// capture into CUDA graphs on each GPU's stream (core/cuda/context.h). Any failure of
// cudaGetDeviceCount (no driver, a driver too old, no GPU) means "no GPU", never an error.
#include "neurona/core/cuda/cuda_backend.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "neurona/core/allocator.h"
#include "neurona/core/capture.h"
#include "neurona/core/cuda/check.h"
#include "neurona/core/cuda/context.h"

namespace neurona::cuda {

namespace {

// A CUDA graph captured from the device's stream, replayed there.
class CudaGraph final : public CapturedGraph {
 public:
  CudaGraph(cudaGraphExec_t exec, cudaStream_t stream, int index)
      : exec_(exec), stream_(stream), index_(index) {}
  ~CudaGraph() override {
    // A replay may still run: let it finish before the graph and the storage it writes go
    // (never throws: the stream's device need not be current to wait for it); not while
    // another thread captures on the stream, which a synchronisation would break.
    const neurona::detail::DeviceWorkGuard work(Device::cuda(index_));
    (void)cudaStreamSynchronize(stream_);
    (void)cudaGraphExecDestroy(exec_);
  }

 private:
  void run() override {
    DeviceGuard guard(index_);
    NEURONA_CUDA_CHECK(cudaGraphLaunch(exec_, stream_));
  }

  cudaGraphExec_t exec_;
  cudaStream_t stream_;
  int index_;
};

// Relaxed mode: the caching allocator may still cudaMalloc a new block during the capture (not
// a stream operation), which the global mode would refuse.
std::unique_ptr<CapturedGraph> capture_on(int index, const std::function<void()>& fn) {
  Context& ctx = context(index);
  DeviceGuard guard(index);
  NEURONA_CUDA_CHECK(cudaStreamBeginCapture(ctx.stream(), cudaStreamCaptureModeRelaxed));
  try {
    fn();
  } catch (...) {
    cudaGraph_t abandoned = nullptr;
    (void)cudaStreamEndCapture(ctx.stream(), &abandoned);
    if (abandoned != nullptr) (void)cudaGraphDestroy(abandoned);
    (void)cudaGetLastError();  // clear the capture's error, if any
    throw;
  }
  cudaGraph_t graph = nullptr;
  NEURONA_CUDA_CHECK(cudaStreamEndCapture(ctx.stream(), &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
  (void)cudaGraphDestroy(graph);
  NEURONA_CUDA_CHECK(err);
  return std::make_unique<CudaGraph>(exec, ctx.stream(), index);
}

class CudaBackend final : public DeviceBackend {
 public:
  // cuda::device_count(), not the member of the same name (count_ is not set yet).
  CudaBackend() : count_(cuda::device_count()) {
    for (int i = 0; i < count_; ++i) {
      allocators_.push_back(std::make_unique<CachingAllocator>(
          "cuda:" + std::to_string(i),
          [i](std::size_t n) -> void* {
            DeviceGuard guard(i);
            void* p = nullptr;
            const cudaError_t err = cudaMalloc(&p, n);
            if (err == cudaErrorMemoryAllocation) {
              (void)cudaGetLastError();
              return nullptr;
            }
            NEURONA_CUDA_CHECK(err);
            return p;
          },
          [i](void* p) {
            // Memory may still be read by queued work: finish it before giving memory back
            // (not while another thread captures on the device: that would break its capture).
            const neurona::detail::DeviceWorkGuard work(Device::cuda(i));
            (void)cudaSetDevice(i);
            (void)cudaDeviceSynchronize();
            (void)cudaFree(p);
          }));
    }
  }

  int device_count() override { return count_; }
  std::string device_name(int index) override { return context(index).properties().name; }
  Allocator& allocator(int index) override {
    return *allocators_.at(static_cast<std::size_t>(index));
  }

  void copy(void* dst, Device dst_device, const void* src, Device src_device,
            std::size_t nbytes) override {
    if (dst_device.is_cuda() && src_device.is_cuda() && dst_device != src_device) {
      // The source's own stream may still be writing src: let it finish first.
      synchronize(src_device.index());
      Context& ctx = context(dst_device.index());
      DeviceGuard guard(dst_device.index());
      NEURONA_CUDA_CHECK(cudaMemcpyPeerAsync(dst, dst_device.index(), src, src_device.index(),
                                             nbytes, ctx.stream()));
      NEURONA_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
      return;
    }
    const Device gpu = dst_device.is_cuda() ? dst_device : src_device;
    Context& ctx = context(gpu.index());
    DeviceGuard guard(gpu.index());
    NEURONA_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDefault, ctx.stream()));
    if (dst_device.is_cpu()) NEURONA_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
  }

  bool can_capture() const override { return true; }
  std::unique_ptr<CapturedGraph> capture(int index, const std::function<void()>& fn) override {
    return capture_on(index, fn);
  }

  void synchronize(int index) override {
    Context& ctx = context(index);
    DeviceGuard guard(index);
    NEURONA_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
  }

 private:
  int count_;
  std::vector<std::unique_ptr<CachingAllocator>> allocators_;
};

}  // namespace

DeviceBackend& backend() {
  // Leaked on purpose, like the CPU backend: storage may be freed during static destruction.
  static CudaBackend* const instance = new CudaBackend();
  return *instance;
}

}  // namespace neurona::cuda
