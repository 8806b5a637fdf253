// nr::dot_product_attention against keras.ops.dot_product_attention (Keras 3 on JAX, float64):
// values and the gradients of sum(out * w), from tests/reference/kernels/attention_*.txt made by
// tests/reference/make_keras_attention_references.py. Covers the scale, Keras's causal mask with
// Tq != Tk, a padding mask with an entirely masked batch (uniform attention, as Keras), mask and
// causal together, and grouped-query heads.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "neurona/neurona.h"
#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;

namespace {

constexpr double kTol = 2e-6;

nr::Tensor tensor(const nr::testing::Reference& r, const std::string& name) {
  const nr::testing::ReferenceEntry& e = r.at(name);
  return nr::testing::make_tensor(e.values, e.shape, nr::float64);
}

void check(const std::string& name, nr::DotProductAttentionOptions o) {
  SCOPED_TRACE(name);
  const nr::testing::Reference r = nr::testing::load_reference("kernels", "attention_" + name);
  const nr::Tensor q = tensor(r, "query"), k = tensor(r, "key"), v = tensor(r, "value");
  if (r.count("mask") != 0) o.mask = tensor(r, "mask");
  nr::GradientTape tape;
  tape.watch(q);
  tape.watch(k);
  tape.watch(v);
  const nr::Tensor out = nr::dot_product_attention(q, k, v, o);
  const nr::Tensor loss = nr::sum(nr::multiply(out, tensor(r, "w")));
  const std::vector<nr::Tensor> g = tape.gradient(loss, {q, k, v});
  // Keras computes the softmax in float32 even for float64 inputs: float32's agreement.
  EXPECT_TRUE(all_close(out, r.at("out").values, kTol, kTol)) << "out";
  EXPECT_TRUE(all_close(g[0], r.at("d_query").values, kTol, kTol)) << "d_query";
  EXPECT_TRUE(all_close(g[1], r.at("d_key").values, kTol, kTol)) << "d_key";
  EXPECT_TRUE(all_close(g[2], r.at("d_value").values, kTol, kTol)) << "d_value";
}

}  // namespace

TEST(DotProductAttentionKeras, MatchesKerasValuesAndGradients) {
  check("plain", {});
  check("scale", {.scale = 0.3});
  check("grouped_heads", {});
}

TEST(DotProductAttentionKeras, CausalMaskIsKerasTopLeftLowerTriangle) {
  check("causal_short_query", {.is_causal = true});
  check("causal_long_query", {.is_causal = true});
}

TEST(DotProductAttentionKeras, MasksAndEntirelyMaskedRowsAsKeras) {
  check("padding_mask", {});
  check("mask_and_causal", {.is_causal = true});
}
