// CPU kernels for elementwise ops: the shared functors run by an OpenMP loop; float32 erf, tanh,
// gelu and gelu's gradients through glibc's SIMD functions (cpu/vector_math.h).
#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/cpu/vector_math.h"
#include "neurona/kernels/elementwise_stubs.h"
#include "neurona/kernels/math/impl.h"

namespace neurona::kernels::cpu {

namespace {

// Elements per index of a broadcast loop: long enough that finding a run's start (the indexer's
// divisions) vanishes against the run, short enough to split one long row across threads.
constexpr std::int64_t kRun = 4096;

// Calls body(off, out_start, j0, j1) for every run of a broadcast op along the innermost
// dimension of `ix` (after merging), its elements j0 .. j1 - 1: `off` holds each operand's offset
// of the run's row and `out_start` the output's (rows are contiguous in the output). A row
// longer than kRun is cut into pieces, each found with the indexer's divisions; shorter rows
// (a per-channel operand leaves runs of 3) go in blocks of about kRun elements, the first row's
// offsets found with divisions and the next ones by stepping the outer index, so that no run
// pays for divisions. Each operand steps along its run by ix.strides[k][rank - 1].
template <int N, typename Body>
void for_each_run(const Indexer<N>& ix, std::int64_t numel, const Body& body) {
  const int inner = ix.rank - 1;
  const std::int64_t len = ix.dims[inner];
  Indexer<N> outer = ix;
  outer.rank = inner;
  const std::int64_t rows = numel / len;
  if (len >= kRun) {
    const std::int64_t chunks = (len + kRun - 1) / kRun;
    Launch{}(rows * chunks, kRun, [&](std::int64_t i) {
      const std::int64_t row = i / chunks, j0 = (i % chunks) * kRun;
      const std::int64_t j1 = j0 + kRun < len ? j0 + kRun : len;
      std::int64_t off[N] = {};
      outer.offsets(row, off);
      body(off, row * len, j0, j1);
    });
    return;
  }
  const std::int64_t per_block = kRun / len;
  const std::int64_t blocks = (rows + per_block - 1) / per_block;
  Launch{}(blocks, per_block * len, [&](std::int64_t b) {
    const std::int64_t r0 = b * per_block;
    const std::int64_t r1 = r0 + per_block < rows ? r0 + per_block : rows;
    std::int64_t off[N] = {};
    outer.offsets(r0, off);
    std::int64_t idx[kMaxDims] = {};
    for (std::int64_t q = r0, d = inner - 1; d >= 0; --d) {
      idx[d] = q % outer.dims[d];
      q /= outer.dims[d];
    }
    for (std::int64_t r = r0; r < r1; ++r) {
      body(off, r * len, std::int64_t{0}, len);
      for (int d = inner - 1; d >= 0; --d) {  // the next row: the outer index plus one
        for (int k = 0; k < N; ++k) off[k] += outer.strides[k][d];
        if (++idx[d] < outer.dims[d]) break;
        for (int k = 0; k < N; ++k) off[k] -= outer.strides[k][d] * outer.dims[d];
        idx[d] = 0;
      }
    }
  });
}

// A broadcast binary op (a bias add, a comparison with a scalar, a per-channel mean) as runs
// along the innermost dimension (for_each_run), each stepping by the operands' innermost
// strides (0 or 1 where NumPy broadcasting gives them). Same binary_apply as the shared
// BinaryBroadcast functor, element by element, so the results are the same.
template <BinaryOp Op, typename T, typename Out>
void binary_runs(const T* a, const T* b, Out* out, const Indexer<2>& ix, std::int64_t numel) {
  using C = compute_t<T>;  // float for the 16-bit types, rounded once on store
  auto apply = [](C x, C y) { return static_cast<Out>(binary_apply<Op, C>(x, y)); };
  const int inner = ix.rank - 1;
  const std::int64_t sa = ix.strides[0][inner], sb = ix.strides[1][inner];
  for_each_run(
      ix, numel,
      [&](const std::int64_t(&off)[2], std::int64_t start, std::int64_t j0, std::int64_t j1) {
        const T* pa = a + off[0];
        const T* pb = b + off[1];
        Out* po = out + start;
        if (sa == 1 && sb == 0) {
          const C vb = static_cast<C>(*pb);
          for (std::int64_t j = j0; j < j1; ++j) po[j] = apply(static_cast<C>(pa[j]), vb);
        } else if (sa == 0 && sb == 1) {
          const C va = static_cast<C>(*pa);
          for (std::int64_t j = j0; j < j1; ++j) po[j] = apply(va, static_cast<C>(pb[j]));
        } else if (sa == 1 && sb == 1) {
          for (std::int64_t j = j0; j < j1; ++j) {
            po[j] = apply(static_cast<C>(pa[j]), static_cast<C>(pb[j]));
          }
        } else {
          for (std::int64_t j = j0; j < j1; ++j) {
            po[j] = apply(static_cast<C>(pa[j * sa]), static_cast<C>(pb[j * sb]));
          }
        }
      });
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const Shape shapes[2] = {a.shape(), b.shape()};
  const Indexer<2> ix = make_broadcast_indexer<2>(out.shape(), shapes, "binary op");
  // gelu's gradients in float32 on glibc's SIMD functions (cpu/vector_math.h).
  if (a.dtype() == DType::float32 && a.shape() == b.shape() && out.shape() == a.shape()) {
    if (op == BinaryOp::gelu_grad) {
      vector_gelu_grad(a.data<float>(), b.data<float>(), out.data<float>(), out.numel());
      return;
    }
    if (op == BinaryOp::gelu_approximate_grad) {
      vector_gelu_approximate_grad(a.data<float>(), b.data<float>(), out.data<float>(),
                                   out.numel());
      return;
    }
  }
  if (is_contiguous(ix) || out.numel() == 0) {
    binary_impl(Launch{}, op, a, b, out);
    return;
  }
  visit_dtype(a.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    visit_binary_op<T>(op, [&](auto op_c) {
      constexpr BinaryOp Op = std::decay_t<decltype(op_c)>::value;
      if constexpr (binary_float_only(Op) && !is_float_v<T>) {
        throw ValueError("binary op: integer inputs reach a float-only kernel (front door bug)");
      } else {
        using Out = binary_out_t<Op, T>;
        binary_runs<Op, T, Out>(a.data<T>(), b.data<T>(), out.data<Out>(), ix, out.numel());
      }
    });
  });
}

void unary(UnaryOp op, double alpha, const Tensor& x, Tensor& out) {
  // float32 erf, tanh and gelu on glibc's SIMD functions (cpu/vector_math.h).
  using VectorFn = void (*)(const float*, float*, std::int64_t);
  VectorFn vector = nullptr;
  if (x.dtype() == DType::float32) {
    if (op == UnaryOp::erf) vector = vector_erf;
    if (op == UnaryOp::tanh) vector = vector_tanh;
    if (op == UnaryOp::gelu) vector = vector_gelu;
    if (op == UnaryOp::gelu_approximate) vector = vector_gelu_approximate;
  }
  if (vector != nullptr) {
    vector(x.data<float>(), out.data<float>(), x.numel());
  } else {
    unary_impl(Launch{}, op, alpha, x, out);
  }
}
void where(const Tensor& c, const Tensor& a, const Tensor& b, Tensor& out) {
  const Shape shapes[3] = {c.shape(), a.shape(), b.shape()};
  const Indexer<3> ix = make_broadcast_indexer<3>(out.shape(), shapes, "where");
  if (is_contiguous(ix) || out.numel() == 0) {
    where_impl(Launch{}, c, a, b, out);
    return;
  }
  // Broadcast (a mask per image, RandomFlip's): runs along the innermost dimension
  // (for_each_run); a run whose condition is one value (stride 0) is a copy of a or b.
  visit_dtype(a.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    const std::uint8_t* pc0 = c.data<std::uint8_t>();
    const T* pa0 = a.data<T>();
    const T* pb0 = b.data<T>();
    T* po0 = out.data<T>();
    const int inner = ix.rank - 1;
    const std::int64_t sc = ix.strides[0][inner], sa = ix.strides[1][inner],
                       sb = ix.strides[2][inner];
    for_each_run(
        ix, out.numel(),
        [&](const std::int64_t(&off)[3], std::int64_t start, std::int64_t j0, std::int64_t j1) {
          const std::uint8_t* pc = pc0 + off[0];
          const T* pa = pa0 + off[1];
          const T* pb = pb0 + off[2];
          T* po = po0 + start;
          if (sc == 0) {
            const T* src = *pc ? pa : pb;
            const std::int64_t step = *pc ? sa : sb;
            for (std::int64_t j = j0; j < j1; ++j) po[j] = src[j * step];
          } else {
            for (std::int64_t j = j0; j < j1; ++j) {
              po[j] = pc[j * sc] ? pa[j * sa] : pb[j * sb];
            }
          }
        });
  });
}
void cast(const Tensor& x, Tensor& out) {
  cast_impl(Launch{}, x, out);
}
}  // namespace

void register_elementwise() {
  binary_stub.cpu = binary;
  unary_stub.cpu = unary;
  where_stub.cpu = where;
  cast_stub.cpu = cast;
}

}  // namespace neurona::kernels::cpu
