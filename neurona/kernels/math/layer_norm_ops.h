// Layer normalization's arithmetic, written once for the CPU's and the GPU's kernels
// (kernels/cpu/layer_norm.cpp, kernels/cuda/layer_norm.cu): a value's output given its row's
// statistics, and the input gradient's per-element formula.
#pragma once

#include <cmath>
#include <cstdint>

#include "neurona/core/macros.h"

namespace neurona::kernels {

/// 1 / sqrt(variance + epsilon) of a row.
template <typename Acc>
NEURONA_HD_INLINE Acc layer_norm_inv_std(Acc variance, Acc epsilon) {
  return Acc(1) / std::sqrt(variance + epsilon);
}

/// y of one value: (x - mean) * inv + beta[j], inv = inv_std * gamma[j]. Keras's formula,
/// x * inv + (beta - mean * inv), is the same in exact arithmetic, but where the mean is large
/// against the spread x * inv and mean * inv cancel and lose the digits that subtracting the
/// mean first keeps. A null gamma or beta is none (1 and 0).
template <typename Acc, typename P>
NEURONA_HD_INLINE Acc layer_norm_output(Acc x, Acc mean, Acc inv_std, const P* gamma, const P* beta,
                                        std::int64_t j) {
  const Acc inv = gamma != nullptr ? inv_std * static_cast<Acc>(gamma[j]) : inv_std;
  const Acc centred = (x - mean) * inv;
  return beta != nullptr ? centred + static_cast<Acc>(beta[j]) : centred;
}

/// The gradient of a row's input given its values' dxhat = dy * gamma and xhat =
/// (x - mean) * inv_std, over n features:
///   dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),
/// with mean_dxhat = sum(dxhat) / n and mean_dxhat_xhat = sum(dxhat * xhat) / n given.
template <typename Acc>
NEURONA_HD_INLINE Acc layer_norm_input_gradient(Acc dxhat, Acc xhat, Acc inv_std, Acc mean_dxhat,
                                                Acc mean_dxhat_xhat) {
  return inv_std * ((dxhat - mean_dxhat) - xhat * mean_dxhat_xhat);
}

}  // namespace neurona::kernels
