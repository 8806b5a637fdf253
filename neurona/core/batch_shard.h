// This replica's rows of a global batch while a data-parallel training step runs on them
// (models/training.cpp sets it). Random draws from a SeedGenerator whose leading dimension is
// the replica's rows are made for the whole global batch and cut to those rows
// (kernels/creation.cpp), so that each replica's dropout masks and augmentations are its rows
// of what one process draws for the global batch (as on Keras's JAX backend, whose arrays are
// global), and every replica's generators advance as one process's do.
#pragma once

#include <cstdint>

namespace neurona::detail {

/// Rows [begin, end) of a global batch of `rows`.
struct BatchShard {
  std::int64_t rows = 0, begin = 0, end = 0;
};

/// The shard of the training step running on this thread, or null.
const BatchShard* current_batch_shard();

/// Sets this thread's shard while alive (scopes nest; the innermost wins).
class ScopedBatchShard {
 public:
  explicit ScopedBatchShard(BatchShard shard);
  ~ScopedBatchShard();
  ScopedBatchShard(const ScopedBatchShard&) = delete;
  ScopedBatchShard& operator=(const ScopedBatchShard&) = delete;

 private:
  BatchShard shard_;
  const BatchShard* outer_;
};

}  // namespace neurona::detail
