// MultiHeadAttention against Keras 3 itself (tests/reference/attention/, made by
// tests/reference/make_keras_mha_references.py): outputs, scores and gradients with respect to
// the inputs and every weight, with the masks the inputs carry, attention_mask and the causal
// mask; a float64 gradient check; configs; errors; the functional API.
#include <neurona/neurona.h>

#include "layers/layer_gradcheck.h"
#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;

namespace {

using Ref = std::map<std::string, nr::testing::ReferenceEntry>;

nr::Tensor tensor(const Ref& ref, const std::string& key) {
  const auto it = ref.find(key);
  if (it == ref.end()) throw std::runtime_error("reference lacks " + key);
  return nr::testing::make_tensor(it->second.values, it->second.shape);
}

::testing::AssertionResult close(const nr::Tensor& actual, const Ref& ref, const std::string& key) {
  const auto& e = ref.at(key);
  if (actual.shape() != e.shape) {
    return ::testing::AssertionFailure()
           << key << ": shape " << actual.shape() << ", Keras " << e.shape;
  }
  auto r = nr::testing::all_close(actual, e.values, 2e-5, 2e-5);
  if (!r) return ::testing::AssertionFailure() << key << ": " << r.message();
  return r;
}

// Runs `mha` on the case's inputs (masks attached as Embedding or Masking would attach them)
// and checks y, the scores and every gradient.
void check(const std::string& name, const L::MultiHeadAttention& mha,
           nr::layers::AttentionCallOptions options = {}) {
  SCOPED_TRACE(name);
  const Ref ref = nr::testing::load_reference("attention", name);
  nr::Tensor q = tensor(ref, "q"), v = tensor(ref, "v");
  nr::Tensor k = ref.count("k") ? tensor(ref, "k") : nr::Tensor();
  if (ref.count("query_mask")) q.set_keras_mask(nr::cast(tensor(ref, "query_mask"), nr::uint8));
  if (ref.count("value_mask")) v.set_keras_mask(nr::cast(tensor(ref, "value_mask"), nr::uint8));
  if (ref.count("attention_mask")) options.attention_mask = tensor(ref, "attention_mask");
  std::vector<nr::Shape> shapes{q.shape(), v.shape()};
  if (k.defined()) shapes.push_back(k.shape());
  mha->ensure_built(shapes);
  std::vector<nr::Tensor> weights;
  for (int i = 0; ref.count(nr::detail::str("w", i)); ++i) {
    weights.push_back(tensor(ref, nr::detail::str("w", i)));
  }
  mha->set_weights(weights);
  nr::GradientTape tape;
  tape.watch(q);
  tape.watch(v);
  if (k.defined()) tape.watch(k);
  const std::vector<nr::Tensor> out = mha->attend(q, v, k, options);
  EXPECT_TRUE(close(out[0], ref, "y"));
  if (options.return_attention_scores) {
    ASSERT_EQ(out.size(), 2u);
    EXPECT_TRUE(close(out[1], ref, "scores"));
  }
  EXPECT_EQ(out[0].keras_mask().defined(), q.keras_mask().defined());
  std::vector<nr::Tensor> sources{q, v};
  if (k.defined()) sources.push_back(k);
  for (const auto& w : mha->trainable_weights()) sources.push_back(w.value());
  const auto grads = tape.gradient(nr::sum(out[0] * tensor(ref, "g")), sources);
  EXPECT_TRUE(close(grads[0], ref, "grad_q"));
  EXPECT_TRUE(close(grads[1], ref, "grad_v"));
  std::size_t next = 2;
  if (k.defined()) {
    EXPECT_TRUE(close(grads[next++], ref, "grad_k"));
  }
  for (std::size_t i = 0; next + i < grads.size(); ++i) {
    EXPECT_TRUE(close(grads[next + i], ref, nr::detail::str("grad_w", i)));
  }
}

}  // namespace

TEST(MultiHeadAttention, MatchesKerasOutputsAndGradients) {
  check("mha_self", L::MultiHeadAttention(2, 3));
  check("mha_cross_output_shape", L::MultiHeadAttention(3, 2, {.output_shape = 6}));
  check("mha_causal", L::MultiHeadAttention(2, 4), {.use_causal_mask = true});
  check("mha_value_dim_scores", L::MultiHeadAttention(3, 2, {.value_dim = 4}),
        {.return_attention_scores = true});
}

TEST(MultiHeadAttention, InputMasksAttentionMaskAndCausalMaskCombineAsKeras) {
  check("mha_masks", L::MultiHeadAttention(2, 3));
  check("mha_masks_causal_scores", L::MultiHeadAttention(2, 3, {.use_bias = false}),
        {.use_causal_mask = true, .return_attention_scores = true});
}

