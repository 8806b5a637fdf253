// Making tensors: constants from nested lists, fills, ranges against float64 references, and
// the random distributions' ranges, moments and reproducibility under seeds.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

const nr::DType kAllDtypes[] = {nr::float32, nr::float64, nr::int32, nr::int64, nr::uint8};

struct Moments {
  double mean = 0, stddev = 0, lo = 0, hi = 0;
};

// Sample mean, standard deviation and range, in float64.
Moments moments(const nr::Tensor& t) {
  const std::vector<double> v = t.to_vector<double>();
  Moments m{0, 0, v.at(0), v.at(0)};
  for (double x : v) {
    m.mean += x;
    m.lo = std::min(m.lo, x);
    m.hi = std::max(m.hi, x);
  }
  m.mean /= static_cast<double>(v.size());
  for (double x : v) m.stddev += (x - m.mean) * (x - m.mean);
  m.stddev = std::sqrt(m.stddev / static_cast<double>(v.size()));
  return m;
}

}  // namespace

// ---- constant ----------------------------------------------------------------------------

TEST(Creation, ConstantTakesItsShapeFromNestedLists) {
  const nr::Tensor v = nr::constant({1, 2, 3});
  EXPECT_EQ(v.shape(), nr::Shape({3}));
  EXPECT_EQ(v.dtype(), nr::float32);
  EXPECT_TRUE(all_close(v, {1, 2, 3}, 0, 0));

  const nr::Tensor m = nr::constant({{1, 2, 3}, {4, 5, 6}});
  EXPECT_EQ(m.shape(), nr::Shape({2, 3}));
  EXPECT_TRUE(all_close(m, {1, 2, 3, 4, 5, 6}, 0, 0));

  const nr::Tensor c = nr::constant({{{1, 2}, {3, 4}}, {{5, 6}, {7, 8}}, {{9, 10}, {11, 12}}});
  EXPECT_EQ(c.shape(), nr::Shape({3, 2, 2}));
  EXPECT_TRUE(all_close(c, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, 0, 0));

  const nr::Tensor row = nr::constant({{0.5, 0.25}});
  EXPECT_EQ(row.shape(), nr::Shape({1, 2}));

  const nr::Tensor s = nr::constant(3.5);
  EXPECT_EQ(s.shape(), nr::Shape({}));
  EXPECT_EQ(s.item(), 3.5f);

  EXPECT_EQ(nr::constant(std::initializer_list<double>{}).shape(), nr::Shape({0}));
}

TEST(Creation, ConstantWithShapeReshapesOrFills) {
  const nr::Tensor m = nr::constant({1, 2, 3, 4, 5, 6}, {3, 2});
  EXPECT_EQ(m.shape(), nr::Shape({3, 2}));
  EXPECT_TRUE(all_close(m, {1, 2, 3, 4, 5, 6}, 0, 0));
  const nr::Tensor nested = nr::constant({{1, 2, 3}, {4, 5, 6}}, {6});
  EXPECT_EQ(nested.shape(), nr::Shape({6}));
  const nr::Tensor filled = nr::constant({7}, {2, 3});
  EXPECT_EQ(filled.shape(), nr::Shape({2, 3}));
  EXPECT_TRUE(all_close(filled, std::vector<double>(6, 7.0), 0, 0));
  EXPECT_EQ(nr::constant({7}, {0, 3}).shape(), nr::Shape({0, 3}));
}

TEST(Creation, ConstantConvertsToTheRequestedDtype) {
  const nr::Tensor i = nr::constant({1.5, -2.7, 300}, {.dtype = nr::int32});
  EXPECT_EQ(i.dtype(), nr::int32);
  EXPECT_EQ(i.to_vector<std::int32_t>(), (std::vector<std::int32_t>{1, -2, 300}));
  const nr::Tensor u = nr::constant({1.5, -2.7, 300}, {3}, {.dtype = nr::uint8});
  EXPECT_EQ(u.to_vector<std::int32_t>(), (std::vector<std::int32_t>{1, 0, 255}));
  const nr::Tensor d = nr::constant({{0.1, 0.2}}, {.dtype = nr::float64});
  EXPECT_EQ(d.to_vector<double>(), (std::vector<double>{0.1, 0.2}));
  const nr::Tensor dev = nr::constant({1, 2}, {.device = nr::Device::cpu()});
  EXPECT_EQ(dev.device(), nr::Device::cpu());
}

