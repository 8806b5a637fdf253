// Sums over a row in interleaved chains. A loop `s += f(j)` is one chain of dependent additions
// (the compiler may not reassociate floating-point additions, so it neither vectorizes the loop
// nor overlaps the additions): one addition's latency per element. lane_sum keeps kLanes
// partial sums, element j going to lane j % kLanes, that the compiler vectorizes and runs side
// by side, then adds the lanes in order. The result is the same for a given n wherever the row
// sits (its order depends on n only), not the serial loop's to the last bit.
#pragma once

#include <cstdint>
#include <limits>

namespace neurona::kernels::cpu {

inline constexpr std::int64_t kLanes = 8;

/// The sum of term(j) for j in [0, n), in Acc.
template <typename Acc, typename F>
Acc lane_sum(std::int64_t n, const F& term) {
  Acc lanes[kLanes] = {};
  std::int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (std::int64_t l = 0; l < kLanes; ++l) lanes[l] += term(j + l);
  }
  for (std::int64_t l = 0; j < n; ++j, ++l) lanes[l] += term(j);
  Acc sum = 0;
  for (const Acc x : lanes) sum += x;
  return sum;
}

/// The largest of x[0, n) ignoring NaN (-inf for n = 0), in kLanes interleaved chains (the
/// select that the compiler turns into SIMD max instructions). The attention's block rows: a
/// NaN logit reaches the output through exp anyway.
template <typename T>
T lane_max(const T* x, std::int64_t n) {
  const auto take = [](T m, T v) { return m < v ? v : m; };
  T lanes[kLanes];
  for (T& l : lanes) l = -std::numeric_limits<T>::infinity();
  std::int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes) {
    for (std::int64_t l = 0; l < kLanes; ++l) lanes[l] = take(lanes[l], x[k + l]);
  }
  for (std::int64_t l = 0; k < n; ++k, ++l) lanes[l] = take(lanes[l], x[k]);
  T m = lanes[0];
  for (std::int64_t l = 1; l < kLanes; ++l) m = take(m, lanes[l]);
  return m;
}

/// The largest of x[0, n), NaN if any is NaN (the softmax functors' rule): lane_max beside a
/// count of NaNs (one select doing both does not vectorise).
template <typename T>
T lane_max_or_nan(const T* x, std::int64_t n) {
  const auto nans = lane_sum<std::int64_t>(n, [x](std::int64_t k) { return x[k] != x[k]; });
  return nans != 0 ? std::numeric_limits<T>::quiet_NaN() : lane_max(x, n);
}

}  // namespace neurona::kernels::cpu
