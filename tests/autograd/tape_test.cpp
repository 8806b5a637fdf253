// GradientTape and Variable semantics, and the notebook's gradient cells.
#include <neurona/neurona.h>

#include <cmath>

#include "support/test_util.h"

namespace nr = neurona;

TEST(Notebook, SquareAtThreeHasGradientSix) {
  nr::Variable x(3.0f);
  nr::GradientTape tape;
  const nr::Tensor y = x * x;
  EXPECT_FLOAT_EQ(tape.gradient(y, x).item(), 6.0f);
}

TEST(Notebook, SgdLoopReachesFourMonotonically) {
  nr::set_seed(7);
  nr::Variable x(nr::random_normal({1}));
  const double lr = 1e-2;
  std::vector<float> history;
  for (int i = 0; i < 500; ++i) {
    nr::GradientTape tape;
    const nr::Tensor loss = nr::square(x - 4.0);
    const nr::Tensor grad = tape.gradient(loss, x);
    x.assign_sub(grad * lr);
    history.push_back(x.value().item());
  }
  EXPECT_NEAR(history.back(), 4.0f, 1e-3);
  for (std::size_t i = 1; i < history.size(); ++i) {
    EXPECT_LE(std::abs(history[i] - 4.0f), std::abs(history[i - 1] - 4.0f)) << "step " << i;
  }
}

TEST(Variable, ConstructionAndAccessors) {
  nr::Variable v(nr::ones({2, 3}), {.name = "kernel", .trainable = false});
  EXPECT_EQ(v.name(), "kernel");
  EXPECT_FALSE(v.trainable());
  EXPECT_EQ(v.shape(), nr::Shape({2, 3}));
  EXPECT_EQ(v.dtype(), nr::float32);
  EXPECT_EQ(nr::Variable(2).value().item(), 2.0f);
}

TEST(Variable, AssignWritesInPlaceAndChecksShape) {
  nr::Variable v(nr::zeros({3}));
  const void* storage = v.value().raw_data();
  const std::uint64_t id = v.value().id();
  v.assign(nr::constant({1, 2, 3}));
  v.assign_add(nr::constant({1, 1, 1}));
  v.assign_sub(nr::constant({0.5, 0.5, 0.5}));
  EXPECT_EQ(v.value().to_vector<float>(), (std::vector<float>{1.5f, 2.5f, 3.5f}));
  EXPECT_EQ(v.value().raw_data(), storage);
  EXPECT_EQ(v.value().id(), id);
  NEURONA_EXPECT_THROW_MSG(v.assign(nr::zeros({4})), nr::ShapeError, "Variable", "(3,)", "(4,)");
}

TEST(Variable, ReadValueIsASnapshot) {
  nr::Variable v(nr::constant({1, 2}));
  const nr::Tensor snap = v.read_value();
  v.assign(nr::constant({5, 6}));
  EXPECT_EQ(snap.to_vector<float>(), (std::vector<float>{1, 2}));
}

TEST(Variable, DoesNotShareStorageWithItsInitialValue) {
  const nr::Tensor init = nr::constant({1, 2});
  nr::Variable v(init);
  v.assign(nr::constant({3, 4}));
  EXPECT_EQ(init.to_vector<float>(), (std::vector<float>{1, 2}));
}

TEST(Tape, NonPersistentAnswersOnceThenErrors) {
  nr::Variable x(2.0f);
  nr::GradientTape tape;
  const nr::Tensor y = x * x;
  EXPECT_FLOAT_EQ(tape.gradient(y, x).item(), 4.0f);
  NEURONA_EXPECT_THROW_MSG(tape.gradient(y, x), nr::Error, "only be used once", "persistent");
}

TEST(Tape, PersistentAnswersRepeatedlyUntilReset) {
  nr::Variable x(2.0f);
  nr::GradientTape tape({.persistent = true});
  const nr::Tensor y = x * x;
  const nr::Tensor z = y * y;
  EXPECT_FLOAT_EQ(tape.gradient(z, x).item(), 32.0f);  // 4 x^3
  EXPECT_FLOAT_EQ(tape.gradient(y, x).item(), 4.0f);
  EXPECT_FLOAT_EQ(tape.gradient(z, y).item(), 8.0f);
  tape.reset();
  EXPECT_FALSE(tape.gradient(z, x).defined());
}

