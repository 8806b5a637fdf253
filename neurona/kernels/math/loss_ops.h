// Softmax cross-entropy along the last axis, fused: the loss of a row is computed from its
// logsumexp (maximum subtracted first), so that logits of any magnitude give finite losses and
// gradients, and the softmax is never stored. Written once as __host__ __device__ functors that
// the CPU runs in an OpenMP loop and CUDA in a grid (kernels/cpu/loss.cpp, kernels/cuda/loss.cu);
// the CPU's float32 rows, sparse and dense, take the same formulas with SIMD exponentials.
//
// A sparse label outside [0, classes) gives NaN for its row's loss and gradient: the functors
// never read outside the row. The CPU backend rejects such labels with a ValueError before it
// launches; a GPU cannot report them without a host synchronisation, so NaN is what it shows.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "neurona/core/tensor.h"
#include "neurona/kernels/math/functors.h"

namespace neurona::kernels {

/// The maximum of a row (NaN wins) and the sum of exp(x - max), accumulated in double so that
/// the CPU's sequential and the GPU's per-thread sums agree closely.
template <typename T>
struct RowLogSumExp {
  T max;
  double log_sum;  // log(sum(exp(x - max)))
};

template <typename T>
NEURONA_HD_INLINE RowLogSumExp<T> row_logsumexp(const T* x, std::int64_t n) {
  T m = lowest_value<T>();
  for (std::int64_t k = 0; k < n; ++k) m = (x[k] > m || is_nan(x[k])) ? x[k] : m;
  double s = 0;
  for (std::int64_t k = 0; k < n; ++k) s += std::exp(static_cast<double>(x[k] - m));
  return {m, std::log(s)};
}

/// Sparse labels, one row per call: loss[r] = (max - x[label]) + log(sum(exp(x - max))), and
/// the row's max and log-sum for the backward pass. They are kept apart rather than as one
/// logsumexp: for logits of 1e4 a float32 logsumexp has lost the bits that exp(x - lse) needs.
template <typename T, typename I>
struct SparseSoftmaxCrossEntropyForward {
  const T* logits;
  const I* labels;
  T* loss;
  T* row_max;
  T* log_sum;
  std::int64_t classes;
  NEURONA_HD_INLINE void operator()(std::int64_t r) const {
    const T* x = logits + r * classes;
    const RowLogSumExp<T> l = row_logsumexp(x, classes);
    row_max[r] = l.max;
    log_sum[r] = static_cast<T>(l.log_sum);
    const auto label = static_cast<std::int64_t>(labels[r]);
    if (label < 0 || label >= classes) {
      loss[r] = std::numeric_limits<T>::quiet_NaN();
      return;
    }
    // (max - x[label]) first: exact for the winning class, so a confident correct row gives
    // log(sum) rather than the rounding error of a large lse minus a large logit.
    loss[r] = static_cast<T>(static_cast<double>(l.max - x[label]) + l.log_sum);
  }
};

/// Element i of d loss / d logits = grad[r] * (softmax(x)[k] - [k == label]).
template <typename T, typename I>
struct SparseSoftmaxCrossEntropyBackward {
  const T* logits;
  const I* labels;
  const T* row_max;
  const T* log_sum;
  const T* grad;
  T* dlogits;
  std::int64_t classes;
  NEURONA_HD_INLINE void operator()(std::int64_t i) const {
    const std::int64_t r = i / classes, k = i % classes;
    const auto label = static_cast<std::int64_t>(labels[r]);
    if (label < 0 || label >= classes) {
      dlogits[i] = std::numeric_limits<T>::quiet_NaN();
      return;
    }
    const T p = std::exp((logits[i] - row_max[r]) - log_sum[r]);
    dlogits[i] = grad[r] * (k == label ? p - T(1) : p);
  }
};

/// Dense targets (a distribution, or any weights), one row per call:
/// loss[r] = sum_k t[k] * (logsumexp(x) - x[k]) = -sum(t * log_softmax(x)); also the row's
/// max, log-sum and sum(t) for the backward pass.
template <typename T>
struct SoftmaxCrossEntropyForward {
  const T* logits;
  const T* targets;
  T* loss;
  T* row_max;
  T* log_sum;
  T* target_sum;
  std::int64_t classes;
  NEURONA_HD_INLINE void operator()(std::int64_t r) const {
    const T* x = logits + r * classes;
    const T* t = targets + r * classes;
    const RowLogSumExp<T> l = row_logsumexp(x, classes);
    double acc = 0, ts = 0;
    for (std::int64_t k = 0; k < classes; ++k) {
      acc += static_cast<double>(t[k]) * (static_cast<double>(l.max - x[k]) + l.log_sum);
      ts += static_cast<double>(t[k]);
    }
    loss[r] = static_cast<T>(acc);
    row_max[r] = l.max;
    log_sum[r] = static_cast<T>(l.log_sum);
    target_sum[r] = static_cast<T>(ts);
  }
};

/// Element i of the gradients: d/dx = grad[r] * (softmax(x)[k] * sum(t) - t[k]) and, when
/// `dtargets` is not null, d/dt = grad[r] * (logsumexp(x) - x[k]).
template <typename T>
struct SoftmaxCrossEntropyBackward {
  const T* logits;
  const T* targets;
  const T* row_max;
  const T* log_sum;
  const T* target_sum;
  const T* grad;
  T* dlogits;
  T* dtargets;
  std::int64_t classes;
  NEURONA_HD_INLINE void operator()(std::int64_t i) const {
    const std::int64_t r = i / classes;
    const T shifted = logits[i] - row_max[r];
    const T p = std::exp(shifted - log_sum[r]);
    dlogits[i] = grad[r] * (p * target_sum[r] - targets[i]);
    if (dtargets != nullptr) dtargets[i] = grad[r] * (log_sum[r] - shifted);
  }
};

// ---- launches, shared by both backends --------------------------------------------------

/// `labels` holds integers (the front door casts float labels); rows = loss.numel().
template <typename Launch>
void sparse_softmax_cross_entropy_impl(const Launch& launch, const Tensor& logits,
                                       const Tensor& labels, Tensor& loss, Tensor& row_max,
                                       Tensor& log_sum) {
  const std::int64_t rows = loss.numel(), classes = logits.shape()[-1];
  visit_dtype(logits.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    visit_dtype(labels.dtype(), [&](auto it) {
      using I = std::decay_t<decltype(it)>;
      if constexpr (std::is_floating_point_v<T> && std::is_integral_v<I>) {
        launch(rows, SparseSoftmaxCrossEntropyForward<T, I>{logits.data<T>(), labels.data<I>(),
                                                            loss.data<T>(), row_max.data<T>(),
                                                            log_sum.data<T>(), classes});
      } else {
        throw ValueError(
            "sparse_softmax_cross_entropy: float labels or integer logits reach "
            "the kernel (front door bug)");
      }
    });
  });
}

