// Optimizers: the first five steps of each against Keras 3 itself (tests/reference/training/
// optimizer_<case>.txt, written by tests/reference/make_keras_optimizer_references.py), the
// fused CPU kernel against a float64 reference written out here, state order and names,
// configs, names and error messages, and convergence on a quadratic.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>

#include "neurona/autograd/ops.h"
#include "neurona/kernels/optimizer.h"
#include "neurona/training/optimizers.h"
#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace opt = neurona::optimizers;
using nr::testing::all_close;

namespace {

// ---------------------------------------------------------------------------------------------
// Keras reference files

struct Entry {
  nr::Shape shape;
  std::vector<double> values;
  std::string comment;  // the `#` line above it (a state variable's Keras path and dtype)
};

std::map<std::string, Entry> load_case(const std::string& name) {
  const auto path = neurona::testing::reference_dir() / "training" / ("optimizer_" + name + ".txt");
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::map<std::string, Entry> entries;
  std::string line, comment;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line[0] == '#') {
      comment = line.substr(2);
      continue;
    }
    const std::size_t colon = line.find(" : ");
    if (colon == std::string::npos) throw std::runtime_error("bad line in " + path.string());
    std::istringstream head(line.substr(0, colon)), body(line.substr(colon + 3));
    std::string key;
    head >> key;
    std::vector<std::int64_t> dims;
    for (std::int64_t d; head >> d;) dims.push_back(d);
    Entry e{nr::Shape(dims), {}, comment};
    comment.clear();
    for (double v; body >> v;) e.values.push_back(v);
    if (static_cast<std::int64_t>(e.values.size()) != e.shape.numel()) {
      throw std::runtime_error("wrong value count for " + key + " in " + path.string());
    }
    entries[key] = std::move(e);
  }
  return entries;
}

nr::Tensor tensor_of(const Entry& e) {
  return nr::testing::make_tensor(e.values, e.shape);
}

// The Keras name of a state variable: its path without the optimizer's scope.
std::string keras_name(const Entry& e) {
  const std::string path = e.comment.substr(0, e.comment.find(' '));
  return path.substr(path.find('/') + 1);
}

using Factory = std::function<std::shared_ptr<opt::Optimizer>()>;

// The same configurations as CASES in the reference script.
const std::vector<std::pair<std::string, Factory>>& keras_cases() {
  namespace s = opt::schedules;
  static const std::vector<std::pair<std::string, Factory>> cases = {
      {"sgd", [] { return opt::SGD(0.1).ptr(); }},
      {"sgd_momentum", [] { return opt::SGD(0.1, {.momentum = 0.9}).ptr(); }},
      {"sgd_nesterov", [] { return opt::SGD(0.1, {.momentum = 0.9, .nesterov = true}).ptr(); }},
      {"sgd_weight_decay", [] { return opt::SGD(0.1, {.weight_decay = 0.05}).ptr(); }},
      {"sgd_clipnorm", [] { return opt::SGD(0.1, {.clipnorm = 1.0}).ptr(); }},
      {"sgd_global_clipnorm", [] { return opt::SGD(0.1, {.global_clipnorm = 1.0}).ptr(); }},
      {"sgd_exponential_decay",
       [] {
         return opt::SGD(s::ExponentialDecay(0.1, 2, 0.5, {.staircase = true}), {.momentum = 0.5})
             .ptr();
       }},
      {"adam", [] { return opt::Adam(0.01).ptr(); }},
      {"adam_defaults", [] { return opt::Adam().ptr(); }},
      {"adam_amsgrad", [] { return opt::Adam(0.01, {.amsgrad = true}).ptr(); }},
      {"adam_clipvalue", [] { return opt::Adam(0.01, {.clipvalue = 0.5}).ptr(); }},
      {"adam_missing_gradient", [] { return opt::Adam(0.01).ptr(); }},
      {"adam_cosine_warmup",
       [] {
         return opt::Adam(s::CosineDecay(0.0, 4, {.warmup_target = 0.01, .warmup_steps = 2})).ptr();
       }},
      {"adamw", [] { return opt::AdamW(0.01).ptr(); }},
      {"adamw_amsgrad_clipnorm",
       [] {
         return opt::AdamW(0.01, {.weight_decay = 0.1, .amsgrad = true, .clipnorm = 0.5}).ptr();
       }},
      {"rmsprop", [] { return opt::RMSprop(0.01).ptr(); }},
      {"rmsprop_momentum", [] { return opt::RMSprop(0.01, {.momentum = 0.5}).ptr(); }},
      {"rmsprop_centered", [] { return opt::RMSprop(0.01, {.centered = true}).ptr(); }},
      {"rmsprop_centered_momentum",
       [] { return opt::RMSprop(0.01, {.rho = 0.8, .momentum = 0.5, .centered = true}).ptr(); }},
      {"adagrad", [] { return opt::Adagrad(0.1).ptr(); }},
      {"adagrad_options",
       [] { return opt::Adagrad(0.1, {.initial_accumulator_value = 0.5, .epsilon = 1e-3}).ptr(); }},
      {"adamax", [] { return opt::Adamax(0.01).ptr(); }},
      {"adamax_global_clipnorm", [] { return opt::Adamax(0.01, {.global_clipnorm = 0.7}).ptr(); }},
      {"nadam", [] { return opt::Nadam(0.01).ptr(); }},
      {"nadam_weight_decay", [] { return opt::Nadam(0.01, {.weight_decay = 0.2}).ptr(); }},
  };
  return cases;
}

