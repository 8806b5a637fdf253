// The thread's data-parallel replica context (core/replica_context.h).
#include "neurona/core/replica_context.h"

#include <utility>

namespace neurona::detail {

namespace {
thread_local const ReplicaContext* t_context = nullptr;
}  // namespace

const ReplicaContext* current_replica_context() {
  return t_context;
}

std::int64_t replica_draw_offset(std::int64_t rows, std::int64_t elements_per_row) {
  if (t_context == nullptr) return 0;
  const BatchShard& shard = t_context->shard;
  const std::int64_t mine = shard.end - shard.begin;
  if (mine <= 0 || mine >= shard.rows || rows != mine) return 0;
  return shard.begin * elements_per_row;
}

ScopedReplicaContext::ScopedReplicaContext(ReplicaContext context)
    : context_(std::move(context)), outer_(t_context) {
  t_context = &context_;
}

ScopedReplicaContext::~ScopedReplicaContext() {
  t_context = outer_;
}

}  // namespace neurona::detail
