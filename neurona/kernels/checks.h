// Argument checks shared by the front doors, with messages that name the op and the
// argument: `add: argument y is on cuda:0 but x is on cpu`.
#pragma once

#include <initializer_list>
#include <utility>

#include "neurona/core/tensor.h"

namespace neurona::kernels {

using NamedTensor = std::pair<const char*, const Tensor*>;

/// Every tensor is defined and on one device, which exists; returns that device.
Device check_same_device(const char* op, std::initializer_list<NamedTensor> args);
/// Every tensor has the same dtype.
void check_same_dtype(const char* op, std::initializer_list<NamedTensor> args);
/// The tensor is float32 or float64.
void check_floating(const char* op, const char* arg, const Tensor& t);
/// The tensor holds integers (int32, int64 or uint8).
void check_integer(const char* op, const char* arg, const Tensor& t);
/// The integers an integer dtype holds, as doubles: [lo, end) (uint8 [0, 256), int32 [-2^31,
/// 2^31), int64 [-2^63, 2^63)). For the checks of numbers meant for such a tensor.
struct IntegerRange {
  double lo, end;
};
IntegerRange integer_range(DType dtype);

/// Float class labels or indices about to be truncated to integers hold no NaN or infinity
/// (the cast would make them class 0 or the dtype's end). Checked on the CPU only: a GPU would
/// need a host synchronisation, so there they are not read (as the range of GPU labels).
void check_finite_indices(const char* op, const char* arg, const Tensor& t);

}  // namespace neurona::kernels
