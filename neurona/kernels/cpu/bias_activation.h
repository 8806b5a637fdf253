// The CPU's epilogue for fused ops (dense, conv2d): adds a bias along the last axis of a
// row-major (rows, n) result and applies the activation, in one pass over it. relu is the
// unfused relu's formula (kernels/math/elementwise_ops.h): NaN stays NaN.
#pragma once

#include <cstdint>

#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/linalg.h"
#include "neurona/kernels/math/elementwise_ops.h"

namespace neurona::kernels::cpu {

/// y[i, j] = act(y[i, j] + bias[j]); `bias` may be null (no bias).
template <typename T>
void bias_activation_rows(T* y, std::int64_t rows, std::int64_t n, const T* bias,
                          FusedActivation act) {
  if (bias == nullptr && act == FusedActivation::linear) return;
  const bool relu = act == FusedActivation::relu;
  Launch{}(rows, n, [=](std::int64_t i) {
    T* row = y + i * n;
    for (std::int64_t j = 0; j < n; ++j) {
      const T v = bias ? row[j] + bias[j] : row[j];
      row[j] = relu ? unary_apply<UnaryOp::relu, T>(v, T(0)) : v;
    }
  });
}

}  // namespace neurona::kernels::cpu
