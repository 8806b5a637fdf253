// Shared argument checks for the front doors.
#include "neurona/kernels/checks.h"

#include <cmath>
#include <cstddef>
#include <vector>

namespace neurona::kernels {

Device check_same_device(const char* op, std::initializer_list<NamedTensor> args) {
  const NamedTensor* first = nullptr;
  for (const auto& a : args) {
    NEURONA_CHECK(a.second->defined(), ValueError, op, ": argument ", a.first,
                  " is an undefined tensor");
    if (!first) {
      first = &a;
    } else {
      NEURONA_CHECK(a.second->device() == first->second->device(), ValueError, op, ": argument ",
                    a.first, " is on ", a.second->device(), " but ", first->first, " is on ",
                    first->second->device(), "; move one with .to(device)");
    }
  }
  NEURONA_CHECK(first != nullptr, ValueError, op, ": no arguments");
  const Device d = first->second->device();
  check_device_available(d, op);
  return d;
}

void check_same_dtype(const char* op, std::initializer_list<NamedTensor> args) {
  const NamedTensor* first = nullptr;
  for (const auto& a : args) {
    if (!first) {
      first = &a;
      continue;
    }
    NEURONA_CHECK(a.second->dtype() == first->second->dtype(), ValueError, op, ": argument ",
                  a.first, " has dtype ", a.second->dtype(), " but ", first->first, " has dtype ",
                  first->second->dtype(), " (shapes ", a.second->shape(), " and ",
                  first->second->shape(), "); cast one with nr::cast");
  }
}

void check_floating(const char* op, const char* arg, const Tensor& t) {
  NEURONA_CHECK(is_floating(t.dtype()), ValueError, op, ": argument ", arg,
                " must be a float tensor (float32, float64, bfloat16, float16), got ", t.dtype(),
                " with shape ", t.shape());
}

void check_integer(const char* op, const char* arg, const Tensor& t) {
  NEURONA_CHECK(!is_floating(t.dtype()), ValueError, op, ": argument ", arg,
                " must be int32, int64 or uint8, got ", t.dtype(), " with shape ", t.shape());
}

IntegerRange integer_range(DType dtype) {
  switch (dtype) {
    case DType::uint8:
      return {0.0, 256.0};
    case DType::int32:
      return {-0x1p31, 0x1p31};
    case DType::int64:
      return {-0x1p63, 0x1p63};
    default:
      throw ValueError(detail::str("integer_range: ", dtype, " is not an integer dtype"));
  }
}

void check_finite_indices(const char* op, const char* arg, const Tensor& t) {
  if (!is_floating(t.dtype()) || !t.device().is_cpu() || t.numel() == 0) return;
  const std::vector<double> values = t.to_vector<double>();
  for (std::size_t i = 0; i < values.size(); ++i) {
    NEURONA_CHECK(std::isfinite(values[i]), ValueError, op, ": argument ", arg, " holds ",
                  values[i], " at index ", i, " (shape ", t.shape(), ", ", t.dtype(),
                  "); class labels and indices must be finite");
  }
}

}  // namespace neurona::kernels
