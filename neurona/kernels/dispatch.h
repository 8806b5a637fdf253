// Per-op tables of kernel function pointers by device (PyTorch's DispatchStub, much reduced).
// The CPU and CUDA translation units fill them at first use; a front door calls
// `stub.get(device)(args...)`. A missing entry throws `no CUDA kernel for <op>`. While tests
// emulate graph capture on the CPU (core/graph.h), the call is recorded with copies of its
// arguments instead of run.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

#include "neurona/core/device.h"
#include "neurona/core/error.h"
#include "neurona/core/graph.h"
#include "neurona/core/philox.h"
#include "neurona/core/tensor.h"
#include "neurona/kernels/linalg.h"
#include "neurona/kernels/math/elementwise_ops.h"
#include "neurona/kernels/math/indexer.h"

namespace neurona::kernels {

/// Fills every stub with the kernels compiled into this build (once; thread-safe).
void ensure_kernels_registered();

/// A kernel of one device, ready to call: `stub.get(d)(args...)`.
template <typename Fn>
struct KernelCall {
  Fn fn;
  Device device;

  template <typename... Args>
  void operator()(Args&&... args) const {
    // Waits while another thread captures on this device (its stream would take our work).
    const detail::DeviceWorkGuard guard(device);
    // Only the CPU's emulated capture records calls (a CUDA capture records what the kernel
    // queues on the stream), so only then are the arguments copied into a closure.
    if (detail::CaptureState* capture = detail::recording_capture(device); capture != nullptr) {
      capture->calls.push_back([f = fn, ... a = std::decay_t<Args>(args)]() mutable { f(a...); });
      return;
    }
    fn(std::forward<Args>(args)...);
  }
};

template <typename Fn>
struct DispatchStub {
  const char* name;
  Fn cpu = nullptr;
  Fn cuda = nullptr;

