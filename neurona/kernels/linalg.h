// Matrix products (OpenBLAS on the CPU, cuBLAS on the GPU) and axis permutation.
#pragma once

#include <utility>
#include <vector>

#include "neurona/core/op_options.h"
#include "neurona/core/tensor.h"

namespace neurona::kernels {

/// The product of the last two axes of a and b, batched over the leading axes with NumPy
/// broadcasting (`tf.linalg.matmul` / `np.matmul`): (..., m, k) x (..., k, n) -> (..., m, n).
/// A 1-D operand is a row (a) or column (b) vector whose axis is dropped from the result.
/// float32 and float64.
Tensor matmul(const Tensor& a, const Tensor& b, MatmulOptions options = {});

/// act(x @ kernel + bias) in one call: x (m, k), kernel (k, n), bias (n,) or undefined. On a
/// GPU one cuBLASLt matmul with the bias and activation in its epilogue (float32); on the CPU
/// an OpenBLAS GEMM and one pass for bias and activation.
Tensor dense(const Tensor& x, const Tensor& kernel, const Tensor& bias,
             FusedActivation activation = FusedActivation::linear);

/// A Dense layer's kernel and bias gradients in one call: x^T grad (k, n) and the sum of grad's
/// rows (n,), for x (m, k) and grad (m, n). On a GPU one cuBLASLt matmul that reduces the bias
/// gradient in its epilogue (float32; where cuBLASLt offers no algorithm for it, a matmul and a
/// sum); elsewhere a matmul and a sum.
std::pair<Tensor, Tensor> dense_backward_weights_bias(const Tensor& x, const Tensor& grad);

/// Permutes the axes: output axis i is input axis perm[i]; the default reverses them.
Tensor transpose(const Tensor& x, std::vector<int> perm = {});

}  // namespace neurona::kernels