template <typename Launch>
void sparse_softmax_cross_entropy_backward_impl(const Launch& launch, const Tensor& logits,
                                                const Tensor& labels, const Tensor& row_max,
                                                const Tensor& log_sum, const Tensor& grad,
                                                Tensor& dlogits) {
  const std::int64_t classes = logits.shape()[-1];
  visit_dtype(logits.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    visit_dtype(labels.dtype(), [&](auto it) {
      using I = std::decay_t<decltype(it)>;
      if constexpr (std::is_floating_point_v<T> && std::is_integral_v<I>) {
        launch(dlogits.numel(), SparseSoftmaxCrossEntropyBackward<T, I>{
                                    logits.data<T>(), labels.data<I>(), row_max.data<T>(),
                                    log_sum.data<T>(), grad.data<T>(), dlogits.data<T>(), classes});
      } else {
        throw ValueError(
            "sparse_softmax_cross_entropy_backward: float labels or integer "
            "logits reach the kernel (front door bug)");
      }
    });
  });
}

template <typename Launch>
void softmax_cross_entropy_impl(const Launch& launch, const Tensor& logits, const Tensor& targets,
                                Tensor& loss, Tensor& row_max, Tensor& log_sum,
                                Tensor& target_sum) {
  const std::int64_t rows = loss.numel(), classes = logits.shape()[-1];
  visit_dtype(logits.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    if constexpr (std::is_floating_point_v<T>) {
      launch(rows, SoftmaxCrossEntropyForward<T>{logits.data<T>(), targets.data<T>(),
                                                 loss.data<T>(), row_max.data<T>(),
                                                 log_sum.data<T>(), target_sum.data<T>(), classes});
    } else {
      throw ValueError("softmax_cross_entropy: integer logits reach the kernel (front door bug)");
    }
  });
}

/// `dtargets` may be undefined (no gradient for the targets wanted).
template <typename Launch>
void softmax_cross_entropy_backward_impl(const Launch& launch, const Tensor& logits,
                                         const Tensor& targets, const Tensor& row_max,
                                         const Tensor& log_sum, const Tensor& target_sum,
                                         const Tensor& grad, Tensor& dlogits, Tensor& dtargets) {
  const std::int64_t classes = logits.shape()[-1];
  visit_dtype(logits.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    if constexpr (std::is_floating_point_v<T>) {
      launch(dlogits.numel(),
             SoftmaxCrossEntropyBackward<T>{
                 logits.data<T>(), targets.data<T>(), row_max.data<T>(), log_sum.data<T>(),
                 target_sum.data<T>(), grad.data<T>(), dlogits.data<T>(),
                 dtargets.defined() ? dtargets.data<T>() : nullptr, classes});
    } else {
      throw ValueError(
          "softmax_cross_entropy_backward: integer logits reach the kernel (front door bug)");
    }
  });
}

}  // namespace neurona::kernels
