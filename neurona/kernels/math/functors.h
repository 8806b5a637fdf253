// One functor per elementwise, reduction and indexing kernel: `operator()(i)` computes output
// element i (or line i). The CPU runs them in an OpenMP loop and CUDA in a grid-stride
// kernel, so both devices execute exactly this code.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "neurona/core/macros.h"
#include "neurona/core/philox.h"
#include "neurona/kernels/math/elementwise_ops.h"
#include "neurona/kernels/math/indexer.h"
#include "neurona/kernels/reduction_stubs.h"

namespace neurona::kernels {

/// The output type of a binary op on T: uint8 for comparisons, T otherwise.
template <BinaryOp Op, typename T>
using binary_out_t = std::conditional_t<is_comparison(Op), std::uint8_t, T>;

// The functors compute in compute_t<T> (float for the 16-bit types) and round once on store.
template <BinaryOp Op, typename T, typename Out>
struct BinaryContiguous {
  using C = compute_t<T>;
  const T* a;
  const T* b;
  Out* out;
  NEURONA_HD_INLINE void operator()(std::int64_t i) const {
    out[i] = static_cast<Out>(binary_apply<Op, C>(static_cast<C>(a[i]), static_cast<C>(b[i])));
  }
};

template <BinaryOp Op, typename T, typename Out>
struct BinaryBroadcast {
  const T* a;
  const T* b;
  Out* out;
  Indexer<2> ix;
  using C = compute_t<T>;
  NEURONA_HD_INLINE void operator()(std::int64_t i) const {
    std::int64_t off[2];
    ix.offsets(i, off);
    out[i] =
        static_cast<Out>(binary_apply<Op, C>(static_cast<C>(a[off[0]]), static_cast<C>(b[off[1]])));
  }
};

template <UnaryOp Op, typename T>
struct UnaryFunctor {
  using C = compute_t<T>;
  const T* x;
  T* out;
  C alpha;
  NEURONA_HD_INLINE void operator()(std::int64_t i) const {
    out[i] = static_cast<T>(unary_apply<Op, C>(static_cast<C>(x[i]), alpha));
  }
};

template <typename T>
struct WhereFunctor {
  const std::uint8_t* cond;
  const T* a;
  const T* b;
  T* out;
  Indexer<3> ix;
  NEURONA_HD_INLINE void operator()(std::int64_t i) const {
    std::int64_t off[3];
    ix.offsets(i, off);
    out[i] = cond[off[0]] ? a[off[1]] : b[off[2]];
  }
};

template <typename From, typename To>
struct CastFunctor {
  const From* x;
  To* out;
  NEURONA_HD_INLINE void operator()(std::int64_t i) const { out[i] = saturate_cast<To>(x[i]); }
};

template <typename T>
struct StridedCopyFunctor {
  const T* x;
  T* out;
  Indexer<1> ix;
  NEURONA_HD_INLINE void operator()(std::int64_t i) const {
    std::int64_t off[1];
    ix.offsets(i, off);
    out[i] = x[off[0]];
  }
};

template <typename T>
struct FillFunctor {
  T* out;
  T value;
  NEURONA_HD_INLINE void operator()(std::int64_t i) const { out[i] = value; }
};

template <typename T>
struct ArangeFunctor {
  T* out;
  double start, step;
  NEURONA_HD_INLINE void operator()(std::int64_t i) const {
    out[i] = saturate_cast<T>(add_rn(start, mul_rn(static_cast<double>(i), step)));
  }
};

/// Rows of `x` picked by `indices`; an index outside [0, rows) gives a row of zeros (the CPU
/// front door rejects such indices before it gets here).
template <typename T, typename I>
struct GatherFunctor {
  const T* x;
  const I* indices;
  T* out;
  std::int64_t rows, row_size;
  NEURONA_HD_INLINE void operator()(std::int64_t i) const {
    const std::int64_t r = i / row_size, c = i % row_size;
    const std::int64_t src = static_cast<std::int64_t>(indices[r]);
    out[i] = (src >= 0 && src < rows) ? x[src * row_size + c] : T(0);
  }
};

template <typename T, typename I>
struct OneHotFunctor {
  const I* indices;
  T* out;
  std::int64_t depth;
  T on, off;
  NEURONA_HD_INLINE void operator()(std::int64_t i) const {
    out[i] = static_cast<std::int64_t>(indices[i / depth]) == i % depth ? on : off;
  }
};

// ---- random -----------------------------------------------------------------------------

NEURONA_HD_INLINE double uniform53(std::uint32_t hi, std::uint32_t lo) {
  // 53 random bits -> [0, 1)
  const std::uint64_t bits = (static_cast<std::uint64_t>(hi) << 21) ^ (lo >> 11);
  return static_cast<double>(bits & ((std::uint64_t{1} << 53) - 1)) * 0x1.0p-53;
}

/// Advances a SeedGenerator's counter after a draw (one thread).
struct AdvanceSeedFunctor {
  std::int64_t* state;
  NEURONA_HD_INLINE void operator()(std::int64_t /*i*/) const { state[1] += 1; }
};

/// Copies a SeedGenerator's (seed, counter) to `key` and advances the counter (one thread): the
/// key of one draw that a kernel reads from `key` later (the fused attention's dropout).
struct TakeSeedFunctor {
  std::int64_t* state;
  std::int64_t* key;
  NEURONA_HD_INLINE void operator()(std::int64_t /*i*/) const {
    key[0] = state[0];
    key[1] = state[1];
    state[1] += 1;
  }
};

/// Element i of a random tensor; depends only on (key, i + offset), never on the device.
template <typename T>
struct RandomFunctor {
  T* out;
  RandomKey key;
  int dist;     // RandomDist
  double a, b;  // uniform: [a, b); normal: mean a, stddev b
  /// A SeedGenerator's (seed, counter) on the device, read instead of `key` where given.
  const std::int64_t* key_state = nullptr;
  /// out[i] is element i + offset of the draw: a part of a larger tensor's draw.
  std::int64_t offset = 0;
  NEURONA_HD_INLINE void operator()(std::int64_t i) const {
    const RandomKey k = key_state == nullptr ? key
                                             : RandomKey{static_cast<std::uint64_t>(key_state[0]),
                                                         static_cast<std::uint32_t>(key_state[1])};
    if (dist == 0) {
      const Philox4x32 w = philox_words(k, static_cast<std::uint64_t>(i + offset), 0);
      if constexpr (std::is_same_v<compute_t<T>, float>) {
        const float u = static_cast<float>(w.v[0] >> 8) * 0x1.0p-24f;
        const float r = add_rn(static_cast<float>(a), mul_rn(u, static_cast<float>(b - a)));
        // keep [a, b) (a 16-bit type rounds near b up to b: draw in float32 where that matters)
        out[i] = static_cast<T>(r < static_cast<float>(b) ? r : static_cast<float>(a));
      } else if constexpr (std::is_same_v<T, double>) {
        const double r = add_rn(a, mul_rn(uniform53(w.v[0], w.v[1]), b - a));
        out[i] = r < b ? r : a;
      } else {  // integers: floor of a uniform draw in [a, b)
        const double r = std::floor(add_rn(a, mul_rn(uniform53(w.v[0], w.v[1]), b - a)));
        out[i] = saturate_cast<T>(r < b ? r : a);
      }
      return;
    }
    // Box-Muller in double, so that the host's and the GPU's libm agree after rounding.
    for (std::uint32_t attempt = 0;; ++attempt) {
      const Philox4x32 w = philox_words(k, static_cast<std::uint64_t>(i + offset), attempt);
      const double u1 = 1.0 - uniform53(w.v[0], w.v[1]);  // (0, 1]
      const double u2 = uniform53(w.v[2], w.v[3]);
      const double radius = std::sqrt(-2.0 * std::log(u1));
      const double z0 = radius * std::cos(6.283185307179586 * u2);
      const double z1 = radius * std::sin(6.283185307179586 * u2);
      if (dist == 1) {
        out[i] = static_cast<T>(a + b * z0);
        return;
      }
      // truncated: redraw beyond two standard deviations (as Keras); P(reject both) ~ 0.2%
      if (std::fabs(z0) <= 2.0 || attempt >= 64) {
        out[i] = static_cast<T>(a + b * (std::fabs(z0) <= 2.0 ? z0 : 0.0));
        return;
      }
      if (std::fabs(z1) <= 2.0) {
        out[i] = static_cast<T>(a + b * z1);
        return;
      }
    }
  }
};

// ---- reductions -------------------------------------------------------------------------

template <typename T>
NEURONA_HD_INLINE T lowest_value() {
  if constexpr (std::numeric_limits<T>::has_infinity)
    return -std::numeric_limits<T>::infinity();
  else
    return std::numeric_limits<T>::lowest();
}
template <typename T>
NEURONA_HD_INLINE T highest_value() {
  if constexpr (std::numeric_limits<T>::has_infinity)
    return std::numeric_limits<T>::infinity();
  else
    return std::numeric_limits<T>::max();
}

template <typename T>
struct ArgAcc {
  T v;
  std::int64_t i;
};

/// Reduction of output element o over plan.num_reduce inputs. `reduce_range` folds the
/// positions begin, begin + step, ... < end; `combine` merges partial results (GPU blocks).
template <ReduceOp Op, typename T, typename Out>
struct ReduceFunctor {
  static constexpr bool kArg = Op == ReduceOp::argmax || Op == ReduceOp::argmin;
  // Float sums accumulate in double: the CPU adds sequentially and the GPU in a tree, and
  // only a wide accumulator makes both close to the exact sum (and to each other).
  static constexpr bool kWide = is_float_v<T> && (Op == ReduceOp::sum || Op == ReduceOp::mean);
  using Acc = std::conditional_t<kArg, ArgAcc<T>, std::conditional_t<kWide, double, T>>;