  KernelCall<Fn> get(Device d) const {
    ensure_kernels_registered();
    Fn f = d.is_cpu() ? cpu : cuda;
    NEURONA_CHECK(f != nullptr, NotImplementedError, "no ", d.is_cpu() ? "CPU" : "CUDA",
                  " kernel for ", name);
    return {f, d};
  }
  /// Whether `d` has the kernel (for ops that only some devices fuse).
  bool has(Device d) const {
    ensure_kernels_registered();
    return (d.is_cpu() ? cpu : cuda) != nullptr;
  }
};

enum class ReduceOp : std::uint8_t { sum, mean, max, min, argmax, argmin };

/// How a reduction walks its input: `kept` maps an output index to the offset of its first
/// input element, `reduced` maps a position within the reduced elements to an offset.
struct ReducePlan {
  Indexer<1> kept;
  Indexer<1> reduced;
  std::int64_t num_out = 0;
  std::int64_t num_reduce = 0;
};

/// A (batched) row-major matrix product: C[b] = op(A[b]) op(B[b]), (m x k)(k x n) -> (m x n).
struct MatmulPlan {
  std::int64_t batch = 1, m = 0, n = 0, k = 0;
  bool transpose_a = false, transpose_b = false;
  /// Element offsets of each batch's A and B (C is contiguous); `uniform` when they are
  /// batch * stride_a / stride_b with constant strides (possibly 0 for a shared operand).
  bool uniform = true;
  std::int64_t stride_a = 0, stride_b = 0;
  std::vector<std::int64_t> offsets_a, offsets_b;
};

struct Conv2DGeometry;

enum class RandomDist : std::uint8_t { uniform, normal, truncated_normal };

using BinaryKernel = void (*)(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out);
using UnaryKernel = void (*)(UnaryOp op, double alpha, const Tensor& x, Tensor& out);
using WhereKernel = void (*)(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out);
using CastKernel = void (*)(const Tensor& x, Tensor& out);
using ReduceKernel = void (*)(ReduceOp op, const Tensor& x, const ReducePlan& plan, Tensor& out);
using SoftmaxKernel = void (*)(bool log, const Tensor& x, std::int64_t outer, std::int64_t n,
                               std::int64_t inner, Tensor& out);
using MatmulKernel = void (*)(const Tensor& a, const Tensor& b, const MatmulPlan& plan,
                              Tensor& out);
/// out (m, n) = act(x (m, k) @ kernel (k, n) + bias (n,)); bias may be undefined.
using DenseKernel = void (*)(const Tensor& x, const Tensor& kernel, const Tensor& bias,
                             FusedActivation activation, Tensor& out);
/// dkernel (k, n) = x (m, k)^T grad (m, n) and dbias (n,) = grad's row sums; filled only where
/// that is one pass (elsewhere the front door runs a matmul and a sum).
using DenseBackwardKernelBiasKernel = void (*)(const Tensor& x, const Tensor& grad, Tensor& dkernel,
                                               Tensor& dbias);
/// out[i] = x[offset of output index i under `ix`] (transpose and other gathers by stride).
using StridedCopyKernel = void (*)(const Tensor& x, const Indexer<1>& ix, Tensor& out);
/// Copies `height` rows of `width` bytes with the given pitches, on one device.
using Copy2dKernel = void (*)(Device d, void* dst, std::int64_t dpitch, const void* src,
                              std::int64_t spitch, std::int64_t width, std::int64_t height);
using GatherKernel = void (*)(const Tensor& x, const Tensor& indices, Tensor& out);
/// out[indices[i], :] += updates[i, :]; out starts as zeros.
using ScatterAddKernel = void (*)(const Tensor& indices, const Tensor& updates, Tensor& out);
using OneHotKernel = void (*)(const Tensor& indices, double on, double off, Tensor& out);
using FillKernel = void (*)(double value, Tensor& out);
using ArangeKernel = void (*)(double start, double step, Tensor& out);
/// `key_state`, where defined, is a SeedGenerator's (seed, counter) on the device: the kernel
/// reads its key there instead of `key` and then advances the counter there.
using RandomKernel = void (*)(RandomDist dist, double a, double b, RandomKey key,
                              const Tensor& key_state, Tensor& out);

/// NHWC convolution with a (kh, kw, c / groups, filters) kernel.
using Conv2DKernel = void (*)(const Tensor& x, const Tensor& kernel, const Conv2DGeometry& geo,
                              Tensor& out);
/// The gradients of a convolution: dx (dkernel) arrives uninitialised and the kernel writes every
/// element of it.
using Conv2DBackwardInputKernel = void (*)(const Tensor& grad_out, const Tensor& kernel,
                                           const Conv2DGeometry& geo, Tensor& dx);
using Conv2DBackwardKernelKernel = void (*)(const Tensor& x, const Tensor& grad_out,
                                            const Conv2DGeometry& geo, Tensor& dkernel);
/// conv2d, then + bias (per filter; may be undefined) and the activation, in one go. Only
/// devices that fuse them fill it: elsewhere the front door runs the three ops.
using Conv2DBiasActivationKernel = void (*)(const Tensor& x, const Tensor& kernel,
                                            const Tensor& bias, FusedActivation activation,
                                            const Conv2DGeometry& geo, Tensor& out);
/// The kernel's gradient and the bias's (grad_out summed over n, h, w) in one go; filled only
/// where that is one pass (elsewhere the front door sums apart).
using Conv2DBackwardKernelBiasKernel = void (*)(const Tensor& x, const Tensor& grad_out,
                                                const Conv2DGeometry& geo, Tensor& dkernel,
                                                Tensor& dbias);
using Pool2DKernel = void (*)(bool max, const Tensor& x, const Conv2DGeometry& geo, Tensor& out);
using Pool2DBackwardKernel = void (*)(bool max, const Tensor& x, const Tensor& grad_out,
                                      const Conv2DGeometry& geo, Tensor& dx);
using Pad2dKernel = void (*)(const Tensor& x, std::int64_t top, std::int64_t left, Tensor& out);
/// Fused softmax cross-entropy over the rows of the last axis (kernels/loss.h): losses and
/// each row's max and log(sum(exp(x - max))) (and, for dense targets, sum of targets) for the
/// backward kernels.
using SparseSoftmaxCrossEntropyKernel = void (*)(const Tensor& logits, const Tensor& labels,
                                                 Tensor& loss, Tensor& row_max, Tensor& log_sum);
using SparseSoftmaxCrossEntropyBackwardKernel = void (*)(const Tensor& logits, const Tensor& labels,
                                                         const Tensor& row_max,
                                                         const Tensor& log_sum, const Tensor& grad,
                                                         Tensor& dlogits);
using SoftmaxCrossEntropyKernel = void (*)(const Tensor& logits, const Tensor& targets,
                                           Tensor& loss, Tensor& row_max, Tensor& log_sum,
                                           Tensor& target_sum);
/// `dtargets` may be undefined (no gradient for the targets).
using SoftmaxCrossEntropyBackwardKernel = void (*)(const Tensor& logits, const Tensor& targets,
                                                   const Tensor& row_max, const Tensor& log_sum,
                                                   const Tensor& target_sum, const Tensor& grad,
                                                   Tensor& dlogits, Tensor& dtargets);

extern DispatchStub<Conv2DKernel> conv2d_stub;
extern DispatchStub<Conv2DBackwardInputKernel> conv2d_backward_input_stub;
extern DispatchStub<Conv2DBackwardKernelKernel> conv2d_backward_kernel_stub;
extern DispatchStub<Conv2DBiasActivationKernel> conv2d_bias_activation_stub;
extern DispatchStub<Conv2DBackwardKernelBiasKernel> conv2d_backward_kernel_bias_stub;
extern DispatchStub<Pool2DKernel> pool2d_stub;
extern DispatchStub<Pool2DBackwardKernel> pool2d_backward_stub;
extern DispatchStub<Pad2dKernel> pad2d_stub;
// Defined in kernels/loss.cpp.
extern DispatchStub<SparseSoftmaxCrossEntropyKernel> sparse_softmax_cross_entropy_stub;
extern DispatchStub<SparseSoftmaxCrossEntropyBackwardKernel>
    sparse_softmax_cross_entropy_backward_stub;
extern DispatchStub<SoftmaxCrossEntropyKernel> softmax_cross_entropy_stub;
extern DispatchStub<SoftmaxCrossEntropyBackwardKernel> softmax_cross_entropy_backward_stub;
extern DispatchStub<BinaryKernel> binary_stub;
extern DispatchStub<UnaryKernel> unary_stub;
extern DispatchStub<WhereKernel> where_stub;
extern DispatchStub<CastKernel> cast_stub;
extern DispatchStub<ReduceKernel> reduce_stub;
extern DispatchStub<SoftmaxKernel> softmax_stub;
extern DispatchStub<MatmulKernel> matmul_stub;
extern DispatchStub<DenseKernel> dense_stub;
extern DispatchStub<DenseBackwardKernelBiasKernel> dense_backward_kernel_bias_stub;
extern DispatchStub<StridedCopyKernel> strided_copy_stub;
extern DispatchStub<Copy2dKernel> copy2d_stub;
extern DispatchStub<GatherKernel> gather_stub;
extern DispatchStub<ScatterAddKernel> scatter_add_stub;
extern DispatchStub<OneHotKernel> one_hot_stub;
extern DispatchStub<FillKernel> fill_stub;
extern DispatchStub<ArangeKernel> arange_stub;
extern DispatchStub<RandomKernel> random_stub;

}  // namespace neurona::kernels
