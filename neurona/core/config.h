// Process-wide switches for how GPU kernels may compute, as TensorFlow's tf.config has them.
// They change nothing on the CPU, whose float32 results are always IEEE float32 and always the
// same from run to run.
#pragma once

namespace neurona::config {

/// Whether float32 matrix products and convolutions on NVIDIA GPUs may use TensorFloat-32
/// tensor cores (inputs rounded to a 10-bit mantissa, float32 accumulation): cuBLAS's TF32
/// math mode, cuBLASLt's CUBLAS_COMPUTE_32F_FAST_TF32, cuDNN's CUDNN_TENSOR_OP_MATH. On by
/// default, as tf.config.experimental.enable_tensor_float_32_execution is. Applies to the
/// products and convolutions issued after the call.
void enable_tensor_float_32_execution(bool enabled);
bool tensor_float_32_execution_enabled();

/// As tf.config.experimental.enable_op_determinism: GPU convolutions use only algorithms that
/// cuDNN reports deterministic, and GPU kernels that sum with atomics (the gradient of gather,
/// scatter_add_rows) throw NotImplementedError instead of giving results that vary from run to
/// run. Off by default. Applies to kernels issued after the call.
void enable_op_determinism(bool enabled = true);
bool op_determinism_enabled();

/// Whether Model::fit captures its training step into a CUDA graph once shapes are fixed and
/// replays it for each full batch (core/graph.h), so that a small model is not bound by the
/// cost of launching kernels. On by default; turn it off to debug a step (each op then runs as
/// it is called, and an error points at the op that raised it). Applies to fits started after
/// the call. NEURONA_CUDA_GRAPHS=0 in the environment makes the default off.
void enable_cuda_graphs(bool enabled);
bool cuda_graphs_enabled();

}  // namespace neurona::config