TEST(MultiHeadAttention, WeightsHaveKerasNamesAndShapes) {
  auto mha = L::MultiHeadAttention(2, 3, {.value_dim = 4, .name = "mha"});
  mha->ensure_built(std::vector<nr::Shape>{{-1, 5, 8}, {-1, 7, 6}});
  std::vector<std::string> names;
  std::vector<nr::Shape> shapes;
  for (const auto& w : mha->weights()) {
    names.push_back(w.name());
    shapes.push_back(w.shape());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"query/kernel", "query/bias", "key/kernel", "key/bias",
                                             "value/kernel", "value/bias",
                                             "attention_output/kernel", "attention_output/bias"}));
  EXPECT_EQ(shapes, (std::vector<nr::Shape>{
                        {8, 2, 3}, {2, 3}, {6, 2, 3}, {2, 3}, {6, 2, 4}, {2, 4}, {2, 4, 8}, {8}}));
  EXPECT_EQ(mha->compute_output_shape_list({{-1, 5, 8}, {-1, 7, 6}})[0], (nr::Shape{-1, 5, 8}));
}

TEST(MultiHeadAttention, GradientsMatchCentralDifferencesInFloat64) {
  auto mha = L::MultiHeadAttention(2, 2, {.dtype = nr::float64});
  const nr::Tensor x = nr::testing::random_tensor({2, 3, 4}, nr::float64, -1, 1, 7);
  EXPECT_TRUE(nr::testing::check_layer_gradients("MultiHeadAttention", mha, x));
}

TEST(MultiHeadAttention, TrainsInAFunctionalModelOnMaskedTokens) {
  nr::set_seed(3);
  auto tokens = nr::Input({-1}, {.dtype = nr::int32});
  auto e = L::Embedding(12, 8, {.mask_zero = true})(tokens);
  auto attended = L::MultiHeadAttention(2, 4)({e, e});
  auto pooled = L::GlobalAveragePooling1D()(L::Add()({e, attended}));
  nr::Model model(tokens, L::Dense(2)(pooled));
  // The masks reach MultiHeadAttention through the graph: padding changes nothing.
  const nr::Tensor a = nr::testing::make_tensor({3, 5, 7}, {1, 3}, nr::int32);
  const nr::Tensor b =
      nr::testing::make_tensor({3, 5, 7, 0, 0, 0, 3, 5, 7, 1, 1, 1}, {2, 6}, nr::int32);
  const auto ya = model.predict(a).to_vector<double>();
  const auto yb = model.predict(b).to_vector<double>();
  EXPECT_NEAR(ya[0], yb[0], 1e-5);
  EXPECT_NEAR(ya[1], yb[1], 1e-5);
  EXPECT_GT(std::abs(yb[0] - yb[2]) + std::abs(yb[1] - yb[3]), 1e-4);  // the 1s are not padding
  model.compile({.optimizer = nr::optimizers::Adam(1e-2),
                 .loss = nr::losses::SparseCategoricalCrossentropy({.from_logits = true})});
  const nr::Tensor y = nr::testing::make_tensor({0, 1}, {2}, nr::int32);
  const double before = model.evaluate(b, y, {.verbose = 0}).at("loss");
  model.fit(b, y, {.epochs = 20, .verbose = 0});
  EXPECT_LT(model.evaluate(b, y, {.verbose = 0}).at("loss"), before * 0.5);
}

TEST(MultiHeadAttention, ConfigRoundTripsAndBadArgumentsAreRefused) {
  auto mha = L::MultiHeadAttention(4, 8, {.value_dim = 16, .dropout = 0.1, .output_shape = 32});
  const nr::ConfigValue config = mha->get_config();
  EXPECT_EQ(config.at("num_heads").as_int(), 4);
  EXPECT_EQ(config.at("value_dim").as_int(), 16);
  auto back = L::MultiHeadAttention::from_config(config);
  EXPECT_EQ(back->get_config(), config);
  NEURONA_EXPECT_THROW_MSG(L::MultiHeadAttention(0, 2), nr::ValueError,
                           "expected a positive integer. Received: num_heads=0");
  NEURONA_EXPECT_THROW_MSG(L::MultiHeadAttention(2, -1), nr::ValueError, "Received: key_dim=-1");
  NEURONA_EXPECT_THROW_MSG(L::MultiHeadAttention(2, 2, {.attention_axes = std::vector<int>{2}}),
                           nr::ValueError, "attention_axes");
  auto m = L::MultiHeadAttention(2, 2);
  NEURONA_EXPECT_THROW_MSG(
      m->attend(nr::zeros({1, 3, 4}), nr::zeros({1, 5, 4}), nr::zeros({1, 6, 4})), nr::ValueError,
      "All dimensions of `value` and `key`");
  NEURONA_EXPECT_THROW_MSG(m->attend(nr::zeros({3, 4}), nr::zeros({3, 4})), nr::ShapeError,
                           "(batch, steps, features)");
}
