// The stub tables and their one-time registration.
#include "neurona/kernels/dispatch.h"

#include <mutex>
#include <string>
#include <vector>

#include "neurona/config.h"
#include "neurona/core/registry.h"

namespace neurona::kernels {

void register_cpu_kernels();  // kernels/cpu/register.cpp
#if NEURONA_WITH_CUDA
void register_cuda_kernels();  // kernels/cuda/register.cpp
#endif

void ensure_kernels_registered() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_cpu_kernels();
#if NEURONA_WITH_CUDA
    register_cuda_kernels();
#endif
  });
}

std::string DTypeSet::str() const {
  std::vector<std::string> names;
  for (DType t : {DType::float32, DType::float64, DType::int32, DType::int64, DType::uint8,
                  DType::bfloat16, DType::float16}) {
    if (contains(t)) names.emplace_back(name(t));
  }
  return Registry<int>::join(names, " and ");
}

}  // namespace neurona::kernels
