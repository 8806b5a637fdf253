// The NCCL communicator (distribution/distribution.h's nccl_communicator): collectives over the
// GPU tensors of one device per process, on neurona's stream for that device, with NCCL loaded
// at run time (libnccl.so.2) so that a binary runs where NCCL is absent until it is asked for.
// Built with the CUDA backend only.
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "neurona/core/cuda/context.h"
#include "neurona/core/error.h"
#include "neurona/distribution/distribution.h"
#include "neurona/kernels/array.h"
#include "neurona/kernels/elementwise.h"

namespace neurona::distribution {

namespace {

// The NCCL functions neurona calls, from libnccl.so.2.
struct NcclApi {
  decltype(&ncclGetUniqueId) get_unique_id = nullptr;
  decltype(&ncclCommInitRank) comm_init_rank = nullptr;
  decltype(&ncclAllReduce) all_reduce = nullptr;
  decltype(&ncclBroadcast) broadcast = nullptr;
  decltype(&ncclCommAbort) comm_abort = nullptr;
  decltype(&ncclCommDestroy) comm_destroy = nullptr;
  decltype(&ncclCommGetAsyncError) comm_get_async_error = nullptr;
  decltype(&ncclGetErrorString) get_error_string = nullptr;
  std::string error;  // why it did not load
};

const NcclApi& nccl_api() {
  static const NcclApi api = [] {
    NcclApi a;
    void* lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      const char* why = dlerror();
      a.error = why != nullptr ? why : "dlopen(libnccl.so.2) failed";
      return a;
    }
    // Kept loaded for the process's life.
    const auto get = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
      if (fn == nullptr && a.error.empty()) a.error = detail::str("libnccl.so.2 lacks ", name);
    };
    get(a.get_unique_id, "ncclGetUniqueId");
    get(a.comm_init_rank, "ncclCommInitRank");
    get(a.all_reduce, "ncclAllReduce");
    get(a.broadcast, "ncclBroadcast");
    get(a.comm_abort, "ncclCommAbort");
    get(a.comm_destroy, "ncclCommDestroy");
    get(a.comm_get_async_error, "ncclCommGetAsyncError");
    get(a.get_error_string, "ncclGetErrorString");
    return a;
  }();
  return api;
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(std::shared_ptr<Communicator> bootstrap, Device device, double timeout)
      : api_(nccl_api()), bootstrap_(std::move(bootstrap)), device_(device), timeout_(timeout) {
    NEURONA_CHECK(api_.error.empty(), NotImplementedError,
                  "distribution: NCCL cannot be loaded: ", api_.error);
    NEURONA_CHECK(device.is_cuda(), ValueError, "distribution: nccl_communicator needs a GPU, got ",
                  device);
    NEURONA_CHECK(bootstrap_ != nullptr, ValueError,
                  "distribution: nccl_communicator needs a bootstrap communicator");
    // Rank 0's unique id reaches every rank through the bootstrap (MPI).
    ncclUniqueId id{};
    if (bootstrap_->rank() == 0) check(api_.get_unique_id(&id), "ncclGetUniqueId");
    std::vector<std::uint8_t> bytes(sizeof id);
    std::memcpy(bytes.data(), &id, sizeof id);
    bootstrap_->broadcast_bytes(bytes, 0);
    std::memcpy(&id, bytes.data(), sizeof id);
    const cuda::DeviceGuard guard(device.index());
    check(api_.comm_init_rank(&comm_, bootstrap_->size(), id, bootstrap_->rank()),
          "ncclCommInitRank");
  }

  ~NcclCommunicator() override {
    if (comm_ != nullptr) api_.comm_destroy(comm_);
  }

  int rank() const override { return bootstrap_->rank(); }
  int size() const override { return bootstrap_->size(); }
  std::string name() const override { return "nccl"; }
  void barrier() override { bootstrap_->barrier(); }
  void broadcast_bytes(std::vector<std::uint8_t>& bytes, int root) override {
    bootstrap_->broadcast_bytes(bytes, root);
  }
  void set_timeout(double seconds) override {
    NEURONA_CHECK(seconds > 0, ValueError, "distribution: the timeout must be positive, got ",
                  seconds);
    timeout_ = seconds;
    bootstrap_->set_timeout(seconds);
  }

  void all_reduce_sum(std::vector<Tensor>& tensors) override {
    collective(tensors, "all_reduce_sum", [&](const Tensor& flat, ncclDataType_t type) {
      const cuda::DeviceGuard guard(device_.index());
      check(api_.all_reduce(flat.raw_data(), flat.raw_data(), static_cast<size_t>(flat.numel()),
                            type, ncclSum, comm_, stream()),
            "ncclAllReduce");
    });
  }

  void broadcast(std::vector<Tensor>& tensors, int root) override {
    NEURONA_CHECK(root >= 0 && root < size(), ValueError, "distribution: broadcast from rank ",
                  root, " in a job of ", size());
    collective(tensors, "broadcast", [&](const Tensor& flat, ncclDataType_t type) {
      const cuda::DeviceGuard guard(device_.index());
      check(api_.broadcast(flat.raw_data(), flat.raw_data(), static_cast<size_t>(flat.numel()),
                           type, root, comm_, stream()),
            "ncclBroadcast");
    });
  }

