// Keras's dtype policies: the dtype a layer computes in and the dtype of its weights.
//
//   nr::mixed_precision::set_global_policy("mixed_bfloat16");
//   auto model = nr::Sequential({Input({28, 28, 1}), Conv2D(32, 3, {.activation = "relu"}),
//                                ..., Dense(10), Activation("softmax", {.dtype = "float32"})});
//
// "float32", "float64", "bfloat16" and "float16" compute and keep their weights in that dtype;
// "mixed_bfloat16" and "mixed_float16" compute in 16 bits and keep float32 weights (the master
// copy the optimizer updates). A layer made without a dtype takes the global policy at the time
// it is made; losses and metrics compute in float32 whatever the policy.
#pragma once

#include <string>
#include <string_view>

#include "neurona/core/dtype.h"

namespace neurona {

class DTypePolicy {
 public:
  /// No policy given: a layer made with it takes the global policy.
  DTypePolicy() = default;
  /// The policy of one dtype ("float32", ...): compute and variables in it.
  DTypePolicy(DType dtype);  // NOLINT: implicit, so that `.dtype = DType::float64` reads well
  /// "float32", "float64", "bfloat16", "float16", "mixed_bfloat16" or "mixed_float16";
  /// ValueError otherwise.
  DTypePolicy(std::string_view name);                                            // NOLINT
  DTypePolicy(const char* name) : DTypePolicy(std::string_view(name)) {}         // NOLINT
  DTypePolicy(const std::string& name) : DTypePolicy(std::string_view(name)) {}  // NOLINT

  /// Whether a policy was given (a default-made one stands for "the global policy").
  bool is_set() const { return !name_.empty(); }
  /// The policy's name; for one not given, the global policy's.
  std::string name() const;
  DType compute_dtype() const;
  DType variable_dtype() const;
  /// The policy a layer gets: this one if given, else the global policy.
  DTypePolicy resolved() const;

 private:
  std::string name_;
  DType compute_ = DType::float32;
  DType variable_ = DType::float32;
};

namespace mixed_precision {
/// Keras's keras.mixed_precision.set_global_policy: the policy of layers made after it
/// without a dtype of their own. ValueError for an unknown name.
void set_global_policy(const DTypePolicy& policy);
/// The global policy ("float32" unless set).
DTypePolicy global_policy();
}  // namespace mixed_precision

}  // namespace neurona
