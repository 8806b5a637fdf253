// Kernel bodies shared by the CPU and CUDA backends: dtype and op dispatch, then one launch of
// a functor from functors.h. `Launch` is CpuLaunch (an OpenMP loop) or CudaLaunch (a grid):
//   launch(n, f)                       runs f(i) for i in [0, n)
//   launch.reduce(num_out, num_reduce, f)  runs a ReduceFunctor
#pragma once

#include "neurona/core/tensor.h"
#include "neurona/kernels/creation_stubs.h"
#include "neurona/kernels/math/functors.h"
#include "neurona/kernels/reduction_stubs.h"

namespace neurona::kernels {

template <typename T, typename F>
void visit_binary_op(BinaryOp op, F&& f) {
  switch (op) {
    // clang-format off
#define NEURONA_CASE(name) \
  case BinaryOp::name: f(std::integral_constant<BinaryOp, BinaryOp::name>{}); break;
    NEURONA_CASE(add)
    NEURONA_CASE(subtract)
    NEURONA_CASE(multiply)
    NEURONA_CASE(divide)
    NEURONA_CASE(pow)
    NEURONA_CASE(maximum)
    NEURONA_CASE(minimum)
    NEURONA_CASE(relu_grad)
    NEURONA_CASE(gelu_grad)
    NEURONA_CASE(gelu_approximate_grad)
    NEURONA_CASE(equal)
    NEURONA_CASE(not_equal)
    NEURONA_CASE(less)
    NEURONA_CASE(less_equal)
    NEURONA_CASE(greater)
    NEURONA_CASE(greater_equal)
#undef NEURONA_CASE
    // clang-format on
  }
}

template <typename Launch>
void binary_impl(const Launch& launch, BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const Shape shapes[2] = {a.shape(), b.shape()};
  const Indexer<2> ix = make_broadcast_indexer<2>(out.shape(), shapes, "binary op");
  visit_dtype(a.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    visit_binary_op<T>(op, [&](auto op_c) {
      constexpr BinaryOp Op = std::decay_t<decltype(op_c)>::value;
      if constexpr (binary_float_only(Op) && !is_float_v<T>) {
        throw ValueError("binary op: integer inputs reach a float-only kernel (front door bug)");
      } else {
        using Out = binary_out_t<Op, T>;
        if (is_contiguous(ix)) {
          launch(out.numel(),
                 BinaryContiguous<Op, T, Out>{a.data<T>(), b.data<T>(), out.data<Out>()});
        } else {
          launch(out.numel(),
                 BinaryBroadcast<Op, T, Out>{a.data<T>(), b.data<T>(), out.data<Out>(), ix});
        }
      }
    });
  });
}

template <typename T, typename F>
void visit_unary_op(UnaryOp op, F&& f) {
  switch (op) {
    // clang-format off
#define NEURONA_CASE(name) \
  case UnaryOp::name: f(std::integral_constant<UnaryOp, UnaryOp::name>{}); break;
    NEURONA_CASE(neg)
    NEURONA_CASE(abs)
    NEURONA_CASE(square)
    NEURONA_CASE(exp)
    NEURONA_CASE(log)
    NEURONA_CASE(sqrt)
    NEURONA_CASE(relu)
    NEURONA_CASE(sigmoid)
    NEURONA_CASE(tanh)
    NEURONA_CASE(elu)
    NEURONA_CASE(selu)
    NEURONA_CASE(gelu)
    NEURONA_CASE(silu)
    NEURONA_CASE(softplus)
    NEURONA_CASE(softsign)
    NEURONA_CASE(leaky_relu)
    NEURONA_CASE(hard_sigmoid)
    NEURONA_CASE(erf)
    NEURONA_CASE(gelu_approximate)
    NEURONA_CASE(sin)
    NEURONA_CASE(cos)
    NEURONA_CASE(floor)
#undef NEURONA_CASE
    // clang-format on
  }
}

template <typename Launch>
void unary_impl(const Launch& launch, UnaryOp op, double alpha, const Tensor& x, Tensor& out) {
  visit_dtype(x.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    visit_unary_op<T>(op, [&](auto op_c) {
      constexpr UnaryOp Op = std::decay_t<decltype(op_c)>::value;
      if constexpr (!is_float_v<T> && !unary_allows_integers(Op)) {
        throw ValueError("unary op: integer input reaches a float-only kernel (front door bug)");
      } else {
        launch(x.numel(),
               UnaryFunctor<Op, T>{x.data<T>(), out.data<T>(), static_cast<compute_t<T>>(alpha)});
      }
    });
  });
}

template <typename Launch>
void where_impl(const Launch& launch, const Tensor& cond, const Tensor& a, const Tensor& b,
                Tensor& out) {
  const Shape shapes[3] = {cond.shape(), a.shape(), b.shape()};
  const Indexer<3> ix = make_broadcast_indexer<3>(out.shape(), shapes, "where");
  visit_dtype(a.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    launch(out.numel(),
           WhereFunctor<T>{cond.data<std::uint8_t>(), a.data<T>(), b.data<T>(), out.data<T>(), ix});
  });
}

template <typename Launch>
void cast_impl(const Launch& launch, const Tensor& x, Tensor& out) {
  visit_dtype(x.dtype(), [&](auto s) {
    using From = std::decay_t<decltype(s)>;
    visit_dtype(out.dtype(), [&](auto d) {
      using To = std::decay_t<decltype(d)>;
      launch(x.numel(), CastFunctor<From, To>{x.data<From>(), out.data<To>()});
    });
  });
}

