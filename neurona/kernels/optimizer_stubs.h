// The fused optimizer update's dispatch stubs: private to kernels/ (the front door in
// optimizer.cpp calls them; cpu/optimizer.cpp and cuda/optimizer.cu fill them).
#pragma once

#include <cstdint>
#include <vector>

#include "neurona/core/tensor.h"
#include "neurona/kernels/dispatch.h"
#include "neurona/kernels/optimizer.h"

namespace neurona::kernels {

/// `coefficients` holds OptimizerCoefficients<T> for the items' element type T; `plain` says
/// that no item clips, decays or uses amsgrad (the kernel's branch-free variant).
using OptimizerUpdateFn = void (*)(OptimizerRule rule, bool plain, const Tensor& coefficients,
                                   const std::vector<OptimizerTensors>& items);
/// x's elements are read with x's dtype; out[o] = sum over chunk o (of squares when `square`).
using SumSquaresFn = void (*)(const Tensor& x, bool square, std::int64_t chunk, const Tensor& out);

extern DispatchStub<OptimizerUpdateFn> optimizer_update_stub;
extern DispatchStub<SumSquaresFn> sum_squares_stub;

}  // namespace neurona::kernels
