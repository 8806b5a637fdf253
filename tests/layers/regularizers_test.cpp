// Regularizers: Keras 3's penalties, defaults, names and argument checks.
#include <neurona/neurona.h>

#include "support/test_util.h"

namespace nr = neurona;
namespace reg = nr::regularizers;

namespace {
const nr::Tensor& w() {
  static const nr::Tensor t = nr::constant({{1, -2}, {3, -4.}}, {.device = nr::Device::cpu()});
  return t;  // sum |w| = 10, sum w^2 = 30
}
}  // namespace

TEST(Regularizers, L1AndL2DefaultToPointZeroOne) {
  EXPECT_NEAR(reg::L1()(w()).item<double>(), 0.1, 1e-6);
  EXPECT_NEAR(reg::L2()(w()).item<double>(), 0.3, 1e-6);
  EXPECT_NEAR(reg::Regularizer("l2")(w()).item<double>(), 0.3, 1e-6);
  EXPECT_NEAR(reg::L1(0.5)(w()).item<double>(), 5.0, 1e-5);
}

TEST(Regularizers, L1L2AddsBothPenalties) {
  EXPECT_NEAR(reg::L1L2({.l1 = 0.1, .l2 = 0.2})(w()).item<double>(), 1.0 + 6.0, 1e-5);
  // Keras 3's class defaults are zero; the "l1_l2" string keeps the documented 0.01 each.
  EXPECT_NEAR(reg::L1L2()(w()).item<double>(), 0.0, 1e-12);
  EXPECT_NEAR(reg::get("l1_l2")(w()).item<double>(), 0.1 + 0.3, 1e-6);
  EXPECT_EQ(reg::get("l1l2").name(), "L1L2");
}

TEST(Regularizers, PenaltyIsDifferentiable) {
  nr::Variable v(w());
  nr::GradientTape tape;
  const nr::Tensor penalty = reg::L1L2({.l1 = 0.1, .l2 = 0.5})(v);
  // d/dw (0.1 |w| + 0.5 w^2) = 0.1 sign(w) + w
  EXPECT_TRUE(nr::testing::all_close(tape.gradient(penalty, v), {1.1, -2.1, 3.1, -4.1}, 1e-5));
}

TEST(Regularizers, RejectsBadFactorsAndNames) {
  NEURONA_EXPECT_THROW_MSG(reg::L1(-1), nr::ValueError, "l1", "non-negative", "-1");
  NEURONA_EXPECT_THROW_MSG(reg::L2(std::nan("")), nr::ValueError, "l2");
  NEURONA_EXPECT_THROW_MSG(reg::get("l3"), nr::ValueError,
                           "Could not interpret regularizer identifier: 'l3'", "l1", "l2", "L1L2");
  EXPECT_FALSE(reg::Regularizer());
  NEURONA_EXPECT_THROW_MSG(reg::Regularizer()(w()), nr::ValueError, "empty");
}