// float32 arithmetic in the same order as Keras: a few ulps apart at most (libm's pow and the
// float64 sum of squares against XLA's), so 1e-6 relative with a floor for values near 0.
constexpr double kAtol = 1e-7;
constexpr double kRtol = 1e-6;

void run_keras_case(const std::string& name, const Factory& make) {
  SCOPED_TRACE("case " + name);
  const auto ref = load_case(name);
  nr::Variable w0(tensor_of(ref.at("w0")), {.name = "w0"});
  nr::Variable w1(tensor_of(ref.at("w1")), {.name = "w1"});
  const auto o = make();
  for (int step = 1; step <= 5; ++step) {
    SCOPED_TRACE("step " + std::to_string(step));
    const std::string s = std::to_string(step);
    EXPECT_TRUE(all_close({o->learning_rate()}, ref.at("lr" + s).values, 1e-10, kRtol));
    std::vector<nr::Tensor> grads{tensor_of(ref.at("g" + s + "_0")), nr::Tensor()};
    if (ref.count("g" + s + "_1")) grads[1] = tensor_of(ref.at("g" + s + "_1"));
    o->apply_gradients(grads, {w0, w1});
    EXPECT_TRUE(all_close(w0.value(), ref.at("w0_" + s).values, kAtol, kRtol));
    EXPECT_TRUE(all_close(w1.value(), ref.at("w1_" + s).values, kAtol, kRtol));
  }
  EXPECT_EQ(o->iterations(), static_cast<std::int64_t>(ref.at("iterations").values[0]));
  const auto state = o->variables();
  std::size_t expected = 0;
  while (ref.count("state" + std::to_string(expected))) ++expected;
  ASSERT_EQ(state.size(), expected);
  for (std::size_t k = 0; k < state.size(); ++k) {
    const Entry& e = ref.at("state" + std::to_string(k));
    SCOPED_TRACE("state " + std::to_string(k) + " (" + e.comment + ")");
    EXPECT_EQ(state[k].shape(), e.shape);
    EXPECT_TRUE(all_close(state[k].value(), e.values, kAtol, kRtol));
    // Keras leaves Nadam's u_product unnamed ("variable", "variable_1", ...); it is u_product.
    if (keras_name(e).rfind("variable", 0) != 0) {
      EXPECT_EQ(state[k].name(), keras_name(e));
    }
  }
}

}  // namespace

TEST(OptimizerKeras, EveryCaseMatchesKerasStepByStep) {
  for (const auto& [name, make] : keras_cases()) run_keras_case(name, make);
}

// ---------------------------------------------------------------------------------------------
// float64 reference: the Keras update rules written out plainly in double, independent of the
// kernel's code, for float64 variables.