TEST(Tape, ConstantsAreWatchedOnlyAfterWatch) {
  const nr::Tensor c = nr::constant(3.0);
  {
    nr::GradientTape tape;
    const nr::Tensor y = c * c;
    EXPECT_FALSE(tape.gradient(y, c).defined());
  }
  nr::GradientTape tape;
  tape.watch(c);
  const nr::Tensor y = c * c;
  EXPECT_FLOAT_EQ(tape.gradient(y, c).item(), 6.0f);
}

TEST(Tape, WatchAccessedVariablesFalseNeedsExplicitWatch) {
  nr::Variable a(1.0f), b(2.0f);
  nr::GradientTape tape({.watch_accessed_variables = false});
  tape.watch(b);
  const nr::Tensor y = a * b;
  const auto g = tape.gradient(y, std::vector<nr::Variable>{a, b});
  EXPECT_FALSE(g[0].defined());
  EXPECT_FLOAT_EQ(g[1].item(), 1.0f);
  ASSERT_EQ(tape.watched_variables().size(), 1u);
  EXPECT_TRUE(tape.watched_variables()[0].is_same(b));
}

TEST(Tape, NonTrainableVariableIsNotWatchedAutomatically) {
  nr::Variable w(3.0f), frozen(5.0f, {.trainable = false});
  nr::GradientTape tape;
  const nr::Tensor y = w * frozen;
  const auto g = tape.gradient(y, {w, frozen});
  EXPECT_FLOAT_EQ(g[0].item(), 5.0f);
  EXPECT_FALSE(g[1].defined());
  ASSERT_EQ(tape.watched_variables().size(), 1u);
  EXPECT_EQ(tape.watched_variables()[0].name(), w.name());
}

TEST(Tape, UnconnectedGradientsNoneOrZero) {
  nr::Variable x(1.0f), unused(nr::ones({2, 2}));
  nr::GradientTape tape({.persistent = true});
  const nr::Tensor y = x * 2.0;
  EXPECT_FALSE(tape.gradient(y, unused).defined());
  const nr::Tensor z =
      tape.gradient(y, unused, {.unconnected_gradients = nr::UnconnectedGradients::zero});
  EXPECT_EQ(z.shape(), nr::Shape({2, 2}));
  EXPECT_EQ(z.to_vector<float>(), (std::vector<float>{0, 0, 0, 0}));
}

TEST(Tape, NonScalarTargetGivesGradientOfSum) {
  nr::Variable x(nr::constant({1, 2, 3}));
  nr::GradientTape tape;
  const nr::Tensor y = x * x;
  EXPECT_EQ(tape.gradient(y, x).to_vector<float>(), (std::vector<float>{2, 4, 6}));
}

TEST(Tape, OutputGradientsWeightTheTarget) {
  nr::Variable x(nr::constant({1, 2, 3}));
  nr::GradientTape tape;
  const nr::Tensor y = x * x;
  const nr::Tensor g = tape.gradient(y, x, {.output_gradients = nr::constant({1, 0, -1})});
  EXPECT_EQ(g.to_vector<float>(), (std::vector<float>{2, 0, -6}));
}

TEST(Tape, OutputGradientsMustMatchTargetShape) {
  nr::Variable x(nr::constant({1, 2, 3}));
  nr::GradientTape tape;
  const nr::Tensor y = x * x;
  NEURONA_EXPECT_THROW_MSG(tape.gradient(y, x, {.output_gradients = nr::ones({2})}), nr::ShapeError,
                           "output_gradients", "(2,)", "(3,)");
}

