// Dropout: identity outside training; in training, inverted dropout with rate's statistics,
// a new mask per call, and reproducible masks with a seed.
#include <neurona/neurona.h>

#include "support/test_util.h"

namespace nr = neurona;

TEST(Dropout, IdentityOutsideTraining) {
  auto dropout = nr::layers::Dropout(0.5);
  const nr::Tensor x = nr::testing::random_tensor({4, 5});
  EXPECT_EQ(dropout(x).to_vector<float>(), x.to_vector<float>());
  EXPECT_EQ(dropout(x, /*training=*/false).to_vector<float>(), x.to_vector<float>());
}

TEST(Dropout, InvertedDropoutInTraining) {
  auto dropout = nr::layers::Dropout(0.3, {.seed = 5});
  const nr::Tensor x = nr::ones({100000}, {.device = nr::Device::cpu()});
  const std::vector<double> y = dropout(x, true).to_vector<double>();
  std::int64_t kept = 0;
  for (double v : y) {
    ASSERT_TRUE(v == 0.0 || std::abs(v - 1 / 0.7) < 1e-6) << v;
    kept += v != 0.0;
  }
  // Kept fraction 0.7 (standard error 0.0014), so the mean stays 1.
  EXPECT_NEAR(static_cast<double>(kept) / 100000, 0.7, 0.01);
}

TEST(Dropout, NewMaskEachCallReproducibleWithSeed) {
  const nr::Tensor x = nr::ones({64}, {.device = nr::Device::cpu()});
  auto a = nr::layers::Dropout(0.5, {.seed = 9});
  auto b = nr::layers::Dropout(0.5, {.seed = 9});
  const auto a1 = a(x, true).to_vector<float>(), a2 = a(x, true).to_vector<float>();
  EXPECT_NE(a1, a2);
  EXPECT_EQ(b(x, true).to_vector<float>(), a1);
  EXPECT_EQ(b(x, true).to_vector<float>(), a2);
}

TEST(Dropout, GradientFlowsThroughKeptUnitsOnly) {
  auto dropout = nr::layers::Dropout(0.5, {.seed = 1});
  nr::Variable x(nr::ones({32}, {.device = nr::Device::cpu()}));
  nr::GradientTape tape;
  const nr::Tensor y = dropout(x, true);
  const std::vector<double> g = tape.gradient(nr::sum(y), x).to_vector<double>();
  const std::vector<double> out = y.to_vector<double>();
  for (std::size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], out[i], 1e-6);  // 2 or 0
}

TEST(Dropout, RateOutsideZeroOneIsAnError) {
  NEURONA_EXPECT_THROW_MSG(nr::layers::Dropout(1.5), nr::ValueError, "rate=1.5", "between 0 and 1");
  auto all = nr::layers::Dropout(1.0);
  EXPECT_TRUE(nr::testing::all_close(all(nr::ones({3}), true), {0, 0, 0}));
}

TEST(Dropout, NoiseShapeDropsWholeSlices) {
  const nr::Tensor x = nr::ones({4, 5, 6});
  const nr::Tensor y = nr::layers::Dropout(
      0.5, {.seed = 3, .noise_shape = std::vector<std::int64_t>{-1, 1, -1}})(x, /*training=*/true);
  const std::vector<float> v = y.to_vector<float>();
  int kept = 0;
  for (int b = 0; b < 4; ++b) {
    for (int f = 0; f < 6; ++f) {
      const float first = v[static_cast<std::size_t>((b * 5) * 6 + f)];
      EXPECT_TRUE(first == 0.0f || first == 2.0f);
      kept += first != 0.0f;
      for (int t = 1; t < 5; ++t)
        EXPECT_EQ(v[static_cast<std::size_t>((b * 5 + t) * 6 + f)], first);
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 24);
  NEURONA_EXPECT_THROW_MSG(
      nr::layers::Dropout(0.5, {.noise_shape = std::vector<std::int64_t>{1, 2}})(x, true),
      nr::ShapeError, "dropout", "noise_shape", "(4, 5, 6)");
}
