// The global seed. set_seed(s) makes every later random op reproducible, on every device.
#pragma once

#include <cstdint>
#include <optional>

#include "neurona/core/philox.h"
#include "neurona/core/tensor.h"

namespace neurona {

/// Sets the global seed and restarts the sequence of random calls, as keras.utils.set_random_seed.
void set_seed(std::uint64_t seed);

/// Keras's keras.random.SeedGenerator: a seed and a call counter kept on the device where the
/// draws happen, as an int64 pair (seed, counter) that each draw reads and then advances there,
/// on the device. A layer that draws random numbers in call() (Dropout) holds one, so that every
/// call draws new numbers and a training step replayed from a CUDA graph (which skips the host
/// code) draws new ones on every replay, exactly as the eager step would.
///
///   nr::SeedGenerator gen(7);
///   auto a = nr::random_uniform({4}, {.seed_generator = &gen});   // differs from b,
///   auto b = nr::random_uniform({4}, {.seed_generator = &gen});   // reproducible with seed 7
class SeedGenerator {
 public:
  /// `seed`: a fixed sequence of draws; none: a seed taken from the global seed (set_seed) at
  /// the first draw.
  explicit SeedGenerator(std::optional<std::uint64_t> seed = std::nullopt) : seed_(seed) {}

  /// The state on `device` (made there at the first draw; moved with its counter when asked for
  /// on another device). Random kernels read it and advance its counter.
  const Tensor& state(Device device);
  /// The seed given at construction, if any.
  std::optional<std::uint64_t> seed() const { return seed_; }

  /// Where the generator stands: the (mixed) seed and the counter of its state, read back from
  /// the device; none before its first draw (or restore). BackupAndRestore saves it.
  struct Snapshot {
    std::uint64_t seed = 0;
    std::uint32_t counter = 0;
  };
  std::optional<Snapshot> snapshot() const;
  /// Continues from `snapshot`: the next draw is the one that followed it.
  void restore(const Snapshot& snapshot);

 private:
  std::optional<std::uint64_t> seed_;
  std::optional<Snapshot> pending_;  // restored before the state exists on a device
  Tensor state_;
};

/// While it is alive, the random draws of this thread that have no op seed of their own (ops on
/// the global seed, and SeedGenerators such as a RandomFlip layer's) come from the stream of
/// `seed` instead, call after call, and leave the global counter and the generators as they
/// are. Dataset.map runs each element's function inside one, so that augmentation on several
/// worker threads draws the same numbers for the same element whatever thread runs it. Scopes
/// nest (the innermost wins).
///
///   {
///     nr::ScopedRandomStream stream(42);
///     auto a = nr::random_uniform({3});    // the same three numbers on every run and thread
///   }
class ScopedRandomStream {
 public:
  explicit ScopedRandomStream(std::uint64_t seed);
  ~ScopedRandomStream();
  ScopedRandomStream(const ScopedRandomStream&) = delete;
  ScopedRandomStream& operator=(const ScopedRandomStream&) = delete;

 private:
  friend struct ScopedRandomStreamAccess;
  RandomKey key_;
  ScopedRandomStream* outer_;
};

namespace detail {
/// Whether this thread is inside a ScopedRandomStream.
bool in_scoped_random_stream();
/// The next key of this thread's innermost ScopedRandomStream, or none outside one.
std::optional<RandomKey> next_scoped_random_key();
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
