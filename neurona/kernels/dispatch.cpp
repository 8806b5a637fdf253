// The stub tables and their one-time registration.
#include "neurona/kernels/dispatch.h"

#include <mutex>

#include "neurona/config.h"

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

}  // namespace neurona::kernels
