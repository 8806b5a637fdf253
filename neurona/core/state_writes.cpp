// The observers of in-place state writes: a thread-local stack.
#include "neurona/core/state_writes.h"

#include <algorithm>
#include <vector>

namespace neurona::detail {

namespace {
thread_local std::vector<StateWriteObserver*> t_observers;
}  // namespace

void before_state_write(const Tensor& state) {
  if (t_observers.empty()) return;
  // A copy: an observer may register another while it runs (it does not today).
  const std::vector<StateWriteObserver*> observers = t_observers;
  for (StateWriteObserver* o : observers) o->before_state_write(state);
}

ScopedStateObserver::ScopedStateObserver(StateWriteObserver& observer) : observer_(&observer) {
  t_observers.push_back(observer_);
}

ScopedStateObserver::~ScopedStateObserver() {
  auto it = std::find(t_observers.rbegin(), t_observers.rend(), observer_);
  if (it != t_observers.rend()) t_observers.erase(std::next(it).base());
}

}  // namespace neurona::detail
