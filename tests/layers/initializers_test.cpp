// Initializers against Keras 3's definitions: moments and bounds on 100k samples, fans,
// orthogonality, seeding and name lookup.
#include <neurona/neurona.h>

#include <algorithm>
#include <cmath>

#include "neurona/layers/config_reader.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace init = nr::initializers;

namespace {

struct Moments {
  double mean = 0, variance = 0, min = 0, max = 0;
};

Moments moments(const nr::Tensor& t) {
  const std::vector<double> v = t.to_vector<double>();
  Moments m;
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(v.size());
  for (double x : v) m.variance += (x - m.mean) * (x - m.mean);
  m.variance /= static_cast<double>(v.size());
  m.min = *std::min_element(v.begin(), v.end());
  m.max = *std::max_element(v.begin(), v.end());
  return m;
}

// 100k samples: the standard error of the mean is sigma / 316, of the variance about
// variance * 0.45% (normal) — 4% and 6 standard errors leave no flaky runs.
void expect_distribution(const init::Initializer& init, const nr::Shape& shape, double variance,
                         double bound, bool bounded = true) {
  const nr::Tensor t = init(shape, {.device = nr::Device::cpu()});
  ASSERT_EQ(t.shape(), shape);
  const Moments m = moments(t);
  const double sigma = std::sqrt(variance);
  EXPECT_NEAR(m.mean, 0.0, 6 * sigma / std::sqrt(static_cast<double>(shape.numel())))
      << init.name();
  EXPECT_NEAR(m.variance, variance, 0.04 * variance) << init.name();
  // The samples are float32: a bound given in double is the float nearest to it (rounding is
  // monotone, so x <= bound gives float(x) <= float(bound), and float(-0.05) < -0.05).
  const double float_bound = static_cast<float>(bound);
  EXPECT_GE(m.min, -float_bound) << init.name();
  EXPECT_LE(m.max, float_bound) << init.name();
  // The bound is reached, not just respected: the samples spread to its last 5%.
  if (bounded) {
    EXPECT_GT(m.max, 0.95 * bound) << init.name();
  }
}

constexpr double kTruncation = .87962566103423978;

}  // namespace

TEST(Initializers, ComputeFansAsKeras) {
  EXPECT_EQ(init::compute_fans({}).fan_in, 1);
  EXPECT_EQ(init::compute_fans({7}).fan_in, 7);
  EXPECT_EQ(init::compute_fans({7}).fan_out, 7);
  EXPECT_EQ(init::compute_fans({3, 5}).fan_in, 3);
  EXPECT_EQ(init::compute_fans({3, 5}).fan_out, 5);
  // Conv2D kernel (kh, kw, in, out): the receptive field times in and out.
  EXPECT_EQ(init::compute_fans({3, 3, 16, 32}).fan_in, 3 * 3 * 16);
  EXPECT_EQ(init::compute_fans({3, 3, 16, 32}).fan_out, 3 * 3 * 32);
}

TEST(Initializers, GlorotUniformHasLimitSqrt6OverFanSum) {
  const double limit = std::sqrt(6.0 / (200 + 500));
  expect_distribution(init::GlorotUniform(1), {200, 500}, limit * limit / 3, limit);
  expect_distribution("glorot_uniform", {200, 500}, limit * limit / 3, limit);
}

TEST(Initializers, VarianceScalingFamilyMatchesKerasDefinitions) {
  const nr::Shape shape{250, 400};
  const double fan_in = 250, fan_avg = (250 + 400) / 2.0;
  struct Case {
    init::Initializer init;
    double scale;
    bool uniform;
  };
  const Case cases[] = {
      {init::GlorotNormal(2), 1.0 / fan_avg, false}, {init::HeUniform(3), 2.0 / fan_in, true},
      {init::HeNormal(4), 2.0 / fan_in, false},      {init::LecunUniform(5), 1.0 / fan_in, true},
      {init::LecunNormal(6), 1.0 / fan_in, false},
  };
  for (const Case& c : cases) {
    // A uniform in +-sqrt(3 s) and a normal truncated at 2 sigma with sigma = sqrt(s) / .8796
    // both have variance s.
    const double bound = c.uniform ? std::sqrt(3 * c.scale) : 2 * std::sqrt(c.scale) / kTruncation;
    expect_distribution(c.init, shape, c.scale, bound);
  }
}

