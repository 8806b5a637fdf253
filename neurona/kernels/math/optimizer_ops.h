// The per-element arithmetic of the fused optimizer update and of the sum of squares that
// gradient clipping by norm needs, written once for the CPU loop and the CUDA grid. The
// operations follow keras.src.optimizers.*.update_step in order and rounding: every scalar
// that depends only on the step arrives precomputed in the variable's dtype, and every product
// is rounded on its own (mul_rn) so that nvcc cannot fuse it into an FMA the host does not use.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "neurona/core/dtype.h"
#include "neurona/core/error.h"
#include "neurona/core/macros.h"
#include "neurona/core/tensor.h"
#include "neurona/kernels/math/elementwise_ops.h"
#include "neurona/kernels/optimizer.h"

namespace neurona::kernels {

/// The same coefficients in another element type (exact when they were computed in `T`).
template <typename T, typename U>
OptimizerCoefficients<T> convert_coefficients(const OptimizerCoefficients<U>& u) {
  OptimizerCoefficients<T> t;
  const auto cv = [](U x) { return static_cast<T>(x); };
  t.learning_rate = cv(u.learning_rate);
  t.weight_decay = cv(u.weight_decay);
  t.decay = u.decay;
  t.clip = u.clip;
  t.clip_value = cv(u.clip_value);
  t.clip_inverse = cv(u.clip_inverse);
  t.momentum = cv(u.momentum);
  t.alpha = cv(u.alpha);
  t.beta_2 = cv(u.beta_2);
  t.rho = cv(u.rho);
  t.epsilon = cv(u.epsilon);
  t.one_minus_beta_1 = cv(u.one_minus_beta_1);
  t.one_minus_beta_2 = cv(u.one_minus_beta_2);
  t.one_minus_rho = cv(u.one_minus_rho);
  t.one_minus_beta_1_power = cv(u.one_minus_beta_1_power);
  t.one_minus_beta_2_power = cv(u.one_minus_beta_2_power);
  t.u_t_1 = cv(u.u_t_1);
  t.one_minus_u_t = cv(u.one_minus_u_t);
  t.one_minus_u_product_t = cv(u.one_minus_u_product_t);
  t.one_minus_u_product_t_1 = cv(u.one_minus_u_product_t_1);
  t.nesterov = u.nesterov;
  t.amsgrad = u.amsgrad;
  t.centered = u.centered;
  t.use_momentum = u.use_momentum;
  return t;
}

/// OptimizerUpdateFunctor's `Clip` when the clipping mode is read from the coefficients.
inline constexpr int kClipAtRunTime = -1;

/// Updates element i of a variable and of its slot variables s0..s2 in place. `Plain`: no
/// clipping, no weight decay and no amsgrad (the usual case), known at compile time so that
/// the CPU loop has no branches left and vectorises. `Clip`: otherwise (weight decay, clipping
/// or amsgrad), the GradientClip mode known at compile time (the CPU loop, which a switch on
/// the mode inside it kept from vectorising), or kClipAtRunTime (the CUDA kernel, where the
/// uniform branch costs nothing).
template <OptimizerRule Rule, typename T, bool Plain = false, int Clip = kClipAtRunTime>
struct OptimizerUpdateFunctor {
  T* var;
  const T* grad;
  T* s0;
  T* s1;
  T* s2;
  /// float64 sum of the squared gradient (clip norm) or of all gradients (global clip norm).
  const double* sum_squares;
  OptimizerCoefficients<T> c;

  NEURONA_HD_INLINE GradientClip clip_mode() const {
    if constexpr (Clip == kClipAtRunTime) {
      return c.clip;
    } else {
      return static_cast<GradientClip>(Clip);
    }
  }

