// The thread's data-parallel batch shard (core/batch_shard.h).
#include "neurona/core/batch_shard.h"

namespace neurona::detail {

namespace {
thread_local const BatchShard* t_shard = nullptr;
}  // namespace

const BatchShard* current_batch_shard() {
  return t_shard;
}

ScopedBatchShard::ScopedBatchShard(BatchShard shard) : shard_(shard), outer_(t_shard) {
  t_shard = &shard_;
}

ScopedBatchShard::~ScopedBatchShard() {
  t_shard = outer_;
}

}  // namespace neurona::detail
