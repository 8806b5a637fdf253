// nr::remat: the gradient of a rematerialized function is the plain function's, what it keeps
// for the gradient is its inputs and outputs only, and its recomputation sees the state and
// random draws of its first run.
#include <neurona/neurona.h>

#include <gtest/gtest.h>

#include "support/test_util.h"

namespace nr = neurona;

namespace {

nr::Tensor uniform(const nr::Shape& shape, std::uint64_t seed) {
  return nr::random_uniform(shape, {.minval = -1.0,
                                    .maxval = 1.0,
                                    .dtype = nr::DType::float64,
                                    .device = nr::Device::cpu(),
                                    .seed = seed});
}

std::size_t cpu_bytes_in_use() {
  return nr::allocator_for(nr::Device::cpu()).stats().bytes_in_use;
}

void expect_equal(const nr::Tensor& a, const nr::Tensor& b) {
  ASSERT_TRUE(a.defined());
  ASSERT_TRUE(b.defined());
  ASSERT_EQ(a.shape(), b.shape());
  EXPECT_LT(nr::max(nr::abs(a - b)).item<double>(), 1e-12);
}

}  // namespace

TEST(Remat, GradientsAreThoseOfThePlainFunction) {
  const nr::Tensor x = uniform({5, 4}, 1);
  nr::Variable w(uniform({4, 3}, 2), {.name = "w"});
  // w is read, not passed: the gradient still reaches it.
  const auto block = [w](const nr::Tensor& v) {
    const nr::Tensor h = nr::matmul(v, w);
    return nr::tanh(h) * nr::sigmoid(h) + nr::sum(v) * 0.5;
  };
  std::vector<nr::Tensor> plain, kept;
  for (const bool use_remat : {false, true}) {
    nr::GradientTape tape;
    tape.watch(x);
    const nr::Tensor y = use_remat ? nr::remat(block, x) : block(x);
    auto& out = use_remat ? kept : plain;
    out = tape.gradient(nr::sum(y * y), std::vector<nr::Tensor>{x, w.value()});
  }
  expect_equal(kept[0], plain[0]);
  expect_equal(kept[1], plain[1]);
}

TEST(Remat, KeepsOnlyItsInputsAndOutputsForTheGradient) {
  // Eight elementwise steps on 1 MB: plain, the tape keeps each step's input; rematerialized,
  // it keeps x and y and rebuilds the rest in the backward pass.
  const nr::Tensor x = uniform({256, 512}, 3);
  const auto chain = [](const nr::Tensor& v) {
    nr::Tensor h = v;
    for (int i = 0; i < 8; ++i) h = nr::tanh(h * 1.5);
    return h;
  };
  std::size_t held[2] = {0, 0};
  nr::Tensor grads[2];
  for (const int use_remat : {0, 1}) {
    const std::size_t before = cpu_bytes_in_use();
    nr::GradientTape tape;
    tape.watch(x);
    nr::Tensor y = use_remat ? nr::remat(chain, x) : chain(x);
    held[use_remat] = cpu_bytes_in_use() - before;
    grads[use_remat] = tape.gradient(y, x);
  }
  // One such tensor as the allocator counts it (its blocks are rounded up).
  const std::size_t before = cpu_bytes_in_use();
  const nr::Tensor probe = nr::zeros_like(x);
  const std::size_t one = cpu_bytes_in_use() - before;
  EXPECT_GE(held[0], 16 * one);  // 8 products and 8 tanh outputs
  EXPECT_LT(held[1], 2 * one);   // y, and a few scalars (x belongs to the caller)
  expect_equal(grads[1], grads[0]);
}

TEST(Remat, RecomputationDrawsTheSameDropoutMask) {
  const nr::Tensor x = uniform({64, 16}, 4);
  // Two generators on one seed: the plain run's and the rematerialized run's.
  nr::SeedGenerator plain_gen(11), remat_gen(11);
  const auto drop = [](nr::SeedGenerator& g) {
    return [&g](const nr::Tensor& v) {
      return nr::layers::random_dropout(v * 2.0, 0.5, g, v.shape());
    };
  };
  nr::Tensor g_plain, g_remat;
  {
    nr::GradientTape tape;
    tape.watch(x);
    g_plain = tape.gradient(drop(plain_gen)(x), x);
  }
  {
    nr::GradientTape tape;
    tape.watch(x);
    g_remat = tape.gradient(nr::remat(drop(remat_gen), x), x);
  }
  expect_equal(g_remat, g_plain);
  // The generator advanced once, as the plain one did: the next draws agree.
  expect_equal(nr::layers::random_dropout(x, 0.5, remat_gen, x.shape()),
               nr::layers::random_dropout(x, 0.5, plain_gen, x.shape()));
}