namespace {

struct RefConfig {
  std::string rule;  // sgd adam rmsprop adagrad adamax nadam
  double lr = 0.01, momentum = 0.0, beta_1 = 0.9, beta_2 = 0.999, epsilon = 1e-7, rho = 0.9;
  double initial_accumulator = 0.1;
  bool nesterov = false, amsgrad = false, centered = false;
  std::optional<double> weight_decay = std::nullopt;
  std::optional<double> clipnorm = std::nullopt;
  std::optional<double> clipvalue = std::nullopt;
};

struct RefState {
  std::vector<double> w, s0, s1, s2;
  double u_product = 1.0;
};

void reference_step(const RefConfig& c, RefState& st, std::vector<double> g, std::int64_t it) {
  const std::size_t n = st.w.size();
  if (c.clipnorm) {
    double ss = 0;
    for (double x : g) ss += x * x;
    const double norm = std::sqrt(ss);
    for (double& x : g) x = x * *c.clipnorm / std::max(norm, *c.clipnorm);
  }
  if (c.clipvalue) {
    for (double& x : g) x = std::min(std::max(x, -*c.clipvalue), *c.clipvalue);
  }
  const double lr = static_cast<float>(c.lr);  // Keras keeps the learning rate in float32
  if (c.weight_decay) {
    for (double& w : st.w) w -= w * *c.weight_decay * lr;
  }
  const double t = static_cast<double>(it + 1);
  if (c.rule == "nadam") {
    st.u_product *= c.beta_1 * (1 - 0.5 * std::pow(0.96, t));
  }
  for (std::size_t i = 0; i < n; ++i) {
    double& w = st.w[i];
    const double gi = g[i];
    if (c.rule == "sgd") {
      if (c.momentum != 0) {
        st.s0[i] = c.momentum * st.s0[i] - lr * gi;
        w += c.nesterov ? c.momentum * st.s0[i] - lr * gi : st.s0[i];
      } else {
        w -= lr * gi;
      }
    } else if (c.rule == "adam") {
      st.s0[i] += (gi - st.s0[i]) * (1 - c.beta_1);
      st.s1[i] += (gi * gi - st.s1[i]) * (1 - c.beta_2);
      double v = st.s1[i];
      if (c.amsgrad) v = st.s2[i] = std::max(st.s2[i], v);
      const double alpha = lr * std::sqrt(1 - std::pow(c.beta_2, t)) / (1 - std::pow(c.beta_1, t));
      w -= alpha * st.s0[i] / (std::sqrt(v) + c.epsilon);
    } else if (c.rule == "rmsprop") {
      st.s0[i] = c.rho * st.s0[i] + (1 - c.rho) * gi * gi;
      double denominator = st.s0[i] + c.epsilon;
      if (c.centered) {
        st.s2[i] = c.rho * st.s2[i] + (1 - c.rho) * gi;
        denominator = st.s0[i] - st.s2[i] * st.s2[i] + c.epsilon;
      }
      const double increment = lr * gi / std::sqrt(denominator);
      if (c.momentum > 0) {
        st.s1[i] = c.momentum * st.s1[i] + increment;
        w -= st.s1[i];
      } else {
        w -= increment;
      }
    } else if (c.rule == "adagrad") {
      st.s0[i] += gi * gi;
      w -= lr * gi / std::sqrt(st.s0[i] + c.epsilon);
    } else if (c.rule == "adamax") {
      st.s0[i] += (gi - st.s0[i]) * (1 - c.beta_1);
      st.s1[i] = std::max(c.beta_2 * st.s1[i], std::abs(gi));
      w -= lr * st.s0[i] / ((1 - std::pow(c.beta_1, t)) * (st.s1[i] + c.epsilon));
    } else if (c.rule == "nadam") {
      const double u_t = c.beta_1 * (1 - 0.5 * std::pow(0.96, t));
      const double u_t_1 = c.beta_1 * (1 - 0.5 * std::pow(0.96, t + 1));
      const double u_product_t_1 = st.u_product * u_t_1;
      st.s0[i] += (gi - st.s0[i]) * (1 - c.beta_1);
      st.s1[i] += (gi * gi - st.s1[i]) * (1 - c.beta_2);
      const double m_hat =
          u_t_1 * st.s0[i] / (1 - u_product_t_1) + (1 - u_t) * gi / (1 - st.u_product);
      const double v_hat = st.s1[i] / (1 - std::pow(c.beta_2, t));
      w -= m_hat * lr / (std::sqrt(v_hat) + c.epsilon);
    }
  }
}

std::shared_ptr<opt::Optimizer> make_optimizer(const RefConfig& c) {
  if (c.rule == "sgd") {
    return opt::SGD(c.lr, {.momentum = c.momentum,
                           .nesterov = c.nesterov,
                           .weight_decay = c.weight_decay,
                           .clipnorm = c.clipnorm,
                           .clipvalue = c.clipvalue})
        .ptr();
  }
  if (c.rule == "adam") {
    return opt::Adam(c.lr, {.beta_1 = c.beta_1,
                            .beta_2 = c.beta_2,
                            .epsilon = c.epsilon,
                            .amsgrad = c.amsgrad,
                            .weight_decay = c.weight_decay,
                            .clipnorm = c.clipnorm,
                            .clipvalue = c.clipvalue})
        .ptr();
  }
  if (c.rule == "rmsprop") {
    return opt::RMSprop(c.lr, {.rho = c.rho,
                               .momentum = c.momentum,
                               .epsilon = c.epsilon,
                               .centered = c.centered,
                               .weight_decay = c.weight_decay,
                               .clipnorm = c.clipnorm,
                               .clipvalue = c.clipvalue})
        .ptr();
  }
  if (c.rule == "adagrad") {
    return opt::Adagrad(c.lr, {.initial_accumulator_value = c.initial_accumulator,
                               .epsilon = c.epsilon,
                               .weight_decay = c.weight_decay,
                               .clipnorm = c.clipnorm,
                               .clipvalue = c.clipvalue})
        .ptr();
  }
  if (c.rule == "adamax") {
    return opt::Adamax(c.lr, {.beta_1 = c.beta_1,
                              .beta_2 = c.beta_2,
                              .epsilon = c.epsilon,
                              .weight_decay = c.weight_decay,
                              .clipnorm = c.clipnorm,
                              .clipvalue = c.clipvalue})
        .ptr();
  }
  return opt::Nadam(c.lr, {.beta_1 = c.beta_1,
                           .beta_2 = c.beta_2,
                           .epsilon = c.epsilon,
                           .weight_decay = c.weight_decay,
                           .clipnorm = c.clipnorm,
                           .clipvalue = c.clipvalue})
      .ptr();
}

const std::vector<RefConfig>& reference_configs() {
  static const std::vector<RefConfig> configs = {
      {.rule = "sgd", .lr = 0.1},
      {.rule = "sgd", .lr = 0.1, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01},
      {.rule = "adam", .clipnorm = 2.0},
      {.rule = "adam", .amsgrad = true, .weight_decay = 0.004},
      {.rule = "rmsprop", .momentum = 0.5, .centered = true, .clipvalue = 0.3},
      {.rule = "rmsprop"},
      {.rule = "adagrad", .lr = 0.1},
      {.rule = "adamax", .weight_decay = 0.1},
      {.rule = "nadam", .clipnorm = 1.0},
  };
  return configs;
}

std::string describe(const RefConfig& c) {
  std::ostringstream os;
  os << c.rule << " momentum=" << c.momentum << " nesterov=" << c.nesterov
     << " amsgrad=" << c.amsgrad << " centered=" << c.centered
     << " wd=" << c.weight_decay.value_or(-1) << " clipnorm=" << c.clipnorm.value_or(-1)
     << " clipvalue=" << c.clipvalue.value_or(-1);
  return os.str();
}

// Runs `steps` steps of `c` on a variable of `n` elements of `dtype` and of the reference, and
// compares the variable and its first slot.
void compare_with_reference(const RefConfig& c, nr::DType dtype, std::int64_t n, int steps,
                            double atol, double rtol) {
  SCOPED_TRACE(describe(c) + " " + std::string(nr::name(dtype)) + " n=" + std::to_string(n));
  const auto init = nr::testing::uniform_values(n, -1, 1, 7);
  nr::Variable w(nr::testing::make_tensor(init, {n}, dtype), {.name = "w"});
  auto o = make_optimizer(c);
  RefState st{w.value().to_vector<double>(), std::vector<double>(n, 0.0),
              std::vector<double>(n, 0.0), std::vector<double>(n, 0.0)};
  if (c.rule == "adagrad") st.s0.assign(n, c.initial_accumulator);
  for (int step = 0; step < steps; ++step) {
    const auto g = nr::testing::uniform_values(n, -1.5, 1.5, 100 + static_cast<unsigned>(step));
    const nr::Tensor gt = nr::testing::make_tensor(g, {n}, dtype);
    o->apply_gradients({gt}, {w});
    reference_step(c, st, gt.to_vector<double>(), step);
  }
  EXPECT_TRUE(all_close(w.value(), st.w, atol, rtol));
  // The first slot of every rule is its first state variable after iterations/learning_rate.
  const auto vars = o->variables();
  if (vars.size() > 2) {
    EXPECT_TRUE(all_close(vars[2].value(), st.s0, atol, rtol));
  }
}

}  // namespace