TEST(Initializers, VarianceScalingModesAndDistributions) {
  const nr::Shape shape{100, 1000};
  expect_distribution(
      init::VarianceScaling({.scale = 3, .mode = "fan_out", .distribution = "uniform", .seed = 1}),
      shape, 3.0 / 1000, std::sqrt(9.0 / 1000));
  // untruncated_normal: no bound short of many sigmas.
  const nr::Tensor t = init::VarianceScaling(
      {.scale = 2, .mode = "fan_avg", .distribution = "untruncated_normal", .seed = 2})(
      shape, {.device = nr::Device::cpu()});
  const Moments m = moments(t);
  EXPECT_NEAR(m.variance, 2.0 / 550, 0.04 * 2.0 / 550);
  EXPECT_GT(m.max, 3.5 * std::sqrt(2.0 / 550));  // beyond where a truncated one stops
  NEURONA_EXPECT_THROW_MSG(init::VarianceScaling({.mode = "fan_sum"}), nr::ValueError, "fan_sum",
                           "fan_avg");
  NEURONA_EXPECT_THROW_MSG(init::VarianceScaling({.distribution = "cauchy"}), nr::ValueError,
                           "cauchy", "untruncated_normal");
  NEURONA_EXPECT_THROW_MSG(init::VarianceScaling({.scale = 0}), nr::ValueError, "scale");
}

TEST(Initializers, RandomUniformNormalAndTruncatedNormalDefaults) {
  const nr::Shape shape{100000};
  expect_distribution(init::RandomUniform(), shape, 0.1 * 0.1 / 12, 0.05);
  // Unbounded: 100k normal samples stay within 6 sigma.
  expect_distribution("random_normal", shape, 0.05 * 0.05, 6 * 0.05, /*bounded=*/false);
  // Truncated at two standard deviations: the variance is stddev^2 * .87962566^2.
  expect_distribution(init::TruncatedNormal(), shape, 0.05 * 0.05 * kTruncation * kTruncation, 0.1);
  const Moments m = moments(init::RandomUniform({.minval = 2, .maxval = 3})({1000}));
  EXPECT_GE(m.min, 2.0);
  EXPECT_LT(m.max, 3.0);
  EXPECT_NEAR(moments(init::RandomNormal({.mean = 5, .stddev = 0.1})({100000})).mean, 5.0, 0.01);
}

TEST(Initializers, ConstantsAndIdentity) {
  EXPECT_TRUE(nr::testing::all_close(init::Zeros()({2, 2}), {0, 0, 0, 0}));
  EXPECT_TRUE(nr::testing::all_close(init::get("ones")({3}), {1, 1, 1}));
  EXPECT_TRUE(nr::testing::all_close(init::Constant(2.5)({2}), {2.5, 2.5}));
  EXPECT_TRUE(nr::testing::all_close(init::Identity(2)({2, 3}), {2, 0, 0, 0, 2, 0}));
  EXPECT_EQ(init::Ones()({2}, {.dtype = nr::float64}).dtype(), nr::float64);
  NEURONA_EXPECT_THROW_MSG(init::Identity()({2, 2, 2}), nr::ValueError, "2D", "(2, 2, 2)");
}