template <typename Launch>
void reduce_impl(const Launch& launch, ReduceOp op, const Tensor& x, const ReducePlan& p,
                 Tensor& out) {
  visit_dtype(x.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    auto run = [&](auto op_c, auto out_t) {
      constexpr ReduceOp Op = std::decay_t<decltype(op_c)>::value;
      using Out = std::decay_t<decltype(out_t)>;
      launch.reduce(
          p.num_out, p.num_reduce,
          ReduceFunctor<Op, T, Out>{x.data<T>(), out.data<Out>(), p.kept, p.reduced, p.num_reduce});
    };
    using C = ReduceOp;
    switch (op) {
      case C::sum:
        run(std::integral_constant<C, C::sum>{}, T{});
        break;
      case C::max:
        run(std::integral_constant<C, C::max>{}, T{});
        break;
      case C::min:
        run(std::integral_constant<C, C::min>{}, T{});
        break;
      case C::argmax:
        run(std::integral_constant<C, C::argmax>{}, std::int64_t{});
        break;
      case C::argmin:
        run(std::integral_constant<C, C::argmin>{}, std::int64_t{});
        break;
      case C::mean:
        if constexpr (is_float_v<T>) {
          run(std::integral_constant<C, C::mean>{}, T{});
        } else {
          throw ValueError("mean: integer input reaches the kernel (front door bug)");
        }
        break;
    }
  });
}

template <typename Launch>
void softmax_impl(const Launch& launch, bool log, const Tensor& x, std::int64_t outer,
                  std::int64_t n, std::int64_t inner, Tensor& out) {
  visit_dtype(x.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    if constexpr (is_float_v<T>) {
      // A line of n elements per index: the CPU's grain counts elements (a batch of short
      // lines is not worth threads, one of long lines is).
      launch(outer * inner, n, SoftmaxFunctor<T>{x.data<T>(), out.data<T>(), n, inner, log});
    } else {
      throw ValueError("softmax: integer input reaches the kernel (front door bug)");
    }
  });
}

template <typename Launch>
void strided_copy_impl(const Launch& launch, const Tensor& x, const Indexer<1>& ix, Tensor& out) {
  visit_dtype(x.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    launch(out.numel(), StridedCopyFunctor<T>{x.data<T>(), out.data<T>(), ix});
  });
}

template <typename Launch>
void gather_impl(const Launch& launch, const Tensor& x, const Tensor& indices, Tensor& out) {
  const std::int64_t rows = x.shape().dims()[0];
  const std::int64_t row_size = rows == 0 ? 0 : x.numel() / rows;
  if (out.numel() == 0) return;
  visit_dtype(x.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    visit_dtype(indices.dtype(), [&](auto it) {
      using I = std::decay_t<decltype(it)>;
      if constexpr (std::is_integral_v<I>) {
        launch(out.numel(),
               GatherFunctor<T, I>{x.data<T>(), indices.data<I>(), out.data<T>(), rows, row_size});
      }
    });
  });
}

template <typename Launch>
void one_hot_impl(const Launch& launch, const Tensor& indices, double on, double off, Tensor& out) {
  const std::int64_t depth = out.shape()[-1];
  if (out.numel() == 0) return;
  visit_dtype(out.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    visit_dtype(indices.dtype(), [&](auto it) {
      using I = std::decay_t<decltype(it)>;
      if constexpr (std::is_integral_v<I>) {
        launch(out.numel(), OneHotFunctor<T, I>{indices.data<I>(), out.data<T>(), depth,
                                                saturate_cast<T>(on), saturate_cast<T>(off)});
      }
    });
  });
}

template <typename Launch>
void fill_impl(const Launch& launch, double value, Tensor& out) {
  visit_dtype(out.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    launch(out.numel(), FillFunctor<T>{out.data<T>(), saturate_cast<T>(value)});
  });
}

template <typename Launch>
void arange_impl(const Launch& launch, double start, double step, Tensor& out) {
  visit_dtype(out.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    launch(out.numel(), ArangeFunctor<T>{out.data<T>(), start, step});
  });
}

template <typename Launch>
void random_impl(const Launch& launch, RandomDist dist, double a, double b, RandomKey key,
                 const Tensor& key_state, std::int64_t offset, Tensor& out) {
  // A SeedGenerator's state: read by every element, then advanced by one thread, in stream order.
  std::int64_t* state =
      key_state.defined() ? const_cast<std::int64_t*>(key_state.data<std::int64_t>()) : nullptr;
  visit_dtype(out.dtype(), [&](auto t) {
    using T = std::decay_t<decltype(t)>;
    launch(out.numel(),
           RandomFunctor<T>{out.data<T>(), key, static_cast<int>(dist), a, b, state, offset});
  });
  if (state != nullptr) launch(1, AdvanceSeedFunctor{state});
}

template <typename Launch>
void take_key_impl(const Launch& launch, const Tensor& key_state, Tensor& out) {
  launch(1, TakeSeedFunctor{const_cast<std::int64_t*>(key_state.data<std::int64_t>()),
                            out.data<std::int64_t>()});
}

}  // namespace neurona::kernels
