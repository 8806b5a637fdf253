// The CUDA backend: device discovery, the caching allocator over cudaMalloc, copies, and the
// per-device stream and library handles. Any failure of cudaGetDeviceCount (no driver, a
// driver too old, no GPU) means "no GPU", never an error.
#include <array>
#include <memory>
#include <mutex>
#include <vector>

#include "neurona/core/allocator.h"
#include "neurona/core/backend.h"
#include "neurona/core/cuda/check.h"
#include "neurona/core/cuda/context.h"
#include "neurona/core/graph.h"

namespace neurona::cuda {

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  throw Error(detail::str(call, " failed: ", cudaGetErrorName(err), " (", cudaGetErrorString(err),
                          ") at ", file, ":", line));
}

void throw_cublas_error(cublasStatus_t st, const char* call, const char* file, int line) {
  throw Error(detail::str(call, " failed: ", cublasGetStatusName(st), " (",
                          cublasGetStatusString(st), ") at ", file, ":", line));
}

void throw_cudnn_error(cudnnStatus_t st, const char* call, const char* file, int line) {
  throw Error(detail::str(call, " failed: ", cudnnGetErrorString(st), " (status ",
                          static_cast<int>(st), ") at ", file, ":", line));
}

void check_launch(const char* kernel_name, const char* file, int line) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    throw Error(detail::str("launch of ", kernel_name, " failed: ", cudaGetErrorName(err), " (",
                            cudaGetErrorString(err), ") at ", file, ":", line));
  }
}

DeviceGuard::DeviceGuard(int index) {
  NEURONA_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != index) {
    NEURONA_CUDA_CHECK(cudaSetDevice(index));
    changed_ = true;
  }
}

DeviceGuard::~DeviceGuard() {
  if (changed_) (void)cudaSetDevice(previous_);
}

Context::Context(int index) : index_(index) {
  DeviceGuard guard(index);
  NEURONA_CUDA_CHECK(cudaGetDeviceProperties(&props_, index));
  NEURONA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}

Context::~Context() {
  // Contexts live until exit, when the driver may already be shutting down: ignore errors.
  if (cublas_) (void)cublasDestroy(cublas_);
  if (cublas_lt_) (void)cublasLtDestroy(cublas_lt_);
  if (cudnn_) (void)cudnnDestroy(cudnn_);
  if (cublas_workspace_) (void)cudaFree(cublas_workspace_);
  if (stream_) (void)cudaStreamDestroy(stream_);
}

cublasHandle_t Context::cublas() {
  std::call_once(cublas_once_, [this] {
    DeviceGuard guard(index_);
    NEURONA_CUBLAS_CHECK(cublasCreate(&cublas_));
    NEURONA_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
    // A workspace of our own (cuBLAS's recommended 32 MiB on Hopper), so that a captured graph's
    // products use it rather than memory cuBLAS would allocate during the capture.
    constexpr std::size_t kWorkspace = std::size_t{32} << 20;
    NEURONA_CUDA_CHECK(cudaMalloc(&cublas_workspace_, kWorkspace));
    NEURONA_CUBLAS_CHECK(cublasSetWorkspace(cublas_, cublas_workspace_, kWorkspace));
  });
  return cublas_;
}

cublasLtHandle_t Context::cublas_lt() {
  std::call_once(cublas_lt_once_, [this] {
    DeviceGuard guard(index_);
    NEURONA_CUBLAS_CHECK(cublasLtCreate(&cublas_lt_));
  });
  return cublas_lt_;
}

cudnnHandle_t Context::cudnn() {
  std::call_once(cudnn_once_, [this] {
    DeviceGuard guard(index_);
    NEURONA_CUDNN_CHECK(cudnnCreate(&cudnn_));
    NEURONA_CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
  });
  return cudnn_;
}

namespace {

int query_device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    (void)cudaGetLastError();  // clear the sticky "no driver" error
    return 0;
  }
  return n;
}

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
  CudaBackend() : count_(query_device_count()) {
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
      contexts_.push_back(nullptr);
    }
  }

  int device_count() override { return count_; }
  Allocator& allocator(int index) override {
    return *allocators_.at(static_cast<std::size_t>(index));
  }

  Context& context(int index) {
    std::lock_guard lock(mu_);
    auto& c = contexts_.at(static_cast<std::size_t>(index));
    if (!c) c = std::make_unique<Context>(index);
    return *c;
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

  void synchronize(int index) override {
    Context& ctx = context(index);
    DeviceGuard guard(index);
    NEURONA_CUDA_CHECK(cudaStreamSynchronize(ctx.stream()));
  }

 private:
  int count_;
  std::mutex mu_;
  std::vector<std::unique_ptr<CachingAllocator>> allocators_;
  std::vector<std::unique_ptr<Context>> contexts_;
};

CudaBackend* g_cuda = nullptr;

}  // namespace

Context& context(int index) {
  (void)backend_for(DeviceType::cuda);  // registers the backend on first use
  NEURONA_CHECK(g_cuda && index >= 0 && index < g_cuda->device_count(), ValueError,
                "cuda context: device cuda:", index, " does not exist (",
                g_cuda ? g_cuda->device_count() : 0, " CUDA GPUs available)");
  return g_cuda->context(index);
}

}  // namespace neurona::cuda

namespace neurona::detail {
void register_cuda_backend() {
  // Leaked on purpose, like the CPU backend: storage may be freed during static destruction.
  cuda::g_cuda = new cuda::CudaBackend();
  register_backend(DeviceType::cuda, cuda::g_cuda);
  register_cuda_capture(cuda::capture_on);
}
}  // namespace neurona::detail
