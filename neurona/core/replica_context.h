// The data-parallel step running on this thread, as the ops inside it see it (tf.distribute's
// ReplicaContext): how many replicas run it, this replica's rows of the global batch and its
// share of it, and the sum of tensors over the replicas. models/training.cpp sets it around each
// replica's training step under a DataParallel distribution. Read by:
//   - random draws from a SeedGenerator whose leading dimension is the replica's rows: they are
//     made for the whole global batch and cut to those rows (kernels/creation.cpp), so that each
//     replica's dropout masks and augmentations are its rows of what one process draws for the
//     global batch (as on Keras's JAX backend, whose arrays are global), and every replica's
//     generators advance as one process's do;
//   - autograd's replica_sum, and through it BatchNormalization(synchronized).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "neurona/core/tensor.h"

namespace neurona::detail {

/// Rows [begin, end) of a global batch of `rows`.
struct BatchShard {
  std::int64_t rows = 0, begin = 0, end = 0;
};

struct ReplicaContext {
  int num_replicas = 1;
  /// This replica's index, 0 .. num_replicas - 1 (the row it fills in a gather).
  int rank = 0;
  /// This replica's rows over the global batch's, or 0 for a replica that has no rows of a
  /// short last batch and runs the step on a stand-in row only to make the collective calls
  /// the others make (its sums count for nothing, its gradients are multiplied by 0).
  double share = 1.0;
  /// Replaces each tensor by its element-wise sum over the replicas: a collective, which
  /// every replica calls with the same shapes and dtypes, in the same order.
  std::function<void(std::vector<Tensor>&)> all_reduce_sum;
  /// The rows of the global batch the replica runs (a stand-in's: the batch's first).
  BatchShard shard;
};

/// The context of the replica step running on this thread, or null outside one.
const ReplicaContext* current_replica_context();

/// Where this thread's replica's part of a draw for the global batch starts: a tensor whose
/// leading dimension is the replica's `rows` of the global batch, with `elements_per_row`
/// elements of the draw per row, reads the global draw from its first row's element on. 0
/// outside a replica, for a replica that runs the whole batch or none of it (a stand-in), and
/// when `rows` is not the replica's row count (a draw not shaped by the batch).
std::int64_t replica_draw_offset(std::int64_t rows, std::int64_t elements_per_row);

/// Sets this thread's context while alive (scopes nest; the innermost wins).
class ScopedReplicaContext {
 public:
  explicit ScopedReplicaContext(ReplicaContext context);
  ~ScopedReplicaContext();
  ScopedReplicaContext(const ScopedReplicaContext&) = delete;
  ScopedReplicaContext& operator=(const ScopedReplicaContext&) = delete;

 private:
  ReplicaContext context_;
  const ReplicaContext* outer_;
};

}  // namespace neurona::detail