TEST(Creation, ConstantFromVectorTakesItsElementType) {
  const nr::Tensor i = nr::constant(std::vector<std::int32_t>{1, 2, 3, 4}, {2, 2});
  EXPECT_EQ(i.dtype(), nr::int32);
  EXPECT_EQ(i.shape(), nr::Shape({2, 2}));
  EXPECT_EQ(nr::constant(std::vector<double>{1, 2}, {2}).dtype(), nr::float64);
  EXPECT_EQ(nr::constant(std::vector<float>{1, 2}, {1, 2}).dtype(), nr::float32);
  EXPECT_EQ(nr::constant(std::vector<std::int64_t>{}, {0, 5}).shape(), nr::Shape({0, 5}));
  const nr::Tensor u = nr::constant(std::vector<std::uint8_t>{255, 0}, {2});
  EXPECT_EQ(u.dtype(), nr::uint8);
  EXPECT_EQ(u.to_vector<std::int32_t>(), (std::vector<std::int32_t>{255, 0}));
}

TEST(Creation, ConstantRejectsCountsThatDoNotFillTheShape) {
  NEURONA_EXPECT_THROW_MSG(nr::constant({1, 2, 3}, {2, 2}), nr::ShapeError, "constant", "3",
                           "(2, 2)");
  NEURONA_EXPECT_THROW_MSG(nr::constant(std::vector<float>{1, 2, 3}, {4}), nr::ShapeError,
                           "constant", "3", "(4,)");
  NEURONA_EXPECT_THROW_MSG(nr::constant({1, 2}, {-1, -2}), nr::ShapeError, "constant", "(-1, -2)");
  NEURONA_EXPECT_THROW_MSG(nr::constant(std::vector<float>{}, {-1}), nr::ShapeError, "constant",
                           "(-1,)");
}

TEST(Creation, ConstantRejectsRaggedLists) {
  NEURONA_EXPECT_THROW_MSG(nr::constant({{1, 2}, {3}}), nr::ValueError, "constant", "rectangular");
  NEURONA_EXPECT_THROW_MSG(nr::constant({{{1, 2}, {3, 4}}, {{5, 6}}}), nr::ValueError, "constant",
                           "rectangular");
}

// ---- fill, zeros, ones -------------------------------------------------------------------

TEST(Creation, ZerosOnesAndFillGiveEveryDtypeAndShape) {
  const std::vector<nr::Shape> shapes = {{}, {1}, {7}, {33}, {3, 13}, {2, 0, 5}};
  for (nr::DType t : kAllDtypes) {
    for (const nr::Shape& s : shapes) {
      SCOPED_TRACE(s.str() + " " + std::string(nr::name(t)));
      const auto n = static_cast<std::size_t>(s.numel());
      const nr::Tensor z = nr::zeros(s, {.dtype = t});
      EXPECT_EQ(z.shape(), s);
      EXPECT_EQ(z.dtype(), t);
      EXPECT_TRUE(all_close(z, std::vector<double>(n, 0.0), 0, 0));
      EXPECT_TRUE(all_close(nr::ones(s, {.dtype = t}), std::vector<double>(n, 1.0), 0, 0));
      const double v = nr::is_floating(t) ? 2.5 : 7.0;
      EXPECT_TRUE(all_close(nr::fill(s, v, {.dtype = t}), std::vector<double>(n, v), 0, 0));
    }
  }
}

TEST(Creation, FillConvertsWithTruncationAndSaturation) {
  EXPECT_TRUE(all_close(nr::fill({3}, -2.7, {.dtype = nr::int32}), {-2, -2, -2}, 0, 0));
  EXPECT_TRUE(all_close(nr::fill({2}, 300, {.dtype = nr::uint8}), {255, 255}, 0, 0));
  EXPECT_TRUE(all_close(nr::fill({2}, -5, {.dtype = nr::uint8}), {0, 0}, 0, 0));
  EXPECT_EQ(nr::fill({1}, 1e20, {.dtype = nr::int32}).item<std::int32_t>(),
            std::numeric_limits<std::int32_t>::max());
  EXPECT_EQ(nr::fill({1}, kNaN, {.dtype = nr::int64}).item<std::int64_t>(), 0);
  EXPECT_TRUE(std::isnan(nr::fill({1}, kNaN).item()));
}

