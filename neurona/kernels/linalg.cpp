// Front doors of matmul and transpose.
#include "neurona/kernels/linalg.h"

#include <numeric>

#include "neurona/kernels/checks.h"
#include "neurona/kernels/linalg_stubs.h"
#include "neurona/kernels/reduction.h"
#include "neurona/kernels/widen.h"

namespace neurona::kernels {

DispatchStub<StridedCopyFn> strided_copy_stub{"strided_copy"};

DispatchStub<DenseBackwardWeightsBiasFn> dense_backward_weights_bias_stub{
    "dense_backward_weights_bias"};

DispatchStub<DenseFn> dense_stub{"dense"};

DispatchStub<MatmulFn> matmul_stub{"matmul"};

Tensor matmul(const Tensor& a, const Tensor& b, MatmulOptions options) {
  const Device d = kernels::check_same_device("matmul", {{"a", &a}, {"b", &b}});
  kernels::check_same_dtype("matmul", {{"a", &a}, {"b", &b}});
  kernels::check_floating("matmul", "a", a);
  NEURONA_CHECK(a.rank() >= 1 && b.rank() >= 1, ShapeError,
                "matmul: operands need at least one dimension, got shapes ", a.shape(), " and ",
                b.shape());
  NEURONA_CHECK(!(a.rank() == 1 && options.transpose_a) && !(b.rank() == 1 && options.transpose_b),
                ValueError, "matmul: transpose given for a 1-D operand (shapes ", a.shape(),
                " and ", b.shape(), ")");
  // View 1-D operands as matrices.
  std::vector<std::int64_t> ad = a.shape().dims(), bd = b.shape().dims();
  if (a.rank() == 1) ad.insert(ad.begin(), 1);
  if (b.rank() == 1) bd.push_back(1);
  const std::size_t ar = ad.size(), br = bd.size();
  const std::int64_t m = options.transpose_a ? ad[ar - 1] : ad[ar - 2];
  const std::int64_t ka = options.transpose_a ? ad[ar - 2] : ad[ar - 1];
  const std::int64_t kb = options.transpose_b ? bd[br - 1] : bd[br - 2];
  const std::int64_t n = options.transpose_b ? bd[br - 2] : bd[br - 1];
  NEURONA_CHECK(ka == kb, ShapeError, "matmul: inner dimensions differ: a has shape ", a.shape(),
                options.transpose_a ? " (transposed)" : "", " and b has shape ", b.shape(),
                options.transpose_b ? " (transposed)" : "", " (", ka, " vs ", kb, ")");
  const Shape a_batch(std::vector<std::int64_t>(ad.begin(), ad.end() - 2));
  const Shape b_batch(std::vector<std::int64_t>(bd.begin(), bd.end() - 2));
  Shape batch;
  try {
    batch = broadcast_shapes(a_batch, b_batch, "matmul");
  } catch (const ShapeError& e) {  // name the operands' shapes, not only their batch parts
    throw ShapeError(detail::str("matmul: batch dimensions of a ", a.shape(), " and b ", b.shape(),
                                 " do not broadcast (", e.what(), ")"));
  }

  kernels::MatmulPlan plan;
  plan.m = m;
  plan.n = n;
  plan.k = ka;
  plan.batch = batch.numel();
  plan.transpose_a = options.transpose_a;
  plan.transpose_b = options.transpose_b;
  const std::int64_t a_mat = m * ka, b_mat = ka * n;
  const bool a_full = a_batch == batch, b_full = b_batch == batch;
  const bool a_shared = a_batch.numel() == 1, b_shared = b_batch.numel() == 1;
  if ((a_full || a_shared) && (b_full || b_shared)) {
    plan.uniform = true;
    plan.stride_a = a_full ? a_mat : 0;
    plan.stride_b = b_full ? b_mat : 0;
  } else {
    plan.uniform = false;
    const Shape shapes[2] = {a_batch, b_batch};
    const auto ix = kernels::make_broadcast_indexer<2>(batch, shapes, "matmul");
    for (std::int64_t i = 0; i < plan.batch; ++i) {
      std::int64_t off[2];
      ix.offsets(i, off);
      plan.offsets_a.push_back(off[0] * a_mat);
      plan.offsets_b.push_back(off[1] * b_mat);
    }
  }

  std::vector<std::int64_t> out_dims = batch.dims();
  if (a.rank() > 1) out_dims.push_back(m);
  if (b.rank() > 1) out_dims.push_back(n);
  Tensor out = Tensor::empty(Shape(out_dims), a.dtype(), d);
  if (out.numel() == 0) return out;
  if (matmul_stub.widens(d, a.dtype())) {
    Tensor wide = wide_like(out);
    matmul_stub.get(d, DType::float32)(widen(a), widen(b), plan, wide);
    narrow_into(wide, out);
  } else {
    matmul_stub.get(d, a.dtype())(a, b, plan, out);
  }
  return out;
}

Tensor dense(const Tensor& x, const Tensor& kernel, const Tensor& bias,
             FusedActivation activation) {
  const Device d = check_same_device("dense", {{"x", &x}, {"kernel", &kernel}});
  check_same_dtype("dense", {{"x", &x}, {"kernel", &kernel}});
  check_floating("dense", "x", x);
  NEURONA_CHECK(x.rank() == 2 && kernel.rank() == 2 && x.shape()[1] == kernel.shape()[0],
                ShapeError, "dense: expected x (m, k) and kernel (k, n), got shapes ", x.shape(),
                " and ", kernel.shape());
  if (bias.defined()) {
    check_same_device("dense", {{"x", &x}, {"bias", &bias}});
    check_same_dtype("dense", {{"x", &x}, {"bias", &bias}});
    NEURONA_CHECK(bias.shape() == Shape({kernel.shape()[1]}), ShapeError,
                  "dense: expected bias of shape ", Shape({kernel.shape()[1]}), ", got ",
                  bias.shape());
  }
  Tensor out = Tensor::empty({x.shape()[0], kernel.shape()[1]}, x.dtype(), d);
  if (out.numel() == 0) return out;
  if (dense_stub.widens(d, x.dtype())) {
    // The bias and activation in float32 too, rounded once with the product.
    Tensor wide = wide_like(out);
    dense_stub.get(d, DType::float32)(widen(x), widen(kernel), widen(bias), activation, wide);
    narrow_into(wide, out);
  } else {
    dense_stub.get(d, x.dtype())(x, kernel, bias, activation, out);
  }
  return out;
}

std::pair<Tensor, Tensor> dense_backward_weights_bias(const Tensor& x, const Tensor& grad) {
  constexpr const char* op = "dense_backward_weights_bias";
  const Device d = check_same_device(op, {{"x", &x}, {"grad", &grad}});
  check_same_dtype(op, {{"x", &x}, {"grad", &grad}});
  check_floating(op, "x", x);
  NEURONA_CHECK(x.rank() == 2 && grad.rank() == 2 && x.shape()[0] == grad.shape()[0], ShapeError,
                op, ": expected x (m, k) and grad (m, n), got shapes ", x.shape(), " and ",
                grad.shape());
  // No rows, or no features (dkernel empty, but dbias still grad's column sums): the composed ops.
  if (!dense_backward_weights_bias_stub.takes(d, x.dtype()) || x.shape()[0] == 0 ||
      x.shape()[1] == 0) {
    return {matmul(x, grad, {.transpose_a = true}), sum(grad, Axes({0}))};
  }
  Tensor dkernel = Tensor::empty({x.shape()[1], grad.shape()[1]}, x.dtype(), d);
  Tensor dbias = Tensor::empty({grad.shape()[1]}, x.dtype(), d);
  if (dkernel.numel() > 0)
    dense_backward_weights_bias_stub.get(d, x.dtype())(x, grad, dkernel, dbias);
  return {dkernel, dbias};
}

PermutePlan permute_plan(const Shape& shape, const std::vector<int>& perm) {
  const std::vector<std::int64_t> in_strides = kernels::contiguous_strides(shape);
  std::vector<std::int64_t> dims, strides[1];
  for (int p : perm) {
    dims.push_back(shape.dims()[static_cast<std::size_t>(p)]);
    strides[0].push_back(in_strides[static_cast<std::size_t>(p)]);
  }
  return {Shape(dims), kernels::build_indexer<1>(dims, strides, "transpose")};
}

Tensor transpose(const Tensor& x, std::vector<int> perm) {
  const Device d = kernels::check_same_device("transpose", {{"x", &x}});
  const int r = x.rank();
  if (perm.empty()) {
    perm.resize(static_cast<std::size_t>(r));
    std::iota(perm.rbegin(), perm.rend(), 0);
  }
  NEURONA_CHECK(static_cast<int>(perm.size()) == r, ShapeError, "transpose: perm has ", perm.size(),
                " entries for a tensor of shape ", x.shape(), " (rank ", r, ")");
  std::vector<bool> seen(static_cast<std::size_t>(r), false);
  for (int& p : perm) {
    p = x.shape().normalize_axis(p, "transpose");
    NEURONA_CHECK(!seen[static_cast<std::size_t>(p)], ValueError, "transpose: axis ", p,
                  " appears twice in perm for shape ", x.shape());
    seen[static_cast<std::size_t>(p)] = true;
  }
  const PermutePlan plan = permute_plan(x.shape(), perm);
  Tensor out = Tensor::empty(plan.shape, x.dtype(), d);
  if (out.numel() > 0) kernels::strided_copy_stub.get(d)(x, plan.ix, out);
  return out;
}

}  // namespace neurona::kernels