TEST(OptimizerKernel, Float64MatchesAPlainFloat64Reference) {
  for (const RefConfig& c : reference_configs()) {
    compare_with_reference(c, nr::float64, 37, 6, 1e-13, 1e-11);
  }
}

TEST(OptimizerKernel, Float32StaysWithinFloat32RoundingOfTheFloat64Reference) {
  // Six steps of float32 rounding, amplified at most by Adam-type divisions by sqrt(v).
  for (const RefConfig& c : reference_configs()) {
    compare_with_reference(c, nr::float32, 37, 6, 1e-6, 2e-5);
  }
}

TEST(OptimizerKernel, LargeVariablesRunTheParallelLoopAndChunkedNorm) {
  // More elements than the OpenMP grain (32768) and than several clip-norm chunks (8192).
  compare_with_reference({.rule = "adam", .clipnorm = 5.0}, nr::float64, 100003, 3, 1e-13, 1e-10);
  compare_with_reference({.rule = "sgd", .lr = 0.1, .momentum = 0.9, .clipnorm = 3.0}, nr::float64,
                         70001, 3, 1e-13, 1e-10);
}

TEST(OptimizerKernel, SumOfSquaresOverManyTensorsAndDtypes) {
  const auto a = nr::testing::uniform_values(100000, -1, 1, 3);
  const auto b = nr::testing::uniform_values(8193, -2, 2, 4);
  double expected = 0;
  for (double x : a) expected += x * x;
  for (double x : b) expected += x * x;
  const nr::Tensor s = nr::kernels::sum_of_squares(
      {nr::testing::make_tensor(a, {100000}, nr::float64), nr::testing::make_tensor(b, {8193}),
       nr::testing::make_tensor({}, {0})});
  EXPECT_EQ(s.dtype(), nr::float64);
  EXPECT_EQ(s.shape(), nr::Shape({}));
  // b is rounded to float32 first; a is exact.
  double expected_f32 = 0;
  for (double x : a) expected_f32 += x * x;
  for (double x : b) {
    const double f = static_cast<float>(x);
    expected_f32 += f * f;
  }
  EXPECT_NEAR(s.item<double>(), expected_f32, 1e-9 * expected);
}