  const T* x;
  Out* out;
  Indexer<1> kept, reduced;
  std::int64_t num_reduce;

  NEURONA_HD_INLINE Acc identity() const {
    if constexpr (Op == ReduceOp::sum || Op == ReduceOp::mean)
      return Acc(0);
    else if constexpr (Op == ReduceOp::max)
      return lowest_value<T>();
    else if constexpr (Op == ReduceOp::min)
      return highest_value<T>();
    else if constexpr (Op == ReduceOp::argmax)
      return Acc{lowest_value<T>(), std::numeric_limits<std::int64_t>::max()};
    else
      return Acc{highest_value<T>(), std::numeric_limits<std::int64_t>::max()};
  }

  NEURONA_HD_INLINE Acc combine(Acc a, Acc b) const {
    if constexpr (Op == ReduceOp::sum || Op == ReduceOp::mean)
      return wrap_add(a, b);
    else if constexpr (Op == ReduceOp::max)
      return (is_nan(a) || a > b) ? a : b;  // NaN wins
    else if constexpr (Op == ReduceOp::min)
      return (is_nan(a) || a < b) ? a : b;
    else {
      // NaN wins (first NaN, as NumPy), then the larger (smaller) value, then the lower index.
      const bool an = is_nan(a.v), bn = is_nan(b.v);
      if (an || bn) return (an && bn) ? (a.i < b.i ? a : b) : (an ? a : b);
      if (a.v != b.v) {
        if constexpr (Op == ReduceOp::argmax)
          return a.v > b.v ? a : b;
        else
          return a.v < b.v ? a : b;
      }
      return a.i < b.i ? a : b;
    }
  }