TEST(Creation, LikeVariantsKeepShapeAndDtype) {
  const nr::Tensor x = nr::zeros({3, 7}, {.dtype = nr::int64});
  for (const nr::Tensor& t : {nr::zeros_like(x), nr::ones_like(x), nr::fill_like(x, 4)}) {
    EXPECT_EQ(t.shape(), x.shape());
    EXPECT_EQ(t.dtype(), nr::int64);
    EXPECT_FALSE(t.is_same(x));
  }
  EXPECT_TRUE(all_close(nr::fill_like(x, 4), std::vector<double>(21, 4.0), 0, 0));
  EXPECT_TRUE(all_close(nr::ones_like(x), std::vector<double>(21, 1.0), 0, 0));
  NEURONA_EXPECT_THROW_MSG(nr::zeros_like(nr::Tensor()), nr::ValueError, "undefined");
}

TEST(Creation, NegativeOrOverflowingSizesThrowShapeErrorNamingOpAndShape) {
  NEURONA_EXPECT_THROW_MSG(nr::zeros({-1}), nr::ShapeError, "zeros", "(-1,)");
  NEURONA_EXPECT_THROW_MSG(nr::ones({2, -3}), nr::ShapeError, "ones", "(2, -3)");
  NEURONA_EXPECT_THROW_MSG(nr::fill({-1, 0}, 1.0), nr::ShapeError, "fill", "(-1, 0)");
  NEURONA_EXPECT_THROW_MSG(nr::zeros({1LL << 40, 1LL << 40}), nr::ShapeError, "zeros",
                           "(1099511627776, 1099511627776)", "overflows");
  NEURONA_EXPECT_THROW_MSG(nr::ones({1LL << 40, 1LL << 40, 0, -1}), nr::ShapeError, "ones",
                           "negative");
  NEURONA_EXPECT_THROW_MSG(nr::random_uniform({-1}), nr::ShapeError, "random_uniform", "(-1,)");
  NEURONA_EXPECT_THROW_MSG(nr::random_normal({3, -1}), nr::ShapeError, "random_normal", "(3, -1)");
  NEURONA_EXPECT_THROW_MSG(nr::truncated_normal({1LL << 40, 1LL << 40}), nr::ShapeError,
                           "truncated_normal", "overflows");
}

TEST(Creation, HugeButValidShapeWithAZeroDimensionIsEmpty) {
  const nr::Tensor t = nr::zeros({1LL << 40, 1LL << 40, 0});
  EXPECT_EQ(t.numel(), 0);
  EXPECT_EQ(t.shape(), nr::Shape({1LL << 40, 1LL << 40, 0}));
}

// ---- arange ------------------------------------------------------------------------------

namespace {

std::vector<double> arange_ref(double start, double stop, double step) {
  std::vector<double> out;
  const double count = std::ceil((stop - start) / step);
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(count); ++i) {
    out.push_back(start + static_cast<double>(i) * step);
  }
  return out;
}

}  // namespace

TEST(Creation, ArangeMatchesReference) {
  const double cases[][3] = {{0, 5, 1},   {0, 33, 1},     {1, 2, 0.25}, {5, 0, -1.5},
                             {0, -7, -1}, {-3, 3.5, 0.5}, {2, 2, 1},    {5, 0, 1},
                             {0, 5, -1},  {0, 1, 0.3},    {10, 0, -3}};
  for (nr::DType t : {nr::float32, nr::float64}) {
    for (const auto& c : cases) {
      SCOPED_TRACE(std::to_string(c[0]) + ", " + std::to_string(c[1]) + ", " +
                   std::to_string(c[2]) + " " + std::string(nr::name(t)));
      const std::vector<double> ref = arange_ref(c[0], c[1], c[2]);
      const nr::Tensor out = nr::arange(c[0], c[1], c[2], {.dtype = t});
      EXPECT_EQ(out.shape(), nr::Shape({static_cast<std::int64_t>(ref.size())}));
      EXPECT_EQ(out.dtype(), t);
      EXPECT_TRUE(all_close(out, ref, 1e-6, 1e-6));
    }
  }
}

