// NEURONA_HD marks functions compiled for both the host and the GPU: the CPU loops and the
// CUDA kernels run the same arithmetic and indexing code.
#pragma once

#if defined(__CUDACC__)
#define NEURONA_HD __host__ __device__
#define NEURONA_HD_INLINE __host__ __device__ __forceinline__
#else
#define NEURONA_HD
#define NEURONA_HD_INLINE inline
#endif

namespace neurona {

// Products and sums rounded separately, never fused into an FMA: where the host and the GPU
// must give bit-identical results (random numbers, ranges), since nvcc fuses a * b + c by
// default and the host compiler does not. (The library's host code is built with
// -ffp-contract=off.)
NEURONA_HD_INLINE float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
NEURONA_HD_INLINE float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
NEURONA_HD_INLINE double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
NEURONA_HD_INLINE double add_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

}  // namespace neurona
