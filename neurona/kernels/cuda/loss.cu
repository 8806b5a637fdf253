// CUDA kernels of the fused softmax cross-entropy (functors in math/loss_ops.h): a thread per
// row for the forward pass, a thread per element for the backward pass. Labels are not
// checked here (that would need a host synchronisation each step): a label outside
// [0, classes) gives a NaN loss and NaN gradients for its row, and nothing outside the row is
// read.
#include "neurona/kernels/cuda/launch.cuh"
#include "neurona/kernels/loss_stubs.h"
#include "neurona/kernels/math/loss_ops.h"

namespace neurona::kernels::cuda {

namespace {

void sparse_cross_entropy_forward(const Tensor& logits, const Tensor& labels, Tensor& loss,
                                  Tensor& row_max, Tensor& log_sum) {
  sparse_softmax_cross_entropy_impl(Launch(loss.device()), logits, labels, loss, row_max, log_sum);
}

void sparse_cross_entropy_backward(const Tensor& logits, const Tensor& labels,
                                   const Tensor& row_max, const Tensor& log_sum, const Tensor& grad,
                                   Tensor& dlogits) {
  sparse_softmax_cross_entropy_backward_impl(Launch(dlogits.device()), logits, labels, row_max,
                                             log_sum, grad, dlogits);
}

void dense_cross_entropy_forward(const Tensor& logits, const Tensor& targets, Tensor& loss,
                                 Tensor& row_max, Tensor& log_sum, Tensor& target_sum) {
  softmax_cross_entropy_impl(Launch(loss.device()), logits, targets, loss, row_max, log_sum,
                             target_sum);
}

void dense_cross_entropy_backward(const Tensor& logits, const Tensor& targets,
                                  const Tensor& row_max, const Tensor& log_sum,
                                  const Tensor& target_sum, const Tensor& grad, Tensor& dlogits,
                                  Tensor& dtargets) {
  softmax_cross_entropy_backward_impl(Launch(dlogits.device()), logits, targets, row_max, log_sum,
                                      target_sum, grad, dlogits, dtargets);
}

}  // namespace

void register_loss() {
  sparse_softmax_cross_entropy_stub.cuda = sparse_cross_entropy_forward;
  sparse_softmax_cross_entropy_backward_stub.cuda = sparse_cross_entropy_backward;
  softmax_cross_entropy_stub.cuda = dense_cross_entropy_forward;
  softmax_cross_entropy_backward_stub.cuda = dense_cross_entropy_backward;
}

}  // namespace neurona::kernels::cuda
