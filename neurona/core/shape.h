// The dimensions of a Tensor, printed as Keras prints them: (4, 5), (3,), ().
#pragma once

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

namespace neurona {

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims) : dims_(dims) {}
  explicit Shape(std::vector<std::int64_t> dims) : dims_(std::move(dims)) {}

  /// Number of dimensions (0 for a scalar).
  int rank() const { return static_cast<int>(dims_.size()); }
  /// Dimension `i`; negative `i` counts from the end as in Python. Throws ShapeError out of range.
  std::int64_t operator[](int i) const;
  std::int64_t& operator[](int i);
  const std::vector<std::int64_t>& dims() const { return dims_; }
  auto begin() const { return dims_.begin(); }
  auto end() const { return dims_.end(); }

  /// Product of the dimensions (1 for a scalar). Throws ShapeError for a negative dimension or
  /// a product that does not fit in int64.
  std::int64_t numel() const;

  /// Throws ShapeError naming `op` if a dimension is negative or the element count overflows.
  void check_valid(const char* op) const;

  /// Normalizes a possibly negative axis against this rank; throws ShapeError naming `op`.
  int normalize_axis(int axis, const char* op) const;

  std::string str() const;
  bool operator==(const Shape& o) const = default;

 private:
  std::vector<std::int64_t> dims_;
};

inline std::ostream& operator<<(std::ostream& os, const Shape& s) {
  return os << s.str();
}

/// NumPy broadcasting of two shapes; throws ShapeError naming `op` when they do not broadcast.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace neurona
