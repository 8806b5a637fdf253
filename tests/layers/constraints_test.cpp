// Constraints: Keras 3's projections, computed per column (axis 0) by default.
#include <neurona/neurona.h>

#include <cmath>

#include "support/test_util.h"

namespace nr = neurona;
namespace con = nr::constraints;

namespace {
// Columns (axis 0) have norms 5 and 0.5.
nr::Tensor w() {
  return nr::constant({{3, 0.3}, {-4, 0.4}}, {.device = nr::Device::cpu()});
}
constexpr double kEps = 1e-7;
}  // namespace

TEST(Constraints, MaxNormClipsColumnNorms) {
  const nr::Tensor out = con::MaxNorm()(w());  // max_value 2
  EXPECT_TRUE(nr::testing::all_close(
      out,
      {3 * 2 / (5 + kEps), 0.3 * 0.5 / (0.5 + kEps), -4 * 2 / (5 + kEps), 0.4 * 0.5 / (0.5 + kEps)},
      1e-6));
  // axis 1: rows, norms sqrt(9.09) and sqrt(16.16).
  const nr::Tensor rows = con::MaxNorm({.max_value = 1, .axis = 1})(w());
  const double n0 = std::sqrt(9.09), n1 = std::sqrt(16.16);
  EXPECT_TRUE(nr::testing::all_close(rows, {3 / n0, 0.3 / n0, -4 / n1, 0.4 / n1}, 1e-6));
}

TEST(Constraints, NonNegZeroesNegatives) {
  EXPECT_TRUE(nr::testing::all_close(con::Constraint("non_neg")(w()), {3, 0.3, 0, 0.4}, 1e-7));
}

TEST(Constraints, UnitNormNormalizesColumns) {
  EXPECT_TRUE(nr::testing::all_close(con::UnitNorm()(w()), {0.6, 0.6, -0.8, 0.8}, 1e-6));
}

TEST(Constraints, MinMaxNormBlendsByRate) {
  // Column norms 5 -> clip to 1; 0.5 -> clip to 0.8; rate 0.5 blends with the norm itself.
  const nr::Tensor out = con::MinMaxNorm({.min_value = 0.8, .max_value = 1, .rate = 0.5})(w());
  const double d0 = 0.5 * 1 + 0.5 * 5, d1 = 0.5 * 0.8 + 0.5 * 0.5;
  EXPECT_TRUE(
      nr::testing::all_close(out, {3 * d0 / 5, 0.3 * d1 / 0.5, -4 * d0 / 5, 0.4 * d1 / 0.5}, 1e-5));
}

TEST(Constraints, UnknownNameListsValidNames) {
  NEURONA_EXPECT_THROW_MSG(con::get("maxnorm"), nr::ValueError, "'maxnorm'", "max_norm",
                           "min_max_norm", "non_neg", "unit_norm");
  EXPECT_FALSE(con::Constraint());
}