  NEURONA_HD_INLINE T clipped(T g) const {
    switch (clip_mode()) {
      case GradientClip::none:
        return g;
      case GradientClip::value:  // ops.clip(g, -v, v)
        return g < -c.clip_value ? -c.clip_value : (g > c.clip_value ? c.clip_value : g);
      case GradientClip::norm: {  // Optimizer._clip_by_norm: g * c / max(||g||, c)
        const T l2sum = static_cast<T>(*sum_squares);
        const T l2norm = l2sum > T(0) ? std::sqrt(l2sum) : l2sum;
        return mul_rn(g, c.clip_value) / (l2norm > c.clip_value ? l2norm : c.clip_value);
      }
      case GradientClip::global_norm: {  // clip_by_global_norm: scale NaN for a non-finite norm
        const T norm = std::sqrt(static_cast<T>(*sum_squares));
        const T inv = T(1) / norm;
        const T scale =
            mul_rn(c.clip_value, inv < c.clip_inverse ? inv : c.clip_inverse) + (norm - norm);
        return mul_rn(g, scale);
      }
    }
    return g;
  }

  NEURONA_HD_INLINE void operator()(std::int64_t i) const {
    T g = grad[i];
    if constexpr (!Plain) g = clipped(g);
    T w = var[i];
    const T lr = c.learning_rate;
    // Decoupled weight decay (Optimizer._apply_weight_decay), before the rule: w - w * wd * lr.
    if constexpr (!Plain) {
      if (c.decay) w = w - mul_rn(mul_rn(w, c.weight_decay), lr);
    }
    if constexpr (Rule == OptimizerRule::sgd) {
      // s0 momentum (when momentum != 0).
      if (c.use_momentum) {
        const T m = mul_rn(s0[i], c.momentum) - mul_rn(g, lr);
        s0[i] = m;
        w = c.nesterov ? w + (mul_rn(m, c.momentum) - mul_rn(g, lr)) : w + m;
      } else {
        w = w - mul_rn(g, lr);
      }
    } else if constexpr (Rule == OptimizerRule::adam) {
      // s0 momentum, s1 velocity, s2 velocity_hat (amsgrad); alpha = lr sqrt(1 - b2^t) / (1 -
      // b1^t).
      const T m = s0[i] + mul_rn(g - s0[i], c.one_minus_beta_1);
      T v = s1[i] + mul_rn(mul_rn(g, g) - s1[i], c.one_minus_beta_2);
      s0[i] = m;
      s1[i] = v;
      if constexpr (!Plain) {
        if (c.amsgrad) {
          v = s2[i] > v ? s2[i] : v;
          s2[i] = v;
        }
      }
      w = w - mul_rn(m, c.alpha) / (std::sqrt(v) + c.epsilon);
    } else if constexpr (Rule == OptimizerRule::rmsprop) {
      // s0 velocity, s1 momentum (momentum > 0), s2 average_gradient (centered).
      const T v = mul_rn(c.rho, s0[i]) + mul_rn(c.one_minus_rho, mul_rn(g, g));
      s0[i] = v;
      T denominator;
      if (c.centered) {
        const T a = mul_rn(c.rho, s2[i]) + mul_rn(c.one_minus_rho, g);
        s2[i] = a;
        denominator = v - mul_rn(a, a) + c.epsilon;
      } else {
        denominator = v + c.epsilon;
      }
      const T increment = mul_rn(lr, g) / std::sqrt(denominator);
      if (c.use_momentum) {
        const T m = mul_rn(c.momentum, s1[i]) + increment;
        s1[i] = m;
        w = w - m;
      } else {
        w = w - increment;
      }
    } else if constexpr (Rule == OptimizerRule::adagrad) {
      // s0 accumulator.
      const T acc = s0[i] + mul_rn(g, g);
      s0[i] = acc;
      w = w - mul_rn(lr, g) / std::sqrt(acc + c.epsilon);
    } else if constexpr (Rule == OptimizerRule::adamax) {
      // s0 momentum, s1 norm (exponentially weighted infinity norm).
      const T m = s0[i] + mul_rn(g - s0[i], c.one_minus_beta_1);
      const T bu = mul_rn(c.beta_2, s1[i]);
      const T ag = g < T(0) ? -g : g;
      const T u = is_nan(bu) || bu > ag ? bu : ag;
      s0[i] = m;
      s1[i] = u;
      w = w - mul_rn(lr, m) / mul_rn(c.one_minus_beta_1_power, u + c.epsilon);
    } else {
      // Nadam: s0 momentum, s1 velocity; the u products come from the optimizer's u_product.
      const T m = s0[i] + mul_rn(g - s0[i], c.one_minus_beta_1);
      const T v = s1[i] + mul_rn(mul_rn(g, g) - s1[i], c.one_minus_beta_2);
      s0[i] = m;
      s1[i] = v;
      const T m_hat = mul_rn(c.u_t_1, m) / c.one_minus_u_product_t_1 +
                      mul_rn(c.one_minus_u_t, g) / c.one_minus_u_product_t;
      const T v_hat = v / c.one_minus_beta_2_power;
      w = w - mul_rn(m_hat, lr) / (std::sqrt(v_hat) + c.epsilon);
    }
    var[i] = w;
  }
};

/// Partial sums for clipping by norm: out[o] = sum of x[r]^2 (x[r] when !square) over the
/// chunk r in [o * chunk, min((o + 1) * chunk, n)), accumulated in double. A reduction functor
/// for Launch::reduce(num_chunks, chunk, f); a second pass over the partials gives the total,
/// so a large gradient is reduced by many threads (blocks) at once. The CUDA kernels' (the CPU
/// sums a chunk in interleaved chains instead, kernels/cpu/optimizer.cpp).
template <typename T>
struct SumSquaresFunctor {
  using Acc = double;
  const T* x;
  double* out;
  std::int64_t n, chunk;
  bool square;