TEST(Tape, OutputGradientsMustMatchTargetDtype) {
  nr::Variable x(nr::constant({1, 2, 3}));
  nr::GradientTape tape({.persistent = true});
  const nr::Tensor y = x * x;
  NEURONA_EXPECT_THROW_MSG(
      tape.gradient(y, x, {.output_gradients = nr::ones({3}, {.dtype = nr::float64})}),
      nr::ValueError, "GradientTape.gradient: output_gradients[0] is float64",
      "targets[0] is float32", "(3,)");
  const std::vector<nr::Tensor> targets{y}, sources{x.value()};
  const std::vector<nr::Tensor> half_seeds{nr::ones({3}, {.dtype = nr::DType::float16})};
  NEURONA_EXPECT_THROW_MSG(tape.gradient(targets, half_seeds, sources), nr::ValueError,
                           "output_gradients[0] is float16");
}

TEST(Tape, StopRecordingPausesTheTape) {
  nr::Variable x(3.0f);
  nr::GradientTape tape({.persistent = true});
  nr::Tensor y;
  {
    auto pause = tape.stop_recording();
    EXPECT_FALSE(nr::autograd::is_recording());
    y = x * x;
  }
  EXPECT_TRUE(nr::autograd::is_recording());
  EXPECT_FALSE(tape.gradient(y, x).defined());
  const nr::Tensor z = x * y;  // y is a constant here
  EXPECT_FLOAT_EQ(tape.gradient(z, x).item(), 9.0f);
}

TEST(Tape, StopGradientCutsTheGraph) {
  nr::Variable x(3.0f);
  nr::GradientTape tape;
  const nr::Tensor y = x * nr::stop_gradient(x);
  EXPECT_FLOAT_EQ(tape.gradient(y, x).item(), 3.0f);
}

TEST(Tape, NestedTapesGiveSecondDerivatives) {
  nr::Variable x(2.0f);
  nr::GradientTape outer;
  nr::Tensor dy_dx;
  {
    nr::GradientTape inner;
    const nr::Tensor y = x * x * x;
    dy_dx = inner.gradient(y, x);
  }
  EXPECT_FLOAT_EQ(dy_dx.item(), 12.0f);
  EXPECT_FLOAT_EQ(outer.gradient(dy_dx, x).item(), 12.0f);  // d2/dx2 x^3 = 6x
}

TEST(Tape, ViewsMadeByTensorMethodsAreRecorded) {
  nr::Variable x(nr::constant({{1, 2}, {3, 4}, {5, 6}}));
  nr::GradientTape tape;
  const nr::Tensor y = nr::square(x.value().reshape({6}).reshape({2, 3})).slice(1, 2);
  EXPECT_EQ(tape.gradient(y, x).to_vector<float>(), (std::vector<float>{0, 0, 0, 8, 10, 12}));
}

TEST(Tape, IntegerAndComparisonResultsHaveNoGradient) {
  nr::Variable x(nr::constant({1, 2}));
  nr::GradientTape tape({.persistent = true});
  const nr::Tensor m = nr::greater(x, nr::constant(1.5));
  const nr::Tensor y = nr::where(m, x, x * 3.0);
  EXPECT_EQ(tape.gradient(y, x).to_vector<float>(), (std::vector<float>{3, 1}));
  NEURONA_EXPECT_THROW_MSG(tape.gradient(nr::argmax(x), x), nr::ValueError, "target", "int64");
}

TEST(Tape, WatchRejectsIntegerTensors) {
  nr::GradientTape tape;
  NEURONA_EXPECT_THROW_MSG(tape.watch(nr::constant({1}, {.dtype = nr::int32})), nr::ValueError,
                           "watch", "int32");
}

TEST(Tape, DeepChainsAreWalkedWithoutRecursion) {
  nr::Variable x(1.0f);
  nr::GradientTape tape;
  nr::Tensor y = x;
  for (int i = 0; i < 20000; ++i) y = y + 0.0;
  EXPECT_FLOAT_EQ(tape.gradient(y, x).item(), 1.0f);
}

TEST(Tape, GradientsAccumulateOverEveryUse) {
  nr::Variable x(nr::constant({1, 2}));
  nr::GradientTape tape;
  const nr::Tensor y = nr::sum(x * 3.0) + nr::sum(nr::square(x)) + nr::sum(x);
  EXPECT_EQ(tape.gradient(y, x).to_vector<float>(), (std::vector<float>{6, 8}));
}

