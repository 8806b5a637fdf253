// Making tensors: from values (as tf.constant), filled, ranges, and random with Keras's
// distributions through the counter-based generator, so the same seed gives the same values
// on every device.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <vector>

#include "neurona/core/tensor.h"

namespace neurona {

class SeedGenerator;  // core/random.h

struct UniformOptions {
  double minval = 0.0;
  double maxval = 1.0;
  DType dtype = DType::float32;
  std::optional<Device> device = std::nullopt;
  /// A fixed stream for this call; without it the global seed (set_seed) and call count.
  std::optional<std::uint64_t> seed = std::nullopt;
  /// Draw from this generator instead (Keras's seed=SeedGenerator): a new stream each call,
  /// advanced on the device, so that captured graphs draw anew on each replay.
  SeedGenerator* seed_generator = nullptr;
};

}  // namespace neurona

namespace neurona {

struct NormalOptions {
  double mean = 0.0;
  double stddev = 1.0;
  DType dtype = DType::float32;
  std::optional<Device> device = std::nullopt;
  std::optional<std::uint64_t> seed = std::nullopt;
  SeedGenerator* seed_generator = nullptr;
};

}  // namespace neurona

namespace neurona::kernels {

/// A scalar: `nr::constant(3.0)`.
Tensor constant(double value, TensorOptions options = {});
/// From nested lists, the shape taken from the nesting or given (then the element counts must
/// agree, or a single value fills the shape):
/// `nr::constant({{1, 2.}}, {1, 2})`, `nr::constant({1, 2, 3}, {.dtype = nr::int32})`.
Tensor constant(std::initializer_list<double> values, TensorOptions options = {});
Tensor constant(std::initializer_list<double> values, const Shape& shape,
                TensorOptions options = {});
Tensor constant(std::initializer_list<std::initializer_list<double>> values,
                TensorOptions options = {});
Tensor constant(std::initializer_list<std::initializer_list<double>> values, const Shape& shape,
                TensorOptions options = {});
Tensor constant(std::initializer_list<std::initializer_list<std::initializer_list<double>>> values,
                TensorOptions options = {});
Tensor constant(std::initializer_list<std::initializer_list<std::initializer_list<double>>> values,
                const Shape& shape, TensorOptions options = {});

/// From a flat vector in row-major order; the dtype is the vector's element type.
template <typename T>
Tensor constant(const std::vector<T>& values, const Shape& shape,
                std::optional<Device> device = std::nullopt);

Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
/// Every element `value`, converted to the dtype (saturating for integers).
Tensor fill(const Shape& shape, double value, TensorOptions options = {});
Tensor zeros_like(const Tensor& x);
Tensor ones_like(const Tensor& x);
Tensor fill_like(const Tensor& x, double value);

/// start, start + step, ... while < stop (> stop for a negative step), as keras.ops.arange.
Tensor arange(double start, double stop, double step = 1.0, TensorOptions options = {});
inline Tensor arange(double stop, TensorOptions options = {}) {
  return arange(0.0, stop, 1.0, options);
}

/// Uniform in [minval, maxval); integer dtypes draw integers in that range.
Tensor random_uniform(const Shape& shape, UniformOptions options = {});
/// Normal with the given mean and standard deviation (float dtypes).
Tensor random_normal(const Shape& shape, NormalOptions options = {});
/// Normal, redrawn when more than two standard deviations from the mean (Keras's definition).
Tensor truncated_normal(const Shape& shape, NormalOptions options = {});

/// The key of one draw from `generator` that a kernel makes itself, reading its key from a
/// tensor (the fused attention's dropout): a copy of the generator's (seed, counter) on
/// `device` (int64, (2,)), taken and the generator advanced past it by one kernel there, so
/// that each replay of a captured step takes a new key. Unlike the random ops it draws from
/// the generator inside a ScopedRandomStream too.
Tensor take_random_key(SeedGenerator& generator, Device device);

}  // namespace neurona::kernels
