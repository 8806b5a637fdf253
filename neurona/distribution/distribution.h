// Data-parallel training across processes, in the spirit of keras.distribution.DataParallel:
// one replica of the model per process (`mpirun -np N`), the same program on every rank.
//
//   nr::distribution::set_distribution(nr::distribution::DataParallel());
//   model.fit(x, y, {.batch_size = 128, .epochs = 5});  // 128 is the global batch
//
// What fit, evaluate and their callbacks do under a DataParallel distribution:
//   - every rank builds the model and then takes rank 0's weights (a broadcast);
//   - each global batch (the same on every rank: same data, same seed, same shuffle) is split
//     into contiguous parts, one per replica, as evenly as the rows allow;
//   - the gradients are summed across replicas, each weighted by its share of the global batch
//     (so the step is the one-process step of the global batch, up to float rounding), in one
//     all-reduce over one flat buffer per dtype, then every rank applies the same update;
//   - metric states (the loss's mean, accuracy's counts, ...) are summed across replicas before
//     a value is read, so the progress bar, the logs and History show the global figures;
//   - only rank 0 prints and writes files (ModelCheckpoint, BackupAndRestore's backup, CSVLogger,
//     TensorBoard); every rank reads BackupAndRestore's backup (the ranks share a file system),
//     so a restarted job resumes on every rank.
// The transport is Open MPI for CPU processes, and NCCL (bootstrapped through MPI) for GPU
// tensors where NCCL loads. When a rank dies, mpirun ends the others (Open MPI's default); a
// NCCL collective that does not finish within its timeout aborts and throws: never a hang.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "neurona/core/tensor.h"

namespace neurona::distribution {

/// How long a collective waits for the other ranks unless told otherwise (seconds).
inline constexpr double kDefaultTimeoutSeconds = 300;

/// An all-reduce started by Communicator::start_all_reduce_sum and not yet finished.
class PendingAllReduce {
 public:
  virtual ~PendingAllReduce() = default;
  /// Lets the transport move the data on without waiting (MPI advances a nonblocking
  /// collective only inside its calls); returns at once.
  virtual void progress() {}
  /// Waits for the sums (or ends the job, as the blocking collectives do, after the
  /// communicator's timeout) and returns them in the order given.
  virtual std::vector<Tensor> wait() = 0;
};

/// How the processes of a job reach each other. Collective calls: every rank makes the same
/// calls in the same order.
class Communicator {
 public:
  virtual ~Communicator() = default;
  /// This process's place in the job, 0 .. size() - 1.
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Replaces each tensor by the element-wise sum of that tensor over the ranks (same shapes and
  /// dtypes on every rank; floating dtypes, 16-bit ones summed in float32). One collective per
  /// dtype over a flat buffer of all of them.
  virtual void all_reduce_sum(std::vector<Tensor>& tensors) = 0;
  /// all_reduce_sum started, to be finished with wait(), while the caller goes on: MPI's
  /// nonblocking collective, NCCL's on a stream of its own that waits for the tensors' work.
  /// Several may be outstanding (started in the same order on every rank); the tensors are the
  /// transport's until then. The default sums at once.
  virtual std::unique_ptr<PendingAllReduce> start_all_reduce_sum(std::vector<Tensor> tensors);
  /// Replaces each tensor by rank `root`'s.
  virtual void broadcast(std::vector<Tensor>& tensors, int root) = 0;
  /// Replaces `bytes` by rank `root`'s (the same length on every rank): how NCCL's unique id
  /// travels.
  virtual void broadcast_bytes(std::vector<std::uint8_t>& bytes, int root) = 0;
  /// Waits until every rank has called it.
  virtual void barrier() = 0;
  /// "mpi", "nccl", "self", or the name of another transport.
  virtual std::string name() const = 0;
  /// How long one collective may wait for the other ranks before the job is ended (a rank died
  /// or stopped answering): MPI aborts the job (MPI_Abort, after a line on stderr naming the
  /// rank and the call); NCCL aborts its communicator and throws Error. DataParallel sets it
  /// from its options.
  virtual void set_timeout(double /*seconds*/) {}
};

/// A job of one process without MPI: every collective leaves its tensors as they are.
std::shared_ptr<Communicator> self_communicator();

/// The job `mpirun` started, through MPI (MPI_COMM_WORLD): initialises MPI on first use (and
/// finalises it at exit when it did), one communicator per process. A process started without
/// mpirun is a job of one. NotImplementedError where neurona was built without MPI (Debian:
/// libopenmpi-dev); DistributionError when MPI fails.
std::shared_ptr<Communicator> mpi_communicator();

/// Whether this build has the MPI transport.
bool mpi_available();

/// Collectives over the GPU tensors of `device` (this process's one GPU) through NCCL, on
/// neurona's stream for that device; NCCL's unique id travels through `bootstrap` (the
/// mpi_communicator(), or self_communicator() for a job of one), which also carries CPU tensors'
/// all-reduces. Each collective waits for its result; one that has not finished after
/// `timeout_seconds` (a rank died or stopped answering), or that NCCL reports failed, aborts the
/// communicator and throws Error naming the rank. So does the making of the communicator (a
/// nonblocking one, where NCCL has ncclCommInitRankConfig: 2.14 and later). NCCL is loaded at run
/// time (libnccl.so.2): NotImplementedError where it cannot be, or in a build without CUDA.
std::shared_ptr<Communicator> nccl_communicator(std::shared_ptr<Communicator> bootstrap,
                                                Device device,
                                                double timeout_seconds = kDefaultTimeoutSeconds);

/// Whether NCCL can be loaded (a CUDA build and libnccl.so.2 on the library path).
bool nccl_available();

/// DataParallel's arguments.
struct DataParallelOptions {
  /// The processes to replicate over. Not given: NCCL over MPI where the default device is a
  /// GPU and NCCL loads (nccl_communicator(mpi_communicator(), default_device())), else
  /// mpi_communicator(). Each process of a machine needs a GPU of its own as its default device
  /// (NCCL refuses two ranks on one GPU): set NEURONA_DEVICE or nr::set_default_device from the
  /// local rank, as `neurona train --distributed` does (Open MPI's OMPI_COMM_WORLD_LOCAL_RANK).
  std::shared_ptr<Communicator> communicator = nullptr;
  /// How long one collective may wait for the other ranks (Communicator::set_timeout). Not
  /// given: a communicator passed in keeps its own timeout, one DataParallel makes gets
  /// kDefaultTimeoutSeconds. ValueError (from the communicator) unless positive.
  std::optional<double> timeout_seconds = std::nullopt;
  /// The gradients' all-reduce goes in buckets of about this many bytes, each started as soon
  /// as the backward pass has finished its gradients (GradientReducer; PyTorch DDP's
  /// bucket_cap_mb is 25 MiB too). 0: one bucket, after the backward pass.
  std::size_t bucket_bytes = std::size_t{25} << 20;
};

/// keras.distribution.DataParallel over the processes of a job: one replica per process.
class DataParallel {
 public:
  explicit DataParallel(DataParallelOptions options = {});

