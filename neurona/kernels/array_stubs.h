// The dispatch stubs of kernels/array.h's ops: the signatures the CPU and CUDA kernels
// implement, and the tables the front doors in kernels/array.cpp call (and define).
// Private to kernels/.
#pragma once

#include <cstdint>
#include <vector>

#include "neurona/core/device.h"
#include "neurona/core/tensor.h"
#include "neurona/kernels/dispatch.h"

namespace neurona::kernels {

/// Copies `height` rows of `width` bytes with the given pitches, on one device.
using Copy2dFn = void (*)(Device d, void* dst, std::int64_t dpitch, const void* src,
                          std::int64_t spitch, std::int64_t width, std::int64_t height);

using GatherFn = void (*)(const Tensor& x, const Tensor& indices, Tensor& out);

/// out[indices[i], :] += updates[i, :]; out starts as zeros.
using ScatterAddFn = void (*)(const Tensor& indices, const Tensor& updates, Tensor& out);

using OneHotFn = void (*)(const Tensor& indices, double on, double off, Tensor& out);

extern DispatchStub<Copy2dFn> copy2d_stub;

extern DispatchStub<GatherFn> gather_stub;

extern DispatchStub<ScatterAddFn> scatter_add_stub;

extern DispatchStub<OneHotFn> one_hot_stub;

}  // namespace neurona::kernels