TEST(Initializers, OrthogonalGivesOrthonormalRowsOrColumns) {
  for (const nr::Shape& shape : {nr::Shape{6, 4}, nr::Shape{4, 6}, nr::Shape{2, 3, 5}}) {
    const nr::Tensor q = init::Orthogonal({.gain = 2.0, .seed = 3})(shape, {.dtype = nr::float64});
    const std::int64_t cols = shape[-1], rows = shape.numel() / cols;
    const nr::Tensor m = q.reshape({rows, cols});
    // Q^T Q = gain^2 I when tall, Q Q^T = gain^2 I when wide.
    const nr::Tensor gram = rows >= cols ? nr::matmul(m, m, {.transpose_a = true})
                                         : nr::matmul(m, m, {.transpose_b = true});
    const std::int64_t k = std::min(rows, cols);
    std::vector<double> expected(static_cast<std::size_t>(k * k), 0.0);
    for (std::int64_t i = 0; i < k; ++i) expected[static_cast<std::size_t>(i * k + i)] = 4.0;
    EXPECT_TRUE(nr::testing::all_close(gram, expected, 1e-10)) << shape;
  }
  NEURONA_EXPECT_THROW_MSG(init::Orthogonal()({5}), nr::ValueError, "two-dimensional", "(5,)");
}

TEST(Initializers, SeedsMakeValuesReproducible) {
  // An explicit seed: the same values on every call, as a Keras initializer with a seed.
  const init::HeNormal seeded(42);
  EXPECT_EQ(seeded({50}).to_vector<float>(), seeded({50}).to_vector<float>());
  EXPECT_EQ(seeded({50}).to_vector<float>(), init::HeNormal(42)({50}).to_vector<float>());
  EXPECT_NE(seeded({50}).to_vector<float>(), init::HeNormal(43)({50}).to_vector<float>());
  // No seed: the global sequence, which set_seed restarts.
  const init::GlorotUniform unseeded;
  nr::set_seed(7);
  const auto a = unseeded({50}).to_vector<float>();
  const auto b = unseeded({50}).to_vector<float>();
  EXPECT_NE(a, b);
  nr::set_seed(7);
  EXPECT_EQ(unseeded({50}).to_vector<float>(), a);
}

TEST(Initializers, UnknownNameListsValidNames) {
  NEURONA_EXPECT_THROW_MSG(init::get("glorot_uniformm"), nr::ValueError,
                           "Could not interpret initializer identifier: 'glorot_uniformm'",
                           "glorot_uniform", "he_normal", "orthogonal", "zeros");
  NEURONA_EXPECT_THROW_MSG(init::Initializer("nope"), nr::ValueError, "'nope'");
  // Keras's class names and aliases are accepted too.
  EXPECT_EQ(init::get("GlorotUniform").name(), "GlorotUniform");
  EXPECT_EQ(init::get("uniform").name(), "RandomUniform");
  EXPECT_EQ(init::get("zero").name(), "Zeros");
}

TEST(Initializers, CustomFunction) {
  const init::Initializer twos(
      [](const nr::Shape& s, const nr::TensorOptions& o) { return nr::fill(s, 2.0, o); }, "twos");
  EXPECT_EQ(twos.name(), "twos");
  EXPECT_TRUE(nr::testing::all_close(twos({2}), {2, 2}));
}

TEST(Initializers, FromConfigReadsEachClassBesideItsConfig) {
  const nr::ConfigValue config = nr::ConfigValue::Dict{
      {"scale", 2.0}, {"mode", std::string("fan_out")}, {"seed", std::int64_t{3}}};
  const nr::layers::LayerConfigReader reader(config, "Dense kernel_initializer");
  const init::Initializer v = init::from_config("VarianceScaling", reader);
  EXPECT_EQ(v.name(), "VarianceScaling");
  EXPECT_EQ(v.config().find("mode")->as_string(), "fan_out");
  EXPECT_EQ(init::VarianceScaling::from_config(reader).config().find("scale")->as_double(), 2.0);
  // Aliases and the classes without arguments.
  EXPECT_EQ(init::from_config("OrthogonalInitializer", reader).name(), "Orthogonal");
  EXPECT_EQ(init::from_config("zeros", reader).name(), "Zeros");
  NEURONA_EXPECT_THROW_MSG(init::from_config("Nope", reader), nr::ValueError, "'Nope'",
                           "Valid names");
}