TEST(Remat, RecomputationDrawsTheSameGlobalRandomNumbers) {
  nr::set_seed(5);
  const nr::Tensor x = uniform({32, 8}, 6);
  nr::Tensor noise;
  const auto f = [&noise](const nr::Tensor& v) {
    noise =
        nr::random_uniform(v.shape(), {.dtype = nr::DType::float64, .device = nr::Device::cpu()});
    return v * noise;
  };
  nr::GradientTape tape;
  tape.watch(x);
  const nr::Tensor y = nr::remat(f, x);
  const nr::Tensor first = noise;
  const std::uint32_t calls = nr::detail::random_call_count();
  const nr::Tensor g = tape.gradient(y, x);
  expect_equal(g, first);  // d(x * noise)/dx with the first run's noise
  expect_equal(noise, first);
  EXPECT_EQ(nr::detail::random_call_count(), calls);
}

TEST(Remat, RecomputationSeesTheStateOfTheFirstRunAndLeavesTheLast) {
  // The function reads a counter, then bumps it (a moving statistic's update in miniature).
  nr::Variable counter(nr::zeros({}, {.dtype = nr::DType::float64, .device = nr::Device::cpu()}),
                       {.name = "counter", .trainable = false});
  const auto f = [counter](const nr::Tensor& v) mutable {
    nr::Tensor y = v * (nr::stop_gradient(counter.value()) + 1.0);
    counter.assign_add(nr::ones_like(counter.value()));
    return y;
  };
  const nr::Tensor x = uniform({3}, 7);
  nr::GradientTape tape;
  tape.watch(x);
  const nr::Tensor y = nr::remat(f, x);
  const nr::Tensor g = tape.gradient(y, x);
  // Recomputed with the counter at 0, as the first run: the gradient is 1, not 2.
  expect_equal(g, nr::ones_like(x));
  EXPECT_EQ(counter.value().item<double>(), 1.0);
}

TEST(Remat, CapturedTensorsAndNestedRematsGetTheirGradients) {
  const nr::Tensor a = uniform({4, 4}, 8);
  const nr::Tensor x = uniform({2, 4}, 9);
  const auto run = [&](bool use_remat) {
    nr::GradientTape tape;
    tape.watch(a);
    tape.watch(x);
    const nr::Tensor b = nr::exp(a * 0.5);  // made outside, captured inside
    const auto inner = [b](const nr::Tensor& v) { return nr::sin(nr::matmul(v, b)); };
    const auto outer = [&](const nr::Tensor& v) {
      const nr::Tensor h = use_remat ? nr::remat(inner, v) : inner(v);
      return nr::matmul(h, b) * h;
    };
    const nr::Tensor y = use_remat ? nr::remat(outer, x) : outer(x);
    return tape.gradient(nr::sum(y), std::vector<nr::Tensor>{a, x});
  };
  const auto plain = run(false);
  const auto kept = run(true);
  expect_equal(kept[0], plain[0]);
  expect_equal(kept[1], plain[1]);
}

TEST(Remat, SecondDerivativeThroughARecomputation) {
  const nr::Tensor x = nr::constant(std::vector<double>{0.5, -1.5}, {2});
  nr::GradientTape outer;
  outer.watch(x);
  nr::Tensor dy;
  {
    nr::GradientTape inner;
    inner.watch(x);
    const nr::Tensor y = nr::remat([](const nr::Tensor& v) { return v * v * v; }, x);
    dy = inner.gradient(y, x);  // 3x^2
  }
  expect_equal(dy, x * x * 3.0);
  expect_equal(outer.gradient(dy, x), x * 6.0);
}

TEST(Remat, WithoutATapeItIsTheFunction) {
  int calls = 0;
  const auto f = nr::remat([&calls](const nr::Tensor& v) {
    ++calls;
    return v + 1.0;
  });
  const nr::Tensor x = uniform({3}, 10);
  expect_equal(f(x), x + 1.0);
  EXPECT_EQ(calls, 1);
}

TEST(Remat, AnInputPassedThroughGetsItsGradient) {
  const nr::Tensor x = uniform({3}, 12);
  nr::GradientTape tape;
  tape.watch(x);
  const auto outs = nr::remat(
      [](const std::vector<nr::Tensor>& in) {
        return std::vector<nr::Tensor>{in[0], in[0] * 3.0};
      },
      std::vector<nr::Tensor>{x});
  EXPECT_NE(outs[0].id(), x.id());
  expect_equal(tape.gradient(outs[0] + outs[1], x), nr::ones_like(x) * 4.0);
}

TEST(GradientTape, SeveralTargetsWithTheirOutputGradients) {
  const nr::Tensor x = uniform({3}, 13);
  nr::GradientTape tape;
  tape.watch(x);
  const nr::Tensor a = x * 2.0;
  const nr::Tensor b = x * x;
  const nr::Tensor ga = nr::ones_like(x) * 0.5;
  const nr::Tensor gb = nr::ones_like(x) * -1.0;
  const auto g = tape.gradient(std::vector<nr::Tensor>{a, b}, std::vector<nr::Tensor>{ga, gb},
                               std::vector<nr::Tensor>{x});
  expect_equal(g[0], ga * 2.0 + gb * x * 2.0);
  nr::GradientTape again;
  EXPECT_THROW((void)again.gradient(std::vector<nr::Tensor>{a}, std::vector<nr::Tensor>{},
                                    std::vector<nr::Tensor>{x}),
               nr::ValueError);
}
