// The direct library calls the benchmarks compare neurona against, behind plain C++ so that
// the benchmark itself needs no CUDA header.
#pragma once

#include <string>

namespace neurona::bench {

/// Seconds per n x n x n SGEMM through cuBLAS directly (median of `reps` after a warm-up),
/// or a negative number when the CUDA reference is not built or no GPU is present.
double cublas_sgemm_seconds(int n, int reps);

/// What the CUDA reference runs on ("NVIDIA H200, cuBLAS 13.0.2"), or why it does not.
std::string cublas_description();

}  // namespace neurona::bench