// The multi-tensor form against one call per variable: the same bits, for every rule, with
// more variables than one GPU launch takes, an empty one, weight decay on some only and
// clipping by each variable's own norm.
TEST(OptimizerKernel, ListUpdateMatchesOneVariableAtATime) {
  using nr::kernels::OptimizerRule;
  for (OptimizerRule rule : {OptimizerRule::sgd, OptimizerRule::adam, OptimizerRule::rmsprop,
                             OptimizerRule::adagrad, OptimizerRule::adamax, OptimizerRule::nadam}) {
    for (bool clip : {false, true}) {
      SCOPED_TRACE(static_cast<int>(rule) * 2 + clip);
      nr::kernels::OptimizerStep step;
      step.rule = rule;
      auto& c = step.coefficients;
      c.learning_rate = 0.01f, c.momentum = 0.9f, c.use_momentum = true, c.nesterov = true;
      c.one_minus_beta_1 = 0.1f, c.one_minus_beta_2 = 0.001f, c.alpha = 0.003f, c.beta_2 = 0.999f;
      c.epsilon = 1e-7f, c.rho = 0.9f, c.one_minus_rho = 0.1f, c.centered = true;
      c.one_minus_beta_1_power = 0.1f, c.one_minus_beta_2_power = 0.001f, c.u_t_1 = 0.9f;
      c.one_minus_u_t = 0.1f, c.one_minus_u_product_t = 0.2f, c.one_minus_u_product_t_1 = 0.3f;
      c.decay = true, c.weight_decay = 0.05f;
      if (clip) c.clip = nr::kernels::GradientClip::norm, c.clip_value = 0.5f;
      std::vector<nr::kernels::OptimizerTensors> listed, alone;
      const auto random = [](std::int64_t n, std::uint32_t seed) {
        return nr::testing::random_tensor({n}, nr::float32, -1, 1, seed);
      };
      const auto copy_of = [](const nr::Tensor& t) {
        return nr::testing::make_tensor(t.to_vector<double>(), t.shape());
      };
      for (std::uint32_t i = 0; i < 40; ++i) {
        const std::int64_t n = i == 7 ? 0 : 1 + (i * 37) % 300;
        const nr::Tensor g = random(n, 1000 + i);
        const nr::Tensor ss = clip ? nr::kernels::sum_of_squares({g}) : nr::Tensor();
        std::array<nr::Tensor, 3> slots_a, slots_b;
        for (std::uint32_t k = 0; k < 3; ++k) {
          // Positive state, and a small average gradient, so that no rule divides by a
          // negative or zero denominator (centered RMSprop's v - a^2).
          slots_a[k] =
              nr::abs(random(n, 2000 + 3 * i + k)) * (k == 2 ? 0.01 : 1.0) + (k == 0 ? 0.1 : 0.0);
          slots_b[k] = copy_of(slots_a[k]);
        }
        const nr::Tensor w = random(n, 5000 + i);
        listed.push_back({g, copy_of(w), slots_a, ss, i % 3 != 0});
        alone.push_back({g, copy_of(w), slots_b, ss, i % 3 != 0});
      }
      const nr::Tensor buffer = nr::kernels::optimizer_coefficients_buffer(nr::Device::cpu());
      nr::kernels::write_optimizer_coefficients(step, nr::float32, buffer);
      nr::kernels::optimizer_update(step, listed, buffer);
      for (const auto& item : alone) {
        nr::kernels::OptimizerStep s = step;
        s.coefficients.decay = item.decay;
        nr::kernels::optimizer_update(s, item.grad, item.variable, item.slots, item.sum_squares);
      }
      for (std::size_t i = 0; i < listed.size(); ++i) {
        const std::vector<float> value = listed[i].variable.to_vector<float>();
        EXPECT_EQ(value, alone[i].variable.to_vector<float>()) << "variable " << i;
        EXPECT_TRUE(
            std::all_of(value.begin(), value.end(), [](float x) { return std::isfinite(x); }))
            << "variable " << i;
        for (std::size_t k = 0; k < 3; ++k) {
          EXPECT_EQ(listed[i].slots[k].to_vector<float>(), alone[i].slots[k].to_vector<float>())
              << "variable " << i << " slot " << k;
        }
      }
    }
  }
}

TEST(OptimizerKernel, ListFormNamesTheItem) {
  nr::kernels::OptimizerStep step;
  step.rule = nr::kernels::OptimizerRule::adam;
  const nr::Tensor w = nr::testing::make_tensor({1, 2, 3}, {3});
  const nr::Tensor m = nr::testing::make_tensor({0, 0, 0}, {3});
  const nr::Tensor buffer = nr::kernels::optimizer_coefficients_buffer(nr::Device::cpu());
  NEURONA_EXPECT_THROW_MSG(nr::kernels::optimizer_update(
                               step,
                               {{w, w, {m, m, {}}, {}, true},
                                {nr::testing::make_tensor({1, 2}, {2}), w, {m, m, {}}, {}, true}},
                               buffer),
                           nr::ShapeError, "optimizer_update", "items[1].grad", "(2,)", "(3,)");
  const nr::Tensor w64 = nr::testing::make_tensor({1, 2, 3}, {3}, nr::float64);
  NEURONA_EXPECT_THROW_MSG(
      nr::kernels::optimizer_update(
          step, {{w, w, {m, m, {}}, {}, true}, {w64, w64, {w64, w64, {}}, {}, true}}, buffer),
      nr::ValueError, "optimizer_update", "items[1].variable", "float64");
  NEURONA_EXPECT_THROW_MSG(nr::kernels::optimizer_update(step, {{w, w, {m, m, {}}, {}, true}},
                                                         nr::testing::make_tensor({1}, {1})),
                           nr::ValueError, "optimizer_update", "coefficients",
                           "optimizer_coefficients_buffer");
}

TEST(OptimizerKernel, FrontDoorNamesBadArguments) {
  nr::kernels::OptimizerStep step;
  step.rule = nr::kernels::OptimizerRule::adam;
  const nr::Tensor w = nr::testing::make_tensor({1, 2, 3}, {3});
  const nr::Tensor m = nr::testing::make_tensor({0, 0, 0}, {3});
  NEURONA_EXPECT_THROW_MSG(
      nr::kernels::optimizer_update(step, nr::testing::make_tensor({1, 2}, {2}), w, {m, m, {}}, {}),
      nr::ShapeError, "optimizer_update", "grad", "(2,)", "(3,)");
  NEURONA_EXPECT_THROW_MSG(nr::kernels::optimizer_update(step, w, w, {m, {}, {}}, {}),
                           nr::ValueError, "optimizer_update", "slots[1]");
}

// ---------------------------------------------------------------------------------------------
// Behaviour

TEST(Optimizer, UpdatesTheVariableInPlaceKeepingItsStorage) {
  nr::Variable w(nr::testing::make_tensor({1, 2}, {2}), {.name = "w"});
  const nr::Tensor before = w.value();
  auto o = opt::SGD(0.5);
  o->apply_gradients({nr::testing::make_tensor({2, 2}, {2})}, {w});
  EXPECT_TRUE(w.value().is_same(before));
  EXPECT_EQ(w.value().to_vector<double>(), (std::vector<double>{0, 1}));
  EXPECT_EQ(o->iterations(), 1);
}

