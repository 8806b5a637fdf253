// Shape arithmetic: element counts with overflow checks, axis normalization, broadcasting.
#include "neurona/core/shape.h"

#include <algorithm>
#include <limits>

#include "neurona/core/error.h"

namespace neurona {

std::int64_t Shape::operator[](int i) const {
  const int r = rank();
  NEURONA_CHECK(i >= -r && i < r, ShapeError, "Shape: index ", i, " out of range for shape ",
                str());
  return dims_[static_cast<std::size_t>(i < 0 ? i + r : i)];
}

std::int64_t& Shape::operator[](int i) {
  const int r = rank();
  NEURONA_CHECK(i >= -r && i < r, ShapeError, "Shape: index ", i, " out of range for shape ",
                str());
  return dims_[static_cast<std::size_t>(i < 0 ? i + r : i)];
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : dims_) {
    NEURONA_CHECK(d >= 0, ShapeError, "Shape: negative dimension ", d, " in ", str());
    if (d != 0 && n > std::numeric_limits<std::int64_t>::max() / d) {
      // Keep scanning: a zero later makes the product 0, a negative one is an error.
      bool has_zero = false;
      for (std::int64_t e : dims_) {
        NEURONA_CHECK(e >= 0, ShapeError, "Shape: negative dimension ", e, " in ", str());
        has_zero = has_zero || e == 0;
      }
      NEURONA_CHECK(has_zero, ShapeError, "Shape: element count of ", str(), " overflows int64");
      return 0;
    }
    n *= d;
  }
  return n;
}

void Shape::check_valid(const char* op) const {
  try {
    (void)numel();
  } catch (const ShapeError& e) {
    throw ShapeError(detail::str(op, ": invalid shape: ", e.what()));
  }
}

int Shape::normalize_axis(int axis, const char* op) const {
  const int r = rank();
  NEURONA_CHECK(axis >= -r && axis < r, ShapeError, op, ": axis ", axis,
                " is out of range for a tensor of shape ", str(), " (rank ", r, ")");
  return axis < 0 ? axis + r : axis;
}

std::string Shape::str() const {
  std::string s = "(";
  for (std::size_t i = 0; i < dims_.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(dims_[i]);
  }
  if (dims_.size() == 1) s += ",";
  return s + ")";
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  const int r = std::max(a.rank(), b.rank());
  std::vector<std::int64_t> out(static_cast<std::size_t>(r));
  for (int i = 0; i < r; ++i) {
    const int ia = a.rank() - r + i, ib = b.rank() - r + i;
    const std::int64_t da = ia >= 0 ? a.dims()[static_cast<std::size_t>(ia)] : 1;
    const std::int64_t db = ib >= 0 ? b.dims()[static_cast<std::size_t>(ib)] : 1;
    NEURONA_CHECK(da == db || da == 1 || db == 1, ShapeError, op, ": cannot broadcast shapes ", a,
                  " and ", b, " (dimension ", i, ": ", da, " vs ", db, ")");
    out[static_cast<std::size_t>(i)] = da == 1 ? db : da;
  }
  return Shape(std::move(out));
}

}  // namespace neurona
