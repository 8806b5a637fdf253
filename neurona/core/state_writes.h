// In-place writes to state (a Variable's value, a SeedGenerator's device state) announced to
// observers on the writing thread, so that rematerialization (autograd/remat.h) can put back
// what a function it recomputes wrote the first time: moving statistics, counters of draws.
#pragma once

#include "neurona/core/tensor.h"

namespace neurona::detail {

class StateWriteObserver {
 public:
  virtual ~StateWriteObserver() = default;
  /// `state` (sharing its storage) is about to be written in place.
  virtual void before_state_write(const Tensor& state) = 0;
};

/// Tells this thread's observers, outermost first, that `state` is about to be written in
/// place. Costs a thread-local read when there are none.
void before_state_write(const Tensor& state);

/// Registers an observer on this thread while alive (scopes nest; every one hears a write).
class ScopedStateObserver {
 public:
  explicit ScopedStateObserver(StateWriteObserver& observer);
  ~ScopedStateObserver();
  ScopedStateObserver(const ScopedStateObserver&) = delete;
  ScopedStateObserver& operator=(const ScopedStateObserver&) = delete;

 private:
  StateWriteObserver* observer_;
};

}  // namespace neurona::detail