TEST(Optimizer, PrepareStepThenApplyPreparedIsApplyGradients) {
  const nr::Tensor init = nr::testing::random_tensor({300}, nr::float32, -1, 1, 3);
  nr::Variable a(init, {.name = "w"});
  nr::Variable b(nr::testing::make_tensor(init.to_vector<double>(), init.shape()), {.name = "w"});
  auto whole = opt::Adam(0.01, {.clipnorm = 0.5});
  auto split = opt::Adam(0.01, {.clipnorm = 0.5});
  for (std::uint32_t step = 0; step < 3; ++step) {
    const nr::Tensor g = nr::testing::random_tensor({300}, nr::float32, -1, 1, 10 + step);
    whole->apply_gradients({g}, {a});
    split->prepare_step({b});
    split->apply_prepared({g}, {b});
  }
  EXPECT_EQ(a.value().to_vector<float>(), b.value().to_vector<float>());
  EXPECT_EQ(split->iterations(), 3);
}

TEST(Optimizer, ApplyPreparedWithoutPrepareStepIsAnError) {
  nr::Variable w(nr::testing::make_tensor({1, 2}, {2}), {.name = "w"});
  auto o = opt::SGD(0.5);
  NEURONA_EXPECT_THROW_MSG(o->apply_prepared({nr::testing::make_tensor({1, 1}, {2})}, {w}),
                           nr::ValueError, "apply_prepared", "prepare_step", "'w'");
}

TEST(Optimizer, CastsAGradientOfAnotherDtypeToTheVariables) {
  nr::Variable w(nr::testing::make_tensor({1, 2}, {2}), {.name = "w"});
  auto o = opt::SGD(0.5);
  o->apply_gradients({nr::testing::make_tensor({2, 4}, {2}, nr::float64)}, {w});
  EXPECT_EQ(w.dtype(), nr::float32);
  EXPECT_EQ(w.value().to_vector<double>(), (std::vector<double>{0, 0}));
}

TEST(Optimizer, EmptyListsDoNothingAndAllMissingGradientsIsAnError) {
  nr::Variable w(nr::testing::make_tensor({1, 2}, {2}), {.name = "w"});
  auto o = opt::Adam(0.1, {.name = "my_adam"});
  o->apply_gradients({}, {});
  EXPECT_EQ(o->iterations(), 0);
  NEURONA_EXPECT_THROW_MSG(o->apply_gradients({nr::Tensor()}, {w}), nr::ValueError, "Adam",
                           "my_adam", "no gradients provided for any variable");
  NEURONA_EXPECT_THROW_MSG(o->apply_gradients({nr::Tensor(), nr::Tensor()}, {w}), nr::ValueError,
                           "2 gradients for 1 variables");
}

TEST(Optimizer, ShapeMismatchNamesOptimizerVariableAndBothShapes) {
  nr::Variable w(nr::testing::make_tensor({1, 2, 3, 4, 5, 6}, {2, 3}), {.name = "kernel"});
  auto o = opt::RMSprop(0.1, {.name = "rms"});
  NEURONA_EXPECT_THROW_MSG(o->apply_gradients({nr::testing::make_tensor({1, 2, 3}, {3})}, {w}),
                           nr::ShapeError, "RMSprop", "rms", "kernel", "(3,)", "(2, 3)");
  EXPECT_EQ(o->iterations(), 0);
}

TEST(Optimizer, AtMostOneClipOption) {
  NEURONA_EXPECT_THROW_MSG(opt::Adam(0.1, {.clipnorm = 1.0, .clipvalue = 0.5}), nr::ValueError,
                           "Adam", "only one of `clipnorm`, `clipvalue` and `global_clipnorm`",
                           "clipnorm=1", "clipvalue=0.5", "global_clipnorm=None");
  NEURONA_EXPECT_THROW_MSG(opt::SGD(0.1, {.clipnorm = 1.0, .global_clipnorm = 1.0}), nr::ValueError,
                           "SGD", "only one of");
}

TEST(Optimizer, SgdMomentumMustBeBetweenZeroAndOne) {
  NEURONA_EXPECT_THROW_MSG(opt::SGD(0.1, {.momentum = 1.5}), nr::ValueError, "SGD", "momentum",
                           "[0, 1]");
}

TEST(Optimizer, LearningRateIsSettableUnlessAScheduleIsUsed) {
  auto a = opt::Adam(0.001);
  EXPECT_DOUBLE_EQ(a->learning_rate(), static_cast<float>(0.001));
  a->set_learning_rate(0.5);
  EXPECT_EQ(a->learning_rate(), 0.5);
  EXPECT_EQ(a->variables()[1].value().item<double>(), 0.5);  // the learning_rate variable

  auto s = opt::SGD(opt::schedules::ExponentialDecay(0.1, 1, 0.5));
  EXPECT_NEAR(s->learning_rate(), 0.1, 1e-8);
  NEURONA_EXPECT_THROW_MSG(s->set_learning_rate(0.1), nr::ValueError, "SGD", "LearningRateSchedule",
                           "not settable");
  nr::Variable w(nr::testing::make_tensor({1}, {1}), {.name = "w"});
  s->apply_gradients({nr::testing::make_tensor({1}, {1})}, {w});
  EXPECT_NEAR(s->learning_rate(), 0.05, 1e-8);  // the schedule at the new iterations
  EXPECT_EQ(s->variables().size(), 1u);         // iterations only: no learning_rate variable
}

