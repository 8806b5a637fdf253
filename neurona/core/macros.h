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
