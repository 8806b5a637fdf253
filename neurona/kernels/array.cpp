// Front doors of concat, slice, gather and one_hot.
#include "neurona/kernels/array.h"

#include "neurona/kernels/array_stubs.h"
#include "neurona/kernels/checks.h"
#include "neurona/kernels/creation.h"
#include "neurona/kernels/elementwise.h"
#include "neurona/kernels/linalg_stubs.h"

namespace neurona::kernels {

DispatchStub<OneHotFn> one_hot_stub{"one_hot"};

DispatchStub<ScatterAddFn> scatter_add_stub{"scatter_add_rows"};

DispatchStub<GatherFn> gather_stub{"gather"};

DispatchStub<Copy2dFn> copy2d_stub{"copy2d"};

Tensor concat(const std::vector<Tensor>& tensors, int axis) {
  NEURONA_CHECK(!tensors.empty(), ValueError, "concat: needs at least one tensor");
  const Tensor& first = tensors[0];
  const Device d = kernels::check_same_device("concat", {{"tensors[0]", &first}});
  NEURONA_CHECK(first.rank() > 0, ShapeError, "concat: cannot join scalars (tensors[0] has shape ",
                first.shape(), ")");
  const int a = first.shape().normalize_axis(axis, "concat");
  std::vector<std::int64_t> dims = first.shape().dims();
  dims[static_cast<std::size_t>(a)] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    const std::string name = "tensors[" + std::to_string(i) + "]";
    kernels::check_same_device("concat", {{"tensors[0]", &first}, {name.c_str(), &t}});
    kernels::check_same_dtype("concat", {{"tensors[0]", &first}, {name.c_str(), &t}});
    bool ok = t.rank() == first.rank();
    for (int k = 0; ok && k < t.rank(); ++k) ok = k == a || t.shape()[k] == first.shape()[k];
    NEURONA_CHECK(ok, ShapeError, "concat: ", name, " has shape ", t.shape(),
                  ", which does not match tensors[0]'s shape ", first.shape(), " outside axis ", a);
    dims[static_cast<std::size_t>(a)] += t.shape()[a];
  }
  Tensor out = Tensor::empty(Shape(dims), first.dtype(), d);
  if (out.numel() == 0) return out;
  std::int64_t outer = 1;
  for (int k = 0; k < a; ++k) outer *= dims[static_cast<std::size_t>(k)];
  const std::int64_t out_row =
      out.numel() / outer * static_cast<std::int64_t>(size_of(out.dtype()));
  std::int64_t offset = 0;
  auto copy = kernels::copy2d_stub.get(d);
  for (const Tensor& t : tensors) {
    const std::int64_t row = t.numel() / outer * static_cast<std::int64_t>(size_of(t.dtype()));
    copy(d, static_cast<char*>(out.raw_data()) + offset, out_row, t.raw_data(), row, row, outer);
    offset += row;
  }
  return out;
}

Tensor narrow(const Tensor& x, int axis, std::int64_t start, std::int64_t length) {
  const Device d = check_same_device("narrow", {{"x", &x}});
  NEURONA_CHECK(x.rank() > 0, ShapeError, "narrow: cannot narrow a scalar (shape ())");
  const int a = x.shape().normalize_axis(axis, "narrow");
  const std::int64_t n = x.shape()[a];
  NEURONA_CHECK(start >= 0 && length >= 0 && start + length <= n, ShapeError, "narrow: entries [",
                start, ", ", start + length, ") are outside axis ", a, " of shape ", x.shape());
  std::vector<std::int64_t> dims = x.shape().dims();
  dims[static_cast<std::size_t>(a)] = length;
  Tensor out = Tensor::empty(Shape(dims), x.dtype(), d);
  if (out.numel() == 0) return out;
  std::int64_t outer = 1;
  for (int k = 0; k < a; ++k) outer *= dims[static_cast<std::size_t>(k)];
  const auto esize = static_cast<std::int64_t>(size_of(x.dtype()));
  const std::int64_t inner = x.numel() / outer / n;  // elements per entry of the axis
  copy2d_stub.get(d)(d, out.raw_data(), length * inner * esize,
                     static_cast<const char*>(x.raw_data()) + start * inner * esize,
                     n * inner * esize, length * inner * esize, outer);
  return out;
}

