// Joining, slicing, gathering and one-hot encoding: what batching and labels need.
#pragma once

#include <cstdint>
#include <vector>

#include "neurona/core/tensor.h"

namespace neurona {

struct OneHotOptions {
  double on_value = 1.0;
  double off_value = 0.0;
  DType dtype = DType::float32;
};

}  // namespace neurona

namespace neurona::kernels {

/// Joins tensors along `axis`; all other dimensions, the dtype and the device must agree.
Tensor concat(const std::vector<Tensor>& tensors, int axis = 0);

/// Rows [start, stop) of the first axis, sharing storage: Python's x[start:stop].
Tensor slice(const Tensor& x, std::int64_t start, std::int64_t stop);

/// Rows of x picked by `indices` (int32 or int64, any shape): the result has shape
/// indices.shape + x.shape[1:]. An index outside [0, rows) is a ValueError on the CPU; on a
/// GPU it gives a row of zeros, as in TensorFlow (checking would stall the GPU).
Tensor gather(const Tensor& x, const Tensor& indices);

/// `length` entries of `axis` from `start` on (a copy): the inverse of concat along an axis.
Tensor narrow(const Tensor& x, int axis, std::int64_t start, std::int64_t length);

/// x with the entries of `axis` in reverse order (NumPy's flip), as a copy: one strided copy per
/// entry, no kernel of its own (what RandomFlip runs).
Tensor reverse(const Tensor& x, int axis);

/// x repeated along broadcast dimensions to `shape` (NumPy's broadcast_to, as a copy).
Tensor broadcast_to(const Tensor& x, const Shape& shape);

/// A (rows, ...) tensor of zeros with updates[i] added to row indices[i]: the gradient of
/// gather. updates has shape indices.shape + x.shape[1:]; float32 or float64. Indices outside
/// [0, rows) are a ValueError on the CPU and skipped on a GPU.
Tensor scatter_add_rows(const Tensor& indices, const Tensor& updates, std::int64_t rows);

/// indices.shape + (depth,): on_value at each index, off_value elsewhere; an index outside
/// [0, depth) gives a row of off_value, as tf.one_hot.
Tensor one_hot(const Tensor& indices, std::int64_t depth, OneHotOptions options = {});

}  // namespace neurona::kernels
