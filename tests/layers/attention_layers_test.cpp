// Attention and AdditiveAttention against Keras 3 itself (tests/reference/attention/, made by
// tests/reference/make_keras_attention_layer_references.py): outputs, scores and gradients with
// respect to the inputs and every weight, with the query's and value's masks and the causal
// mask; float64 gradient checks; configs; errors; the functional API and saving.
#include <neurona/models/keras_config.h>
#include <neurona/models/saving.h>
#include <neurona/neurona.h>
#include <unistd.h>

#include <filesystem>

#include "layers/attention_case.h"
#include "layers/layer_gradcheck.h"
#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;

namespace {

void check(const std::string& name, const nr::layers::AnyLayer& layer,
           L::AttentionLayerCallOptions options = {}) {
  auto* attention = dynamic_cast<L::AttentionLayer*>(layer.ptr().get());
  ASSERT_NE(attention, nullptr);
  nr::testing::check_attention_case(
      name, layer, options.return_attention_scores,
      [&](const nr::Tensor& q, const nr::Tensor& v, const nr::Tensor& k) {
        return attention->attend(q, v, k, options);
      });
}

}  // namespace

TEST(AttentionLayer, MatchesKerasOutputsAndGradients) {
  check("attention_dot", L::Attention());
  check("attention_scale_key_causal_scores", L::Attention({.use_scale = true}),
        {.use_causal_mask = true, .return_attention_scores = true});
  check("attention_concat_masks_scores", L::Attention({.use_scale = true, .score_mode = "concat"}),
        {.return_attention_scores = true});
}

TEST(AdditiveAttentionLayer, MatchesKerasOutputsAndGradients) {
  check("additive_attention", L::AdditiveAttention());
  check("additive_attention_no_scale_masks_causal", L::AdditiveAttention({.use_scale = false}),
        {.use_causal_mask = true, .return_attention_scores = true});
}

TEST(AttentionLayer, GradientsMatchCentralDifferencesInFloat64) {
  const nr::Tensor q = nr::testing::random_tensor({2, 3, 4}, nr::float64, -1, 1, 7);
  const nr::Tensor v = nr::testing::random_tensor({2, 5, 3}, nr::float64, -1, 1, 8);
  const nr::Tensor k = nr::testing::random_tensor({2, 5, 4}, nr::float64, -1, 1, 9);
  EXPECT_TRUE(nr::testing::check_layer_gradients(
      "Attention", L::Attention({.use_scale = true, .dtype = nr::float64}), {q, v, k}));
  EXPECT_TRUE(nr::testing::check_layer_gradients(
      "Attention concat",
      L::Attention({.use_scale = true, .score_mode = "concat", .dtype = nr::float64}), {q, v, k}));
  EXPECT_TRUE(nr::testing::check_layer_gradients(
      "AdditiveAttention", L::AdditiveAttention({.dtype = nr::float64}), {q, v, k}));
}

TEST(AttentionLayer, WeightsHaveKerasNamesAndShapes) {
  auto a = L::Attention({.use_scale = true, .score_mode = "concat", .name = "att"});
  a->ensure_built(std::vector<nr::Shape>{{-1, 3, 4}, {-1, 5, 4}});
  ASSERT_EQ(a->weights().size(), 2u);
  EXPECT_EQ(a->weights()[0].name(), "att/scale");
  EXPECT_EQ(a->weights()[0].shape(), nr::Shape({}));
  EXPECT_EQ(a->weights()[1].name(), "att/concat_score_weight");
  auto b = L::AdditiveAttention();
  b->ensure_built(std::vector<nr::Shape>{{-1, 3, 4}, {-1, 5, 4}});
  ASSERT_EQ(b->weights().size(), 1u);
  EXPECT_EQ(b->weights()[0].shape(), nr::Shape({4}));
  EXPECT_TRUE(L::Attention()->weights().empty());
}

TEST(AttentionLayer, DropoutActsInTrainingOnlyAndFollowsTheSeed) {
  const nr::Tensor q = nr::testing::random_tensor({2, 4, 3}, nr::float32, -1, 1, 1);
  const nr::Tensor v = nr::testing::random_tensor({2, 6, 3}, nr::float32, -1, 1, 2);
  auto a = L::Attention({.dropout = 0.5, .seed = 3});
  auto plain = L::Attention();
  const auto inference = a->attend(q, v, {}, {.return_attention_scores = true});
  const auto reference = plain->attend(q, v, {}, {.return_attention_scores = true});
  EXPECT_TRUE(nr::testing::all_close(inference[0], reference[0].to_vector<double>(), 1e-6, 1e-6));
  const auto trained = a->attend(q, v, {}, {.return_attention_scores = true}, /*training=*/true);
  // Dropped probabilities are 0, kept ones doubled.
  const auto p = reference[1].to_vector<double>();
  const auto d = trained[1].to_vector<double>();
  int dropped = 0;
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (d[i] == 0.0) {
      ++dropped;
    } else {
      EXPECT_NEAR(d[i], 2 * p[i], 1e-6);
    }
  }
  EXPECT_GT(dropped, 8);
  EXPECT_LT(dropped, 40);
  auto again = L::Attention({.dropout = 0.5, .seed = 3});
  const auto same = again->attend(q, v, {}, {.return_attention_scores = true}, true);
  EXPECT_EQ(same[1].to_vector<double>(), d);
}

