// The dispatch stubs of kernels/rnn.h's fused recurrent op: the signatures the CUDA kernel
// implements (there is no CPU one) and the tables the front doors in kernels/rnn.cpp call.
// Private to kernels/.
#pragma once

#include <cstdint>
#include <vector>

#include "neurona/core/tensor.h"
#include "neurona/kernels/dispatch.h"
#include "neurona/kernels/rnn.h"

namespace neurona::kernels {

/// Sizes of one fused call, checked by the front door.
struct RNNGeometry {
  RNNMode mode = RNNMode::lstm;
  std::int64_t batch = 0, steps = 0, input_size = 0, units = 0;
  /// Per sequence; empty: every sequence has `steps` steps.
  std::vector<std::int32_t> lengths;
};

/// Writes y (batch, steps, units), h and (LSTM) c (batch, units), and, when `reserve` is
/// defined on entry as an empty uint8 tensor, replaces it with the backward pass's state.
using RNNForwardFn = void (*)(const RNNGeometry& g, const Tensor& x, const Tensor& h0,
                              const Tensor& c0, const Tensor& kernel,
                              const Tensor& recurrent_kernel, const Tensor& bias, bool training,
                              Tensor& y, Tensor& h, Tensor& c, Tensor& reserve);

/// Writes dx, dh0, dc0 (LSTM) and, when `weights` is true, dkernel, drecurrent_kernel, dbias
/// (all allocated by the front door). dy, dh, dc are the gradients of y, h, c (dc undefined for
/// a GRU).
using RNNBackwardFn = void (*)(const RNNGeometry& g, const Tensor& x, const Tensor& h0,
                               const Tensor& c0, const Tensor& kernel,
                               const Tensor& recurrent_kernel, const Tensor& bias, const Tensor& y,
                               const Tensor& reserve, const Tensor& dy, const Tensor& dh,
                               const Tensor& dc, bool weights, Tensor& dx, Tensor& dh0, Tensor& dc0,
                               Tensor& dkernel, Tensor& drecurrent_kernel, Tensor& dbias);

extern DispatchStub<RNNForwardFn> rnn_forward_stub;
extern DispatchStub<RNNBackwardFn> rnn_backward_stub;

}  // namespace neurona::kernels