  int num_replicas() const { return communicator_->size(); }
  /// This process's replica, its rank.
  int replica() const { return communicator_->rank(); }
  /// Rank 0: the one that prints and writes files.
  bool is_chief() const { return replica() == 0; }
  Communicator& communicator() const { return *communicator_; }

  /// The rows [begin, end) of a global batch of `rows` that this replica trains on: contiguous
  /// parts in rank order, the first rows % num_replicas() parts one row longer. Empty when the
  /// batch has fewer rows than replicas and this replica gets none.
  std::pair<std::int64_t, std::int64_t> shard(std::int64_t rows) const;
  std::size_t bucket_bytes() const { return bucket_bytes_; }

 private:
  std::shared_ptr<Communicator> communicator_;
  std::size_t bucket_bytes_;
};

/// Sums a step's gradients across the replicas in buckets while the backward pass produces
/// them, as PyTorch DDP's reducer: the weights (`weights`: their values, for the shapes, dtypes
/// and devices) are cut into buckets of about `bucket_bytes` in reverse order (the order a
/// backward pass finishes their gradients), and a bucket's
/// all-reduce starts once all its gradients are ready and every bucket before it has started,
/// so that every rank starts the same collectives in the same order whatever order its
/// gradients come in. Each gradient is multiplied by `scale` (the replica's share of the
/// global batch) before the sum; an undefined one (a weight the step did not reach), or any
/// one when `scale` is 0 (a stand-in replica with no rows), is sent as zeros.
///   GradientReducer reducer(dp.communicator(), values, share, dp.bucket_bytes());
///   tape.gradient(loss, variables, {.on_gradient = [&](std::size_t i, const Tensor& g) {
///     reducer.ready(i, g); }});
///   std::vector<Tensor> summed = reducer.finish();
class GradientReducer {
 public:
  GradientReducer(Communicator& communicator, std::vector<Tensor> weights, double scale,
                  std::size_t bucket_bytes);
  /// Gradient `i` (of weights[i]) is final.
  void ready(std::size_t i, const Tensor& gradient);
  /// Marks the gradients not given yet as undefined, waits for every bucket and returns the
  /// sums in the weights' order.
  std::vector<Tensor> finish();
  /// How many all-reduces the step starts.
  std::size_t buckets() const { return buckets_.size(); }

 private:
  void start_ready_buckets();

  struct Bucket {
    std::vector<std::size_t> members;
    std::size_t waiting;
    std::unique_ptr<PendingAllReduce> pending;
  };
  Communicator& communicator_;
  std::vector<Tensor> weights_;
  double scale_;
  std::vector<Tensor> gradients_;
  std::vector<bool> given_;
  std::vector<std::size_t> bucket_of_;
  std::vector<Bucket> buckets_;
  std::size_t started_ = 0;
};

/// keras.distribution.set_distribution: fit, evaluate and the callbacks follow it from now on
/// (nullptr: back to one process).
void set_distribution(std::shared_ptr<DataParallel> distribution);
/// The same for a DataParallel passed as Keras passes it:
///   nr::distribution::set_distribution(nr::distribution::DataParallel());
void set_distribution(DataParallel distribution);
/// keras.distribution.distribution(): the one set, or nullptr.
std::shared_ptr<DataParallel> distribution();
/// Whether this process prints and writes files: true without a distribution, else rank 0.
bool is_chief();

}  // namespace neurona::distribution
