// Joining, slicing, gathering and one-hot encoding: what batching and labels need.
#pragma once

#include <cstdint>
#include <vector>

#include "neurona/core/tensor.h"

namespace neurona {

/// Joins tensors along `axis`; all other dimensions, the dtype and the device must agree.
Tensor concat(const std::vector<Tensor>& tensors, int axis = 0);

/// Rows [start, stop) of the first axis, sharing storage: Python's x[start:stop].
Tensor slice(const Tensor& x, std::int64_t start, std::int64_t stop);

/// Rows of x picked by `indices` (int32 or int64, any shape): the result has shape
/// indices.shape + x.shape[1:]. An index outside [0, rows) is a ValueError on the CPU; on a
/// GPU it gives a row of zeros, as in TensorFlow (checking would stall the GPU).
Tensor gather(const Tensor& x, const Tensor& indices);

struct OneHotOptions {
  double on_value = 1.0;
  double off_value = 0.0;
  DType dtype = DType::float32;
};

/// indices.shape + (depth,): on_value at each index, off_value elsewhere; an index outside
/// [0, depth) gives a row of off_value, as tf.one_hot.
Tensor one_hot(const Tensor& indices, std::int64_t depth, OneHotOptions options = {});

}  // namespace neurona
