// CPU kernels of the fused optimizer update (the shared functor of kernels/math/optimizer_ops.h
// run by an OpenMP loop, one variable after another) and of the sum of squares for clipping
// by norm (chunks summed in interleaved chains, lanes.h).
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "neurona/kernels/cpu/lanes.h"
#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/math/optimizer_ops.h"
#include "neurona/kernels/optimizer_stubs.h"

namespace neurona::kernels::cpu {

namespace {
void optimizer_update(OptimizerRule rule, bool plain, const Tensor& coefficients,
                      const std::vector<OptimizerTensors>& items) {
  with_optimizer_variant(
      items.front().variable.dtype(), rule, plain,
      [&](auto type_tag, auto rule_tag, auto plain_tag) {
        using T = decltype(type_tag);
        OptimizerCoefficients<T> c;
        std::memcpy(&c, coefficients.raw_data(), sizeof(c));
        const auto ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
        constexpr OptimizerRule rule_v = decltype(rule_tag)::value;
        constexpr bool plain_v = decltype(plain_tag)::value;
        // Each variable's loop with the clipping mode `clip` (clipping is off in the plain
        // variant) as a template argument, so that the loop vectorises.
        const auto run = [&](auto clip) {
          for (const OptimizerTensors& item : items) {
            OptimizerUpdateFunctor<rule_v, T, plain_v, decltype(clip)::value> f{
                item.variable.data<T>(),
                item.grad.data<T>(),
                ptr(item.slots[0]),
                ptr(item.slots[1]),
                ptr(item.slots[2]),
                item.sum_squares.defined() ? item.sum_squares.data<double>() : nullptr,
                c};
            f.c.decay = c.decay && item.decay;
            Launch{}(item.variable.numel(), f);
          }
        };
        using Clip = GradientClip;
        if constexpr (plain_v) {
          run(std::integral_constant<int, static_cast<int>(Clip::none)>{});
        } else {
          switch (c.clip) {
            case Clip::none:
              return run(std::integral_constant<int, static_cast<int>(Clip::none)>{});
            case Clip::value:
              return run(std::integral_constant<int, static_cast<int>(Clip::value)>{});
            case Clip::norm:
              return run(std::integral_constant<int, static_cast<int>(Clip::norm)>{});
            case Clip::global_norm:
              return run(std::integral_constant<int, static_cast<int>(Clip::global_norm)>{});
          }
          throw ValueError(detail::str("optimizer_update: clipping mode ", static_cast<int>(c.clip),
                                       " reaches the CPU kernel (front door bug)"));
        }
      });
}
// SumSquaresFunctor's partial sums (out[o]: the chunk [o * chunk, (o + 1) * chunk) of x), each
// in lane_sum's interleaved chains that vectorise, where the functor's one chain of float64
// additions per chunk did not (the CUDA kernel's threads split a chunk anyway).
void sum_squares(const Tensor& x, bool square, std::int64_t chunk, const Tensor& out) {
  const auto run = [&](auto type_tag) {
    using T = decltype(type_tag);
    const T* const xp = x.data<T>();
    double* const op = out.data<double>();
    const std::int64_t n = x.numel();
    Launch{}(out.numel(), chunk, [=](std::int64_t o) {
      const T* p = xp + o * chunk;
      const std::int64_t len = std::min(chunk, n - o * chunk);
      op[o] =
          square ? lane_sum<double>(len,
                                    [p](std::int64_t j) {
                                      const auto v = static_cast<double>(p[j]);
                                      return v * v;
                                    })
                 : lane_sum<double>(len, [p](std::int64_t j) { return static_cast<double>(p[j]); });
    });
  };
  if (x.dtype() == DType::float64) {
    run(double{});
  } else {
    run(float{});
  }
}
}  // namespace

void register_optimizer() {
  optimizer_update_stub.cpu = optimizer_update;
  sum_squares_stub.cpu = sum_squares;
}

}  // namespace neurona::kernels::cpu