TEST(Creation, ArangeOfKnownRanges) {
  EXPECT_TRUE(all_close(nr::arange(5), {0, 1, 2, 3, 4}, 0, 0));
  EXPECT_TRUE(all_close(nr::arange(5, 0, -1.5), {5, 3.5, 2, 0.5}, 0, 0));
  EXPECT_TRUE(all_close(nr::arange(1, 2, 0.25), {1, 1.25, 1.5, 1.75}, 0, 0));
  EXPECT_EQ(nr::arange(3, 3).numel(), 0);
  EXPECT_EQ(nr::arange(3, 0).numel(), 0);
}

TEST(Creation, ArangeWithIntegerDtype) {
  const nr::Tensor a = nr::arange(0, 10, 3, {.dtype = nr::int32});
  EXPECT_EQ(a.dtype(), nr::int32);
  EXPECT_EQ(a.to_vector<std::int32_t>(), (std::vector<std::int32_t>{0, 3, 6, 9}));
  const nr::Tensor b = nr::arange(10, 0, -3, {.dtype = nr::int64});
  EXPECT_EQ(b.to_vector<std::int64_t>(), (std::vector<std::int64_t>{10, 7, 4, 1}));
  const nr::Tensor c = nr::arange(33, {.dtype = nr::int64});
  EXPECT_EQ(c.numel(), 33);
  EXPECT_EQ(c.to_vector<std::int64_t>().back(), 32);
}

TEST(Creation, ArangeRejectsZeroOrNonFiniteStep) {
  NEURONA_EXPECT_THROW_MSG(nr::arange(0, 5, 0), nr::ValueError, "arange", "step");
  NEURONA_EXPECT_THROW_MSG(nr::arange(0, kNaN, 1), nr::ValueError, "arange");
  NEURONA_EXPECT_THROW_MSG(nr::arange(0, std::numeric_limits<double>::infinity()), nr::ValueError,
                           "arange");
  NEURONA_EXPECT_THROW_MSG(nr::arange(0, 1e300, 1e-300), nr::ValueError, "arange", "too many");
}

// ---- random ------------------------------------------------------------------------------

// The one large test: moments over ~100k samples (tolerances are several standard errors).
TEST(Creation, RandomDistributionsHaveExpectedRangeAndMoments) {
  const nr::Shape shape{317, 331};  // 104927 samples
  for (nr::DType t : {nr::float32, nr::float64}) {
    SCOPED_TRACE(std::string(nr::name(t)));
    const Moments u =
        moments(nr::random_uniform(shape, {.minval = -2, .maxval = 3, .dtype = t, .seed = 11}));
    EXPECT_GE(u.lo, -2.0);
    EXPECT_LT(u.hi, 3.0);
    EXPECT_LT(u.lo, -1.99);
    EXPECT_GT(u.hi, 2.99);
    EXPECT_NEAR(u.mean, 0.5, 0.03);
    EXPECT_NEAR(u.stddev, 5 / std::sqrt(12.0), 0.02);

    const Moments n =
        moments(nr::random_normal(shape, {.mean = 1.5, .stddev = 2, .dtype = t, .seed = 12}));
    EXPECT_NEAR(n.mean, 1.5, 0.04);
    EXPECT_NEAR(n.stddev, 2.0, 0.03);
    EXPECT_LT(n.lo, 1.5 - 3.5 * 2.0);  // the tails are there
    EXPECT_GT(n.hi, 1.5 + 3.5 * 2.0);

    // Truncated at two standard deviations: sd = sigma * sqrt(1 - 2 * 2 phi(2) / (2 Phi(2) - 1)).
    const Moments tn =
        moments(nr::truncated_normal(shape, {.mean = -1, .stddev = 0.5, .dtype = t, .seed = 13}));
    EXPECT_GE(tn.lo, -1 - 2 * 0.5);
    EXPECT_LE(tn.hi, -1 + 2 * 0.5);
    EXPECT_LT(tn.lo, -1 - 1.9 * 0.5);
    EXPECT_GT(tn.hi, -1 + 1.9 * 0.5);
    EXPECT_NEAR(tn.mean, -1, 0.01);
    EXPECT_NEAR(tn.stddev, 0.5 * 0.879626, 0.01);
  }
}