TEST(Tape, NonPersistentTapeReleasesWhatItHeld) {
  nr::Variable x(nr::random_normal({64, 64}));
  const auto before = nr::memory_stats(nr::Device::cpu()).bytes_in_use;
  {
    nr::GradientTape tape;
    const nr::Tensor h = nr::tanh(nr::matmul(x, x));
    const nr::Tensor loss = nr::sum(nr::sigmoid(h) * h);
    const nr::Tensor g = tape.gradient(loss, x);
    EXPECT_EQ(g.shape(), nr::Shape({64, 64}));
    // The tape itself holds nothing once it has answered: only h, loss and g remain.
    const auto after = nr::memory_stats(nr::Device::cpu()).bytes_in_use;
    EXPECT_LE(after - before, 3 * 64 * 64 * 4u + 1024u);
  }
  EXPECT_EQ(nr::memory_stats(nr::Device::cpu()).bytes_in_use, before);
}

TEST(Tape, FusedRuleRefusesSecondDerivativeNamingTheOp) {
  // A custom op whose rule is not written in differentiable ops.
  auto fused_square = [](const nr::Tensor& x) {
    const nr::Tensor out = nr::kernels::square(x);
    if (nr::autograd::is_recording()) {
      nr::autograd::record(
          "fused_square", {x}, {out},
          [x](const std::vector<nr::Tensor>& g) {
            return std::vector<nr::Tensor>{nr::kernels::multiply(g[0], nr::kernels::add(x, x))};
          },
          /*differentiable_backward=*/false);
    }
    return out;
  };
  nr::Variable x(3.0f);
  nr::GradientTape outer;
  nr::Tensor g;
  {
    nr::GradientTape inner;
    g = inner.gradient(fused_square(x), x);
  }
  EXPECT_FLOAT_EQ(g.item(), 6.0f);
  NEURONA_EXPECT_THROW_MSG(outer.gradient(g, x), nr::NotImplementedError, "fused_square",
                           "second derivative");
}

TEST(Tape, RulesLearnWhichInputsNeedGradientsAndDeadOpsAreSkipped) {
  // A custom op that reports which of its inputs' gradients its rule is asked for.
  std::vector<std::vector<bool>> asked;
  auto probe = [&](const nr::Tensor& a, const nr::Tensor& b) {
    const nr::Tensor out = nr::kernels::multiply(a, b);
    nr::autograd::record("probe", {a, b}, {out}, [&asked, a, b](const std::vector<nr::Tensor>& g) {
      asked.push_back(
          {nr::autograd::needs_input_gradient(0), nr::autograd::needs_input_gradient(1)});
      return std::vector<nr::Tensor>{
          nr::autograd::needs_input_gradient(0) ? nr::multiply(g[0], b) : nr::Tensor(),
          nr::autograd::needs_input_gradient(1) ? nr::multiply(g[0], a) : nr::Tensor()};
    });
    return out;
  };
  nr::Variable w(2.0f), v(5.0f);
  const nr::Tensor data = nr::constant({3.0f});
  {
    nr::GradientTape tape({.persistent = true});
    // probe(data, w) only leads back to w; probe(v, v) leads to no source when only w is asked.
    const nr::Tensor loss = nr::sum(probe(data, w)) + nr::sum(probe(v, v));
    asked.clear();
    const nr::Tensor gw = tape.gradient(loss, w);
    EXPECT_FLOAT_EQ(gw.item(), 3.0f);
    ASSERT_EQ(asked.size(), 1u) << "the op that depends on no source was not skipped";
    EXPECT_EQ(asked[0], (std::vector<bool>{false, true}));

    asked.clear();
    const auto both = tape.gradient(loss, std::vector<nr::Variable>{w, v});
    EXPECT_FLOAT_EQ(both[0].item(), 3.0f);
    EXPECT_FLOAT_EQ(both[1].item(), 10.0f);
    EXPECT_EQ(asked.size(), 2u);
  }
  EXPECT_TRUE(nr::autograd::needs_input_gradient(0)) << "outside a rule every input counts";

  // The built-in rules skip unneeded inputs and still give the same gradients.
  const nr::Tensor x = nr::testing::random_tensor({2, 5, 5, 3}, nr::float32, -1, 1, 1);
  nr::Variable k(nr::testing::random_tensor({3, 3, 3, 4}, nr::float32, -1, 1, 2));
  nr::Tensor only_k, with_x;
  {
    nr::GradientTape tape;
    only_k = tape.gradient(nr::sum(nr::square(nr::conv2d(x, k))), k);
  }
  {
    nr::GradientTape tape;
    tape.watch(x);
    with_x = tape.gradient(nr::sum(nr::square(nr::conv2d(x, k))),
                           std::vector<nr::Tensor>{x, k.value()})[1];
  }
  EXPECT_EQ(only_k.to_vector<float>(), with_x.to_vector<float>());
}

