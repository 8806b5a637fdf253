// CPU kernels for elementwise ops: the shared functors run by an OpenMP loop.
#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/elementwise_stubs.h"
#include "neurona/kernels/math/impl.h"

namespace neurona::kernels::cpu {

namespace {

// Elements per index of a broadcast loop: long enough that the indexer's divisions (once per
// index) vanish against the run, short enough to split one long row across threads.
constexpr std::int64_t kRun = 4096;

// A broadcast binary op (a bias add, a comparison with a scalar) as runs along the innermost
// dimension: the indexer finds each run's start once, and the run steps by the operands'
// innermost strides (0 or 1 where NumPy broadcasting gives them). Same binary_apply as the
// shared BinaryBroadcast functor, element by element, so the results are the same.
template <BinaryOp Op, typename T, typename Out>
void binary_runs(const T* a, const T* b, Out* out, const Indexer<2>& ix, std::int64_t numel) {
  using C = compute_t<T>;  // float for the 16-bit types, rounded once on store
  auto apply = [](C x, C y) { return static_cast<Out>(binary_apply<Op, C>(x, y)); };
  const int inner = ix.rank - 1;
  const std::int64_t len = ix.dims[inner];
  const std::int64_t sa = ix.strides[0][inner], sb = ix.strides[1][inner];
  Indexer<2> outer = ix;
  outer.rank = inner;
  const std::int64_t chunks = (len + kRun - 1) / kRun;
  Launch{}(numel / len * chunks, kRun, [&](std::int64_t i) {
    const std::int64_t row = i / chunks, j0 = (i % chunks) * kRun;
    const std::int64_t j1 = j0 + kRun < len ? j0 + kRun : len;
    std::int64_t off[2] = {0, 0};
    outer.offsets(row, off);
    const T* pa = a + off[0];
    const T* pb = b + off[1];
    Out* po = out + row * len;
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
  if (is_contiguous(ix) || out.numel() == 0) {
    binary_impl(Launch{}, op, a, b, out);
    return;
  }
  visit_dtype(a.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    visit_binary_op<T>(op, [&](auto op_c) {
      constexpr BinaryOp Op = std::decay_t<decltype(op_c)>::value;
      if constexpr (Op == BinaryOp::divide && !is_float_v<T>) {
        throw ValueError("divide: integer inputs reach the kernel (front door bug)");
      } else {
        using Out = binary_out_t<Op, T>;
        binary_runs<Op, T, Out>(a.data<T>(), b.data<T>(), out.data<Out>(), ix, out.numel());
      }
    });
  });
}

void unary(UnaryOp op, double alpha, const Tensor& x, Tensor& out) {
  unary_impl(Launch{}, op, alpha, x, out);
}
void where(const Tensor& c, const Tensor& a, const Tensor& b, Tensor& out) {
  where_impl(Launch{}, c, a, b, out);
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
