// DataParallel, the global distribution, and the MPI transport (distribution/distribution.h);
// the NCCL one is distribution/nccl.cpp. NEURONA_WITH_MPI and NEURONA_WITH_NCCL are set for this
// file only, by neurona/CMakeLists.txt, where MPI was found and where CUDA is built.
#include "neurona/distribution/distribution.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#include "neurona/core/error.h"
#include "neurona/core/runtime.h"
#include "neurona/kernels/creation.h"
#include "neurona/kernels/elementwise.h"

#if NEURONA_WITH_MPI
#include <mpi.h>
#endif

namespace neurona::distribution {

namespace {

std::mutex g_mu;
std::shared_ptr<DataParallel> g_distribution;

#if NEURONA_WITH_MPI

void check_mpi(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  throw Error(detail::str("distribution: ", call, " failed: ", std::string(text, length)));
}

bool g_we_initialized = false;

void finalize_at_exit() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (g_we_initialized && !finalized) MPI_Finalize();
}

// The host copy of a group of tensors as one flat buffer of T, and back.
template <typename T>
std::vector<T> flatten(const std::vector<Tensor*>& group, DType dtype) {
  std::size_t total = 0;
  for (const Tensor* t : group) total += static_cast<std::size_t>(t->numel());
  std::vector<T> flat(total);
  std::size_t at = 0;
  for (const Tensor* t : group) {
    Tensor host = t->to(Device::cpu());
    if (host.dtype() != dtype) host = kernels::cast(host, dtype);
    const auto n = static_cast<std::size_t>(host.numel());
    if (n) std::memcpy(flat.data() + at, host.data<T>(), n * sizeof(T));
    at += n;
  }
  return flat;
}

template <typename T>
void unflatten(const std::vector<T>& flat, const std::vector<Tensor*>& group, DType dtype) {
  std::size_t at = 0;
  for (Tensor* t : group) {
    Tensor host = Tensor::empty(t->shape(), dtype, Device::cpu());
    const auto n = static_cast<std::size_t>(host.numel());
    if (n) std::memcpy(host.data<T>(), flat.data() + at, n * sizeof(T));
    at += n;
    if (t->dtype() != dtype) host = kernels::cast(host, t->dtype());
    *t = host.to(t->device());
  }
}

// MPI counts are ints: a buffer longer than that goes in pieces.
template <typename T, typename Fn>
void in_pieces(std::vector<T>& flat, Fn&& fn) {
  constexpr std::size_t kPiece = INT_MAX / 2;
  for (std::size_t at = 0; at < flat.size(); at += kPiece) {
    fn(flat.data() + at, static_cast<int>(std::min(kPiece, flat.size() - at)));
  }
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    check_mpi(MPI_Initialized(&initialized), "MPI_Initialized");
    if (!initialized) {
      int provided = 0;
      // Only the thread that calls fit makes MPI calls.
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided),
                "MPI_Init_thread");
      g_we_initialized = true;
      // Open MPI's mpirun reports a rank that exits without MPI_Finalize as failed.
      std::atexit(finalize_at_exit);
    }
    check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
    // Errors come back as codes (and exceptions) rather than aborting the job here.
    check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string name() const override { return "mpi"; }

  // The blocking all-reduce is the started one, waited for at once: one code path.
  void all_reduce_sum(std::vector<Tensor>& tensors) override {
    tensors = start_all_reduce_sum(std::move(tensors))->wait();
  }

  std::unique_ptr<PendingAllReduce> start_all_reduce_sum(std::vector<Tensor> tensors) override {
    return std::make_unique<Pending>(*this, std::move(tensors));
  }

  void broadcast(std::vector<Tensor>& tensors, int root) override {
    NEURONA_CHECK(root >= 0 && root < size_, ValueError, "distribution: broadcast from rank ", root,
                  " in a job of ", size_);
    for_each_group(tensors, "broadcast", [&](auto& flat, MPI_Datatype type) {
      in_pieces(flat, [&](auto* data, int count) {
        MPI_Request request = MPI_REQUEST_NULL;
        check_mpi(MPI_Ibcast(data, count, type, root, comm_, &request), "MPI_Ibcast");
        wait(request, "MPI_Ibcast");
      });
    });
  }

  void barrier() override {
    MPI_Request request = MPI_REQUEST_NULL;
    check_mpi(MPI_Ibarrier(comm_, &request), "MPI_Ibarrier");
    wait(request, "MPI_Ibarrier");
  }

  void set_timeout(double seconds) override {
    NEURONA_CHECK(seconds > 0, ValueError, "distribution: the timeout must be positive, got ",
                  seconds);
    timeout_ = seconds;
  }

  void broadcast_bytes(std::vector<std::uint8_t>& bytes, int root) override {
    NEURONA_CHECK(root >= 0 && root < size_, ValueError, "distribution: broadcast from rank ", root,
                  " in a job of ", size_);
    in_pieces(bytes, [&](std::uint8_t* data, int count) {
      MPI_Request request = MPI_REQUEST_NULL;
      check_mpi(MPI_Ibcast(data, count, MPI_BYTE, root, comm_, &request), "MPI_Ibcast");
      wait(request, "MPI_Ibcast");
    });
  }

 private:
  // The float64 tensors, and the others (sent as float32); every tensor floating.
  struct Groups {
    std::vector<Tensor*> doubles, floats;
  };
  static Groups groups(std::vector<Tensor>& tensors, const char* op) {
    Groups g;
    for (Tensor& t : tensors) {
      NEURONA_CHECK(t.defined() && is_floating(t.dtype()), ValueError, "distribution: ", op,
                    " takes floating tensors, got ",
                    t.defined() ? detail::str(t.dtype(), " of shape ", t.shape())
                                : std::string("an undefined tensor"));
      (t.dtype() == DType::float64 ? g.doubles : g.floats).push_back(&t);
    }
    return g;
  }

  // A started all-reduce: the groups' host buffers and one MPI_Iallreduce per piece of each,
  // started in the same order on every rank; wait() polls them with the timeout and writes the
  // sums back.
  class Pending final : public PendingAllReduce {
   public:
    Pending(MpiCommunicator& mpi, std::vector<Tensor> tensors)
        : mpi_(mpi), tensors_(std::move(tensors)), groups_(groups(tensors_, "all_reduce_sum")) {
      if (!groups_.doubles.empty()) {
        doubles_ = flatten<double>(groups_.doubles, DType::float64);
        start(doubles_, MPI_DOUBLE);
      }
      if (!groups_.floats.empty()) {
        floats_ = flatten<float>(groups_.floats, DType::float32);
        start(floats_, MPI_FLOAT);
      }
    }
    ~Pending() override {
      // A pending request must finish before its buffer goes (MPI writes into it).
      if (!requests_.empty()) (void)wait();
    }
    void progress() override {
      if (requests_.empty()) return;
      int done = 0;
      check_mpi(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done,
                            MPI_STATUSES_IGNORE),
                "MPI_Testall");
    }
    std::vector<Tensor> wait() override {
      for (MPI_Request& r : requests_) mpi_.wait(r, "MPI_Iallreduce");
      requests_.clear();
      if (!groups_.doubles.empty()) unflatten(doubles_, groups_.doubles, DType::float64);
      if (!groups_.floats.empty()) unflatten(floats_, groups_.floats, DType::float32);
      return std::move(tensors_);
    }

   private:
    template <typename T>
    void start(std::vector<T>& flat, MPI_Datatype type) {
      in_pieces(flat, [&](T* data, int count) {
        MPI_Request request = MPI_REQUEST_NULL;
        check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, count, type, MPI_SUM, mpi_.comm_, &request),
                  "MPI_Iallreduce");
        requests_.push_back(request);
      });
    }

    MpiCommunicator& mpi_;
    std::vector<Tensor> tensors_;
    Groups groups_;
    std::vector<double> doubles_;
    std::vector<float> floats_;
    std::vector<MPI_Request> requests_;
  };

  // Calls fn(flat buffer, MPI type) once for the float64 tensors and once for the others (in
  // float32), then writes the results back; the groups in that order on every rank.
  template <typename Fn>
  void for_each_group(std::vector<Tensor>& tensors, const char* op, Fn&& fn) {
    const Groups g = groups(tensors, op);
    const std::vector<Tensor*>& doubles = g.doubles;
    const std::vector<Tensor*>& floats = g.floats;
    if (!doubles.empty()) {
      std::vector<double> flat = flatten<double>(doubles, DType::float64);
      fn(flat, MPI_DOUBLE);
      unflatten(flat, doubles, DType::float64);
    }
    if (!floats.empty()) {
      std::vector<float> flat = flatten<float>(floats, DType::float32);
      fn(flat, MPI_FLOAT);
      unflatten(flat, floats, DType::float32);
    }
  }

  // Waits for a nonblocking collective, polling it (which also drives MPI's progress); one the
  // other ranks keep from finishing for timeout_ seconds ends the job: a line on stderr, then
  // MPI_Abort (mpirun kills every rank). Nothing else could end it: the request cannot be
  // cancelled, and MPI_Finalize would wait for it.
  void wait(MPI_Request& request, const char* call) const {
    const auto start = std::chrono::steady_clock::now();
    for (long polls = 0;; ++polls) {
      int done = 0;
      check_mpi(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
      if (done) return;
      if (polls > 1000) std::this_thread::sleep_for(std::chrono::microseconds(50));
      if ((polls & 1023) == 0 &&
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() >
              timeout_) {
        std::fprintf(stderr,
                     "neurona: distribution: %s on rank %d of %d did not finish within %g s (a "
                     "rank died or stopped answering); aborting the job\n",
                     call, rank_, size_, timeout_);
        std::fflush(stderr);
        MPI_Abort(comm_, 1);
      }
    }
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  double timeout_ = kDefaultTimeoutSeconds;
};

#endif  // NEURONA_WITH_MPI

class SelfCommunicator final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void all_reduce_sum(std::vector<Tensor>& /*tensors*/) override {}
  void broadcast(std::vector<Tensor>& /*tensors*/, int root) override { check_root(root); }
  void broadcast_bytes(std::vector<std::uint8_t>& /*bytes*/, int root) override {
    check_root(root);
  }
  void barrier() override {}
  std::string name() const override { return "self"; }

 private:
  static void check_root(int root) {
    NEURONA_CHECK(root == 0, ValueError, "distribution: broadcast from rank ", root,
                  " in a job of 1");
  }
};

