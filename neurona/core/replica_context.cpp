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

ScopedReplicaContext::ScopedReplicaContext(ReplicaContext context)
    : context_(std::move(context)), outer_(t_context) {
  t_context = &context_;
}

ScopedReplicaContext::~ScopedReplicaContext() {
  t_context = outer_;
}

}  // namespace neurona::detail