TEST(Optimizer, AssigningIterationsChangesTheStep) {
  // What loading a saved optimizer does: the host count is the iterations variable itself.
  auto o = opt::SGD(opt::schedules::PiecewiseConstantDecay({10}, {1.0, 0.25}));
  o->variables()[0].assign(nr::testing::make_tensor({11}, {}, nr::int64));
  EXPECT_EQ(o->iterations(), 11);
  EXPECT_EQ(o->learning_rate(), 0.25);
}

TEST(Optimizer, IterationCountOutOfRangeIsAValueError) {
  // A loaded file or an assignment can set any int64; the rules compute iteration + 1 (and
  // Nadam iteration + 2), which must not overflow, and a negative count has no step.
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  for (const std::int64_t bad : {kMax, kMax - 1, std::int64_t{-1}}) {
    const std::vector<std::shared_ptr<opt::Optimizer>> optimizers = {
        opt::Adam(0.1).ptr(), opt::Nadam(0.1).ptr(), opt::SGD(0.1).ptr()};
    for (const auto& o : optimizers) {
      SCOPED_TRACE(o->class_name() + " at " + std::to_string(bad));
      nr::Variable w(nr::testing::make_tensor({1}, {1}), {.name = "w"});
      o->variables()[0].assign(nr::constant(std::vector<std::int64_t>{bad}, {}));
      ASSERT_EQ(o->iterations(), bad);
      NEURONA_EXPECT_THROW_MSG(o->apply_gradients({nr::testing::make_tensor({1}, {1})}, {w}),
                               nr::ValueError, o->class_name().c_str(), "iteration count",
                               "must be between 0 and 9223372036854775805");
      EXPECT_EQ(w.value().item<double>(), 1.0);  // unchanged
    }
  }
  // The largest count that leaves room for iteration + 2 still steps.
  auto o = opt::Nadam(0.1);
  nr::Variable w(nr::testing::make_tensor({1}, {1}), {.name = "w"});
  o->variables()[0].assign(nr::constant(std::vector<std::int64_t>{kMax - 2}, {}));
  o->apply_gradients({nr::testing::make_tensor({1}, {1})}, {w});
  EXPECT_EQ(o->iterations(), kMax - 1);
  EXPECT_TRUE(std::isfinite(w.value().item<double>()));
}

TEST(Optimizer, NamesAreKerasAutomaticNamesUnlessGiven) {
  const auto a = opt::Nadam();
  const auto b = opt::Nadam();
  EXPECT_EQ(b->name().rfind("nadam", 0), 0u);
  EXPECT_NE(a->name(), b->name());
  EXPECT_EQ(opt::RMSprop(0.1)->name().rfind("rm_sprop", 0), 0u);
  EXPECT_EQ(opt::AdamW()->name().rfind("adam_w", 0), 0u);
  EXPECT_EQ(opt::SGD(0.1, {.name = "mine"})->name(), "mine");
}

TEST(Optimizer, VariablesFollowKerasOrderAcrossLaterVariables) {
  nr::Variable a(nr::testing::make_tensor({1, 2}, {2}), {.name = "a"});
  nr::Variable b(nr::testing::make_tensor({1, 2, 3}, {3}), {.name = "b"});
  auto o = opt::RMSprop(0.01, {.momentum = 0.5, .centered = true});
  o->build({a});
  o->apply_gradients(
      {nr::testing::make_tensor({1, 1}, {2}), nr::testing::make_tensor({1, 1, 1}, {3})}, {a, b});
  std::vector<std::string> names;
  for (const auto& v : o->variables()) names.push_back(v.name());
  EXPECT_EQ(names, (std::vector<std::string>{"iteration", "learning_rate", "a_velocity",
                                             "b_velocity", "a_momentum", "b_momentum",
                                             "a_average_gradient", "b_average_gradient"}));
  for (const auto& v : o->variables()) EXPECT_FALSE(v.trainable()) << v.name();
}

TEST(Optimizer, SkippedGradientLeavesVariableAndSlotsAlone) {
  nr::Variable a(nr::testing::make_tensor({1, 2}, {2}), {.name = "a"});
  nr::Variable b(nr::testing::make_tensor({3, 4}, {2}), {.name = "b"});
  auto o = opt::Adam(0.1);
  o->apply_gradients({nr::testing::make_tensor({1, 1}, {2}), nr::Tensor()}, {a, b});
  EXPECT_EQ(b.value().to_vector<double>(), (std::vector<double>{3, 4}));
  const auto vars = o->variables();  // iteration, lr, a_m, a_v, b_m, b_v
  ASSERT_EQ(vars.size(), 6u);
  EXPECT_EQ(vars[4].value().to_vector<double>(), (std::vector<double>{0, 0}));
  EXPECT_NE(vars[2].value().to_vector<double>(), (std::vector<double>{0, 0}));
}