// What the default start_all_reduce_sum returns: sums made at once.
class FinishedAllReduce final : public PendingAllReduce {
 public:
  explicit FinishedAllReduce(std::vector<Tensor> sums) : sums_(std::move(sums)) {}
  std::vector<Tensor> wait() override { return std::move(sums_); }

 private:
  std::vector<Tensor> sums_;
};

}  // namespace

std::unique_ptr<PendingAllReduce> Communicator::start_all_reduce_sum(std::vector<Tensor> tensors) {
  all_reduce_sum(tensors);
  return std::make_unique<FinishedAllReduce>(std::move(tensors));
}

GradientReducer::GradientReducer(Communicator& communicator, std::vector<Tensor> weights,
                                 double scale, std::size_t bucket_bytes)
    : communicator_(communicator),
      weights_(std::move(weights)),
      scale_(scale),
      gradients_(weights_.size()),
      given_(weights_.size(), false),
      bucket_of_(weights_.size(), 0) {
  // Last weight first: the order a backward pass finishes their gradients in.
  std::size_t bytes = 0;
  for (std::size_t k = weights_.size(); k-- > 0;) {
    const std::size_t size = weights_[k].nbytes();
    if (buckets_.empty() || (bucket_bytes > 0 && bytes > 0 && bytes + size > bucket_bytes)) {
      buckets_.push_back(Bucket{{}, 0, nullptr});
      bytes = 0;
    }
    buckets_.back().members.push_back(k);
    bucket_of_[k] = buckets_.size() - 1;
    bytes += size;
  }
  for (Bucket& b : buckets_) b.waiting = b.members.size();
}

