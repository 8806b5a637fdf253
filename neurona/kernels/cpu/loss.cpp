// CPU kernels of the fused softmax cross-entropy (functors in math/loss_ops.h). Sparse labels
// are checked here, serially, before the parallel loop: the CPU can afford to say which label
// is out of range, and an exception must not leave an OpenMP region.
#include "neurona/kernels/cpu/launch.h"
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

void sparse_cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& loss,
                                  Tensor& row_max, Tensor& log_sum) {
  check_labels("sparse_softmax_cross_entropy", logits, labels);
  sparse_softmax_cross_entropy_impl(Launch{}, logits, labels, loss, row_max, log_sum);
}

void sparse_cross_entropy_backward(const Tensor& logits, const Tensor& labels,
                                   const Tensor& row_max, const Tensor& log_sum, const Tensor& grad,
                                   Tensor& dlogits) {
  check_labels("sparse_softmax_cross_entropy_backward", logits, labels);
  sparse_softmax_cross_entropy_backward_impl(Launch{}, logits, labels, row_max, log_sum, grad,
                                             dlogits);
}

void dense_cross_entropy_forward(const Tensor& logits, const Tensor& targets, Tensor& loss,
                                 Tensor& row_max, Tensor& log_sum, Tensor& target_sum) {
  softmax_cross_entropy_impl(Launch{}, logits, targets, loss, row_max, log_sum, target_sum);
}

void dense_cross_entropy_backward(const Tensor& logits, const Tensor& targets,
                                  const Tensor& row_max, const Tensor& log_sum,
                                  const Tensor& target_sum, const Tensor& grad, Tensor& dlogits,
                                  Tensor& dtargets) {
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
