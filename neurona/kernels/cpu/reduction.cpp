// CPU kernels for reductions and softmax: one output (or line) per loop iteration.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "neurona/kernels/cpu/kernels.h"
#include "neurona/kernels/cpu/lanes.h"
#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/cpu/vector_math.h"
#include "neurona/kernels/math/impl.h"
#include "neurona/kernels/reduction_stubs.h"

namespace neurona::kernels::cpu {

namespace {

// Columns per index of the column-sum loop (a few cache lines of accumulators).
constexpr std::int64_t kColumns = 64;

// A float sum or mean over the leading axes of a contiguous (rows, columns) view (a bias
// gradient): the shared functor walks each column with a stride, one row per cache line; this
// walks the rows in order and adds each into a block of column accumulators. Each column
// still adds its rows in order into the functor's (double) accumulator, so the results are
// the functor's.
template <ReduceOp Op, typename T>
void column_sums(const Tensor& x, const ReducePlan& p, Tensor& out) {
  const ReduceFunctor<Op, T, T> f{x.data<T>(), out.data<T>(), p.kept, p.reduced, p.num_reduce};
  using Acc = typename ReduceFunctor<Op, T, T>::Acc;
  const std::int64_t cols = p.num_out, rows = p.num_reduce;
  const T* data = x.data<T>();
  Launch{}((cols + kColumns - 1) / kColumns, rows * kColumns, [&](std::int64_t block) {
    const std::int64_t c0 = block * kColumns;
    const std::int64_t nc = cols - c0 < kColumns ? cols - c0 : kColumns;
    Acc acc[kColumns];
    for (std::int64_t c = 0; c < nc; ++c) acc[c] = f.identity();
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* row = data + r * cols + c0;
      for (std::int64_t c = 0; c < nc; ++c) acc[c] = f.combine(acc[c], static_cast<Acc>(row[c]));
    }
    for (std::int64_t c = 0; c < nc; ++c) f.finish(c0 + c, acc[c]);
  });
}

}  // namespace

void reduce(ReduceOp op, const Tensor& x, const ReducePlan& plan, Tensor& out) {
  const bool columns = plan.kept.rank == 1 && plan.reduced.rank == 1 &&
                       plan.kept.strides[0][0] == 1 && plan.reduced.strides[0][0] == plan.num_out &&
                       plan.num_out > 1 && plan.num_reduce > 1;
  if (columns && (op == ReduceOp::sum || op == ReduceOp::mean)) {
    if (x.dtype() == DType::float32 && out.dtype() == DType::float32) {
      return op == ReduceOp::sum ? column_sums<ReduceOp::sum, float>(x, plan, out)
                                 : column_sums<ReduceOp::mean, float>(x, plan, out);
    }
    if (x.dtype() == DType::float64 && out.dtype() == DType::float64) {
      return op == ReduceOp::sum ? column_sums<ReduceOp::sum, double>(x, plan, out)
                                 : column_sums<ReduceOp::mean, double>(x, plan, out);
    }
  }
  reduce_impl(Launch{}, op, x, plan, out);
}

namespace {

// SoftmaxFunctor along the last axis of float32 rows, a row per task, with the exponentials
// from glibc's SIMD expf (vector_math.h): softmax exp(x - max) / sum, log-softmax (x - max) -
// log(sum), the sums in interleaved lanes (lanes.h).
void softmax_rows_float(bool log, const float* x, float* out, std::int64_t rows, std::int64_t n) {
  Launch{}(rows, n, [=](std::int64_t r) {
    const float* xr = x + r * n;
    float* o = out + r * n;
    const float m = lane_max_or_nan(xr, n);
    if (!log) {
      vector_attention_exp(xr, m, o, n);
      const float inv = 1.0f / lane_sum<float>(n, [o](std::int64_t k) { return o[k]; });
      for (std::int64_t k = 0; k < n; ++k) o[k] *= inv;
      return;
    }
    const auto ls = static_cast<float>(std::log(vector_exp_sum(xr, m, n)));
    for (std::int64_t k = 0; k < n; ++k) o[k] = (xr[k] - m) - ls;
  });
}

void softmax(bool log, const Tensor& x, std::int64_t outer, std::int64_t n, std::int64_t inner,
             Tensor& out) {
  if (x.dtype() == DType::float32 && inner == 1) {
    softmax_rows_float(log, x.data<float>(), out.data<float>(), outer, n);
    return;
  }
  softmax_impl(Launch{}, log, x, outer, n, inner, out);  // other axes and dtypes
}
}  // namespace

void register_reduction() {
  reduce_stub.cpu = reduce;
  softmax_stub.cpu = softmax;
}

}  // namespace neurona::kernels::cpu