Tensor reverse(const Tensor& x, int axis) {
  const Device d = check_same_device("reverse", {{"x", &x}});
  NEURONA_CHECK(x.rank() > 0, ShapeError, "reverse: cannot reverse a scalar (shape ())");
  const int a = x.shape().normalize_axis(axis, "reverse");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), d);
  if (out.numel() == 0) return out;
  const std::int64_t n = x.shape()[a];
  std::int64_t outer = 1;
  for (int k = 0; k < a; ++k) outer *= x.shape()[k];
  const auto esize = static_cast<std::int64_t>(size_of(x.dtype()));
  const std::int64_t entry = x.numel() / outer / n * esize;  // bytes per entry of the axis
  // Entry n - 1 - j of every outer row to entry j: `n` copies of `outer` rows each.
  for (std::int64_t j = 0; j < n; ++j) {
    copy2d_stub.get(d)(d, static_cast<char*>(out.raw_data()) + j * entry, n * entry,
                       static_cast<const char*>(x.raw_data()) + (n - 1 - j) * entry, n * entry,
                       entry, outer);
  }
  return out;
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  const Device d = check_same_device("broadcast_to", {{"x", &x}});
  shape.check_valid("broadcast_to");
  const Shape b = broadcast_shapes(x.shape(), shape, "broadcast_to");
  NEURONA_CHECK(b == shape, ShapeError, "broadcast_to: cannot broadcast shape ", x.shape(), " to ",
                shape);
  Tensor out = Tensor::empty(shape, x.dtype(), d);
  if (out.numel() == 0) return out;
  const Shape operands[1] = {x.shape()};
  strided_copy_stub.get(d)(x, make_broadcast_indexer<1>(shape, operands, "broadcast_to"), out);
  return out;
}

Tensor scatter_add_rows(const Tensor& indices, const Tensor& updates, std::int64_t rows) {
  const Device d =
      check_same_device("scatter_add_rows", {{"indices", &indices}, {"updates", &updates}});
  NEURONA_CHECK(indices.dtype() == DType::int32 || indices.dtype() == DType::int64, ValueError,
                "scatter_add_rows: argument indices must be int32 or int64, got ", indices.dtype());
  check_floating("scatter_add_rows", "updates", updates);
  NEURONA_CHECK(rows >= 0, ValueError, "scatter_add_rows: rows must be >= 0, got ", rows);
  const int ir = indices.rank();
  bool prefix = updates.rank() >= ir;
  for (int k = 0; prefix && k < ir; ++k) prefix = updates.shape()[k] == indices.shape()[k];
  NEURONA_CHECK(prefix, ShapeError, "scatter_add_rows: updates shape ", updates.shape(),
                " does not start with indices shape ", indices.shape());
  // 16-bit updates are summed in float32 (many rows may add into one) and rounded once.
  if (is_half(updates.dtype())) {
    return cast(scatter_add_rows(indices, cast(updates, DType::float32), rows), updates.dtype());
  }
  std::vector<std::int64_t> dims{rows};
  dims.insert(dims.end(), updates.shape().dims().begin() + ir, updates.shape().dims().end());
  Tensor out = zeros(Shape(dims), {.dtype = updates.dtype(), .device = d});
  if (updates.numel() > 0 && out.numel() > 0) scatter_add_stub.get(d)(indices, updates, out);
  return out;
}

Tensor slice(const Tensor& x, std::int64_t start, std::int64_t stop) {
  kernels::check_same_device("slice", {{"x", &x}});
  return x.slice(start, stop);
}

Tensor gather(const Tensor& x, const Tensor& indices) {
  const Device d = kernels::check_same_device("gather", {{"x", &x}, {"indices", &indices}});
  NEURONA_CHECK(indices.dtype() == DType::int32 || indices.dtype() == DType::int64, ValueError,
                "gather: argument indices must be int32 or int64, got ", indices.dtype(),
                " with shape ", indices.shape());
  NEURONA_CHECK(x.rank() >= 1, ShapeError, "gather: argument x must have at least one ",
                "dimension, got shape ", x.shape());
  std::vector<std::int64_t> dims = indices.shape().dims();
  dims.insert(dims.end(), x.shape().dims().begin() + 1, x.shape().dims().end());
  Tensor out = Tensor::empty(Shape(dims), x.dtype(), d);
  if (indices.numel() > 0) kernels::gather_stub.get(d)(x, indices, out);
  return out;
}

Tensor one_hot(const Tensor& indices, std::int64_t depth, OneHotOptions options) {
  const Device d = kernels::check_same_device("one_hot", {{"indices", &indices}});
  kernels::check_integer("one_hot", "indices", indices);
  NEURONA_CHECK(depth >= 0, ValueError, "one_hot: depth must be >= 0, got ", depth);
  std::vector<std::int64_t> dims = indices.shape().dims();
  dims.push_back(depth);
  Tensor out = Tensor::empty(Shape(dims), options.dtype, d);
  if (out.numel() > 0) {
    kernels::one_hot_stub.get(d)(indices, options.on_value, options.off_value, out);
  }
  return out;
}

}  // namespace neurona::kernels
