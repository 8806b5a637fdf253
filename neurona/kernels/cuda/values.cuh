// Loads and stores of float data in CUDA kernels that compute in float (float32 and 16-bit
// data) or double (float64): the accumulator type and the 16-bit conversions, shared by the
// normalization kernels (batch_norm.cu, layer_norm.cu).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <type_traits>

#include "neurona/core/half.h"

namespace neurona::kernels::cuda {

// The accumulator, and the dtype of a kernel's statistics and parameters: float for float32
// and 16-bit data, double for float64.
template <typename T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// 16-bit values through the hardware's conversions (one instruction each); half.h's portable
// ones give the same bits with a dozen integer operations.
template <typename T>
__device__ __forceinline__ acc_t<T> load_value(T v) {
  if constexpr (std::is_same_v<T, bfloat16>) {
    return __bfloat162float(__ushort_as_bfloat16(v.bits));
  } else if constexpr (std::is_same_v<T, float16>) {
    return __half2float(__ushort_as_half(v.bits));
  } else {
    return v;
  }
}

template <typename T>
__device__ __forceinline__ T store_value(acc_t<T> v) {
  if constexpr (std::is_same_v<T, bfloat16>) {
    return bfloat16::from_bits(__bfloat16_as_ushort(__float2bfloat16_rn(v)));
  } else if constexpr (std::is_same_v<T, float16>) {
    return float16::from_bits(__half_as_ushort(__float2half_rn(v)));
  } else {
    return v;
  }
}

}  // namespace neurona::kernels::cuda
