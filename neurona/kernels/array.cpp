// Front doors of concat, slice, gather and one_hot.
#include "neurona/kernels/array.h"

#include "neurona/kernels/checks.h"
#include "neurona/kernels/dispatch.h"

namespace neurona {

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

}  // namespace neurona
