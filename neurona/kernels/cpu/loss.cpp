// CPU kernels of the fused softmax cross-entropy (functors in math/loss_ops.h). Sparse labels
// are checked here, serially, before the parallel loop: the CPU can afford to say which label
// is out of range, and an exception must not leave an OpenMP region. float32 rows, sparse and
// dense, take their exponentials from glibc's SIMD expf (vector_math.h) a chunk of a row at a
// time and their sums in lanes (lanes.h), with the functors' formulas: a language model's rows
// of a vocabulary's logits made the scalar exp calls (float64 forward, float backward) and the
// serial sums most of the loss's time. Their backward passes split a row into blocks of
// classes, so that a few rows of a large vocabulary still keep every thread busy.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "neurona/kernels/cpu/lanes.h"
#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/cpu/vector_math.h"
#include "neurona/kernels/loss_stubs.h"
#include "neurona/kernels/math/loss_ops.h"

namespace neurona::kernels::cpu {

namespace {

void check_labels(const char* op, const Tensor& logits, const Tensor& labels) {
  const std::int64_t classes = logits.shape()[-1];
  visit_dtype(labels.dtype(), [&](auto it) {
    using I = std::decay_t<decltype(it)>;
    if constexpr (std::is_integral_v<I>) {
      const I* p = labels.data<I>();
      for (std::int64_t i = 0; i < labels.numel(); ++i) {
        const auto v = static_cast<std::int64_t>(p[i]);
        NEURONA_CHECK(v >= 0 && v < classes, ValueError, op, ": label ", v, " at index ", i,
                      " is out of range for logits of shape ", logits.shape(), " (valid: 0 to ",
                      classes - 1, ")");
      }
    }
  });
}

// Classes of a row the backward pass writes and exponentiates at a time (in L1).
constexpr std::int64_t kChunk = 256;

// Classes of a row one backward task writes (16 chunks): the tasks are (row, block) pairs.
constexpr std::int64_t kBlock = 16 * kChunk;

// Runs body(row, begin, end) over every row's blocks of classes [begin, end), in parallel
// above the launch's grain. Each element's value does not depend on the split.
template <typename F>
void for_each_row_block(std::int64_t rows, std::int64_t classes, const F& body) {
  const std::int64_t blocks = (classes + kBlock - 1) / kBlock;
  Launch{}(rows * blocks, std::min(classes, kBlock), [=](std::int64_t task) {
    const std::int64_t r = task / blocks, begin = (task % blocks) * kBlock;
    body(r, begin, std::min(classes, begin + kBlock));
  });
}

// dlogits[c] for c in [begin, end) of one row, with p = exp((x[c] - m) - ls) from the SIMD
// expf: sparse g * p (the caller then mends its label's element), dense g * (p * scale - t[c]).
template <bool kDense>
void softmax_row_gradient(const float* x, const float* targets, float m, float ls, float g,
                          float scale, std::int64_t begin, std::int64_t end, float* d) {
  for (std::int64_t c = begin; c < end; c += kChunk) {
    const std::int64_t len = std::min(kChunk, end - c);
    for (std::int64_t k = c; k < c + len; ++k) d[k] = (x[k] - m) - ls;
    vector_attention_exp(d + c, 0.0f, d + c, len);
    if constexpr (kDense) {
      for (std::int64_t k = c; k < c + len; ++k) d[k] = g * (d[k] * scale - targets[k]);
    } else {
      for (std::int64_t k = c; k < c + len; ++k) d[k] *= g;
    }
  }
}

// SparseSoftmaxCrossEntropyForward for float32 rows: log(sum(exp(x - max))) with the
// exponentials from the SIMD expf (x - max rounded to float as there; terms below exp(-104),
// flushed to +0, are lost beside the maximum's 1 in float64 anyway), summed in float64.
template <typename I>
void sparse_forward_float(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& row_max,
                          Tensor& log_sum) {
  const std::int64_t rows = loss.numel(), classes = logits.shape()[-1];
  const float* const xp = logits.data<float>();
  const I* const lp = labels.data<I>();
  float* const loss_p = loss.data<float>();
  float* const max_p = row_max.data<float>();
  float* const sum_p = log_sum.data<float>();
  Launch{}(rows, classes, [=](std::int64_t r) {
    const float* x = xp + r * classes;
    const float m = lane_max_or_nan(x, classes);
    const double ls = std::log(vector_exp_sum(x, m, classes));
    max_p[r] = m;
    sum_p[r] = static_cast<float>(ls);
    const auto label = static_cast<std::int64_t>(lp[r]);  // checked by check_labels
    loss_p[r] = static_cast<float>(static_cast<double>(m - x[label]) + ls);
  });
}

// SparseSoftmaxCrossEntropyBackward for float32 rows: grad * (exp((x - max) - log_sum) - [k ==
// label]), the exponentials from the SIMD expf.
template <typename I>
void sparse_backward_float(const Tensor& logits, const Tensor& labels, const Tensor& row_max,
                           const Tensor& log_sum, const Tensor& grad, Tensor& dlogits) {
  const std::int64_t classes = logits.shape()[-1], rows = dlogits.numel() / classes;
  const float* const xp = logits.data<float>();
  const I* const lp = labels.data<I>();
  const float* const max_p = row_max.data<float>();
  const float* const sum_p = log_sum.data<float>();
  const float* const gp = grad.data<float>();
  float* const dp = dlogits.data<float>();
  for_each_row_block(rows, classes, [=](std::int64_t r, std::int64_t begin, std::int64_t end) {
    const float* x = xp + r * classes;
    float* d = dp + r * classes;
    const float m = max_p[r], ls = sum_p[r], g = gp[r];
    softmax_row_gradient<false>(x, nullptr, m, ls, g, 1.0f, begin, end, d);
    // The label's element, g * (p - 1), its p computed again from the loop's argument.
    const auto label = static_cast<std::int64_t>(lp[r]);  // checked by check_labels
    if (label < begin || label >= end) return;
    float p;
    const float z = (x[label] - m) - ls;
    vector_attention_exp(&z, 0.0f, &p, 1);
    d[label] = g * (p - 1.0f);
  });
}

// SoftmaxCrossEntropyForward for float32 rows: the row's maximum and log-sum as the sparse
// rows', then sum(t * ((max - x) + log_sum)) and sum(t) in float64 lanes.
void dense_forward_float(const Tensor& logits, const Tensor& targets, Tensor& loss, Tensor& row_max,
                         Tensor& log_sum, Tensor& target_sum) {
  const std::int64_t rows = loss.numel(), classes = logits.shape()[-1];
  const float* const xp = logits.data<float>();
  const float* const tp = targets.data<float>();
  float* const loss_p = loss.data<float>();
  float* const max_p = row_max.data<float>();
  float* const sum_p = log_sum.data<float>();
  float* const ts_p = target_sum.data<float>();
  Launch{}(rows, classes, [=](std::int64_t r) {
    const float* x = xp + r * classes;
    const float* t = tp + r * classes;
    const float m = lane_max_or_nan(x, classes);
    const double ls = std::log(vector_exp_sum(x, m, classes));
    loss_p[r] = static_cast<float>(lane_sum<double>(classes, [=](std::int64_t k) {
      return static_cast<double>(t[k]) * (static_cast<double>(m - x[k]) + ls);
    }));
    max_p[r] = m;
    sum_p[r] = static_cast<float>(ls);
    ts_p[r] = static_cast<float>(
        lane_sum<double>(classes, [=](std::int64_t k) { return static_cast<double>(t[k]); }));
  });
}

// SoftmaxCrossEntropyBackward for float32 rows: d/dx = grad * (p * sum(t) - t) and, where
// wanted, d/dt = grad * (log_sum - (x - max)).
void dense_backward_float(const Tensor& logits, const Tensor& targets, const Tensor& row_max,
                          const Tensor& log_sum, const Tensor& target_sum, const Tensor& grad,
                          Tensor& dlogits, Tensor& dtargets) {
  const std::int64_t classes = logits.shape()[-1], rows = dlogits.numel() / classes;
  const float* const xp = logits.data<float>();
  const float* const tp = targets.data<float>();
  const float* const max_p = row_max.data<float>();
  const float* const sum_p = log_sum.data<float>();
  const float* const ts_p = target_sum.data<float>();
  const float* const gp = grad.data<float>();
  float* const dp = dlogits.data<float>();
  float* const dtp = dtargets.defined() ? dtargets.data<float>() : nullptr;
  for_each_row_block(rows, classes, [=](std::int64_t r, std::int64_t begin, std::int64_t end) {
    const float* x = xp + r * classes;
    const float m = max_p[r], ls = sum_p[r], g = gp[r];
    softmax_row_gradient<true>(x, tp + r * classes, m, ls, g, ts_p[r], begin, end,
                               dp + r * classes);
    if (dtp == nullptr) return;
    float* dt = dtp + r * classes;
    for (std::int64_t k = begin; k < end; ++k) dt[k] = g * (ls - (x[k] - m));
  });
}

// Calls f(I{}) with the integral label type (the front door sends no other).
template <typename F>
void with_integral_labels(const Tensor& labels, F&& f) {
  visit_dtype(labels.dtype(), [&](auto it) {
    using I = std::decay_t<decltype(it)>;
    if constexpr (std::is_integral_v<I>) {
      f(I{});
    } else {
      throw ValueError(
          "sparse_softmax_cross_entropy: float labels reach the kernel (front door bug)");
    }
  });
}

void sparse_cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& loss,
                                  Tensor& row_max, Tensor& log_sum) {
  check_labels("sparse_softmax_cross_entropy", logits, labels);
  if (logits.dtype() == DType::float32) {
    with_integral_labels(labels, [&](auto i) {
      sparse_forward_float<decltype(i)>(logits, labels, loss, row_max, log_sum);
    });
    return;
  }
  sparse_softmax_cross_entropy_impl(Launch{}, logits, labels, loss, row_max, log_sum);
}

void sparse_cross_entropy_backward(const Tensor& logits, const Tensor& labels,
                                   const Tensor& row_max, const Tensor& log_sum, const Tensor& grad,
                                   Tensor& dlogits) {
  check_labels("sparse_softmax_cross_entropy_backward", logits, labels);
  if (logits.dtype() == DType::float32) {
    with_integral_labels(labels, [&](auto i) {
      sparse_backward_float<decltype(i)>(logits, labels, row_max, log_sum, grad, dlogits);
    });
    return;
  }
  sparse_softmax_cross_entropy_backward_impl(Launch{}, logits, labels, row_max, log_sum, grad,
                                             dlogits);
}

void dense_cross_entropy_forward(const Tensor& logits, const Tensor& targets, Tensor& loss,
                                 Tensor& row_max, Tensor& log_sum, Tensor& target_sum) {
  if (logits.dtype() == DType::float32) {
    dense_forward_float(logits, targets, loss, row_max, log_sum, target_sum);
    return;
  }
  softmax_cross_entropy_impl(Launch{}, logits, targets, loss, row_max, log_sum, target_sum);
}

void dense_cross_entropy_backward(const Tensor& logits, const Tensor& targets,
                                  const Tensor& row_max, const Tensor& log_sum,
                                  const Tensor& target_sum, const Tensor& grad, Tensor& dlogits,
                                  Tensor& dtargets) {
  if (logits.dtype() == DType::float32) {
    dense_backward_float(logits, targets, row_max, log_sum, target_sum, grad, dlogits, dtargets);
    return;
  }
  softmax_cross_entropy_backward_impl(Launch{}, logits, targets, row_max, log_sum, target_sum, grad,
                                      dlogits, dtargets);
}

}  // namespace

void register_loss() {
  sparse_softmax_cross_entropy_stub.cpu = sparse_cross_entropy_forward;
  sparse_softmax_cross_entropy_backward_stub.cpu = sparse_cross_entropy_backward;
  softmax_cross_entropy_stub.cpu = dense_cross_entropy_forward;
  softmax_cross_entropy_backward_stub.cpu = dense_cross_entropy_backward;
}

}  // namespace neurona::kernels::cpu
