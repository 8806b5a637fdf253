// The libmvec paths of cpu/vector_math.h. The SIMD declarations below are glibc's own, which
// <math.h> makes only under -ffast-math (not used by neurona); they live in this file alone so
// that the compiler's auto-vectorizer cannot reach for them in loops elsewhere that have a
// scalar remainder. Without libmvec (the build's check, NEURONA_HAVE_LIBMVEC) the same blocks
// call the scalar functions.
#include "neurona/kernels/cpu/vector_math.h"

#include <algorithm>
#include <cmath>

#include "neurona/kernels/cpu/lanes.h"
#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/math/attention_ops.h"
#include "neurona/kernels/math/elementwise_ops.h"

// GCC calls libmvec's SIMD variants from `#pragma omp simd` loops; clang (the fuzz build) does
// not use these declarations and warns that it cannot vectorise such loops, so it gets plain
// loops and the scalar functions. The functions that hold such loops are compiled twice
// (NEURONA_SIMD_CLONES, GCC's target_clones): for the build's baseline ISA, where GCC calls
// libmvec's 4-wide SSE variants, and for AVX2, where it calls the 8-wide AVX2 ones (exp 1.7x,
// erf 1.3x, tanh 1.35x faster on the development machine, bench_vector_math); the program
// picks one clone for the CPU it runs on when it loads (an ifunc). The OpenMP-parallel loops
// call such a function per block, since GCC does not clone the bodies that OpenMP outlines.
#if defined(NEURONA_HAVE_LIBMVEC) && !defined(__clang__)  // neurona/CMakeLists.txt's check
#define NEURONA_SIMD_LOOP _Pragma("omp simd")
#if defined(__x86_64__)  // x86-64 ISAs (the check also passes where glibc has AArch64 variants)
#define NEURONA_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NEURONA_SIMD_CLONES
#endif
extern "C" {
#pragma omp declare simd notinbranch
float erff(float) noexcept;
#pragma omp declare simd notinbranch
float expf(float) noexcept;
#pragma omp declare simd notinbranch
float tanhf(float) noexcept;
}
#else
#define NEURONA_SIMD_LOOP
#define NEURONA_SIMD_CLONES
#endif

namespace neurona::kernels::cpu {

namespace {

// Elements per block: a whole number of SIMD vectors of every width libmvec has (4, 8, 16).
constexpr std::int64_t kBlock = 64;

// result[j] = f(in[0][j][, in[1][j]]) for the kBlock elements of a block.
template <int Inputs, typename F>
NEURONA_SIMD_CLONES void simd_block(const float (&in)[Inputs][kBlock], float (&result)[kBlock],
                                    const F& f) {
  NEURONA_SIMD_LOOP
  for (std::int64_t j = 0; j < kBlock; ++j) {
    if constexpr (Inputs == 1) {
      result[j] = f(in[0][j]);
    } else {
      result[j] = f(in[0][j], in[1][j]);
    }
  }
}

// Runs f over `inputs` (one or two arrays of n floats) into out, block by block on the OpenMP
// threads; the last block is padded with zeros, so that its elements take the SIMD path too.
template <int Inputs, typename F>
void blocked(const float* const (&inputs)[Inputs], float* out, std::int64_t n, const F& f) {
  const std::int64_t blocks = (n + kBlock - 1) / kBlock;
  Launch{}(blocks, kBlock, [&](std::int64_t b) {
    const std::int64_t start = b * kBlock;
    const std::int64_t len = std::min(kBlock, n - start);
    float in[Inputs][kBlock] = {};
    float result[kBlock];
    for (int k = 0; k < Inputs; ++k) std::copy_n(inputs[k] + start, len, in[k]);
    simd_block<Inputs>(in, result, f);
    std::copy_n(result, len, out + start);
  });
}

}  // namespace

void vector_erf(const float* x, float* out, std::int64_t n) {
  blocked<1>({x}, out, n, [](float v) { return unary_apply<UnaryOp::erf, float>(v, 0.0f); });
}

void vector_gelu(const float* x, float* out, std::int64_t n) {
  blocked<1>({x}, out, n, [](float v) { return unary_apply<UnaryOp::gelu, float>(v, 0.0f); });
}

void vector_gelu_grad(const float* grad, const float* x, float* out, std::int64_t n) {
  blocked<2>({grad, x}, out, n,
             [](float g, float v) { return binary_apply<BinaryOp::gelu_grad, float>(g, v); });
}

void vector_tanh(const float* x, float* out, std::int64_t n) {
  blocked<1>({x}, out, n, [](float v) { return unary_apply<UnaryOp::tanh, float>(v, 0.0f); });
}

void vector_gelu_approximate(const float* x, float* out, std::int64_t n) {
  blocked<1>({x}, out, n,
             [](float v) { return unary_apply<UnaryOp::gelu_approximate, float>(v, 0.0f); });
}

void vector_gelu_approximate_grad(const float* grad, const float* x, float* out, std::int64_t n) {
  blocked<2>({grad, x}, out, n, [](float g, float v) {
    return binary_apply<BinaryOp::gelu_approximate_grad, float>(g, v);
  });
}

NEURONA_SIMD_CLONES void vector_attention_exp(const float* x, float shift, float* out,
                                              std::int64_t n) {
  constexpr float kZeroBelow = attention_exp_zero_below<float>();
  for (std::int64_t start = 0; start < n; start += kBlock) {
    const std::int64_t len = std::min(kBlock, n - start);
    // The padding is 0 after the shift (a padded x of 0 minus a very negative row maximum, a
    // hidden key's logit, would overflow).
    float v[kBlock] = {};
    float e[kBlock];
    for (std::int64_t j = 0; j < len; ++j) v[j] = x[start + j] - shift;
    // attention_exp without its branch around the call, so that the loops vectorise: exp of 0
    // where the result is +0 (below the bound, where a hidden key's logit lands: an argument
    // that underflows would send its lane to the C library's slow scalar path), then +0 there.
    // In three loops: with the select and the call in one, GCC 12 splits the loop on the
    // constant exp(0) and vectorises none of it.
    NEURONA_SIMD_LOOP
    for (std::int64_t j = 0; j < kBlock; ++j) e[j] = v[j] < kZeroBelow ? 0.0f : v[j];
    NEURONA_SIMD_LOOP
    for (std::int64_t j = 0; j < kBlock; ++j) e[j] = std::exp(e[j]);
    NEURONA_SIMD_LOOP
    for (std::int64_t j = 0; j < kBlock; ++j) e[j] = v[j] < kZeroBelow ? 0.0f : e[j];
    std::copy_n(e, len, out + start);
  }
}

double vector_exp_sum(const float* x, float shift, std::int64_t n) {
  constexpr std::int64_t kChunk = 4 * kBlock;  // on the stack
  double sum = 0;
  float e[kChunk];
  for (std::int64_t c = 0; c < n; c += kChunk) {
    const std::int64_t len = std::min(kChunk, n - c);
    vector_attention_exp(x + c, shift, e, len);
    sum += lane_sum<double>(len, [&e](std::int64_t k) { return static_cast<double>(e[k]); });
  }
  return sum;
}

}  // namespace neurona::kernels::cpu