TEST(Creation, RandomUniformIntegersCoverTheHalfOpenRange) {
  for (nr::DType t : {nr::int32, nr::int64, nr::uint8}) {
    SCOPED_TRACE(std::string(nr::name(t)));
    const nr::Tensor x =
        nr::random_uniform({1000}, {.minval = 0, .maxval = 10, .dtype = t, .seed = 14});
    EXPECT_EQ(x.dtype(), t);
    std::vector<int> counts(10, 0);
    for (std::int64_t v : x.to_vector<std::int64_t>()) {
      ASSERT_GE(v, 0);
      ASSERT_LT(v, 10);
      ++counts[static_cast<std::size_t>(v)];
    }
    for (int c : counts) EXPECT_GT(c, 50);  // expected 100 each
  }
  const nr::Tensor neg = nr::random_uniform({200}, {.minval = -3, .maxval = 2, .dtype = nr::int32});
  for (std::int32_t v : neg.to_vector<std::int32_t>()) {
    EXPECT_GE(v, -3);
    EXPECT_LT(v, 2);
  }
}

TEST(Creation, TruncatedNormalNeverExceedsTwoStddevs) {
  for (std::uint64_t seed = 0; seed < 8; ++seed) {
    const nr::Tensor x = nr::truncated_normal({13, 33}, {.mean = 3, .stddev = 0.1, .seed = seed});
    for (double v : x.to_vector<double>()) {
      EXPECT_LE(std::abs(v - 3), 0.2 + 1e-6);
    }
  }
}

TEST(Creation, RandomShapesDtypesAndEmptyTensors) {
  EXPECT_EQ(nr::random_uniform({7, 13}).shape(), nr::Shape({7, 13}));
  EXPECT_EQ(nr::random_uniform({7, 13}).dtype(), nr::float32);
  EXPECT_EQ(nr::random_normal({33}, {.dtype = nr::float64}).dtype(), nr::float64);
  EXPECT_EQ(nr::random_uniform({0, 3}).numel(), 0);
  EXPECT_EQ(nr::truncated_normal({}).shape(), nr::Shape({}));
  const nr::Tensor u = nr::random_uniform({33});
  for (double v : u.to_vector<double>()) {
    EXPECT_GE(v, 0.0);
    EXPECT_LT(v, 1.0);
  }
}

TEST(Creation, SetSeedMakesLaterRandomCallsReproducible) {
  nr::set_seed(1234);
  const auto a = nr::random_uniform({7, 13}).to_vector<double>();
  const auto b = nr::random_normal({33}).to_vector<double>();
  const auto c = nr::truncated_normal({5}, {.dtype = nr::float64}).to_vector<double>();
  const auto d = nr::random_uniform({4}, {.maxval = 100, .dtype = nr::int32}).to_vector<double>();
  nr::set_seed(1234);
  EXPECT_EQ(nr::random_uniform({7, 13}).to_vector<double>(), a);
  EXPECT_EQ(nr::random_normal({33}).to_vector<double>(), b);
  EXPECT_EQ(nr::truncated_normal({5}, {.dtype = nr::float64}).to_vector<double>(), c);
  EXPECT_EQ(nr::random_uniform({4}, {.maxval = 100, .dtype = nr::int32}).to_vector<double>(), d);
  nr::set_seed(1235);
  EXPECT_NE(nr::random_uniform({7, 13}).to_vector<double>(), a);
}

TEST(Creation, SuccessiveRandomCallsGiveDifferentValues) {
  nr::set_seed(99);
  const auto a = nr::random_uniform({33}).to_vector<double>();
  const auto b = nr::random_uniform({33}).to_vector<double>();
  EXPECT_NE(a, b);
  const auto n1 = nr::random_normal({33}).to_vector<double>();
  const auto n2 = nr::random_normal({33}).to_vector<double>();
  EXPECT_NE(n1, n2);
  // Elements within one call differ too.
  EXPECT_NE(a[0], a[1]);
}