  NEURONA_HD_INLINE Acc combine(Acc a, Acc b) const { return a + b; }
  NEURONA_HD_INLINE Acc reduce_range(std::int64_t o, std::int64_t begin, std::int64_t end,
                                     std::int64_t step) const {
    Acc acc = 0;
    const std::int64_t base = o * chunk;
    for (std::int64_t r = begin; r < end && base + r < n; r += step) {
      const Acc v = static_cast<Acc>(x[base + r]);
      acc += square ? mul_rn(v, v) : v;
    }
    return acc;
  }
  NEURONA_HD_INLINE void finish(std::int64_t o, Acc acc) const { out[o] = acc; }
};

/// Calls f(T{}, std::integral_constant<OptimizerRule, R>{}, std::bool_constant<Plain>{}) with
/// the element type of `dtype` (float64, else float32), the rule and the plain flag as template
/// arguments: the one place where the CPU and CUDA backends turn them into a kernel variant.
template <typename F>
void with_optimizer_variant(DType dtype, OptimizerRule rule, bool plain, F&& f) {
  const auto with_rule = [&](auto type_tag) {
    const auto with_plain = [&](auto rule_tag) {
      if (plain) {
        f(type_tag, rule_tag, std::true_type{});
      } else {
        f(type_tag, rule_tag, std::false_type{});
      }
    };
    switch (rule) {
      // clang-format off
#define NEURONA_CASE(name) \
  case OptimizerRule::name: with_plain(std::integral_constant<OptimizerRule, OptimizerRule::name>{}); break;
      NEURONA_CASE(sgd)
      NEURONA_CASE(adam)
      NEURONA_CASE(rmsprop)
      NEURONA_CASE(adagrad)
      NEURONA_CASE(adamax)
      NEURONA_CASE(nadam)
#undef NEURONA_CASE
      // clang-format on
    }
  };
  if (dtype == DType::float64) {
    with_rule(double{});
  } else {
    with_rule(float{});
  }
}

template <typename Launch>
void sum_squares_impl(const Launch& launch, const Tensor& x, bool square, std::int64_t chunk,
                      const Tensor& out) {
  const auto run = [&](auto type_tag) {
    using T = decltype(type_tag);
    launch.reduce(out.numel(), chunk,
                  SumSquaresFunctor<T>{x.data<T>(), out.data<double>(), x.numel(), chunk, square});
  };
  if (x.dtype() == DType::float64) {
    run(double{});
  } else {
    run(float{});
  }
}

}  // namespace neurona::kernels