TEST(AttentionLayer, FunctionalModelKeepsMasksAndKeywordArgumentsThroughSaving) {
  namespace fs = std::filesystem;
  nr::set_seed(2);
  auto tokens = nr::Input({6}, {.dtype = nr::int32});
  auto e = L::Embedding(10, 4, {.mask_zero = true})(tokens);
  auto att = L::Attention({.use_scale = true});
  const auto outs =
      att->attend(e, e, {}, {.use_causal_mask = true, .return_attention_scores = true});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[1].shape(), nr::Shape({-1, 6, 6}));
  auto additive = L::AdditiveAttention()({outs[0], e});
  auto pooled = L::GlobalAveragePooling1D()(additive);
  nr::Model model(tokens, {L::Dense(2)(pooled), outs[1]});
  // Padding changes nothing: the masks reach both layers and the pooling.
  const nr::Tensor a = nr::testing::make_tensor({3, 5, 7, 0, 0, 0}, {1, 6}, nr::int32);
  const nr::Tensor b =
      nr::testing::make_tensor({3, 5, 7, 0, 0, 0, 3, 5, 7, 1, 0, 0}, {2, 6}, nr::int32);
  const auto ya = model.predict(std::vector<nr::Tensor>{a});
  const auto yb = model.predict(std::vector<nr::Tensor>{b});
  const auto ya0 = ya[0].to_vector<double>(), yb0 = yb[0].to_vector<double>();
  EXPECT_NEAR(ya0[0], yb0[0], 1e-6);
  EXPECT_NEAR(ya0[1], yb0[1], 1e-6);
  EXPECT_GT(std::abs(yb0[0] - yb0[2]) + std::abs(yb0[1] - yb0[3]), 1e-5);
  // Causal: the first query sees only the first key.
  EXPECT_NEAR(ya[1].to_vector<double>()[0], 1.0, 1e-6);

  const std::string json = nr::models::detail::model_config_json(model);
  EXPECT_NE(json.find("\"use_causal_mask\":true"), std::string::npos);
  const fs::path dir =
      fs::temp_directory_path() / ("neurona_attention_layers_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  model.save((dir / "model.keras").string());
  auto back = nr::models::load_model((dir / "model.keras").string());
  const auto yc = back->predict(std::vector<nr::Tensor>{b});
  EXPECT_TRUE(nr::testing::all_close(yc[0], yb0, 1e-6, 1e-6));
  EXPECT_TRUE(nr::testing::all_close(yc[1], yb[1].to_vector<double>(), 1e-6, 1e-6));
  EXPECT_EQ(nr::models::detail::model_config_json(*back), json);
  fs::remove_all(dir);
}

TEST(AttentionLayer, ConfigRoundTripsAndBadArgumentsAreRefused) {
  auto a = L::Attention({.use_scale = true, .score_mode = "concat", .dropout = 0.2, .seed = 4});
  const nr::ConfigValue config = a->get_config();
  EXPECT_EQ(config.at("score_mode").as_string(), "concat");
  EXPECT_EQ(L::Attention::from_config(config)->get_config(), config);
  auto b = L::AdditiveAttention({.use_scale = false, .dropout = 0.1});
  const nr::ConfigValue additive = b->get_config();
  EXPECT_EQ(additive.find("score_mode"), nullptr);
  EXPECT_EQ(L::AdditiveAttention::from_config(additive)->get_config(), additive);

  NEURONA_EXPECT_THROW_MSG(L::Attention({.score_mode = "sum"}), nr::ValueError,
                           "Expected one of {'dot', 'concat'}. Received: score_mode=sum");
  NEURONA_EXPECT_THROW_MSG(L::Attention({.dropout = 1.0}), nr::ValueError, "`dropout`");
  auto c = L::Attention();
  NEURONA_EXPECT_THROW_MSG(c(nr::zeros({1, 3, 4})), nr::ValueError,
                           "must be called on a list of inputs");
  NEURONA_EXPECT_THROW_MSG(c({nr::zeros({1, 3, 4}), nr::zeros({1, 5, 3})}), nr::ShapeError,
                           "same last dimension");
  NEURONA_EXPECT_THROW_MSG(c->apply_with_kwargs({nr::zeros({1, 3, 4}), nr::zeros({1, 5, 4})},
                                                nr::ConfigValue::Dict{{"attention_mask", true}}),
                           nr::ValueError, "unexpected keyword argument 'attention_mask'");
}