TEST(Creation, TakeRandomKeyCopiesTheGeneratorsStateAndAdvancesIt) {
  // A key taken from a generator is its state as it stood, and the generator moves on as one
  // draw moves it: its next draw is the second draw of a twin.
  nr::SeedGenerator generator(5), twin(5);
  const nr::Tensor key = nr::kernels::take_random_key(generator, nr::Device::cpu());
  EXPECT_EQ(key.dtype(), nr::int64);
  EXPECT_EQ(key.shape(), nr::Shape({2}));
  const std::vector<std::int64_t> first = twin.state(nr::Device::cpu()).to_vector<std::int64_t>();
  EXPECT_EQ(key.to_vector<std::int64_t>(), first);
  (void)nr::random_uniform({3}, {.seed_generator = &twin});
  EXPECT_EQ(nr::random_uniform({5}, {.seed_generator = &generator}).to_vector<double>(),
            nr::random_uniform({5}, {.seed_generator = &twin}).to_vector<double>());
  // A copy: the key keeps its value while the generator advances.
  const nr::Tensor next = nr::kernels::take_random_key(generator, nr::Device::cpu());
  EXPECT_EQ(key.to_vector<std::int64_t>(), first);
  EXPECT_EQ(next.to_vector<std::int64_t>()[0], first[0]);
  EXPECT_EQ(next.to_vector<std::int64_t>()[1], first[1] + 2);
}

TEST(Creation, ExplicitSeedGivesTheSameValuesRegardlessOfGlobalState) {
  nr::set_seed(1);
  const auto a = nr::random_uniform({7, 13}, {.seed = 42}).to_vector<double>();
  const auto n = nr::random_normal({13}, {.seed = 42}).to_vector<double>();
  (void)nr::random_uniform({5});  // advances the global call counter
  nr::set_seed(2);
  EXPECT_EQ(nr::random_uniform({7, 13}, {.seed = 42}).to_vector<double>(), a);
  EXPECT_EQ(nr::random_normal({13}, {.seed = 42}).to_vector<double>(), n);
  EXPECT_NE(nr::random_uniform({7, 13}, {.seed = 43}).to_vector<double>(), a);
  // An explicit seed is not one of the global stream's calls.
  nr::set_seed(42);
  EXPECT_NE(nr::random_uniform({7, 13}).to_vector<double>(), a);
}

TEST(Creation, RandomRejectsBadParametersNamingOp) {
  NEURONA_EXPECT_THROW_MSG(nr::random_uniform({3}, {.minval = 1, .maxval = 1}), nr::ValueError,
                           "random_uniform", "minval", "maxval");
  NEURONA_EXPECT_THROW_MSG(nr::random_uniform({3}, {.minval = 0, .maxval = kNaN}), nr::ValueError,
                           "random_uniform");
  NEURONA_EXPECT_THROW_MSG(nr::random_normal({3}, {.dtype = nr::int32}), nr::ValueError,
                           "random_normal", "int32");
  NEURONA_EXPECT_THROW_MSG(nr::truncated_normal({3}, {.stddev = -1}), nr::ValueError,
                           "truncated_normal", "stddev");
  // Integer draws from a range the dtype holds (uint8 in [0, 1000) saturated at 255).
  NEURONA_EXPECT_THROW_MSG(
      nr::random_uniform({4}, {.minval = 0, .maxval = 1000, .dtype = nr::uint8}), nr::ValueError,
      "random_uniform", "1000", "uint8");
  NEURONA_EXPECT_THROW_MSG(nr::random_uniform({4}, {.minval = -1, .maxval = 3, .dtype = nr::uint8}),
                           nr::ValueError, "random_uniform", "uint8");
  for (const std::uint8_t v :
       nr::random_uniform({64}, {.minval = 0, .maxval = 256, .dtype = nr::uint8, .seed = 3})
           .to_vector<std::uint8_t>()) {
    EXPECT_LE(v, 255);
  }
  // An enumerator that is no dtype (a cast from a bad integer) is a ValueError, not a crash.
  NEURONA_EXPECT_THROW_MSG(nr::zeros({2}, {.dtype = static_cast<nr::DType>(99)}), nr::ValueError,
                           "unknown dtype", "99");
}
