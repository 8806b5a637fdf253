// The dispatch stubs of kernels/creation.h's ops: the signatures the CPU and CUDA kernels
// implement, and the tables the front doors in kernels/creation.cpp call (and define).
// Private to kernels/.
#pragma once

#include <cstdint>
#include <vector>

#include "neurona/core/philox.h"
#include "neurona/core/tensor.h"
#include "neurona/kernels/dispatch.h"

namespace neurona::kernels {

enum class RandomDist : std::uint8_t { uniform, normal, truncated_normal };

using FillFn = void (*)(double value, Tensor& out);

using ArangeFn = void (*)(double start, double step, Tensor& out);

/// `key_state`, where defined, is a SeedGenerator's (seed, counter) on the device: the kernel
/// reads its key there instead of `key` and then advances the counter there. out's element i
/// is element i + `offset` of the draw (a part of a larger tensor's).
using RandomFn = void (*)(RandomDist dist, double a, double b, RandomKey key,
                          const Tensor& key_state, std::int64_t offset, Tensor& out);

/// Copies a SeedGenerator's (seed, counter) `key_state` to `out` (int64, (2,)) and advances the
/// counter, on the device.
using TakeKeyFn = void (*)(const Tensor& key_state, Tensor& out);

extern DispatchStub<FillFn> fill_stub;

extern DispatchStub<ArangeFn> arange_stub;

extern DispatchStub<RandomFn> random_stub;

extern DispatchStub<TakeKeyFn> take_key_stub;

}  // namespace neurona::kernels