TEST(Optimizer, ExcludedVariablesGetNoWeightDecay) {
  nr::Variable kernel(nr::testing::make_tensor({1, 2}, {2}), {.name = "dense/kernel"});
  nr::Variable bias(nr::testing::make_tensor({1, 2}, {2}), {.name = "dense/bias"});
  auto o = opt::SGD(0.1, {.weight_decay = 0.5});
  o->exclude_from_weight_decay({}, {"bias"});
  const nr::Tensor zero = nr::testing::make_tensor({0, 0}, {2});
  o->apply_gradients({zero, zero}, {kernel, bias});
  // w - w * 0.5 * 0.1 for the kernel only.
  EXPECT_TRUE(all_close(kernel.value(), {0.95, 1.9}, 1e-7, 1e-6));
  EXPECT_EQ(bias.value().to_vector<double>(), (std::vector<double>{1, 2}));
  NEURONA_EXPECT_THROW_MSG(o->exclude_from_weight_decay({kernel}), nr::ValueError,
                           "before the optimizer is built");
}

TEST(Optimizer, ConfigHasKerasKeysAndValues) {
  const auto o = opt::Adam(1e-3, {.beta_1 = 0.8, .clipnorm = 1.0, .name = "adam_cfg"});
  const opt::Config c = o->config();
  std::vector<std::string> keys;
  for (const auto& kv : c) keys.push_back(kv.first);
  EXPECT_EQ(keys,
            (std::vector<std::string>{
                "name", "learning_rate", "weight_decay", "clipnorm", "global_clipnorm", "clipvalue",
                "use_ema", "ema_momentum", "ema_overwrite_frequency", "loss_scale_factor",
                "gradient_accumulation_steps", "beta_1", "beta_2", "epsilon", "amsgrad"}));
  EXPECT_EQ(c[0].second.as_string(), "adam_cfg");
  EXPECT_EQ(c[1].second.kind(), nr::ConfigValue::Kind::Float);
  EXPECT_EQ(c[1].second.as_double(), static_cast<float>(1e-3));  // as Keras saves it
  EXPECT_TRUE(c[2].second.is_null());
  EXPECT_EQ(c[3].second.as_double(), 1.0);
  EXPECT_EQ(c[11].second.as_double(), 0.8);
  EXPECT_EQ(c[14].second.as_bool(), false);

  const auto w = opt::AdamW();
  EXPECT_EQ(w->class_name(), "AdamW");
  EXPECT_EQ(w->config()[2].second.as_double(), 0.004);

  const auto s = opt::SGD(opt::schedules::CosineDecay(0.1, 10));
  const auto config = s->config();  // (a reference into config()'s temporary would dangle)
  // The schedule serialized as Keras's get_config() writes it.
  EXPECT_EQ(config[1].second.at("class_name").as_string(), "CosineDecay");
}

TEST(OptimizerRef, FromKerasNamesAndHandles) {
  for (const std::string name : {"adam", "sgd", "rmsprop", "adagrad", "adamax", "nadam", "adamw"}) {
    const opt::OptimizerRef r(name);
    ASSERT_NE(r.get(), nullptr);
    std::string lower = r->class_name();
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_EQ(lower, name);
  }
  EXPECT_EQ(opt::OptimizerRef("Adam")->class_name(), "Adam");
  EXPECT_NEAR(opt::OptimizerRef("sgd")->learning_rate(), 0.01, 1e-9);  // Keras defaults

  const auto handle = opt::Adam(1e-3);
  const opt::OptimizerRef r = handle;
  EXPECT_EQ(r.get().get(), handle.ptr().get());  // the same optimizer the caller holds
}

TEST(OptimizerRef, UnknownNameListsValidNames) {
  NEURONA_EXPECT_THROW_MSG(opt::OptimizerRef("adamm"), nr::ValueError, "adamm", "adagrad", "adam",
                           "adamax", "adamw", "nadam", "rmsprop", "sgd");
}

TEST(Optimizer, EveryOptimizerMinimisesAQuadratic) {
  // f(w) = sum((w - target)^2), gradient 2 (w - target).
  const std::vector<double> target = {1.0, -2.0, 0.5, 3.0};
  const std::vector<std::pair<std::string, std::shared_ptr<opt::Optimizer>>> optimizers = {
      {"sgd", opt::SGD(0.1).ptr()},
      {"sgd nesterov", opt::SGD(0.05, {.momentum = 0.9, .nesterov = true}).ptr()},
      {"adam", opt::Adam(0.1).ptr()},
      {"adamw", opt::AdamW(0.1, {.weight_decay = 1e-4}).ptr()},
      {"rmsprop", opt::RMSprop(0.05).ptr()},
      {"adagrad", opt::Adagrad(0.5).ptr()},
      {"adamax", opt::Adamax(0.1).ptr()},
      {"nadam", opt::Nadam(0.1).ptr()},
  };
  for (const auto& [name, o] : optimizers) {
    SCOPED_TRACE(name);
    nr::Variable w(nr::testing::make_tensor({0, 0, 0, 0}, {4}), {.name = "w"});
    const nr::Tensor t = nr::testing::make_tensor(target, {4});
    const auto loss = [&] {
      double l = 0;
      const auto v = w.value().to_vector<double>();
      for (std::size_t i = 0; i < v.size(); ++i) l += (v[i] - target[i]) * (v[i] - target[i]);
      return l;
    };
    const double initial = loss();
    for (int step = 0; step < 300; ++step) {
      const nr::Tensor grad = nr::multiply(nr::constant(2.0f), nr::subtract(w.value(), t));
      o->apply_gradients({grad}, {w});
    }
    EXPECT_LT(loss(), 1e-3 * initial) << "loss " << loss() << " from " << initial;
  }
}
