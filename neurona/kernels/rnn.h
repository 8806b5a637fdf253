// The fused recurrent op: a whole LSTM or GRU sequence in one call (cuDNN's RNN API on a GPU),
// what the recurrent layers run where Keras would use cuDNN. Weights stay in Keras's layouts
// here; the CUDA kernel packs them into cuDNN's. There is no CPU kernel: the CPU runs the
// layers' generic loop of ops.
#pragma once

#include <cstdint>
#include <vector>

#include "neurona/core/tensor.h"

namespace neurona::kernels {

/// The cell of a fused recurrent op: Keras's LSTM (gates i, f, c, o; tanh and sigmoid) or GRU
/// with reset_after (gates z, r, h; bias (2, 3 * units): input and recurrent biases).
enum class RNNMode { lstm, gru };

/// Whether `device` has the fused recurrent kernels for `dtype` (a GPU of the CUDA build).
bool rnn_fused_available(Device device, DType dtype);

/// What rnn_fused_forward returns: the outputs of every step (batch, timesteps, units), the final
/// h and (LSTM) c (batch, units), and the state the backward pass needs (opaque bytes).
struct RNNFusedResult {
  Tensor y, h, c, reserve;
};

/// One LSTM or GRU layer over the sequence x (batch, timesteps, input_dim) from h0 (and, for an
/// LSTM, c0) of shape (batch, units): kernel (input_dim, gates * units), recurrent_kernel
/// (units, gates * units), bias (4 * units) for an LSTM, (2, 3 * units) for a GRU, all of x's
/// dtype and device (a dtype rnn_fused_available takes). `lengths` (batch,) are the sequences'
/// lengths, each 1 .. timesteps, for right-padded inputs (empty: all timesteps): outputs past a
/// sequence's length are zeros, and h, c are those at its last step. `training` keeps what the
/// backward pass needs in `reserve`.
RNNFusedResult rnn_fused_forward(RNNMode mode, const Tensor& x, const Tensor& h0, const Tensor& c0,
                                 const Tensor& kernel, const Tensor& recurrent_kernel,
                                 const Tensor& bias, const std::vector<std::int32_t>& lengths,
                                 bool training);

/// The gradients of rnn_fused_forward's arguments; undefined where not asked for.
struct RNNFusedGradients {
  Tensor dx, dh0, dc0, dkernel, drecurrent_kernel, dbias;
};

/// The gradients from those of y, h and c (dc undefined for a GRU), given the forward pass's
/// arguments, its y and its reserve. Fused (cuDNN's backward data and weights): no second
/// derivative.
RNNFusedGradients rnn_fused_backward(RNNMode mode, const Tensor& x, const Tensor& h0,
                                     const Tensor& c0, const Tensor& kernel,
                                     const Tensor& recurrent_kernel, const Tensor& bias,
                                     const std::vector<std::int32_t>& lengths, const Tensor& y,
                                     const Tensor& reserve, const Tensor& dy, const Tensor& dh,
                                     const Tensor& dc, bool weights_wanted);

}  // namespace neurona::kernels