  NEURONA_HD_INLINE std::int64_t base(std::int64_t o) const {
    std::int64_t off[1];
    kept.offsets(o, off);
    return off[0];
  }

  NEURONA_HD_INLINE std::int64_t offset(std::int64_t r) const {
    if (reduced.rank == 1) return r * reduced.strides[0][0];
    std::int64_t off[1];
    reduced.offsets(r, off);
    return off[0];
  }

  NEURONA_HD_INLINE Acc reduce_range(std::int64_t o, std::int64_t begin, std::int64_t end,
                                     std::int64_t step) const {
    const T* p = x + base(o);
    Acc acc = identity();
    for (std::int64_t r = begin; r < end; r += step) {
      const T v = p[offset(r)];
      if constexpr (kArg)
        acc = combine(acc, Acc{v, r});
      else
        acc = combine(acc, static_cast<Acc>(v));
    }
    return acc;
  }

  NEURONA_HD_INLINE void finish(std::int64_t o, Acc acc) const {
    if constexpr (kArg) {
      out[o] = static_cast<Out>(acc.i);
    } else if constexpr (Op == ReduceOp::mean) {
      out[o] = num_reduce ? static_cast<Out>(acc / static_cast<Acc>(num_reduce))
                          : std::numeric_limits<Out>::quiet_NaN();
    } else {
      out[o] = static_cast<Out>(acc);
    }
  }
};

/// Softmax or log-softmax of one line (outer index, inner index) along an axis of length n.
template <typename T>
struct SoftmaxFunctor {
  using C = compute_t<T>;
  const T* x;
  T* out;
  std::int64_t n, inner;
  bool log;
  NEURONA_HD_INLINE C at(std::int64_t start, std::int64_t k) const {
    return static_cast<C>(x[start + k * inner]);
  }
  NEURONA_HD_INLINE void operator()(std::int64_t line) const {
    const std::int64_t o = line / inner, j = line % inner;
    const std::int64_t start = o * n * inner + j;
    C m = lowest_value<C>();
    for (std::int64_t k = 0; k < n; ++k) {
      const C v = at(start, k);
      m = (v > m || is_nan(v)) ? v : m;
    }
    C s = 0;
    for (std::int64_t k = 0; k < n; ++k) s += std::exp(at(start, k) - m);
    if (log) {
      const C ls = std::log(s);
      for (std::int64_t k = 0; k < n; ++k)
        out[start + k * inner] = static_cast<T>(at(start, k) - m - ls);
    } else {
      const C inv = C(1) / s;
      for (std::int64_t k = 0; k < n; ++k)
        out[start + k * inner] = static_cast<T>(std::exp(at(start, k) - m) * inv);
    }
  }
};

}  // namespace neurona::kernels
