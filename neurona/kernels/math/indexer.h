// Maps a flat output index to element offsets of up to N operands with NumPy broadcasting
// (stride 0 along broadcast dimensions). Shared by the CPU loops and the CUDA kernels.
#pragma once

#include <cstdint>
#include <vector>

#include "neurona/core/error.h"
#include "neurona/core/macros.h"
#include "neurona/core/shape.h"

namespace neurona::kernels {

inline constexpr int kMaxDims = 8;

template <int N>
struct Indexer {
  int rank = 0;
  std::int64_t dims[kMaxDims] = {};
  std::int64_t strides[N][kMaxDims] = {};

  /// Offsets of output element `i` in each operand.
  NEURONA_HD_INLINE void offsets(std::int64_t i, std::int64_t (&off)[N]) const {
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = rank - 1; d >= 0; --d) {
      const std::int64_t idx = i % dims[d];
      i /= dims[d];
      for (int k = 0; k < N; ++k) off[k] += idx * strides[k][d];
    }
  }
};

/// Row-major strides of `shape` as seen from an output of rank `out_rank`, with 0 along
/// dimensions where `shape` is broadcast (size 1 or missing).
inline std::vector<std::int64_t> broadcast_strides(const Shape& shape, const Shape& out) {
  std::vector<std::int64_t> s(static_cast<std::size_t>(out.rank()), 0);
  std::int64_t stride = 1;
  for (int d = shape.rank() - 1; d >= 0; --d) {
    const int od = out.rank() - shape.rank() + d;
    const std::int64_t n = shape.dims()[static_cast<std::size_t>(d)];
    s[static_cast<std::size_t>(od)] = n == 1 ? 0 : stride;
    stride *= n;
  }
  return s;
}

/// Builds an indexer from output dimensions and each operand's strides along them, dropping
/// size-1 dimensions and merging neighbours that every operand walks contiguously, so that
/// most calls index with one or two divisions.
template <int N>
Indexer<N> build_indexer(const std::vector<std::int64_t>& dims,
                         const std::vector<std::int64_t> (&strides)[N], const char* op) {
  std::vector<std::int64_t> md;
  std::vector<std::int64_t> ms[N];
  for (std::size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 1) continue;
    bool merge = !md.empty();
    for (int k = 0; k < N && merge; ++k) merge = ms[k].back() == strides[k][d] * dims[d];
    if (merge) {
      md.back() *= dims[d];
      for (int k = 0; k < N; ++k) ms[k].back() = strides[k][d];
    } else {
      md.push_back(dims[d]);
      for (int k = 0; k < N; ++k) ms[k].push_back(strides[k][d]);
    }
  }
  NEURONA_CHECK(static_cast<int>(md.size()) <= kMaxDims, ShapeError, op, ": shape ", Shape(dims),
                " needs more than ", kMaxDims, " dimensions after merging");
  Indexer<N> ix;
  ix.rank = static_cast<int>(md.size());
  for (int d = 0; d < ix.rank; ++d) {
    ix.dims[d] = md[static_cast<std::size_t>(d)];
    for (int k = 0; k < N; ++k) ix.strides[k][d] = ms[k][static_cast<std::size_t>(d)];
  }
  return ix;
}

/// An indexer over `out` for operands of the given shapes, broadcast to it.
template <int N>
Indexer<N> make_broadcast_indexer(const Shape& out, const Shape (&operands)[N], const char* op) {
  std::vector<std::int64_t> strides[N];
  for (int k = 0; k < N; ++k) strides[k] = broadcast_strides(operands[k], out);
  return build_indexer<N>(out.dims(), strides, op);
}

/// Row-major strides of a contiguous tensor of shape `s`.
inline std::vector<std::int64_t> contiguous_strides(const Shape& s) {
  std::vector<std::int64_t> st(static_cast<std::size_t>(s.rank()), 1);
  for (int d = s.rank() - 2; d >= 0; --d) {
    st[static_cast<std::size_t>(d)] =
        st[static_cast<std::size_t>(d + 1)] * s.dims()[static_cast<std::size_t>(d + 1)];
  }
  return st;
}

/// True when an indexer walks every operand contiguously (a single flat loop).
template <int N>
bool is_contiguous(const Indexer<N>& ix) {
  if (ix.rank == 0) return true;
  if (ix.rank > 1) return false;
  for (int k = 0; k < N; ++k) {
    if (ix.strides[k][0] != 1) return false;
  }
  return true;
}

}  // namespace neurona::kernels
