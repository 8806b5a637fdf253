// nr::dot_product_attention on the CPU: numerical gradient checks in float64 through the tape
// (plain, causal with Tq != Tk, a mask with an entirely masked row, grouped-query heads, a given
// scale, dropout with a fixed seed), and dropout's keys: a seed repeats the mask, the global
// seed's call counter draws a new one per call.
#include <gtest/gtest.h>

#include <vector>

#include "neurona/neurona.h"
#include "support/gradcheck.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::check_gradients;
using nr::testing::random_tensor;

namespace {

struct Shapes {
  std::int64_t b, tq, tk, n, nk, h, hv;
};

std::vector<nr::Tensor> qkv(const Shapes& s) {
  return {random_tensor({s.b, s.tq, s.n, s.h}, nr::float64, -1, 1, 1),
          random_tensor({s.b, s.tk, s.nk, s.h}, nr::float64, -1, 1, 2),
          random_tensor({s.b, s.tk, s.nk, s.hv}, nr::float64, -1, 1, 3)};
}

::testing::AssertionResult check(const char* name, const Shapes& s,
                                 const nr::DotProductAttentionOptions& o) {
  return check_gradients(
      name,
      [&](const std::vector<nr::Tensor>& in) {
        return nr::dot_product_attention(in[0], in[1], in[2], o);
      },
      qkv(s));
}

}  // namespace

TEST(DotProductAttention, GradientsMatchNumericalInFloat64) {
  EXPECT_TRUE(check("plain", {2, 3, 4, 2, 2, 3, 2}, {}));
  EXPECT_TRUE(check("causal Tq < Tk", {1, 3, 5, 2, 2, 3, 2}, {.is_causal = true}));
  EXPECT_TRUE(check("causal Tq > Tk", {1, 5, 3, 1, 1, 3, 2}, {.is_causal = true}));
  EXPECT_TRUE(check("grouped heads", {1, 3, 4, 4, 2, 2, 3}, {}));
  EXPECT_TRUE(check("scale", {1, 3, 4, 1, 1, 3, 2}, {.scale = 0.7}));
  // Batch 1 sees no key at all: its rows average the values uniformly.
  const nr::Tensor mask =
      nr::testing::make_tensor({1, 0, 1, 1, 0, 0, 0, 0}, {2, 1, 1, 4}, nr::uint8);
  EXPECT_TRUE(check("mask", {2, 3, 4, 2, 2, 3, 2}, {.mask = mask}));
  EXPECT_TRUE(check("mask and causal", {2, 3, 4, 2, 2, 3, 2}, {.mask = mask, .is_causal = true}));
  EXPECT_TRUE(check("dropout", {1, 4, 5, 2, 1, 3, 2}, {.dropout_rate = 0.4, .seed = 3}));
}

TEST(DotProductAttention, DropoutSeedRepeatsTheMaskAndTheGlobalSeedAdvances) {
  const std::vector<nr::Tensor> in = qkv({1, 8, 8, 2, 2, 4, 4});
  const nr::DotProductAttentionOptions seeded{.dropout_rate = 0.5, .seed = 11};
  const nr::Tensor a = nr::dot_product_attention(in[0], in[1], in[2], seeded);
  const nr::Tensor b = nr::dot_product_attention(in[0], in[1], in[2], seeded);
  EXPECT_EQ(a.to_vector<double>(), b.to_vector<double>());
  nr::set_seed(5);
  const nr::Tensor c = nr::dot_product_attention(in[0], in[1], in[2], {.dropout_rate = 0.5});
  const nr::Tensor d = nr::dot_product_attention(in[0], in[1], in[2], {.dropout_rate = 0.5});
  EXPECT_NE(c.to_vector<double>(), d.to_vector<double>());
  nr::set_seed(5);
  const nr::Tensor e = nr::dot_product_attention(in[0], in[1], in[2], {.dropout_rate = 0.5});
  EXPECT_EQ(c.to_vector<double>(), e.to_vector<double>());
  // Without dropout: no random key is drawn, and the result is the plain one.
  const nr::Tensor plain = nr::dot_product_attention(in[0], in[1], in[2]);
  EXPECT_NE(plain.to_vector<double>(), a.to_vector<double>());
}
