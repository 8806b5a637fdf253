// Learning-rate schedules against Keras 3 (tests/reference/training/optimizer_schedules.txt,
// written by tests/reference/make_keras_optimizer_references.py), their argument checks and
// configs.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "neurona/core/error.h"
#include "neurona/training/schedules.h"
#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace sch = neurona::optimizers::schedules;

namespace {

// Lines `name : v0 v1 ...` (schedule(step) for step 0, 1, ...); `#` lines are comments.
std::map<std::string, std::vector<double>> load_schedules() {
  const auto path = neurona::testing::reference_dir() / "training" / "optimizer_schedules.txt";
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::map<std::string, std::vector<double>> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t colon = line.find(" : ");
    if (colon == std::string::npos) throw std::runtime_error("bad line in " + path.string());
    std::istringstream body(line.substr(colon + 3));
    std::vector<double> values;
    for (double v; body >> v;) values.push_back(v);
    out[line.substr(0, colon)] = values;
  }
  return out;
}

::testing::AssertionResult matches_keras(const sch::LearningRateSchedule& s,
                                         const std::string& key) {
  static const auto ref = load_schedules();
  const auto it = ref.find(key);
  if (it == ref.end()) return ::testing::AssertionFailure() << "reference lacks " << key;
  std::vector<double> ours;
  for (std::size_t step = 0; step < it->second.size(); ++step) {
    ours.push_back(s(static_cast<std::int64_t>(step)));
  }
  // Both sides compute in float32; pow and cos may differ by an ulp between libm and XLA.
  auto r = nr::testing::all_close(ours, it->second, 1e-9, 1e-6);
  if (!r) return ::testing::AssertionFailure() << key << ": " << r.message();
  return ::testing::AssertionSuccess();
}

nr::ConfigValue value_of(const nr::optimizers::Config& c, const std::string& key) {
  for (const auto& [k, v] : c) {
    if (k == key) return v;
  }
  throw std::runtime_error("config lacks " + key);
}

std::vector<std::int64_t> ints_of(const nr::ConfigValue& v) {
  std::vector<std::int64_t> out;
  for (const nr::ConfigValue& x : v.as_list()) out.push_back(x.as_int());
  return out;
}

}  // namespace

TEST(ScheduleExponentialDecay, MatchesKerasSmoothAndStaircase) {
  EXPECT_TRUE(matches_keras(sch::ExponentialDecay(0.1, 10, 0.5), "exponential"));
  EXPECT_TRUE(matches_keras(sch::ExponentialDecay(0.1, 10, 0.5, {.staircase = true}),
                            "exponential_staircase"));
}

TEST(SchedulePiecewiseConstantDecay, MatchesKerasIncludingBoundarySteps) {
  EXPECT_TRUE(matches_keras(sch::PiecewiseConstantDecay({3, 7}, {1.0, 0.5, 0.1}), "piecewise"));
}

TEST(ScheduleCosineDecay, MatchesKerasWithAlphaAndAfterDecaySteps) {
  EXPECT_TRUE(matches_keras(sch::CosineDecay(0.1, 10), "cosine"));
  EXPECT_TRUE(matches_keras(sch::CosineDecay(0.1, 10, {.alpha = 0.2}), "cosine_alpha"));
}

TEST(ScheduleCosineDecay, MatchesKerasWarmupThenDecayFromTarget) {
  EXPECT_TRUE(matches_keras(sch::CosineDecay(0.0, 10, {.warmup_target = 0.1, .warmup_steps = 5}),
                            "cosine_warmup"));
  EXPECT_TRUE(matches_keras(
      sch::CosineDecay(0.01, 6, {.alpha = 0.1, .warmup_target = 0.05, .warmup_steps = 3}),
      "cosine_warmup_alpha"));
}

TEST(ScheduleInverseTimeDecay, MatchesKerasSmoothAndStaircase) {
  EXPECT_TRUE(matches_keras(sch::InverseTimeDecay(0.1, 4, 0.5), "inverse_time"));
  EXPECT_TRUE(matches_keras(sch::InverseTimeDecay(0.1, 4, 0.5, {.staircase = true}),
                            "inverse_time_staircase"));
}

TEST(ScheduleErrors, NamesTheScheduleAndTheArgument) {
  NEURONA_EXPECT_THROW_MSG(sch::CosineDecay(0.1, 0), nr::ValueError, "CosineDecay", "decay_steps",
                           "0");
  NEURONA_EXPECT_THROW_MSG(sch::ExponentialDecay(0.1, -2, 0.5), nr::ValueError, "ExponentialDecay",
                           "decay_steps", "-2");
  NEURONA_EXPECT_THROW_MSG(sch::InverseTimeDecay(0.1, 0, 0.5), nr::ValueError, "InverseTimeDecay",
                           "decay_steps");
  NEURONA_EXPECT_THROW_MSG(sch::PiecewiseConstantDecay({1, 2}, {1.0, 0.5}), nr::ValueError,
                           "PiecewiseConstantDecay", "2 boundaries and 2 values");
}

TEST(ScheduleConfig, KerasKeysInKerasOrder) {
  const auto c = sch::CosineDecay(0.0, 10, {.warmup_target = 0.1, .warmup_steps = 5}).config();
  std::vector<std::string> keys;
  for (const auto& kv : c) keys.push_back(kv.first);
  EXPECT_EQ(keys, (std::vector<std::string>{"initial_learning_rate", "decay_steps", "alpha", "name",
                                            "warmup_target", "warmup_steps"}));
  EXPECT_EQ(value_of(c, "decay_steps").as_int(), 10);
  EXPECT_EQ(value_of(c, "warmup_target").as_double(), 0.1);
  EXPECT_EQ(value_of(c, "name").as_string(), "CosineDecay");
  const auto no_warmup = sch::CosineDecay(0.1, 10).config();
  EXPECT_TRUE(no_warmup[4].second.is_null());

  const sch::ExponentialDecay e(0.1, 100, 0.9, {.staircase = true});
  EXPECT_EQ(e.class_name(), "ExponentialDecay");
  EXPECT_TRUE(value_of(e.config(), "staircase").as_bool());
  const sch::PiecewiseConstantDecay p({3, 7}, {1.0, 0.5, 0.1});
  EXPECT_EQ(ints_of(value_of(p.config(), "boundaries")), (std::vector<std::int64_t>{3, 7}));
  EXPECT_EQ(value_of(p.config(), "name").as_string(), "PiecewiseConstant");
}

namespace {
// A schedule of the user's own: halves every step.
class Halving : public sch::LearningRateSchedule {
 public:
  double operator()(std::int64_t step) const override { return 1.0 / double(1 << step); }
  std::string class_name() const override { return "Halving"; }
  nr::optimizers::Config config() const override { return {}; }
};
}  // namespace

TEST(ScheduleCustom, IsACallableOfTheStep) {
  const Halving h;
  const sch::LearningRateSchedule& s = h;
  EXPECT_EQ(s(0), 1.0);
  EXPECT_EQ(s(3), 0.125);
}
