// Front doors of the fused softmax cross-entropy: argument checks, output shapes, dispatch.
// The stubs are defined here rather than in dispatch.cpp so that the loss kernels stay one
// unit: kernels/loss.h, math/loss_ops.h, cpu/loss.cpp, cuda/loss.cu.
#include "neurona/kernels/loss.h"

#include <vector>

#include "neurona/kernels/checks.h"
#include "neurona/kernels/elementwise.h"
#include "neurona/kernels/loss_stubs.h"

namespace neurona::kernels {

DispatchStub<SparseSoftmaxCrossEntropyFn> sparse_softmax_cross_entropy_stub{
    "sparse_softmax_cross_entropy"};
DispatchStub<SparseSoftmaxCrossEntropyBackwardFn> sparse_softmax_cross_entropy_backward_stub{
    "sparse_softmax_cross_entropy_backward"};
DispatchStub<SoftmaxCrossEntropyFn> softmax_cross_entropy_stub{"softmax_cross_entropy"};
DispatchStub<SoftmaxCrossEntropyBackwardFn> softmax_cross_entropy_backward_stub{
    "softmax_cross_entropy_backward"};

namespace {

// The logits' shape without its last axis: the shape of the losses.
Shape row_shape(const char* op, const Tensor& logits) {
  NEURONA_CHECK(logits.rank() >= 1, ShapeError, op,
                ": argument logits needs a class axis, got shape ()");
  NEURONA_CHECK(logits.shape()[-1] > 0, ShapeError, op, ": argument logits has no classes (shape ",
                logits.shape(), ")");
  std::vector<std::int64_t> dims = logits.shape().dims();
  dims.pop_back();
  return Shape(dims);
}

// The kernels compute in float32 or float64; 16-bit logits are widened by the autograd op
// (nr::sparse_softmax_cross_entropy), so that the loss is float32.
void check_not_half(const char* op, const Tensor& logits) {
  NEURONA_CHECK(!is_half(logits.dtype()), ValueError, op, ": argument logits is ", logits.dtype(),
                " with shape ", logits.shape(),
                "; the loss kernels take float32 or float64 (nr::", op,
                " casts 16-bit logits to float32)");
}

// Integer labels as the kernels take them: float labels are truncated, as Keras's cast to int32.
Tensor integer_labels(const Tensor& labels) {
  return is_floating(labels.dtype()) ? cast(labels, DType::int64) : labels;
}

void check_rows(const char* op, const char* arg, const Tensor& t, const Shape& rows,
                const Tensor& logits) {
  NEURONA_CHECK(t.shape() == rows, ShapeError, op, ": argument ", arg, " has shape ", t.shape(),
                " but logits of shape ", logits.shape(), " need ", rows);
}

}  // namespace

Tensor sparse_softmax_cross_entropy(const Tensor& logits, const Tensor& labels, Tensor* row_max,
                                    Tensor* log_sum) {
  constexpr const char* op = "sparse_softmax_cross_entropy";
  const Device d = check_same_device(op, {{"logits", &logits}, {"labels", &labels}});
  check_floating(op, "logits", logits);
  check_not_half(op, logits);
  const Shape rows = row_shape(op, logits);
  check_rows(op, "labels", labels, rows, logits);
  check_finite_indices(op, "labels", labels);
  const Tensor ilabels = integer_labels(labels);
  Tensor loss = Tensor::empty(rows, logits.dtype(), d);
  Tensor m = Tensor::empty(rows, logits.dtype(), d);
  Tensor s = Tensor::empty(rows, logits.dtype(), d);
  if (loss.numel() > 0) sparse_softmax_cross_entropy_stub.get(d)(logits, ilabels, loss, m, s);
  if (row_max != nullptr) *row_max = m;
  if (log_sum != nullptr) *log_sum = s;
  return loss;
}

Tensor sparse_softmax_cross_entropy_backward(const Tensor& logits, const Tensor& labels,
                                             const Tensor& row_max, const Tensor& log_sum,
                                             const Tensor& grad) {
  constexpr const char* op = "sparse_softmax_cross_entropy_backward";
  const Device d = check_same_device(op, {{"logits", &logits},
                                          {"labels", &labels},
                                          {"row_max", &row_max},
                                          {"log_sum", &log_sum},
                                          {"grad", &grad}});
  check_floating(op, "logits", logits);
  check_not_half(op, logits);
  check_same_dtype(
      op, {{"logits", &logits}, {"row_max", &row_max}, {"log_sum", &log_sum}, {"grad", &grad}});
  const Shape rows = row_shape(op, logits);
  check_rows(op, "labels", labels, rows, logits);
  check_rows(op, "row_max", row_max, rows, logits);
  check_rows(op, "log_sum", log_sum, rows, logits);
  check_rows(op, "grad", grad, rows, logits);
  Tensor dlogits = Tensor::empty(logits.shape(), logits.dtype(), d);
  if (dlogits.numel() > 0) {
    sparse_softmax_cross_entropy_backward_stub.get(d)(logits, integer_labels(labels), row_max,
                                                      log_sum, grad, dlogits);
  }
  return dlogits;
}

Tensor softmax_cross_entropy(const Tensor& logits, const Tensor& targets, Tensor* row_max,
                             Tensor* log_sum, Tensor* target_sum) {
  constexpr const char* op = "softmax_cross_entropy";
  const Device d = check_same_device(op, {{"logits", &logits}, {"targets", &targets}});
  check_floating(op, "logits", logits);
  check_not_half(op, logits);
  check_same_dtype(op, {{"logits", &logits}, {"targets", &targets}});
  const Shape rows = row_shape(op, logits);
  NEURONA_CHECK(targets.shape() == logits.shape(), ShapeError, op, ": argument targets has shape ",
                targets.shape(), " but logits have shape ", logits.shape());
  Tensor loss = Tensor::empty(rows, logits.dtype(), d);
  Tensor m = Tensor::empty(rows, logits.dtype(), d);
  Tensor s = Tensor::empty(rows, logits.dtype(), d);
  Tensor ts = Tensor::empty(rows, logits.dtype(), d);
  if (loss.numel() > 0) softmax_cross_entropy_stub.get(d)(logits, targets, loss, m, s, ts);
  if (row_max != nullptr) *row_max = m;
  if (log_sum != nullptr) *log_sum = s;
  if (target_sum != nullptr) *target_sum = ts;
  return loss;
}

std::pair<Tensor, Tensor> softmax_cross_entropy_backward(
    const Tensor& logits, const Tensor& targets, const Tensor& row_max, const Tensor& log_sum,
    const Tensor& target_sum, const Tensor& grad, bool targets_gradient) {
  constexpr const char* op = "softmax_cross_entropy_backward";
  const Device d = check_same_device(op, {{"logits", &logits},
                                          {"targets", &targets},
                                          {"row_max", &row_max},
                                          {"log_sum", &log_sum},
                                          {"target_sum", &target_sum},
                                          {"grad", &grad}});
  check_floating(op, "logits", logits);
  check_not_half(op, logits);
  check_same_dtype(op, {{"logits", &logits},
                        {"targets", &targets},
                        {"row_max", &row_max},
                        {"log_sum", &log_sum},
                        {"target_sum", &target_sum},
                        {"grad", &grad}});
  const Shape rows = row_shape(op, logits);
  NEURONA_CHECK(targets.shape() == logits.shape(), ShapeError, op, ": argument targets has shape ",
                targets.shape(), " but logits have shape ", logits.shape());
  check_rows(op, "row_max", row_max, rows, logits);
  check_rows(op, "log_sum", log_sum, rows, logits);
  check_rows(op, "target_sum", target_sum, rows, logits);
  check_rows(op, "grad", grad, rows, logits);
  Tensor dlogits = Tensor::empty(logits.shape(), logits.dtype(), d);
  Tensor dtargets = targets_gradient ? Tensor::empty(logits.shape(), logits.dtype(), d) : Tensor();
  if (dlogits.numel() > 0) {
    softmax_cross_entropy_backward_stub.get(d)(logits, targets, row_max, log_sum, target_sum, grad,
                                               dlogits, dtargets);
  }
  return {dlogits, dtargets};
}

}  // namespace neurona::kernels