 private:
  cudaStream_t stream() const { return cuda::context(device_.index()).stream(); }

  void check(ncclResult_t r, const char* call) const {
    if (r == ncclSuccess) return;
    throw Error(detail::str("distribution: ", call, " failed: ", api_.get_error_string(r)));
  }

  // Runs `fn` on one flat device buffer per dtype (float64, and float32 for the others), the
  // CPU tensors going through the bootstrap; waits for the collective (or aborts, after the
  // timeout or on NCCL's asynchronous error); the tensors become views of the results.
  template <typename Fn>
  void collective(std::vector<Tensor>& tensors, const char* op, Fn&& fn) {
    std::vector<Tensor> host;
    std::vector<std::size_t> host_at;
    std::vector<std::size_t> doubles, floats;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const Tensor& t = tensors[i];
      NEURONA_CHECK(t.defined() && is_floating(t.dtype()), ValueError, "distribution: ", op,
                    " takes floating tensors, got ",
                    t.defined() ? detail::str(t.dtype(), " of shape ", t.shape())
                                : std::string("an undefined tensor"));
      if (t.device().is_cpu()) {
        host.push_back(t);
        host_at.push_back(i);
        continue;
      }
      NEURONA_CHECK(t.device() == device_, ValueError, "distribution: ", op, ": a tensor on ",
                    t.device(), " for the communicator of ", device_);
      (t.dtype() == DType::float64 ? doubles : floats).push_back(i);
    }
    if (!host.empty()) {
      if (std::string(op) == "broadcast") {
        throw NotImplementedError(
            "distribution: the NCCL communicator broadcasts GPU tensors only");
      }
      bootstrap_->all_reduce_sum(host);
      for (std::size_t k = 0; k < host.size(); ++k) tensors[host_at[k]] = host[k];
    }
    for (const auto& [group, dtype, type] : {std::tuple{&doubles, DType::float64, ncclFloat64},
                                             std::tuple{&floats, DType::float32, ncclFloat32}}) {
      if (group->empty()) continue;
      std::vector<Tensor> parts;
      for (std::size_t i : *group) {
        const Tensor& t = tensors[i];
        const Tensor flat = t.reshape({t.numel()});
        parts.push_back(t.dtype() == dtype ? flat : kernels::cast(flat, dtype));
      }
      // A fresh buffer even for one tensor: the collective writes in place.
      const Tensor flat = parts.size() == 1 ? parts[0].clone() : kernels::concat(parts, 0);
      if (flat.numel() > 0) {
        fn(flat, type);
        wait(op);
      }
      std::int64_t at = 0;
      for (std::size_t i : *group) {
        Tensor& t = tensors[i];
        const std::int64_t n = t.numel();
        Tensor result = flat.slice(at, at + n).reshape(t.shape());
        t = t.dtype() == dtype ? result : kernels::cast(result, t.dtype());
        at += n;
      }
    }
  }

  // Waits for the work queued on the stream, polling NCCL's asynchronous error; a collective
  // that a dead or silent rank keeps from finishing is aborted after timeout_ seconds.
  void wait(const char* op) {
    const cuda::DeviceGuard guard(device_.index());
    cudaEvent_t done = nullptr;
    if (cudaEventCreateWithFlags(&done, cudaEventDisableTiming) != cudaSuccess ||
        cudaEventRecord(done, stream()) != cudaSuccess) {
      if (done != nullptr) cudaEventDestroy(done);
      throw Error(detail::str("distribution: ", op, ": cannot record a CUDA event"));
    }
    const auto start = std::chrono::steady_clock::now();
    std::string failure;
    for (;;) {
      const cudaError_t q = cudaEventQuery(done);
      if (q == cudaSuccess) break;
      if (q != cudaErrorNotReady) {
        failure = detail::str("the GPU reported ", cudaGetErrorString(q));
        break;
      }
      ncclResult_t async = ncclSuccess;
      api_.comm_get_async_error(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        failure = detail::str("NCCL reported ", api_.get_error_string(async));
        break;
      }
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited > timeout_) {
        failure =
            detail::str("it did not finish in ", timeout_, " s (a rank died or stopped answering)");
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    cudaEventDestroy(done);
    if (failure.empty()) return;
    api_.comm_abort(comm_);
    comm_ = nullptr;
    throw Error(detail::str("distribution: NCCL ", op, " on rank ", rank(), " of ", size(),
                            " failed: ", failure, "; the communicator is aborted"));
  }

  const NcclApi& api_;
  std::shared_ptr<Communicator> bootstrap_;
  Device device_;
  double timeout_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

bool nccl_available() {
  return nccl_api().error.empty();
}

std::shared_ptr<Communicator> nccl_communicator(std::shared_ptr<Communicator> bootstrap,
                                                Device device, double timeout_seconds) {
  return std::make_shared<NcclCommunicator>(std::move(bootstrap), device, timeout_seconds);
}

}  // namespace neurona::distribution