void GradientReducer::ready(std::size_t i, const Tensor& gradient) {
  NEURONA_CHECK(i < weights_.size(), ValueError, "GradientReducer: gradient ", i, " of ",
                weights_.size(), " weights");
  NEURONA_CHECK(!given_[i], ValueError, "GradientReducer: gradient ", i, " given twice");
  if (gradient.defined()) {
    NEURONA_CHECK(gradient.shape() == weights_[i].shape(), ShapeError, "GradientReducer: gradient ",
                  i, " has shape ", gradient.shape(), " for a weight of shape ",
                  weights_[i].shape());
  }
  given_[i] = true;
  if (!gradient.defined() || scale_ == 0.0) {
    // A stand-in replica's gradients count for nothing, even infinite ones (0 * inf is NaN).
    gradients_[i] = kernels::zeros_like(weights_[i]);
  } else if (scale_ != 1.0) {
    gradients_[i] = kernels::multiply(gradient, kernels::scalar_like(gradient, scale_));
  } else {
    gradients_[i] = gradient;
  }
  --buckets_[bucket_of_[i]].waiting;
  start_ready_buckets();
}

void GradientReducer::start_ready_buckets() {
  // In bucket order only, so that every rank starts the same collectives in the same order.
  while (started_ < buckets_.size() && buckets_[started_].waiting == 0) {
    Bucket& b = buckets_[started_];
    std::vector<Tensor> parts;
    for (std::size_t k : b.members) parts.push_back(std::move(gradients_[k]));
    b.pending = communicator_.start_all_reduce_sum(std::move(parts));
    ++started_;
  }
  for (std::size_t k = 0; k < started_; ++k) {
    if (buckets_[k].pending) buckets_[k].pending->progress();
  }
}

