// Global seed state for the counter-based generator.
#include "neurona/core/random.h"

#include <mutex>
#include <random>

#include "neurona/core/graph.h"

namespace neurona {

namespace {
std::mutex g_mu;
bool g_seeded = false;
std::uint64_t g_seed = 0;
std::uint32_t g_call = 0;
}  // namespace

void set_seed(std::uint64_t seed) {
  std::lock_guard lock(g_mu);
  g_seeded = true;
  g_seed = seed;
  g_call = 0;
}

namespace detail {
RandomKey next_random_key(std::optional<std::uint64_t> op_seed) {
  if (op_seed) return RandomKey{*op_seed, 0x80000000u};  // apart from global-seed calls
  // A replay of a captured graph would draw the same numbers again: let its capture know.
  if (CaptureState* capture = current_capture(); capture != nullptr) {
    capture->used_global_random = true;
  }
  std::lock_guard lock(g_mu);
  if (!g_seeded) {
    std::random_device rd;
    g_seed = (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
    g_seeded = true;
  }
  return RandomKey{g_seed, g_call++};
}
std::uint32_t random_call_count() {
  std::lock_guard lock(g_mu);
  return g_call;
}

void set_random_call_count(std::uint32_t count) {
  std::lock_guard lock(g_mu);
  g_call = count;
}

GlobalRandomState global_random_state() {
  std::lock_guard lock(g_mu);
  return {g_seeded, g_seed, g_call};
}

void set_global_random_state(const GlobalRandomState& state) {
  std::lock_guard lock(g_mu);
  g_seeded = state.seeded;
  g_seed = state.seed;
  g_call = state.call;
}
}  // namespace detail

}  // namespace neurona