TEST(Tape, RecordingIsOffWithoutATape) {
  EXPECT_FALSE(nr::autograd::is_recording());
  {
    nr::GradientTape tape;
    EXPECT_TRUE(nr::autograd::is_recording());
  }
  EXPECT_FALSE(nr::autograd::is_recording());
}

TEST(Tape, CastBetweenFloatsPassesTheGradientBack) {
  nr::Variable x(nr::constant({1, 2}, {.dtype = nr::float64}));
  nr::GradientTape tape;
  const nr::Tensor y = nr::cast(x, nr::float32) * nr::constant({3, 4});
  const nr::Tensor g = tape.gradient(y, x);
  EXPECT_EQ(g.dtype(), nr::float64);
  EXPECT_EQ(g.to_vector<double>(), (std::vector<double>{3, 4}));
}

// on_gradient: each source's gradient is announced once, as soon as the backward walk has run
// every op that uses it (the last layer's weights before the first's), with what gradient()
// returns; sources no op uses at the end, as the unconnected option says.
TEST(GradientTape, OnGradientAnnouncesEachSourceWhenItsGradientIsFinal) {
  nr::Variable w1(nr::random_normal({3, 4}, {.seed = 1}), {.name = "w1"});
  nr::Variable w2(nr::random_normal({4, 2}, {.seed = 2}), {.name = "w2"});
  nr::Variable unused(nr::random_normal({2}, {.seed = 3}), {.name = "unused"});
  const nr::Tensor x = nr::random_normal({5, 3}, {.seed = 4});
  for (const auto unconnected : {nr::UnconnectedGradients::none, nr::UnconnectedGradients::zero}) {
    nr::GradientTape tape;
    // w1 is used twice (its gradient has two parts), w2 once, late.
    const nr::Tensor h = nr::relu(nr::matmul(x, w1.value())) + nr::sum(nr::square(w1.value()));
    const nr::Tensor y = nr::sum(nr::matmul(h, w2.value()));
    std::vector<std::pair<std::size_t, std::vector<float>>> announced;
    std::vector<bool> defined;
    const std::vector<nr::Tensor> grads = tape.gradient(
        y, std::vector<nr::Variable>{w1, w2, unused},
        {.unconnected_gradients = unconnected,
         .on_gradient = [&](std::size_t i, const nr::Tensor& g) {
           defined.push_back(g.defined());
           announced.emplace_back(i, g.defined() ? g.to_vector<float>() : std::vector<float>{});
         }});
    ASSERT_EQ(announced.size(), 3u);
    EXPECT_EQ(announced[0].first, 1u);  // w2: its op comes last in the forward pass
    EXPECT_EQ(announced[1].first, 0u);  // w1: once both of its uses have run backwards
    EXPECT_EQ(announced[2].first, 2u);  // unused: at the end
    EXPECT_EQ(announced[0].second, grads[1].to_vector<float>());
    EXPECT_EQ(announced[1].second, grads[0].to_vector<float>());
    if (unconnected == nr::UnconnectedGradients::none) {
      EXPECT_FALSE(defined[2]);
      EXPECT_FALSE(grads[2].defined());
    } else {
      EXPECT_EQ(announced[2].second, (std::vector<float>{0, 0}));
    }
  }
}
