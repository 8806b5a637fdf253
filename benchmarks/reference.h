// The direct library calls the benchmarks compare neurona against, behind plain C++ so that
// the benchmarks themselves need no CUDA header.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <vector>

namespace neurona::bench {

/// Seconds per n x n x n SGEMM through cuBLAS directly (median of `reps` after a warm-up),
/// or a negative number when the CUDA reference is not built or no GPU is present. `tf32`
/// selects CUBLAS_TF32_TENSOR_OP_MATH, else CUBLAS_DEFAULT_MATH (plain FP32).
double cublas_sgemm_seconds(int n, int reps, bool tf32);

/// As cublas_sgemm_seconds for a bfloat16 GEMM (cublasGemmEx, CUDA_R_16BF operands and result,
/// CUBLAS_COMPUTE_32F: what neurona's matmul calls for bfloat16).
double cublas_gemm_bf16_seconds(int n, int reps);

/// What the CUDA reference runs on ("NVIDIA H200, cuBLAS 13.0.2"), or why it does not.
std::string cublas_description();

/// Why no CUDA GPU can be used: the CUDA runtime's own words for the failure of
/// cudaGetDeviceCount ("CUDA driver version is insufficient for CUDA runtime version"), "no
/// CUDA device", "CUDA not built"; empty when a GPU is there.
std::string cuda_unavailable_reason();

/// An undilated float32 convolution with the same rows (and columns) of zeros on each side
/// (valid: 0; 'same' of a 3x3 window at stride 1: 1), NHWC, grouped or not, as cuDNN is given it.
struct ConvProblem {
  int n = 0, h = 0, w = 0, c = 0;  // input
  int kh = 0, kw = 0, filters = 0;
  int pad_h = 0, pad_w = 0;
  int stride = 1;  // both axes
  int groups = 1;  // divides c and filters (c: depthwise)
  int out_h() const { return (h + 2 * pad_h - kh) / stride + 1; }
  int out_w() const { return (w + 2 * pad_w - kw) / stride + 1; }
};

/// What the direct cuDNN convolution measured and computed.
struct ConvResult {
  /// Seconds per call of each direction (median over repetitions), negative when not run.
  double forward_s = -1, backward_input_s = -1, backward_kernel_s = -1;
  /// The last results: y (NHWC), dx (NHWC) and dw in cuDNN's filter layout (filters, kh, kw,
  /// c / groups).
  std::vector<float> y, dx, dw;
  /// The algorithm cudnnFind*Ex picked per direction (forward, input gradient, kernel
  /// gradient), with the math type and workspace it reported: "IMPLICIT_PRECOMP_GEMM
  /// TENSOR_OP_MATH 0.1 MiB".
  std::array<std::string, 3> algorithms;
};

/// Forward, input gradient and kernel gradient of `p` through cuDNN's legacy API directly: the
/// algorithm of each direction picked once by cudnnFind*Ex (fastest that succeeds) with one
/// workspace allocated up front; CUDNN_TENSOR_OP_MATH when `tf32`, else CUDNN_FMA_MATH, as
/// neurona's kernels/cuda/conv.cpp sets it. `x` is NHWC, `w` (filters, kh, kw, c / groups), `dy`
/// the output's NHWC gradient. Each timed region is `inner` calls between two device
/// synchronisations, after one warm-up region; the median of `reps` regions over `inner`.
/// Throws std::runtime_error naming the failed call; without CUDA, returns negative times.
ConvResult cudnn_conv2d(const ConvProblem& p, const std::vector<float>& x,
                        const std::vector<float>& w, const std::vector<float>& dy, bool tf32,
                        int reps, int inner);

/// Seconds per device-to-device cudaMemcpyAsync of `bytes` (timed as cudnn_conv2d is), or a
/// negative number without CUDA or a GPU.
double memcpy_d2d_seconds(std::size_t bytes, int reps, int inner);

/// The cuDNN the reference runs ("cuDNN 9.19.0 (header 9.19.0)"), or why it does not.
std::string cudnn_description();

}  // namespace neurona::bench
