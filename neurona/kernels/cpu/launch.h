// Runs the shared functors on the host: an OpenMP loop (honouring OMP_NUM_THREADS) that
// stays serial for small sizes, where starting threads costs more than the work.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace neurona::kernels::cpu {

// Elements below which a loop stays on the calling thread (512 KiB of float32). With
// OMP_WAIT_POLICY=passive (scripts/env.sh) waking the sleeping threads and meeting them at the
// barrier costs tens of microseconds, more than one thread needs for such a loop. Measured on
// the 2-core machine (bench_train, passive, best of 3): 2^15 gave the mlp 0.88 s per epoch
// and the cnn 3.24 s per 200 steps; 2^17 gave 0.74 s and 3.18 s; 2^18 0.75 s and 3.22 s.
inline constexpr std::int64_t kParallelGrain = 1 << 17;

// Each thread runs its own copy of the functor: the compiler then knows that the functor's
// fields (pointers, coefficients) cannot change when the loop writes through its pointers, so
// it keeps them in registers, takes uniform branches out of the loop and vectorises the rest.
struct Launch {
  template <typename F>
  void operator()(std::int64_t n, const F& f) const {
#pragma omp parallel if (n >= kParallelGrain)
    {
      const F local = f;
#pragma omp for schedule(static)
      for (std::int64_t i = 0; i < n; ++i) local(i);
    }
  }

  /// As above for functors whose index covers `work_per_index` elements (a row of a patch
  /// matrix, a pixel's channels), so that the grain counts elements, not indices.
  template <typename F>
  void operator()(std::int64_t n, std::int64_t work_per_index, const F& f) const {
#pragma omp parallel if (n > 1 && n * work_per_index >= kParallelGrain)
    {
      const F local = f;
#pragma omp for schedule(static)
      for (std::int64_t i = 0; i < n; ++i) local(i);
    }
  }

  template <typename F>
  void reduce(std::int64_t num_out, std::int64_t num_reduce, const F& f) const {
#pragma omp parallel for schedule(static) if (num_out * num_reduce >= kParallelGrain && num_out > 1)
    for (std::int64_t o = 0; o < num_out; ++o) f.finish(o, f.reduce_range(o, 0, num_reduce, 1));
  }
};

// Bands of rows for a pass over n values that keeps per-band partial results (per-channel
// sums, say) combined afterwards in band order: one band per thread, or one below the parallel
// grain.
inline int bands_for(std::int64_t rows, std::int64_t n) {
  const int threads = n >= kParallelGrain ? omp_get_max_threads() : 1;
  return static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(threads, rows)));
}

// Runs body(band) for band in [0, bands), one band per thread.
template <typename F>
void for_each_band(int bands, const F& body) {
#pragma omp parallel for schedule(static, 1) num_threads(bands) if (bands > 1)
  for (int b = 0; b < bands; ++b) body(b);
}

// The first of `rows` rows in band `band` of `bands`.
inline std::int64_t band_start(std::int64_t rows, int band, int bands) {
  return rows * band / bands;
}

}  // namespace neurona::kernels::cpu