std::vector<Tensor> GradientReducer::finish() {
  for (std::size_t i = 0; i < weights_.size(); ++i) {
    if (!given_[i]) ready(i, Tensor());
  }
  std::vector<Tensor> sums(weights_.size());
  for (Bucket& b : buckets_) {
    std::vector<Tensor> got = b.pending->wait();
    b.pending.reset();
    for (std::size_t j = 0; j < b.members.size(); ++j) sums[b.members[j]] = std::move(got[j]);
  }
  return sums;
}

std::shared_ptr<Communicator> self_communicator() {
  return std::make_shared<SelfCommunicator>();
}

#if !NEURONA_WITH_NCCL
bool nccl_available() {
  return false;
}

std::shared_ptr<Communicator> nccl_communicator(std::shared_ptr<Communicator> /*bootstrap*/,
                                                Device /*device*/, double /*timeout_seconds*/) {
  throw NotImplementedError("distribution: NCCL needs neurona's CUDA backend (NEURONA_CUDA)");
}
#endif

bool mpi_available() {
  return NEURONA_WITH_MPI != 0;
}

std::shared_ptr<Communicator> mpi_communicator() {
#if NEURONA_WITH_MPI
  // One per process (MPI is initialised once).
  static const std::shared_ptr<Communicator> communicator = std::make_shared<MpiCommunicator>();
  return communicator;
#else
  throw NotImplementedError(
      "distribution: neurona was built without MPI (Debian: libopenmpi-dev; "
      "scripts/bootstrap.sh installs it)");
#endif
}

DataParallel::DataParallel(DataParallelOptions options)
    : communicator_(std::move(options.communicator)), bucket_bytes_(options.bucket_bytes) {
  if (!communicator_) {
    const Device device = default_device();
    const double timeout = options.timeout_seconds.value_or(kDefaultTimeoutSeconds);
    communicator_ = device.is_cuda() && nccl_available()
                        ? nccl_communicator(mpi_communicator(), device, timeout)
                        : mpi_communicator();
    communicator_->set_timeout(timeout);
  } else if (options.timeout_seconds) {
    communicator_->set_timeout(*options.timeout_seconds);
  }
}

std::pair<std::int64_t, std::int64_t> DataParallel::shard(std::int64_t rows) const {
  const std::int64_t n = num_replicas();
  const std::int64_t r = replica();
  const std::int64_t base = rows / n;
  const std::int64_t extra = rows % n;
  const std::int64_t begin = r * base + std::min(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

void set_distribution(std::shared_ptr<DataParallel> distribution) {
  std::lock_guard lock(g_mu);
  g_distribution = std::move(distribution);
}

void set_distribution(DataParallel distribution) {
  set_distribution(std::make_shared<DataParallel>(std::move(distribution)));
}

std::shared_ptr<DataParallel> distribution() {
  std::lock_guard lock(g_mu);
  return g_distribution;
}

bool is_chief() {
  const auto d = distribution();
  return d == nullptr || d->is_chief();
}

}  // namespace neurona::distribution
