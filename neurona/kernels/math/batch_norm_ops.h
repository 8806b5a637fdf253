// Batch normalization's arithmetic, written once for the CPU's and the GPU's kernels
// (kernels/cpu/batch_norm.cpp, kernels/cuda/batch_norm.cu): Welford's running mean and sum of
// squared deviations with Chan's combination of partial results (stable where the mean is large
// against the spread, unlike a sum of squares), the per-channel affine map that Keras's
// ops.batch_normalization applies, and the gradient's per-element formula.
#pragma once

#include <cmath>
#include <cstdint>

#include "neurona/core/macros.h"

namespace neurona::kernels {

/// A channel's count, mean and sum of squared deviations from the mean (M2) so far.
template <typename Acc>
struct Welford {
  Acc count, mean, m2;
};

/// Adds one value to a channel's running mean and M2, with 1 / (the new count) given: every
/// channel of a row shares the count, so one division serves them all.
template <typename Acc>
NEURONA_HD_INLINE void welford_add(Acc& mean, Acc& m2, Acc x, Acc inv_count) {
  const Acc d = x - mean;
  mean += d * inv_count;
  m2 += d * (x - mean);
}

/// The statistics of two disjoint parts together (Chan, Golub and LeVeque); either may be
/// empty.
template <typename Acc>
NEURONA_HD_INLINE Welford<Acc> welford_combine(const Welford<Acc>& a, const Welford<Acc>& b) {
  if (b.count == Acc(0)) return a;
  if (a.count == Acc(0)) return b;
  const Acc n = a.count + b.count;
  const Acc wb = b.count / n;
  const Acc d = b.mean - a.mean;
  return {n, a.mean + d * wb, a.m2 + b.m2 + d * d * a.count * wb};
}

/// 1 / sqrt(variance + epsilon), the inverse standard deviation the gradient needs.
template <typename Acc>
NEURONA_HD_INLINE Acc batch_norm_inv_std(Acc variance, Acc epsilon) {
  return Acc(1) / std::sqrt(variance + epsilon);
}

/// y = x * mul + add per channel, as Keras's ops.batch_normalization computes it:
/// inv = rsqrt(variance + epsilon) * scale, y = x * inv + (offset - mean * inv). A null scale
/// or offset is none (1 and 0): BatchNormalization with scale = false or center = false.
template <typename Acc>
struct BatchNormAffine {
  Acc mul, add;
};

template <typename Acc, typename P>
NEURONA_HD_INLINE BatchNormAffine<Acc> batch_norm_affine(Acc mean, Acc inv_std, const P* scale,
                                                         const P* offset, std::int64_t c) {
  const Acc mul = scale != nullptr ? inv_std * static_cast<Acc>(scale[c]) : inv_std;
  const Acc add = offset != nullptr ? static_cast<Acc>(offset[c]) - mean * mul : -(mean * mul);
  return {mul, add};
}

/// The per-channel constants of the input gradient of training-mode batch normalization over
/// `rows` values per channel: with xhat = (x - mean) * inv_std and y = xhat * scale + offset,
///   dx = mul * (dy - mean_dy - (x - mean) * k),
///   mul = scale * inv_std, mean_dy = sum(dy) / rows, k = inv_std^2 * sum(dy * (x - mean)) / rows,
/// and the weights' gradients dscale = sum(dy * (x - mean)) * inv_std, doffset = sum(dy).
/// (x - mean) is formed before it is scaled, so a large mean does not cancel digits.
template <typename Acc>
struct BatchNormBackwardCoefficients {
  Acc mean, mul, mean_dy, k;
};

template <typename Acc, typename P>
NEURONA_HD_INLINE BatchNormBackwardCoefficients<Acc> batch_norm_backward_coefficients(
    Acc mean, Acc inv_std, const P* scale, std::int64_t c, Acc sum_dy, Acc sum_dy_xmu, Acc rows) {
  const Acc mul = scale != nullptr ? inv_std * static_cast<Acc>(scale[c]) : inv_std;
  return {mean, mul, sum_dy / rows, inv_std * inv_std * sum_dy_xmu / rows};
}

template <typename C, typename Acc>
NEURONA_HD_INLINE Acc batch_norm_input_gradient(const C& k, Acc x, Acc dy) {
  return k.mul * ((dy - k.mean_dy) - (x - k.mean) * k.k);
}

}  // namespace neurona::kernels
