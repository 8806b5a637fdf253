// Dtype policies and the global policy.
#include "neurona/layers/dtype_policy.h"

#include <mutex>

#include "neurona/core/error.h"

namespace neurona {

namespace {
std::mutex global_mutex;
DTypePolicy& global() {
  static DTypePolicy policy(DType::float32);
  return policy;
}
}  // namespace

DTypePolicy::DTypePolicy(DType dtype)
    : name_(neurona::name(dtype)), compute_(dtype), variable_(dtype) {
  NEURONA_CHECK(is_floating(dtype), ValueError, "DTypePolicy: a layer computes in a float dtype ",
                "(float32, float64, bfloat16, float16), got ", dtype);
}

DTypePolicy::DTypePolicy(std::string_view name) {
  if (name == "mixed_bfloat16" || name == "mixed_float16") {
    name_ = std::string(name);
    compute_ = name == "mixed_bfloat16" ? DType::bfloat16 : DType::float16;
    variable_ = DType::float32;
    return;
  }
  DType dtype = DType::float32;
  try {
    dtype = dtype_from_string(name);
  } catch (const ValueError&) {
    dtype = DType::int32;  // reported below
  }
  NEURONA_CHECK(is_floating(dtype), ValueError, "DTypePolicy: unknown policy '", name,
                "'; valid policies are float32, float64, bfloat16, float16, mixed_bfloat16 and "
                "mixed_float16");
  *this = DTypePolicy(dtype);
}

DTypePolicy DTypePolicy::resolved() const {
  return is_set() ? *this : mixed_precision::global_policy();
}

std::string DTypePolicy::name() const {
  return is_set() ? name_ : mixed_precision::global_policy().name_;
}

DType DTypePolicy::compute_dtype() const {
  return is_set() ? compute_ : mixed_precision::global_policy().compute_;
}

DType DTypePolicy::variable_dtype() const {
  return is_set() ? variable_ : mixed_precision::global_policy().variable_;
}

namespace mixed_precision {
void set_global_policy(const DTypePolicy& policy) {
  const DTypePolicy p = policy.is_set() ? policy : DTypePolicy(DType::float32);
  std::lock_guard lock(global_mutex);
  global() = p;
}

DTypePolicy global_policy() {
  std::lock_guard lock(global_mutex);
  return global();
}
}  // namespace mixed_precision

}  // namespace neurona
