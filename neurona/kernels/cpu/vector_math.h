// Float32 erf, tanh, both forms of gelu and their gradients, and the attention's exp, on the
// CPU through glibc's vector math library (libmvec, part of libc6; libm.so links it as needed):
// its SIMD erff, expf and tanhf compute eight floats at a time on a CPU with AVX2 and four
// otherwise (the build's baseline ISA, SSE; on x86-64 the functions are compiled for both and the
// program picks when it loads, so the same binary's results differ in their last bits between
// CPUs with and without AVX2; CI runs the variant of its own CPU only). Builds without libmvec
// and clang's (the fuzz build) call the scalar functions.
// `build/benchmarks/bench_vector_math` measures them against glibc's scalar functions: on the
// 2-core development machine (AVX2) erf 13x faster (the scalar calls were 11% of a charlm
// training step on the CPU) within 1.9 ulp (scalar: 0.9), tanh 13x within 1.0 ulp (scalar: 2.1),
// exp 4x within 2.6 ulp (scalar: 0.5; used in gelu's gradient and the CPU attention's
// probabilities); the SSE variants were 10x, 9x and 2.3x within 1.9, 1.0 and 2.9 ulp. The
// formulas are the shared ones (math/elementwise_ops.h, math/attention_ops.h).
//
// Every element goes through the SIMD functions (the inputs are cut into padded blocks): a loop
// with a scalar remainder would give an element a value that depends on where a thread's part
// of the loop ends, and so on the number of threads.
#pragma once

#include <cstdint>

namespace neurona::kernels::cpu {

/// out[i] = erf(x[i]).
void vector_erf(const float* x, float* out, std::int64_t n);
/// out[i] = gelu(x[i]), the exact (erf) form.
void vector_gelu(const float* x, float* out, std::int64_t n);
/// out[i] = grad[i] * gelu'(x[i]), the exact form.
void vector_gelu_grad(const float* grad, const float* x, float* out, std::int64_t n);
/// out[i] = tanh(x[i]).
void vector_tanh(const float* x, float* out, std::int64_t n);
/// gelu's tanh form and its gradient.
void vector_gelu_approximate(const float* x, float* out, std::int64_t n);
void vector_gelu_approximate_grad(const float* grad, const float* x, float* out, std::int64_t n);
/// out[i] = attention_exp(x[i] - shift) (math/attention_ops.h: exp, +0 below exp(-104)) on the
/// calling thread: a row of an attention block's probabilities (the CPU attention kernels run it
/// inside their tasks), a chunk of a cross entropy's row (cpu/loss.cpp). x and out may be the
/// same array.
void vector_attention_exp(const float* x, float shift, float* out, std::int64_t n);
/// The sum of attention_exp(x[i] - shift) over x[0, n), in float64, on the calling thread: a
/// softmax row's normalizer (the cross entropy's and the log-softmax's, cpu/loss.cpp and
/// cpu/reduction.cpp).
double vector_exp_sum(const float* x, float shift, std::int64_t n);

}  // namespace neurona::kernels::cpu
