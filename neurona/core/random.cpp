// Global seed state for the counter-based generator.
#include "neurona/core/random.h"

#include <mutex>
#include <random>

#include "neurona/core/backend.h"
#include "neurona/core/capture.h"
#include "neurona/core/state_writes.h"

namespace neurona {

namespace {
std::mutex g_mu;
bool g_seeded = false;
std::uint64_t g_seed = 0;
std::uint32_t g_call = 0;
}  // namespace

struct ScopedRandomStreamAccess {
  static thread_local ScopedRandomStream* innermost;
  static RandomKey& key(ScopedRandomStream& s) { return s.key_; }
};
thread_local ScopedRandomStream* ScopedRandomStreamAccess::innermost = nullptr;

void set_seed(std::uint64_t seed) {
  std::lock_guard lock(g_mu);
  g_seeded = true;
  g_seed = seed;
  g_call = 0;
}

namespace {
// SplitMix64's finaliser: a well-mixed 64-bit value, so that generator streams stay apart from
// the global seed's and from fixed op seeds.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}
}  // namespace

const Tensor& SeedGenerator::state(Device device) {
  // The draw that asks for the state advances its counter in place.
  if (state_.defined() && state_.device() == device) {
    detail::before_state_write(state_);
    return state_;
  }
  // Making the state copies it from the host, which a replay would do again (resetting the
  // counter): the first draw belongs in an eager step.
  NEURONA_CHECK(detail::current_capture() == nullptr, ValueError,
                "SeedGenerator: the first draw on ", device,
                " happens during a graph capture; run one step eagerly first");
  if (state_.defined()) {
    state_ = state_.to(device);
    detail::before_state_write(state_);
    return state_;
  }
  Snapshot start;
  if (pending_) {
    start = *pending_;
  } else if (seed_) {
    start.seed = mix(*seed_);
  } else {
    const RandomKey key = detail::next_random_key(std::nullopt);
    start.seed = mix(key.seed ^ mix(key.call));
  }
  pending_.reset();
  const std::int64_t initial[2] = {static_cast<std::int64_t>(start.seed),
                                   static_cast<std::int64_t>(start.counter)};
  Tensor state = Tensor::empty({2}, DType::int64, device);
  copy_bytes(state.raw_data(), device, initial, Device::cpu(), sizeof initial);
  state_ = std::move(state);
  detail::before_state_write(state_);
  return state_;
}

std::optional<SeedGenerator::Snapshot> SeedGenerator::snapshot() const {
  if (!state_.defined()) return pending_;
  const std::vector<std::int64_t> values = state_.to(Device::cpu()).to_vector<std::int64_t>();
  return Snapshot{static_cast<std::uint64_t>(values[0]), static_cast<std::uint32_t>(values[1])};
}

void SeedGenerator::restore(const Snapshot& snapshot) {
  if (!state_.defined()) {
    pending_ = snapshot;
    return;
  }
  const std::int64_t values[2] = {static_cast<std::int64_t>(snapshot.seed),
                                  static_cast<std::int64_t>(snapshot.counter)};
  copy_bytes(state_.raw_data(), state_.device(), values, Device::cpu(), sizeof values);
}

ScopedRandomStream::ScopedRandomStream(std::uint64_t seed)
    : key_{mix(seed ^ 0x5CA1AB1E0DDBA11ULL), 0}, outer_(ScopedRandomStreamAccess::innermost) {
  ScopedRandomStreamAccess::innermost = this;
}

ScopedRandomStream::~ScopedRandomStream() {
  ScopedRandomStreamAccess::innermost = outer_;
}

namespace detail {
bool in_scoped_random_stream() {
  return ScopedRandomStreamAccess::innermost != nullptr;
}

std::optional<RandomKey> next_scoped_random_key() {
  ScopedRandomStream* scope = ScopedRandomStreamAccess::innermost;
  if (scope == nullptr) return std::nullopt;
  RandomKey& key = ScopedRandomStreamAccess::key(*scope);
  return RandomKey{key.seed, key.call++};
}

RandomKey next_random_key(std::optional<std::uint64_t> op_seed) {
  // A key made on the host is frozen into a captured graph, whose replays skip the host code
  // that would make the next one: a replay would draw the same numbers again. Let the capture
  // know, also for an op seed (the caller may compute a new one per call on the host, as
  // Dropout once did); draws that must change per replay use a SeedGenerator.
  if (CaptureState* capture = current_capture(); capture != nullptr) {
    capture->used_host_random = true;
  }
  if (op_seed) return RandomKey{*op_seed, 0x80000000u};  // apart from global-seed calls
  if (const std::optional<RandomKey> scoped = next_scoped_random_key()) return *scoped;
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
