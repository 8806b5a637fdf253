// The ops users call, in namespace neurona: each runs its kernel front door and, when a
// GradientTape is recording, records its gradient rule. Rules are written with these same
// ops, so nested tapes give second derivatives. Ops without a gradient (comparisons, argmax,
// creation, random) are the kernels' own, re-exported here.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "neurona/core/tensor.h"
#include "neurona/kernels/array.h"
#include "neurona/kernels/conv.h"
#include "neurona/kernels/creation.h"
#include "neurona/kernels/elementwise.h"
#include "neurona/kernels/image.h"
#include "neurona/kernels/linalg.h"
#include "neurona/kernels/loss.h"
#include "neurona/kernels/reduction.h"
#include "neurona/kernels/rnn.h"

namespace neurona {

// Not differentiable (integer or boolean results, or no input to differentiate).
using kernels::arange;
using kernels::argmax;
using kernels::argmin;
using kernels::constant;
// Keras's crop_to_aspect_ratio window (image_resize's), for layers that crop without resizing.
using kernels::crop_to_aspect_box;
using kernels::equal;
using kernels::fill;
using kernels::fill_like;
using kernels::greater;
using kernels::greater_equal;
using kernels::ImageBox;
using kernels::less;
using kernels::less_equal;
using kernels::not_equal;
using kernels::one_hot;
using kernels::ones;
using kernels::ones_like;
using kernels::random_normal;
using kernels::random_uniform;
using kernels::rnn_fused_available;
using kernels::RNNMode;
using kernels::scalar_like;
using kernels::truncated_normal;
using kernels::zeros;
using kernels::zeros_like;

/// x + y with broadcasting (see kernels/elementwise.h for every elementwise op's contract).
Tensor add(const Tensor& x, const Tensor& y);
Tensor subtract(const Tensor& x, const Tensor& y);
Tensor multiply(const Tensor& x, const Tensor& y);
Tensor divide(const Tensor& x, const Tensor& y);
Tensor pow(const Tensor& x, const Tensor& y);
/// Gradient to x where x >= y (maximum) or x <= y (minimum), as TensorFlow.
Tensor maximum(const Tensor& x, const Tensor& y);
Tensor minimum(const Tensor& x, const Tensor& y);
Tensor where(const Tensor& condition, const Tensor& x, const Tensor& y);

Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor square(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor erf(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
/// Its gradient is zero (almost everywhere), as TensorFlow's.
Tensor floor(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor elu(const Tensor& x, double alpha = 1.0);
Tensor selu(const Tensor& x);
/// keras.activations.gelu(x): the exact erf form.
Tensor gelu(const Tensor& x);
/// keras.activations.gelu(x, approximate=True): the tanh form
/// 0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3))). (keras.ops.gelu defaults to it.)
Tensor gelu_approximate(const Tensor& x);
Tensor silu(const Tensor& x);
inline Tensor swish(const Tensor& x) {
  return silu(x);
}
Tensor softplus(const Tensor& x);
Tensor softsign(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.2);
Tensor hard_sigmoid(const Tensor& x);
/// Differentiable between float dtypes (the gradient is cast back).
Tensor cast(const Tensor& x, DType dtype);

Tensor sum(const Tensor& x, Axes axes = {}, bool keepdims = false);
Tensor mean(const Tensor& x, Axes axes = {}, bool keepdims = false);
/// The element-wise sum of `x` over the replicas of the data-parallel training step running on
/// this thread (jax.lax.psum, tf.distribute's ReplicaContext.all_reduce(SUM)); `x` itself
/// outside one. A collective: every replica calls it with the same shape and dtype, in the same
/// order. Its gradient keeps DataParallel's convention, where each replica differentiates its
/// own rows' mean loss and the weights' gradients are summed weighted by each replica's share
/// of the global batch: the sum over the replicas of share * gradient, divided by this
/// replica's share (zeros for a stand-in replica, whose share is 0).
Tensor replica_sum(const Tensor& x);
/// The gradient is shared equally among tied maxima (minima), as TensorFlow.
Tensor max(const Tensor& x, Axes axes = {}, bool keepdims = false);
Tensor min(const Tensor& x, Axes axes = {}, bool keepdims = false);
Tensor softmax(const Tensor& x, int axis = -1);
Tensor log_softmax(const Tensor& x, int axis = -1);
/// -log(softmax(logits)[label]) along the last axis, fused into one stable kernel (logsumexp
/// based: logits of 1e4 give finite values): logits (..., classes), integer labels (...) (float
/// labels are truncated), losses (...).
/// `nr::sparse_softmax_cross_entropy(logits, labels)` is
/// `-sum(one_hot(labels, classes) * log_softmax(logits), -1)` in one pass. Differentiable with
/// respect to the logits by a fused backward kernel (softmax - one_hot) * grad: no second
/// derivative. A label outside [0, classes) throws ValueError on the CPU; on a GPU its row is
/// NaN (never an out-of-bounds read).
Tensor sparse_softmax_cross_entropy(const Tensor& logits, const Tensor& labels);
/// -sum(targets * log_softmax(logits), -1), fused as above; targets shaped like the logits.
/// Differentiable with respect to both (fused backward kernel: no second derivative).
Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& targets);

/// keras.ops.dot_product_attention's options (bias, flash_attention and attn_logits_soft_cap
/// aside), and dropout on the attention probabilities, as MultiHeadAttention applies it.
struct DotProductAttentionOptions {
  /// Broadcastable to (B, N, Tq, Tk), any dtype, nonzero = attend; undefined: none.
  Tensor mask = {};
  /// Query i attends keys j <= i (Keras's tril(ones(Tq, Tk)): aligned at the top left, also
  /// when Tq != Tk).
  bool is_causal = false;
  /// Query i attends keys i - left .. i + right only (jax.nn.dot_product_attention's
  /// local_window_size, both >= 0; MultiHeadAttention's sliding_window w is (w - 1, w - 1)).
  /// The kernels skip the key blocks outside the band (no (Tq, Tk) mask is made).
  std::optional<std::pair<std::int64_t, std::int64_t>> local_window_size = std::nullopt;
  /// The logits' factor; default 1 / sqrt(H).
  std::optional<double> scale = std::nullopt;
  /// Probability of dropping each attention probability, in [0, 1); kept ones are scaled by
  /// 1 / (1 - rate).
  double dropout_rate = 0.0;
  /// Dropout's seed: a fixed stream; none: the global seed (set_seed) and its call counter.
  std::optional<std::uint64_t> seed = std::nullopt;
  /// Dropout's key from this generator instead, on the device (as Keras's layers draw from
  /// their SeedGenerator): a step with attention dropout can then be captured into a CUDA
  /// graph, each replay dropping anew, and a data-parallel replica drops its rows of what one
  /// process drops for the global batch. Give `seed` or `seed_generator`, not both.
  SeedGenerator* seed_generator = nullptr;
};

/// keras.ops.dot_product_attention(query, key, value, mask=..., scale=..., is_causal=...):
/// softmax(scale * Q K^T) V per batch and head, with query (B, Tq, N, H), key (B, Tk, Nk, H)
/// and value (B, Tk, Nk, Hv), "BTNH" (Keras's layout); N a multiple of Nk (grouped-query
/// attention, query head n reading key head n / (N / Nk)); output (B, Tq, N, Hv). float32,
/// float64, bfloat16 or float16 (16-bit: float32 accumulation). A query row whose keys are all
/// masked attends every key uniformly, as Keras's masks give (they replace masked logits by a
/// large negative number, not -inf). One fused kernel (kernels/attention.h) that never holds the
/// (Tq, Tk) matrix. Differentiable with respect to query, key and value by one fused backward
/// kernel: no second derivative.
///   auto out = nr::dot_product_attention(q, k, v, {.is_causal = true});
Tensor dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                             const DotProductAttentionOptions& options = {});

/// What batch_normalization_training returns: the normalized tensor, and the batch's mean and
/// biased variance (divided by the count, the variance Keras's moving variance averages) over
/// every axis but the normalized one, shaped (channels,).
struct BatchNormalizationOutputs {
  Tensor y;
  Tensor batch_mean;
  Tensor batch_variance;
};

/// Batch normalization with the batch's own statistics, as keras.layers.BatchNormalization
/// computes it in training: y = x * inv + (offset - mean * inv), inv = scale / sqrt(variance +
/// epsilon), the mean and biased variance taken over every axis of x but `axis`. `offset`
/// (beta) and `scale` (gamma) have shape (x.shape()[axis],) or are undefined for none (center
/// or scale false). For bfloat16 or float16 x, offset, scale and the statistics are float32 and
/// y is x's dtype (computed in float32, rounded once). One fused pass pair over the data
/// (kernels/batch_norm.h), not a chain of ops. Differentiable with respect to x, offset and
/// scale, through the batch statistics, by one fused backward op: no second derivative.
/// batch_mean and batch_variance carry no gradient (as tf.nn.fused_batch_norm's): they are for
/// the moving averages.
///   auto [y, mean, variance] = nr::batch_normalization_training(x, -1, beta, gamma, 1e-3);
BatchNormalizationOutputs batch_normalization_training(const Tensor& x, int axis,
                                                       const Tensor& offset, const Tensor& scale,
                                                       double epsilon = 1e-3);
/// keras.ops.batch_normalization(x, mean, variance, axis, offset, scale, epsilon): the same
/// normalization with given statistics (a layer's moving ones, in inference), in one elementwise
/// kernel; dtypes as above. Differentiable with respect to every tensor argument, by gradients
/// written in differentiable ops (second derivatives work).
Tensor batch_normalization(const Tensor& x, const Tensor& mean, const Tensor& variance, int axis,
                           const Tensor& offset = {}, const Tensor& scale = {},
                           double epsilon = 1e-3);

/// keras.ops.layer_normalization(x, gamma, beta, axis, epsilon) over the trailing axes of x,
/// from `begin_axis` to the last (-1, the default, is Keras's axis=-1: each row of features):
/// y = (x - mean) * inv + beta, inv = gamma / sqrt(variance + epsilon), with each
/// example's mean and biased variance over those axes. `gamma` and `beta` have x's trailing
/// shape (x.shape()[begin_axis:]) or are undefined for none. For bfloat16 or float16 x, gamma
/// and beta are float32 and y is x's dtype (computed in float32, rounded once). One fused kernel
/// per direction (kernels/layer_norm.h), not a chain of ops; differentiable with respect to x,
/// gamma and beta by one fused backward op: no second derivative. LayerNormalization runs it
/// whenever its axes are the trailing ones.
///   Tensor y = nr::layer_normalization(x, gamma, beta, -1, 1e-5);
Tensor layer_normalization(const Tensor& x, const Tensor& gamma = {}, const Tensor& beta = {},
                           int begin_axis = -1, double epsilon = 1e-3);

/// keras.ops.rms_normalization(x, scale, axis, epsilon): x * rsqrt(mean(square(x), axes) +
/// epsilon) * scale, computed in float32 at least (16-bit x is widened, and the result rounded
/// back to x's dtype; float64 stays float64), as Keras. `scale` broadcasts against x (numpy's
/// rules; RMSNormalization reshapes its weight to do so) or is undefined for none; `axes` as
/// mean's (Keras's default -1; Axes() for all). Over trailing axes, with a scale that varies
/// along those axes only (or none), it runs layer normalization's fused kernels with the mean
/// taken as 0, one per direction, differentiable once (no second derivative); otherwise a chain
/// of differentiable ops that every device runs (second derivatives work).
///   Tensor y = nr::rms_normalization(x, scale, -1, 1e-6);
Tensor rms_normalization(const Tensor& x, const Tensor& scale = {}, Axes axes = -1,
                         double epsilon = 1e-7);

/// keras.ops.normalize(x, axis, order, epsilon): x divided by its `order`-norm over `axes`,
/// the norm held at `epsilon` or more (Keras's default epsilon is 1e-7; UnitNormalization
/// passes 1e-12). Order 2 over any axes (x * rsqrt(max(sum(x^2), epsilon^2)): Keras's
/// min(rsqrt(sum), 1 / epsilon), whose gradient is NaN at a zero vector; this one's is finite);
/// another order (an int >= 1) over one axis (x / max(sum(|x|^order)^(1/order), epsilon)).
/// A scalar x is taken as a vector of one (shape (1,)), as Keras. Integer x gives float32;
/// 16-bit x is computed in float32 and rounded back once. ValueError for order < 1, or
/// another order than 2 over several axes (Keras computes a matrix norm there).
Tensor normalize(const Tensor& x, Axes axes = -1, int order = 2, double epsilon = 1e-7);

Tensor matmul(const Tensor& a, const Tensor& b, MatmulOptions options = {});
/// act(x @ kernel + bias) in one kernel call (cuBLASLt's fused epilogue on a GPU): x (m, k),
/// kernel (k, n), bias (n,) or an undefined Tensor for none.
Tensor dense(const Tensor& x, const Tensor& kernel, const Tensor& bias,
             FusedActivation activation = FusedActivation::linear);
Tensor transpose(const Tensor& x, std::vector<int> perm = {});
/// x.reshape(shape) as a free function.
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor concat(const std::vector<Tensor>& tensors, int axis = 0);
Tensor slice(const Tensor& x, std::int64_t start, std::int64_t stop);
Tensor narrow(const Tensor& x, int axis, std::int64_t start, std::int64_t length);
/// x reversed along `axis` (NumPy's flip); its gradient is the gradient reversed.
Tensor reverse(const Tensor& x, int axis);
/// The slices of x along `axis`, that axis removed (keras.ops.unstack): (B, T, D) on axis 1 gives
/// T tensors (B, D). One recorded op whose gradient is stack() of the slices' gradients, so that
/// a loop over time steps costs O(T) in the backward pass, not the O(T^2) of T narrows.
std::vector<Tensor> unstack(const Tensor& x, int axis = 0);
/// Tensors of one shape joined along a new `axis` (keras.ops.stack): the inverse of unstack.
Tensor stack(const std::vector<Tensor>& tensors, int axis = 0);
Tensor broadcast_to(const Tensor& x, const Shape& shape);
Tensor gather(const Tensor& x, const Tensor& indices);
Tensor scatter_add_rows(const Tensor& indices, const Tensor& updates, std::int64_t rows);

/// 2-D convolution as keras.layers.Conv2D computes it (no bias): x is (batch, h, w, channels)
/// or, with channels_first, (batch, channels, h, w); the kernel is (kh, kw, channels / groups,
/// filters). Its gradient is a fused kernel: no second derivative.
Tensor conv2d(const Tensor& x, const Tensor& kernel, const ConvOptions& options = {});
/// activation(conv2d(x, kernel) + bias) as one op, what Conv2D's call computes: `bias` of
/// shape (filters,) or undefined (none), activation linear or relu. On the CPU one oneDNN
/// primitive each way (the bias gradient comes with the kernel's); no second derivative.
Tensor conv2d_bias_activation(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                              FusedActivation activation, const ConvOptions& options = {});
/// Depthwise convolution as keras.ops.depthwise_conv: each input channel convolved with its
/// own `depth_multiplier` filters; the kernel is (kh, kw, channels, depth_multiplier) and output
/// channel c * depth_multiplier + m is input channel c's m-th. A grouped conv2d (groups =
/// channels); options.groups must be 1.
Tensor depthwise_conv2d(const Tensor& x, const Tensor& kernel, const ConvOptions& options = {});
/// Transposed convolution as keras.ops.conv_transpose (keras.layers.Conv2DTranspose without its
/// bias): x is (batch, h, w, in) or, with channels_first, (batch, in, h, w); the kernel is
/// Keras's (kh, kw, filters, in). Its gradients are a conv2d and a kernel gradient (fused
/// kernels: no second derivative).
Tensor conv2d_transpose(const Tensor& x, const Tensor& kernel,
                        const ConvTransposeOptions& options = {});
/// What rnn_fused returns: every step's output (batch, timesteps, units) and the final h and
/// (LSTM) c.
struct RNNFusedOutputs {
  Tensor sequences, h, c;
};

/// A whole LSTM or GRU (reset_after) sequence as one op: kernels/rnn.h's rnn_fused_forward (cuDNN
/// on a GPU; no CPU kernel, see rnn_fused_available), with Keras's weight layouts. c0 is
/// undefined for a GRU. Differentiable with respect to x, the initial states and the weights by
/// cuDNN's fused backward passes: no second derivative.
RNNFusedOutputs rnn_fused(RNNMode mode, const Tensor& x, const Tensor& h0, const Tensor& c0,
                          const Tensor& kernel, const Tensor& recurrent_kernel, const Tensor& bias,
                          const std::vector<std::int32_t>& lengths = {});

/// Max / average pooling as keras.layers.MaxPooling2D / AveragePooling2D.
Tensor max_pool2d(const Tensor& x, const Pool2DOptions& options = {});
Tensor avg_pool2d(const Tensor& x, const Pool2DOptions& options = {});
/// Zero padding as keras.layers.ZeroPadding2D (negative amounts crop).
Tensor zero_pad2d(const Tensor& x, std::int64_t top, std::int64_t bottom, std::int64_t left,
                  std::int64_t right, DataFormat data_format = DataFormat::ChannelsLast);

/// Images resized to `size` = (height, width), as keras.ops.image.resize(images, size,
/// interpolation, antialias, data_format=...) computes on Keras's JAX backend: `images`
/// (batch, h, w, c) or (batch, c, h, w) with channels_first, or 3-D for one image. What
/// UpSampling2D runs. With antialias (Keras's default is False) a shrinking axis averages
/// every input an output covers, as jax.image.resize(..., antialias=True) does. With
/// crop_to_aspect_ratio or pad_to_aspect_ratio the images are first cropped or padded (recorded
/// ops) as Keras does. Its gradient is a kernel that is itself differentiable (second
/// derivatives work).
///   auto y = nr::image_resize(x, {64, 64}, {.interpolation = nr::Interpolation::Bicubic});
Tensor image_resize(const Tensor& images, const std::array<std::int64_t, 2>& size,
                    const ResizeOptions& options = {});

/// Images under projective transforms [a0, a1, a2, b0, b1, b2, c0, c1] ((8,) or (1, 8) for
/// all, (batch, 8) one per image), as keras.ops.image.affine_transform(images, transform,
/// interpolation, fill_mode, fill_value, data_format) computes on Keras's JAX backend: output
/// pixel (y, x) reads the input at ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k) with
/// k = c0 x + c1 y + 1 (TensorFlow's projective form; JAX's Keras takes k = 1). What
/// RandomTranslation, RandomRotation, RandomZoom and RandomCrop run. Differentiable with respect
/// to the images (second derivatives too); the transforms get no gradient, as in TensorFlow.
///   auto y = nr::affine_transform(x, t, {.fill_mode = nr::FillMode::Reflect});
Tensor affine_transform(const Tensor& images, const Tensor& transforms,
                        const AffineTransformOptions& options = {});

Tensor operator+(const Tensor& x, const Tensor& y);
Tensor operator-(const Tensor& x, const Tensor& y);
Tensor operator*(const Tensor& x, const Tensor& y);
Tensor operator/(const Tensor& x, const Tensor& y);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& x, double y);
Tensor operator-(const Tensor& x, double y);
Tensor operator*(const Tensor& x, double y);
Tensor operator/(const Tensor& x, double y);
Tensor operator+(double x, const Tensor& y);
Tensor operator-(double x, const Tensor& y);
Tensor operator*(double x, const Tensor& y);
Tensor operator/(double x, const Tensor& y);

namespace autograd::detail {
/// The sum of `g` over the dimensions that broadcasting added to reach g's shape from
/// `shape`, reshaped to `shape`: the gradient of a broadcast.
Tensor sum_to_shape(const Tensor& g, const Shape& shape);
/// `before` rows of zeros, x, `after` rows of zeros along the first axis.
Tensor pad_rows(const Tensor& x, std::int64_t before, std::int64_t after);
}  // namespace autograd::detail

}  // namespace neurona
