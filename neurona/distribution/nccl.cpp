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
#include <tuple>
#include <utility>

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
  // Since NCCL 2.14; without them the communicator is a blocking one.
  decltype(&ncclCommInitRankConfig) comm_init_rank_config = nullptr;
  decltype(&ncclCommFinalize) comm_finalize = nullptr;
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
    const auto get_optional = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
    };
    get_optional(a.comm_init_rank_config, "ncclCommInitRankConfig");
    get_optional(a.comm_finalize, "ncclCommFinalize");
    if (a.comm_init_rank_config == nullptr || a.comm_finalize == nullptr) {
      a.comm_init_rank_config = nullptr;
      a.comm_finalize = nullptr;
    }
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
    NEURONA_CHECK(timeout > 0, ValueError, "distribution: the timeout must be positive, got ",
                  timeout);
    // Rank 0's unique id reaches every rank through the bootstrap (MPI).
    ncclUniqueId id{};
    if (bootstrap_->rank() == 0) check(api_.get_unique_id(&id), "ncclGetUniqueId");
    std::vector<std::uint8_t> bytes(sizeof id);
    std::memcpy(bytes.data(), &id, sizeof id);
    bootstrap_->broadcast_bytes(bytes, 0);
    std::memcpy(&id, bytes.data(), sizeof id);
    const cuda::DeviceGuard guard(device.index());
    if (api_.comm_init_rank_config != nullptr) {
      // A nonblocking communicator: NCCL connects the ranks in the background while settle()
      // polls with the timeout, so that a rank that died after the id's broadcast, or never
      // comes, ends the wait with an error instead of a hang (ncclCommInitRank cannot be
      // interrupted).
      ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
      config.blocking = 0;
      settle(
          api_.comm_init_rank_config(&comm_, bootstrap_->size(), id, bootstrap_->rank(), &config),
          "ncclCommInitRankConfig");
    } else {
      check(api_.comm_init_rank(&comm_, bootstrap_->size(), id, bootstrap_->rank()),
            "ncclCommInitRank");
    }
  }

  ~NcclCommunicator() override {
    if (comm_ != nullptr && api_.comm_finalize != nullptr) {
      // A nonblocking communicator is finalized (its work flushed, polled until quiescent: the
      // other ranks' finalize too) before it is destroyed; one that does not settle in time (a
      // rank leaving alone, after an error of its own, waits out the timeout) is aborted by
      // settle().
      try {
        settle(api_.comm_finalize(comm_), "ncclCommFinalize");
      } catch (const Error&) {  // NOLINT(bugprone-empty-catch): aborted, comm_ is null
      }
    }
    if (comm_ != nullptr) api_.comm_destroy(comm_);
    if (comm_stream_ != nullptr) cudaStreamDestroy(comm_stream_);
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
    check_alive("all_reduce_sum");
    collective(tensors, "all_reduce_sum", 0, [&](const Tensor& flat, ncclDataType_t type) {
      const cuda::DeviceGuard guard(device_.index());
      settle(api_.all_reduce(flat.raw_data(), flat.raw_data(), static_cast<size_t>(flat.numel()),
                             type, ncclSum, comm_, stream()),
             "ncclAllReduce");
    });
  }

  std::unique_ptr<PendingAllReduce> start_all_reduce_sum(std::vector<Tensor> tensors) override {
    check_alive("all_reduce_sum");
    return std::make_unique<Pending>(*this, std::move(tensors));
  }

  void broadcast(std::vector<Tensor>& tensors, int root) override {
    NEURONA_CHECK(root >= 0 && root < size(), ValueError, "distribution: broadcast from rank ",
                  root, " in a job of ", size());
    check_alive("broadcast");
    collective(tensors, "broadcast", root, [&](const Tensor& flat, ncclDataType_t type) {
      const cuda::DeviceGuard guard(device_.index());
      settle(api_.broadcast(flat.raw_data(), flat.raw_data(), static_cast<size_t>(flat.numel()),
                            type, root, comm_, stream()),
             "ncclBroadcast");
    });
  }

 private:
  cudaStream_t stream() const { return cuda::context(device_.index()).stream(); }

  // The stream the started all-reduces run on, beside neurona's (made at the first one).
  cudaStream_t comm_stream() {
    if (comm_stream_ == nullptr) {
      const cuda::DeviceGuard guard(device_.index());
      NEURONA_CHECK(cudaStreamCreateWithFlags(&comm_stream_, cudaStreamNonBlocking) == cudaSuccess,
                    Error, "distribution: cannot create a CUDA stream for NCCL on ", device_);
    }
    return comm_stream_;
  }

  static cudaEvent_t record_event(cudaStream_t on, const char* op) {
    cudaEvent_t e = nullptr;
    if (cudaEventCreateWithFlags(&e, cudaEventDisableTiming) != cudaSuccess ||
        cudaEventRecord(e, on) != cudaSuccess) {
      if (e != nullptr) cudaEventDestroy(e);
      throw Error(detail::str("distribution: ", op, ": cannot record a CUDA event"));
    }
    return e;
  }

  // A started all-reduce: the CPU tensors' through the bootstrap's own started one; the GPU
  // tensors' as one flat buffer per dtype, made on neurona's stream, summed by NCCL on
  // comm_stream() once that buffer is ready, so that neurona's stream goes on with the backward
  // pass meanwhile. wait() waits for NCCL (polling its asynchronous error, with the timeout),
  // then neurona's stream waits for it too before the sums are cut out of the buffers.
  class Pending final : public PendingAllReduce {
   public:
    Pending(NcclCommunicator& nccl, std::vector<Tensor> tensors)
        : nccl_(nccl), tensors_(std::move(tensors)) {
      std::vector<Tensor> host;
      std::vector<std::size_t> doubles, floats;
      for (std::size_t i = 0; i < tensors_.size(); ++i) {
        const Tensor& t = tensors_[i];
        nccl_.check_tensor(t, "all_reduce_sum");
        if (t.device().is_cpu()) {
          host.push_back(t);
          host_at_.push_back(i);
        } else {
          (t.dtype() == DType::float64 ? doubles : floats).push_back(i);
        }
      }
      if (!host.empty()) host_ = nccl_.bootstrap_->start_all_reduce_sum(std::move(host));
      const cuda::DeviceGuard guard(nccl_.device_.index());
      for (const auto& [members, dtype, type] :
           {std::tuple{&doubles, DType::float64, ncclFloat64},
            std::tuple{&floats, DType::float32, ncclFloat32}}) {
        if (members->empty()) continue;
        // The group holds the buffer from here on: its destructor waits for `done` first.
        Group& g = groups_.emplace_back(*members, dtype, nccl_.flatten(tensors_, *members, dtype));
        if (g.flat.numel() == 0) continue;
        const cudaEvent_t made = record_event(nccl_.stream(), "all_reduce_sum");
        const cudaStream_t comm = nccl_.comm_stream();
        const bool waits = cudaStreamWaitEvent(comm, made, 0) == cudaSuccess;
        cudaEventDestroy(made);
        NEURONA_CHECK(waits, Error, "distribution: all_reduce_sum: cannot order the NCCL stream");
        try {
          nccl_.settle(nccl_.api_.all_reduce(g.flat.raw_data(), g.flat.raw_data(),
                                             static_cast<size_t>(g.flat.numel()), type, ncclSum,
                                             nccl_.comm_, comm),
                       "ncclAllReduce");
          g.done = record_event(comm, "all_reduce_sum");
        } catch (...) {
          // NCCL may be writing the buffer (enqueued before settle() gave up, or with no event
          // after it) and nothing marks its end: abort the communicator (which ends its
          // kernels; settle() has already) and wait for the stream before the buffer can go.
          nccl_.abort();
          cudaStreamSynchronize(comm);
          throw;
        }
      }
    }
    ~Pending() override {
      // NCCL must be done with the buffers before they go.
      if (!waited_) {
        try {
          (void)wait();
        } catch (...) {  // NOLINT(bugprone-empty-catch): the communicator is aborted already
        }
      }
    }
    std::vector<Tensor> wait() override {
      waited_ = true;
      if (host_) {
        std::vector<Tensor> sums = host_->wait();
        for (std::size_t k = 0; k < sums.size(); ++k) tensors_[host_at_[k]] = sums[k];
      }
      for (Group& g : groups_) {
        if (g.done != nullptr) {
          // Throws after aborting the communicator: the groups' destructors then wait for
          // their events (NCCL's kernels end with the abort) before the buffers go.
          nccl_.wait_event(g.done, "all_reduce_sum");
          const cuda::DeviceGuard guard(nccl_.device_.index());
          const bool waits = cudaStreamWaitEvent(nccl_.stream(), g.done, 0) == cudaSuccess;
          cudaEventDestroy(std::exchange(g.done, nullptr));
          NEURONA_CHECK(waits, Error, "distribution: all_reduce_sum: cannot order the stream");
        }
        nccl_.unflatten(g.flat, tensors_, g.members, g.dtype);
      }
      return std::move(tensors_);
    }

   private:
    // One dtype's flat buffer and the event that marks NCCL's end with it (owned).
    struct Group {
      std::vector<std::size_t> members;
      DType dtype;
      Tensor flat;
      cudaEvent_t done = nullptr;

      Group(std::vector<std::size_t> m, DType d, Tensor f)
          : members(std::move(m)), dtype(d), flat(std::move(f)) {}
      Group(Group&& o) noexcept
          : members(std::move(o.members)),
            dtype(o.dtype),
            flat(std::move(o.flat)),
            done(std::exchange(o.done, nullptr)) {}
      Group(const Group&) = delete;
      Group& operator=(const Group&) = delete;
      Group& operator=(Group&&) = delete;
      // The buffer goes only once NCCL is done with it (on an error path: a wait() that threw,
      // or a constructor that did).
      ~Group() {
        if (done != nullptr) {
          cudaEventSynchronize(done);
          cudaEventDestroy(done);
        }
      }
    };
    NcclCommunicator& nccl_;
    std::vector<Tensor> tensors_;
    std::unique_ptr<PendingAllReduce> host_;
    std::vector<std::size_t> host_at_;
    std::vector<Group> groups_;
    bool waited_ = false;
  };

  void check_tensor(const Tensor& t, const char* op) const {
    NEURONA_CHECK(t.defined() && is_floating(t.dtype()), ValueError, "distribution: ", op,
                  " takes floating tensors, got ",
                  t.defined() ? detail::str(t.dtype(), " of shape ", t.shape())
                              : std::string("an undefined tensor"));
    NEURONA_CHECK(t.device().is_cpu() || t.device() == device_, ValueError, "distribution: ", op,
                  ": a tensor on ", t.device(), " for the communicator of ", device_);
  }

  // The tensors `members` of `tensors` as one fresh flat buffer of `dtype` (the collective
  // writes in place), and back: each tensor becomes a view of its part, in its own dtype.
  static Tensor flatten(const std::vector<Tensor>& tensors, const std::vector<std::size_t>& members,
                        DType dtype) {
    std::vector<Tensor> parts;
    for (std::size_t i : members) {
      const Tensor& t = tensors[i];
      const Tensor flat = t.reshape({t.numel()});
      parts.push_back(t.dtype() == dtype ? flat : kernels::cast(flat, dtype));
    }
    return parts.size() == 1 ? parts[0].clone() : kernels::concat(parts, 0);
  }
  static void unflatten(const Tensor& flat, std::vector<Tensor>& tensors,
                        const std::vector<std::size_t>& members, DType dtype) {
    std::int64_t at = 0;
    for (std::size_t i : members) {
      Tensor& t = tensors[i];
      const std::int64_t n = t.numel();
      Tensor result = flat.slice(at, at + n).reshape(t.shape());
      t = t.dtype() == dtype ? result : kernels::cast(result, t.dtype());
      at += n;
    }
  }

  // After a failed collective the communicator is aborted: later calls say so.
  void check_alive(const char* op) const {
    NEURONA_CHECK(comm_ != nullptr, Error, "distribution: NCCL ", op, " on rank ", rank(),
                  ": the communicator was aborted after an earlier collective failed");
  }
  // Aborts the communicator (ending NCCL's kernels); later collectives throw (check_alive).
  void abort() {
    if (comm_ == nullptr) return;
    api_.comm_abort(comm_);
    comm_ = nullptr;
  }

  void check(ncclResult_t r, const char* call) const {
    if (r == ncclSuccess) return;
    throw Error(detail::str("distribution: ", call, " failed: ", api_.get_error_string(r)));
  }

  // Calls `done` until it returns true, every 200 us, for at most timeout_ seconds; false when
  // the time ran out first. The two waits on the communicator (settle, wait_event) poll so.
  template <typename Done>
  bool poll(Done&& done) const {
    const auto start = std::chrono::steady_clock::now();
    while (!done()) {
      const double waited =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (waited > timeout_) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return true;
  }

  // The result of a call on the communicator. On a nonblocking one a call may return
  // ncclInProgress before it has done its work (the init: connected the ranks; a collective:
  // enqueued its kernels, so that an event recorded after it would not follow them): its state
  // (ncclCommGetAsyncError) is polled until it settles, for at most timeout_ seconds. A call
  // that fails or does not settle in time aborts the communicator and throws Error naming it.
  void settle(ncclResult_t r, const char* call) {
    const bool in_time = poll([&] {
      if (r != ncclInProgress || comm_ == nullptr) return true;  // no communicator: a failure
      const ncclResult_t queried = api_.comm_get_async_error(comm_, &r);
      if (queried != ncclSuccess) r = queried;
      return r != ncclInProgress;
    });
    if (!in_time) {
      abort();
      throw Error(detail::str("distribution: ", call, " on rank ", rank(), " of ", size(),
                              " did not finish in ", timeout_,
                              " s (a rank died or stopped answering); the communicator is "
                              "aborted"));
    }
    if (r == ncclSuccess) return;
    abort();
    throw Error(detail::str("distribution: ", call, " on rank ", rank(), " of ", size(),
                            " failed: ", api_.get_error_string(r),
                            "; the communicator is aborted"));
  }

  // Runs `fn` on one flat device buffer per dtype (float64, and float32 for the others), the
  // CPU tensors going through the bootstrap (broadcast from `root`, or summed); waits for the
  // collective (or aborts, after the timeout or on NCCL's asynchronous error); the tensors
  // become views of the results.
  template <typename Fn>
  void collective(std::vector<Tensor>& tensors, const char* op, int root, Fn&& fn) {
    std::vector<Tensor> host;
    std::vector<std::size_t> host_at;
    std::vector<std::size_t> doubles, floats;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const Tensor& t = tensors[i];
      check_tensor(t, op);
      if (t.device().is_cpu()) {
        host.push_back(t);
        host_at.push_back(i);
        continue;
      }
      (t.dtype() == DType::float64 ? doubles : floats).push_back(i);
    }
    if (!host.empty()) {
      if (std::string(op) == "broadcast") {
        bootstrap_->broadcast(host, root);
      } else {
        bootstrap_->all_reduce_sum(host);
      }
      for (std::size_t k = 0; k < host.size(); ++k) tensors[host_at[k]] = host[k];
    }
    for (const auto& [group, dtype, type] : {std::tuple{&doubles, DType::float64, ncclFloat64},
                                             std::tuple{&floats, DType::float32, ncclFloat32}}) {
      if (group->empty()) continue;
      const Tensor flat = flatten(tensors, *group, dtype);
      if (flat.numel() > 0) {
        fn(flat, type);
        const cuda::DeviceGuard guard(device_.index());
        wait_event(record_event(stream(), op), op, /*destroy=*/true);
      }
      unflatten(flat, tensors, *group, dtype);
    }
  }

  // Waits for `done` (recorded after a collective), polling NCCL's asynchronous error; a
  // collective that a dead or silent rank keeps from finishing is aborted after timeout_
  // seconds. Destroys the event where asked.
  void wait_event(cudaEvent_t done, const char* op, bool destroy = false) {
    const cuda::DeviceGuard guard(device_.index());
    std::string failure;
    const bool in_time = poll([&] {
      const cudaError_t q = cudaEventQuery(done);
      if (q == cudaSuccess) return true;
      if (q != cudaErrorNotReady) {
        failure = detail::str("the GPU reported ", cudaGetErrorString(q));
        return true;
      }
      ncclResult_t async = ncclSuccess;
      if (comm_ != nullptr) api_.comm_get_async_error(comm_, &async);
      if (async != ncclSuccess && async != ncclInProgress) {
        failure = detail::str("NCCL reported ", api_.get_error_string(async));
        return true;
      }
      return false;
    });
    if (!in_time) {
      failure =
          detail::str("it did not finish in ", timeout_, " s (a rank died or stopped answering)");
    }
    if (destroy) cudaEventDestroy(done);
    if (failure.empty()) return;
    abort();
    throw Error(detail::str("distribution: NCCL ", op, " on rank ", rank(), " of ", size(),
                            " failed: ", failure, "; the communicator is aborted"));
  }

  const NcclApi& api_;
  std::shared_ptr<Communicator> bootstrap_;
  Device device_;
  double timeout_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t comm_stream_ = nullptr;
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
