// Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): a
// counter-based generator, so element i of a random tensor depends only on (seed, call, i)
// and the CPU and the GPU produce the same numbers without sharing state.
#pragma once

#include <cstdint>

#include "neurona/core/macros.h"

namespace neurona {

struct Philox4x32 {
  std::uint32_t v[4];
};

NEURONA_HD_INLINE std::uint32_t philox_mulhilo(std::uint32_t a, std::uint32_t b,
                                               std::uint32_t* hi) {
  const std::uint64_t p = static_cast<std::uint64_t>(a) * b;
  *hi = static_cast<std::uint32_t>(p >> 32);
  return static_cast<std::uint32_t>(p);
}

/// The 10-round Philox4x32 bijection of `counter` under `key`.
NEURONA_HD_INLINE Philox4x32 philox4x32_10(Philox4x32 ctr, std::uint32_t k0, std::uint32_t k1) {
  constexpr std::uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr std::uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    std::uint32_t hi0, hi1;
    const std::uint32_t lo0 = philox_mulhilo(kM0, ctr.v[0], &hi0);
    const std::uint32_t lo1 = philox_mulhilo(kM1, ctr.v[2], &hi1);
    ctr = Philox4x32{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += kW0;
    k1 += kW1;
  }
  return ctr;
}

/// Which random stream an op draws from: the seed and the index of the call.
struct RandomKey {
  std::uint64_t seed = 0;
  std::uint32_t call = 0;
};

/// Four random words for element `index`, attempt `attempt` (used by rejection sampling).
NEURONA_HD_INLINE Philox4x32 philox_words(RandomKey key, std::uint64_t index,
                                          std::uint32_t attempt) {
  return philox4x32_10(Philox4x32{{static_cast<std::uint32_t>(index),
                                   static_cast<std::uint32_t>(index >> 32), key.call, attempt}},
                       static_cast<std::uint32_t>(key.seed),
                       static_cast<std::uint32_t>(key.seed >> 32));
}

}  // namespace neurona
