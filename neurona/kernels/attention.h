// Scaled dot-product attention as fused kernels: the front doors. The forward pass is a
// flash-attention walk over key blocks with an online softmax, so the (Tq, Tk) attention matrix
// is never held whole (memory linear in the sequence length); it returns the output and each
// query row's log-sum-exp, from which the backward pass recomputes the probabilities (issue 19).
#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include "neurona/core/philox.h"
#include "neurona/core/tensor.h"

namespace neurona::kernels {

/// keras.ops.dot_product_attention's options, and dropout on the probabilities (what
/// MultiHeadAttention's dropout does) with an explicit random key, so that the backward pass
/// drops what the forward pass dropped.
struct AttentionOptions {
  /// Broadcastable to (B, N, Tq, Tk), any dtype, nonzero = attend; undefined: none.
  Tensor mask = {};
  /// Query i attends keys j <= i (Keras's tril(ones(Tq, Tk)), aligned at the top left).
  bool is_causal = false;
  /// Query i attends keys i - left .. i + right only (jax.nn.dot_product_attention's
  /// local_window_size; both >= 0); none: every key. Key blocks outside the band are skipped
  /// where every query row sees a key (no mask).
  std::optional<std::pair<std::int64_t, std::int64_t>> local_window_size = std::nullopt;
  /// The logits' factor; default 1 / sqrt(H).
  std::optional<double> scale = std::nullopt;
  /// Probability of dropping each attention probability, in [0, 1); the rest are scaled by
  /// 1 / (1 - rate). Element (b, n, i, j) draws from Philox with `dropout_key`.
  double dropout_rate = 0.0;
  RandomKey dropout_key = {};
  /// Where defined, the dropout key's (seed, counter) as int64 (2,) on the query's device, read
  /// there instead of `dropout_key`: a copy of a SeedGenerator's state, which a captured graph's
  /// replays renew on the device.
  Tensor dropout_key_state = {};
  /// Element (b, n, i, j) draws as element ((b * N + n) * Tq + i) * Tk + j + dropout_offset of
  /// the stream: a data-parallel replica's rows of the global batch's draw.
  std::int64_t dropout_offset = 0;
};

/// What attention_forward returns: the output (B, Tq, N, Hv), in the inputs' dtype, and each
/// query row's log-sum-exp of its scaled logits, float32 (float64 for float64 inputs), shaped
/// (B, N, Tq); -inf marks a row whose keys are all masked (it attends all Tk keys uniformly, as
/// Keras's masks give).
struct AttentionForward {
  Tensor out, lse;
};

/// softmax(scale * Q K^T, masked) V per batch and head, with query (B, Tq, N, H), key
/// (B, Tk, Nk, H), value (B, Tk, Nk, Hv) ("BTNH", Keras's and cuDNN's BSHD layout); N a
/// multiple of Nk (grouped-query attention: query head n uses key head n / (N / Nk)). float32,
/// float64, bfloat16 or float16, all three the same dtype and device.
///   auto [out, lse] = kernels::attention_forward(q, k, v, {.is_causal = true});
AttentionForward attention_forward(const Tensor& query, const Tensor& key, const Tensor& value,
                                   const AttentionOptions& options = {});

/// The gradients of attention_forward.
struct AttentionGradients {
  Tensor dquery, dkey, dvalue;
};

/// The gradients of attention_forward's output given its gradient `grad_out` (the output's
/// shape and dtype), from the forward pass's inputs, output and lse, with the same options
/// (the same dropout key drops the same elements).
AttentionGradients attention_backward(const Tensor& grad_out, const Tensor& query,
                                      const Tensor& key, const Tensor& value, const Tensor& out,
                                      const Tensor& lse, const AttentionOptions& options = {});

}  // namespace neurona::kernels
