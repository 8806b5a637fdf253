// The global seed. set_seed(s) makes every later random op reproducible, on every device.
#pragma once

#include <cstdint>
#include <optional>

#include "neurona/core/philox.h"

namespace neurona {

/// Sets the global seed and restarts the sequence of random calls, as keras.utils.set_random_seed.
void set_seed(std::uint64_t seed);

namespace detail {
/// The key for the next random op: an explicit op seed gives a fixed stream; otherwise the
/// global seed (random if set_seed was never called) and a call counter that advances.
RandomKey next_random_key(std::optional<std::uint64_t> op_seed);
/// The global call counter, and setting it back (a capture that is abandoned gives back the
/// keys it drew, so that running the same work eagerly draws the same numbers).
std::uint32_t random_call_count();
void set_random_call_count(std::uint32_t count);

/// The whole state of the global generator, as BackupAndRestore saves and restores it so that a
/// resumed fit draws (shuffles) what an uninterrupted one draws.
struct GlobalRandomState {
  bool seeded = false;
  std::uint64_t seed = 0;
  std::uint32_t call = 0;
};
GlobalRandomState global_random_state();
void set_global_random_state(const GlobalRandomState& state);
}  // namespace detail

}  // namespace neurona
