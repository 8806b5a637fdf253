// Reductions over any set of axes, argmax/argmin, and numerically stable softmax.
#pragma once

#include <initializer_list>
#include <optional>
#include <vector>

#include "neurona/core/op_options.h"
#include "neurona/core/tensor.h"

namespace neurona::kernels {

/// Which axes of `shape` `axes` names (every one for Axes()): ShapeError naming `op` for an axis
/// out of range, ValueError for one listed twice. The reductions' own check, for the ops made
/// of reductions (rms_normalization, normalize) to name themselves.
std::vector<bool> reduced_axes(const Shape& shape, const Axes& axes, const char* op);

/// Sum over `axes`; keepdims leaves them with size 1. Integer sums wrap around.
Tensor sum(const Tensor& x, Axes axes = {}, bool keepdims = false);
/// Mean over `axes` (NaN over zero elements); integer inputs give float32, as Keras does.
Tensor mean(const Tensor& x, Axes axes = {}, bool keepdims = false);
/// Maximum / minimum over `axes` (-inf / +inf over zero elements for floats); NaN propagates.
Tensor max(const Tensor& x, Axes axes = {}, bool keepdims = false);
Tensor min(const Tensor& x, Axes axes = {}, bool keepdims = false);
/// Index (int64) of the largest / smallest element along `axis`, or of the flattened tensor
/// when no axis is given; ties give the first index, and the first NaN wins (as NumPy).
Tensor argmax(const Tensor& x, std::optional<int> axis = std::nullopt, bool keepdims = false);
Tensor argmin(const Tensor& x, std::optional<int> axis = std::nullopt, bool keepdims = false);

/// exp(x) / sum(exp(x)) along `axis`, computed with the maximum subtracted first.
Tensor softmax(const Tensor& x, int axis = -1);
/// x - log(sum(exp(x))) along `axis`, stable for large magnitudes.
Tensor log_softmax(const Tensor& x, int axis = -1);

}  // namespace neurona::kernels
