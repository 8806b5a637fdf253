// MultiHeadAttention against Keras 3 itself (tests/reference/attention/, made by
// tests/reference/make_keras_mha_references.py): outputs, scores and gradients with respect to
// the inputs and every weight, with the masks the inputs carry, attention_mask and the causal
// mask, and for inputs of rank 4 and 5 over Keras's attention_axes; a float64 gradient check;
// configs; errors; the functional API.
#include <neurona/models/keras_config.h>
#include <neurona/models/saving.h>
#include <neurona/neurona.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "layers/attention_case.h"
#include "layers/layer_gradcheck.h"
#include "support/paths.h"
#include "support/reference_file.h"
#include "support/saving_round_trip.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;

namespace {

using Ref = nr::testing::Reference;
using nr::testing::close_to_reference;
using nr::testing::reference_tensor;

// Runs `mha` on the case's inputs (masks attached as Embedding or Masking would attach them;
// the case's attention_mask as the call's) and checks y, the scores and every gradient.
void check(const std::string& name, const L::MultiHeadAttention& mha,
           nr::layers::AttentionCallOptions options = {}) {
  const Ref ref = nr::testing::load_reference("attention", name);
  if (ref.count("attention_mask")) options.attention_mask = reference_tensor(ref, "attention_mask");
  nr::testing::check_attention_case(
      name, mha, options.return_attention_scores,
      [&](const nr::Tensor& q, const nr::Tensor& v, const nr::Tensor& k) {
        return mha->attend(q, v, k, options);
      });
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

// Keras 3.15's use_gate (a sigmoid "gate" projection of the query times each head's output) and
// sliding_window (|i - j| < window), alone, with the causal mask, and with a value mask and the
// scores.
TEST(MultiHeadAttention, GatedAndSlidingWindowAttentionMatchKeras) {
  check("mha_gate", L::MultiHeadAttention(2, 3, {.use_gate = true}));
  check("mha_sliding_window_causal", L::MultiHeadAttention(2, 3, {.sliding_window = 2}),
        {.use_causal_mask = true});
  check("mha_sliding_window_gate_masks_scores",
        L::MultiHeadAttention(2, 2, {.value_dim = 3, .sliding_window = 3, .use_gate = true}),
        {.return_attention_scores = true});
  // The gate's weights come between the key's and the value's, as Keras builds them.
  auto gated = L::MultiHeadAttention(2, 3, {.value_dim = 4, .use_gate = true});
  gated->ensure_built(std::vector<nr::Shape>{{-1, 5, 8}, {-1, 7, 6}});
  std::vector<std::string> names;
  for (const auto& w : gated->weights()) names.push_back(w.name());
  EXPECT_EQ(names,
            (std::vector<std::string>{"query/kernel", "query/bias", "key/kernel", "key/bias",
                                      "gate/kernel", "gate/bias", "value/kernel", "value/bias",
                                      "attention_output/kernel", "attention_output/bias"}));
  EXPECT_EQ(gated->weights()[4].shape(), (nr::Shape{8, 2, 4}));
  // Configs carry both; a window of 0 and windows on inputs of rank 4 are refused.
  auto both = L::MultiHeadAttention(2, 2, {.sliding_window = 4, .use_gate = true});
  EXPECT_EQ(both->get_config().at("sliding_window").as_int(), 4);
  EXPECT_TRUE(both->get_config().at("use_gate").as_bool());
  EXPECT_EQ(L::MultiHeadAttention::from_config(both->get_config())->get_config(),
            both->get_config());
  NEURONA_EXPECT_THROW_MSG(L::MultiHeadAttention(2, 2, {.sliding_window = 0}), nr::ValueError,
                           "`sliding_window` must be `None` or a positive integer");
  NEURONA_EXPECT_THROW_MSG(both->attend(nr::zeros({1, 2, 3, 4}), nr::zeros({1, 2, 3, 4})),
                           nr::NotImplementedError,
                           "sliding_window are supported for inputs (batch, steps, features)");
}

TEST(MultiHeadAttention, AttentionAxesOfHigherRankInputsMatchKeras) {
  // Rank 4 with Keras's default axes (1, 2): the 12 positions attend each other.
  check("mha_rank4_default_scores", L::MultiHeadAttention(2, 3), {.return_attention_scores = true});
  // attention_axes (2,): axis 1 batch-like; cross-attention with a key and an attention_mask
  // (batch, 3, 4, 6).
  check("mha_axes2_cross_mask_scores",
        L::MultiHeadAttention(2, 3, {.attention_axes = std::vector<int>{2}}),
        {.return_attention_scores = true});
  // attention_axes 1 on rank 4 (Keras's int), value_dim and output_shape; the fused kernel.
  check("mha_axes1_rank4",
        L::MultiHeadAttention(
            3, 2, {.value_dim = 4, .output_shape = 6, .attention_axes = std::vector<int>{1}}));
  // Rank 5, axes (1, 3), not adjacent: axis 2 batch-like; and -4 names axis 1 as Keras counts
  // it (from the end of the projected (batch, 3, 2, 4, heads, dim)).
  check("mha_rank5_axes13_scores",
        L::MultiHeadAttention(2, 2, {.attention_axes = std::vector<int>{1, 3}}),
        {.return_attention_scores = true});
  check("mha_rank5_axes13_scores",
        L::MultiHeadAttention(2, 2, {.attention_axes = std::vector<int>{3, -5}}),
        {.return_attention_scores = true});
}

// Keras's output_shape as a tuple: the output projection's kernel is (heads, value_dim, 2, 4)
// and the output (batch, steps..., 2, 4).
TEST(MultiHeadAttention, OutputShapeOfSeveralDimensionsMatchesKeras) {
  const std::vector<std::int64_t> dims{2, 4};
  check("mha_output_shape_2d", L::MultiHeadAttention(2, 3, {.output_shape = dims}));
  check("mha_axes_output_shape_2d",
        L::MultiHeadAttention(2, 2,
                              {.output_shape = std::vector<std::int64_t>{3, 2},
                               .attention_axes = std::vector<int>{2}}),
        {.return_attention_scores = true});
  auto mha = L::MultiHeadAttention(2, 3, {.output_shape = dims});
  EXPECT_EQ(mha->compute_output_shape_list({{-1, 5, 8}, {-1, 7, 6}})[0], (nr::Shape{-1, 5, 2, 4}));
  const nr::Tensor y = mha->attend(nr::zeros({3, 5, 8}), nr::zeros({3, 7, 6}))[0];
  EXPECT_EQ(y.shape(), (nr::Shape{3, 5, 2, 4}));
  EXPECT_EQ(mha->get_weights()[6].shape(), (nr::Shape{2, 3, 2, 4}));  // attention_output kernel
  EXPECT_EQ(mha->get_weights()[7].shape(), (nr::Shape{2, 4}));
  // Keras writes the tuple as a list; an int reads as one dimension, an empty list as none.
  const nr::ConfigValue config = mha->get_config();
  EXPECT_EQ(config.at("output_shape").as_list().size(), 2U);
  EXPECT_EQ(L::MultiHeadAttention::from_config(config)->get_config(), config);
  nr::ConfigValue one = config;
  one.set("output_shape", std::int64_t{6});
  EXPECT_EQ(L::MultiHeadAttention::from_config(one)->compute_output_shape({-1, 5, 8}),
            (nr::Shape{-1, 5, 6}));
  nr::ConfigValue none = config;
  none.set("output_shape", nr::ConfigValue::List{});
  EXPECT_EQ(L::MultiHeadAttention::from_config(none)->compute_output_shape({-1, 5, 8}),
            (nr::Shape{-1, 5, 8}));
  EXPECT_TRUE(L::MultiHeadAttention::from_config(none)->get_config().at("output_shape").is_null());
  NEURONA_EXPECT_THROW_MSG(
      L::MultiHeadAttention(2, 2, {.output_shape = std::vector<std::int64_t>{2, 0}}),
      nr::ValueError, "Invalid `output_shape`: (2, 0)");
  NEURONA_EXPECT_THROW_MSG(L::MultiHeadAttention(2, 2, {.output_shape = -3}), nr::ValueError,
                           "Invalid `output_shape`: (-3,)");
}

TEST(MultiHeadAttention, AttentionAxesShapesConfigsAndErrors) {
  auto mha = L::MultiHeadAttention(2, 3, {.attention_axes = std::vector<int>{2}});
  const nr::Tensor q = nr::random_normal({2, 3, 4, 5}, {.seed = 1});
  const nr::Tensor v = nr::random_normal({2, 3, 6, 5}, {.seed = 2});
  const auto out = mha->attend(q, v, {}, {.return_attention_scores = true});
  EXPECT_EQ(out[0].shape(), (nr::Shape{2, 3, 4, 5}));
  EXPECT_EQ(out[1].shape(), (nr::Shape{2, 3, 2, 4, 6}));
  // The symbolic call infers the same shapes, and the config keeps the axes.
  auto xq = nr::Input({3, 4, 5});
  auto xv = nr::Input({3, 6, 5});
  const auto sym = mha->attend(xq, xv, {}, {.return_attention_scores = true});
  EXPECT_EQ(sym[0].shape(), (nr::Shape{-1, 3, 4, 5}));
  EXPECT_EQ(sym[1].shape(), (nr::Shape{-1, 3, 2, 4, 6}));
  EXPECT_EQ(L::MultiHeadAttention::from_config(mha->get_config())->get_config(), mha->get_config());
  // Each query position of one index of the batch-like axis attends only that index's keys.
  const nr::Tensor v2 =
      nr::concat(std::vector{nr::narrow(v, 1, 0, 1), nr::narrow(v, 1, 1, 2) * 3.0}, 1);
  const nr::Tensor changed = mha->attend(q, v2)[0];
  EXPECT_TRUE(nr::testing::all_close(nr::narrow(changed, 1, 0, 1),
                                     nr::narrow(out[0], 1, 0, 1).to_vector<double>(), 1e-6));
  EXPECT_FALSE(nr::testing::all_close(nr::narrow(changed, 1, 1, 2),
                                      nr::narrow(out[0], 1, 1, 2).to_vector<double>(), 1e-3));

  NEURONA_EXPECT_THROW_MSG(
      L::MultiHeadAttention(2, 2, {.attention_axes = std::vector<int>{3}})->attend(q, q),
      nr::ValueError, "attention_axes 3 is not an axis between the batch and the features");
  NEURONA_EXPECT_THROW_MSG(
      L::MultiHeadAttention(2, 2, {.attention_axes = std::vector<int>{1, -4}})->attend(q, q),
      nr::ValueError, "names axis 1 twice");
  NEURONA_EXPECT_THROW_MSG(mha->attend(q, nr::zeros({2, 4, 6, 5})), nr::ShapeError,
                           "axis 1 is not an attention axis");
  NEURONA_EXPECT_THROW_MSG(mha->attend(q, nr::zeros({2, 6, 5})), nr::ShapeError, "of one rank");
  NEURONA_EXPECT_THROW_MSG(mha->attend(q, v, {}, {.attention_mask = nr::ones({2, 4, 6})}),
                           nr::ShapeError, "attention_mask must have shape (2, 3, 4, 6)");
  NEURONA_EXPECT_THROW_MSG(mha->attend(q, v, {}, {.use_causal_mask = true}),
                           nr::NotImplementedError, "inputs of rank 4 take an attention_mask");
  nr::Tensor masked = q;
  masked.set_keras_mask(nr::ones({2, 3, 4}, {.dtype = nr::uint8}));
  NEURONA_EXPECT_THROW_MSG(mha->attend(masked, v), nr::NotImplementedError, "the masks");
  // An attention_mask with a batch of 1 applies to every row.
  const nr::Tensor all = nr::ones({1, 3, 4, 6});
  EXPECT_TRUE(nr::testing::all_close(mha->attend(q, v, {}, {.attention_mask = all})[0],
                                     out[0].to_vector<double>(), 1e-6));
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
  NEURONA_EXPECT_THROW_MSG(L::MultiHeadAttention(2, 2, {.attention_axes = std::vector<int>{}}),
                           nr::ValueError, "`attention_axes` must name at least one axis");
  NEURONA_EXPECT_THROW_MSG(L::MultiHeadAttention(2, 2, {.attention_axes = std::vector<int>{2}})
                               ->attend(nr::zeros({1, 3, 4}), nr::zeros({1, 3, 4})),
                           nr::ValueError,
                           "attention_axes 2 is not an axis between the batch and the features");
  auto m = L::MultiHeadAttention(2, 2);
  NEURONA_EXPECT_THROW_MSG(
      m->attend(nr::zeros({1, 3, 4}), nr::zeros({1, 5, 4}), nr::zeros({1, 6, 4})), nr::ValueError,
      "All dimensions of `value` and `key`");
  NEURONA_EXPECT_THROW_MSG(m->attend(nr::zeros({3, 4}), nr::zeros({3, 4})), nr::ShapeError,
                           "(batch, steps..., features)");
  // Batches of different sizes (a reshape failed deep inside before), as Keras's shapes check.
  NEURONA_EXPECT_THROW_MSG(m->attend(nr::zeros({3, 3, 4}), nr::zeros({2, 3, 4})), nr::ShapeError,
                           "axis 0", "query_shape=(3, 3, 4)", "value_shape=(2, 3, 4)");
  NEURONA_EXPECT_THROW_MSG(
      m->attend(nr::zeros({2, 3, 4}), nr::zeros({2, 5, 4}), nr::zeros({1, 5, 4})), nr::ValueError,
      "All dimensions of `value` and `key`");
  // A built layer's projections fix the inputs' features.
  (void)m->attend(nr::zeros({2, 3, 4}), nr::zeros({2, 5, 4}));
  NEURONA_EXPECT_THROW_MSG(m->attend(nr::zeros({2, 3, 6}), nr::zeros({2, 3, 4})), nr::ShapeError,
                           "the query has 6 features", "(2, 3, 6)", "built for 4");
  NEURONA_EXPECT_THROW_MSG(
      m->attend(nr::zeros({2, 3, 4}), nr::zeros({2, 5, 4}), nr::zeros({2, 5, 9})), nr::ShapeError,
      "the key has 9 features", "built for 4");
  // Symbolic batches (None) agree with any.
  EXPECT_EQ(m->attend(nr::Input({3, 4}), nr::Input({5, 4}))[0].shape(), nr::Shape({-1, 3, 4}));
}

// ---------------------------------------------------------------- functional calls and saving

// Keras's mha(query, value, use_causal_mask=True) in a functional model: the keyword arguments
// are part of the call, in the model's predictions and in its config.
TEST(MultiHeadAttention, SymbolicCallKeepsItsKeywordArgumentsThroughSaving) {
  namespace fs = std::filesystem;
  nr::set_seed(4);
  auto x = nr::Input({5, 6});
  auto mha = L::MultiHeadAttention(2, 3);
  const auto outs =
      mha->attend(x, x, {}, {.use_causal_mask = true, .return_attention_scores = true});
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0].shape(), nr::Shape({-1, 5, 6}));
  EXPECT_EQ(outs[1].shape(), nr::Shape({-1, 2, 5, 5}));
  nr::Model model(x, {outs[0], outs[1]});
  const nr::Tensor xs = nr::testing::random_tensor({2, 5, 6}, nr::float32, -1, 1, 9);
  const auto ys = model.predict(std::vector<nr::Tensor>{xs});
  const auto eager =
      mha->attend(xs, xs, {}, {.use_causal_mask = true, .return_attention_scores = true});
  EXPECT_TRUE(nr::testing::all_close(ys[0], eager[0].to_vector<double>(), 1e-6, 1e-6));
  // Causal: query 0 sees key 0 only.
  const auto scores = ys[1].to_vector<double>();
  EXPECT_NEAR(scores[0], 1.0, 1e-6);
  EXPECT_EQ(scores[1], 0.0);

  const std::string json = nr::models::detail::model_config_json(model);
  EXPECT_NE(json.find("\"use_causal_mask\":true"), std::string::npos) << json;
  const fs::path dir =
      fs::temp_directory_path() / ("neurona_mha_kwargs_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  model.save((dir / "model.keras").string());
  auto again = nr::models::load_model((dir / "model.keras").string());
  const auto back = again->predict(std::vector<nr::Tensor>{xs});
  ASSERT_EQ(back.size(), 2u);
  EXPECT_TRUE(nr::testing::all_close(back[0], ys[0].to_vector<double>(), 1e-6, 1e-6));
  EXPECT_TRUE(nr::testing::all_close(back[1], ys[1].to_vector<double>(), 1e-6, 1e-6));
  fs::remove_all(dir);

  // Layers that take no keyword arguments refuse them, naming the argument.
  NEURONA_EXPECT_THROW_MSG(
      L::Dense(2)->apply_with_kwargs({x}, nr::ConfigValue::Dict{{"use_causal_mask", true}}),
      nr::ValueError, "unexpected keyword argument 'use_causal_mask'");
  NEURONA_EXPECT_THROW_MSG(mha->apply_with_kwargs({x, x}, nr::ConfigValue::Dict{{"query_mask", 1}}),
                           nr::ValueError, "'query_mask' must be a tensor, got int");
  NEURONA_EXPECT_THROW_MSG(mha->apply_with_kwargs({x, x}, nr::ConfigValue::Dict{{"mask", 1}}),
                           nr::ValueError, "unexpected keyword argument 'mask'");
  NEURONA_EXPECT_THROW_MSG(mha->attend(x, x, {}, {.attention_mask = nr::ones({1, 5, 5})}),
                           nr::ValueError,
                           "takes its attention_mask, value_mask and key_mask as symbolic tensors");
}

// Keras's mha(e, e, attention_mask=m, use_causal_mask=True) with m a model input: the mask is a
// tensor keyword argument of the call, read from and written to .keras files as Keras writes it.
TEST(MultiHeadAttentionSaving, KerasAttentionMaskInputLoadsAndPredictsKerasOutputs) {
  const Ref ref = nr::testing::load_reference("attention", "attention_mask_model");
  const auto file = nr::testing::reference_dir() / "attention" / "attention_mask_model.keras";
  auto model = nr::models::load_model(file.string());
  const std::vector<nr::Tensor> inputs{nr::cast(reference_tensor(ref, "tokens"), nr::int32),
                                       reference_tensor(ref, "attention_mask")};
  const nr::Tensor y = model->predict(inputs)[0];
  EXPECT_TRUE(close_to_reference(y, ref, "y"));
  const std::string json = nr::models::detail::model_config_json(*model);
  EXPECT_NE(json.find("\"attention_mask\":{\"class_name\":\"__keras_tensor__\""), std::string::npos)
      << json;
  nr::testing::expect_save_and_load_round_trip(*model, file, inputs, {y}, "mha_mask_saving");

  // The same call written with neurona: attend's last argument.
  nr::set_seed(1);
  auto tokens = nr::Input({5}, {.dtype = nr::int32});
  auto mask = nr::Input({5, 5});
  auto embedding = L::Embedding(20, 8);
  auto e = embedding(tokens);
  auto mha = L::MultiHeadAttention(2, 4);
  auto a = mha->attend(e, e, {}, {.use_causal_mask = true}, mask)[0];
  nr::Model mine({tokens, mask}, a);
  const nr::Tensor es = embedding(inputs[0]);
  const nr::Tensor eager =
      mha->attend(es, es, {}, {.attention_mask = inputs[1], .use_causal_mask = true})[0];
  EXPECT_TRUE(
      nr::testing::all_close(mine.predict(inputs)[0], eager.to_vector<double>(), 1e-6, 1e-6));
  const auto unmasked = mha->attend(es, es, {}, {.use_causal_mask = true})[0].to_vector<double>();
  EXPECT_FALSE(nr::testing::all_close(eager, unmasked, 1e-4, 1e-4));  // the mask took part
  // `{}` in the mask's place is no masks (the AttentionMaskTensors overload, not the mask's).
  nr::Model plain(tokens, mha->attend(e, e, {}, {.use_causal_mask = true}, {})[0]);
  EXPECT_TRUE(nr::testing::all_close(plain.predict(std::vector<nr::Tensor>{inputs[0]})[0], unmasked,
                                     1e-6, 1e-6));
  const auto back =
      nr::models::detail::model_from_config_json(nr::models::detail::model_config_json(mine));
  back->set_weights(mine.get_weights());
  EXPECT_TRUE(
      nr::testing::all_close(back->predict(inputs)[0], eager.to_vector<double>(), 1e-6, 1e-6));
}

namespace {
// Keras's keyword_masks_model (make_keras_mha_references.py) written with neurona: masked
// embeddings, cross-attention given value_mask and key_mask inputs (and a query_mask, which
// Keras ignores), then self-attention given a key_mask without a key.
nr::Model neurona_keyword_masks_model() {
  auto tokens = nr::Input({5}, {.name = "tokens", .dtype = nr::int32});
  auto context = nr::Input({6}, {.name = "context", .dtype = nr::int32});
  auto value_mask = nr::Input({6}, {.name = "value_mask", .dtype = nr::int32});
  auto key_mask = nr::Input({6}, {.name = "key_mask"});
  auto query_mask = nr::Input({5}, {.name = "query_mask"});
  auto self_key_mask = nr::Input({5}, {.name = "self_key_mask", .dtype = nr::int32});
  // Embeddings of unit scale, as Keras's, so that the masks move the output by order 1.
  const nr::initializers::RandomNormal wide({.stddev = 1.0});
  auto q = L::Embedding(20, 8, {.embeddings_initializer = wide, .mask_zero = true})(tokens);
  auto c = L::Embedding(20, 8, {.embeddings_initializer = wide, .mask_zero = true})(context);
  auto k = L::Dense(8)(c);
  auto cross = L::MultiHeadAttention(2, 4);
  // query_mask through the generic keyword call: the typed one has no field for it.
  auto a = cross->apply_with_kwargs(
      {q, c, k}, nr::ConfigValue::Dict{}, std::nullopt,
      {{"query_mask", query_mask}, {"value_mask", value_mask}, {"key_mask", key_mask}})[0];
  auto b = L::MultiHeadAttention(2, 3)->attend(a, a, {}, {}, {.key_mask = self_key_mask})[0];
  return nr::Model({tokens, context, value_mask, key_mask, query_mask, self_key_mask},
                   L::Dense(3)(L::Add()({a, b})));
}

std::vector<nr::Tensor> keyword_masks_inputs(const Ref& ref) {
  std::vector<nr::Tensor> inputs;
  for (const char* name :
       {"tokens", "context", "value_mask", "key_mask", "query_mask", "self_key_mask"}) {
    const bool ints = std::string(name) != "key_mask" && std::string(name) != "query_mask";
    const nr::Tensor t = reference_tensor(ref, name);
    inputs.push_back(ints ? nr::cast(t, nr::int32) : t);
  }
  return inputs;
}
}  // namespace

// Keras's value_mask, key_mask and query_mask keyword arguments as model inputs, in a .keras
// file that Keras 3 saved: the given value and key masks replace the masks the value and the key
// carry, a key_mask applies without a key, a query_mask is read and ignored (as Keras's call
// ignores it). The model predicts Keras's outputs, round-trips, and the same model written with
// neurona's API (AttentionMaskTensors) predicts the same with the same weights.
TEST(MultiHeadAttentionSaving, KerasKeywordMasksLoadAndPredictKerasOutputs) {
  const Ref ref = nr::testing::load_reference("attention", "keyword_masks_model");
  const auto file = nr::testing::reference_dir() / "attention" / "keyword_masks_model.keras";
  auto model = nr::models::load_model(file.string());
  const std::vector<nr::Tensor> inputs = keyword_masks_inputs(ref);
  const nr::Tensor y = model->predict(inputs)[0];
  EXPECT_TRUE(close_to_reference(y, ref, "y"));
  const std::string json = nr::models::detail::model_config_json(*model);
  for (const char* kwarg : {R"("query_mask":{"class_name":"__keras_tensor__")",
                            R"("value_mask":{"class_name":"__keras_tensor__")",
                            R"("key_mask":{"class_name":"__keras_tensor__")"}) {
    EXPECT_NE(json.find(kwarg), std::string::npos) << kwarg << " in " << json;
  }
  nr::testing::expect_save_and_load_round_trip(*model, file, inputs, {y}, "mha_keyword_masks");

  // Each given mask takes part (the query_mask does not): all ones instead changes the output.
  for (std::size_t i = 2; i < inputs.size(); ++i) {
    std::vector<nr::Tensor> ones = inputs;
    ones[i] = nr::ones_like(inputs[i]);
    const bool same =
        nr::testing::all_close(model->predict(ones)[0], y.to_vector<double>(), 1e-5, 1e-5);
    EXPECT_EQ(same, i == 4) << "input " << i;
  }

  nr::set_seed(3);
  nr::Model mine = neurona_keyword_masks_model();
  mine.set_weights(model->get_weights());
  EXPECT_TRUE(nr::testing::all_close(mine.predict(inputs)[0], y.to_vector<double>(), 1e-5, 1e-5));
  const auto back =
      nr::models::detail::model_from_config_json(nr::models::detail::model_config_json(mine));
  back->set_weights(mine.get_weights());
  EXPECT_TRUE(nr::testing::all_close(back->predict(inputs)[0], y.to_vector<double>(), 1e-5, 1e-5));
}

// The eager call's value_mask and key_mask: a given one replaces the mask its tensor carries,
// a key_mask applies without a key, each acts as the attention_mask it broadcasts to, and a
// mask of the wrong shape is refused naming it.
TEST(MultiHeadAttention, GivenValueAndKeyMasksActAsKerasKeywordArguments) {
  nr::set_seed(5);
  auto mha = L::MultiHeadAttention(2, 3);
  const nr::Tensor q = nr::testing::random_tensor({2, 4, 5}, nr::float32, -1, 1, 1);
  nr::Tensor v = nr::testing::random_tensor({2, 6, 5}, nr::float32, -1, 1, 2);
  const nr::Tensor m1 =
      nr::testing::make_tensor({1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 1, 0}, {2, 6}, nr::float32);
  const nr::Tensor m2 =
      nr::testing::make_tensor({1, 0, 1, 1, 1, 0, 1, 1, 0, 0, 1, 1}, {2, 6}, nr::float32);
  // (batch, T, S) from a (batch, S) mask, every query row alike.
  const auto rows = [](const nr::Tensor& m) {
    return nr::broadcast_to(nr::reshape(m, {2, 1, 6}), {2, 4, 6});
  };
  const auto as_mask = [&](const nr::Tensor& m) {
    return mha->attend(q, v, {}, {.attention_mask = rows(m)})[0].to_vector<double>();
  };
  const auto with_m1 = as_mask(m1), with_m2 = as_mask(m2);
  ASSERT_FALSE(nr::testing::all_close(with_m1, with_m2, 1e-4, 1e-4));
  EXPECT_TRUE(
      nr::testing::all_close(mha->attend(q, v, {}, {.value_mask = m2})[0], with_m2, 1e-6, 1e-6));
  EXPECT_TRUE(
      nr::testing::all_close(mha->attend(q, v, {}, {.key_mask = m2})[0], with_m2, 1e-6, 1e-6));
  // v carries m1: a given value_mask replaces it; a key_mask joins it (AND).
  v.set_keras_mask(m1);
  EXPECT_TRUE(nr::testing::all_close(mha->attend(q, v)[0], with_m1, 1e-6, 1e-6));
  EXPECT_TRUE(
      nr::testing::all_close(mha->attend(q, v, {}, {.value_mask = m2})[0], with_m2, 1e-6, 1e-6));
  EXPECT_TRUE(nr::testing::all_close(mha->attend(q, v, {}, {.key_mask = m2})[0], as_mask(m1 * m2),
                                     1e-6, 1e-6));
  // A key carrying m1 with a key_mask m2 given (the value unmasked): m2 alone.
  const nr::Tensor plain_key = nr::testing::random_tensor({2, 6, 5}, nr::float32, -1, 1, 3);
  nr::Tensor k = nr::testing::random_tensor({2, 6, 5}, nr::float32, -1, 1, 3);
  k.set_keras_mask(m1);
  v.set_keras_mask({});
  const auto keyed =
      mha->attend(q, v, plain_key, {.attention_mask = rows(m2)})[0].to_vector<double>();
  EXPECT_FALSE(nr::testing::all_close(mha->attend(q, v, k)[0], keyed, 1e-4, 1e-4));
  EXPECT_TRUE(nr::testing::all_close(mha->attend(q, v, k, {.key_mask = m2})[0], keyed, 1e-6, 1e-6));
  NEURONA_EXPECT_THROW_MSG(mha->attend(q, v, {}, {.value_mask = nr::ones({2, 5})}), nr::ShapeError,
                           "value_mask must have shape (2, 6) (the value's batch and steps), got "
                           "(2, 5)");
  NEURONA_EXPECT_THROW_MSG(mha->attend(q, v, k, {.key_mask = nr::ones({6})}), nr::ShapeError,
                           "key_mask must have shape (2, 6)");
  auto x = nr::Input({4, 5});
  NEURONA_EXPECT_THROW_MSG(mha->attend(x, x, {}, {.value_mask = m1}), nr::ValueError,
                           "as symbolic tensors (the last argument)");
  // A symbolic mask of the wrong length is refused when the model is made.
  NEURONA_EXPECT_THROW_MSG(mha->attend(x, x, {}, {}, {.key_mask = nr::Input({5})}), nr::ShapeError,
                           "key_mask must have shape (None, 4) (the value's batch and steps), "
                           "got (None, 5)");
}

// A small transformer saved by Keras 3 (make_keras_mha_references.py): token and position
// Embeddings, causal self-attention, GELU feed-forward, LayerNormalization, cross-attention on
// the masked token embeddings. It loads, predicts what Keras predicted on padded inputs, and
// saves back to files that load with the same configs and predictions.
// use_gate and sliding_window through a .keras file that Keras saved: the gate's weights
// (Keras's group _gate_dense) load, the model predicts Keras's outputs, and round-trips.
TEST(MultiHeadAttentionSaving, KerasGatedSlidingWindowModelLoadsAndPredictsKerasOutputs) {
  namespace fs = std::filesystem;
  const Ref ref = nr::testing::load_reference("attention", "gate_window_model");
  const fs::path file = nr::testing::reference_dir() / "attention" / "gate_window_model.keras";
  auto model = nr::models::load_model(file.string());
  const nr::Tensor x = reference_tensor(ref, "x");
  const nr::Tensor y = model->predict(x);
  EXPECT_TRUE(close_to_reference(y, ref, "y"));
  nr::testing::expect_save_and_load_round_trip(*model, file, {x}, {y}, "mha_gate_saving");
}

// A model whose MultiHeadAttention has output_shape (2, 4), saved by Keras 3
// (make_keras_mha_references.py --output-shape): it loads, predicts Keras's outputs and
// round-trips.
TEST(MultiHeadAttentionSaving, KerasOutputShapeModelLoadsPredictsAndRoundTrips) {
  const Ref ref = nr::testing::load_reference("attention", "output_shape_model");
  const auto file = nr::testing::reference_dir() / "attention" / "output_shape_model.keras";
  auto model = nr::models::load_model(file.string());
  const nr::Tensor x = reference_tensor(ref, "x");
  const nr::Tensor y = model->predict(x);
  EXPECT_TRUE(close_to_reference(y, ref, "y"));
  nr::testing::expect_save_and_load_round_trip(*model, file, {x}, {y}, "mha_output_shape_saving");
}

TEST(MultiHeadAttentionSaving, KerasTransformerLoadsAndPredictsKerasOutputs) {
  namespace fs = std::filesystem;
  const Ref ref = nr::testing::load_reference("attention", "transformer_model");
  const fs::path file = nr::testing::reference_dir() / "attention" / "transformer_model.keras";
  auto model = nr::models::load_model(file.string());
  const std::vector<nr::Tensor> inputs{nr::cast(reference_tensor(ref, "tokens"), nr::int32),
                                       nr::cast(reference_tensor(ref, "positions"), nr::int32)};
  const nr::Tensor y = model->predict(inputs)[0];
  EXPECT_TRUE(close_to_reference(y, ref, "y"));
  nr::testing::expect_save_and_load_round_trip(*model, file, inputs, {y}, "mha_saving");
}

// A functional model of two MultiHeadAttention layers on rank-4 inputs saved by Keras 3
// (make_keras_mha_references.py --axes): attention over each row's steps (attention_axes (2,)),
// then over the whole grid (the default axes). It loads, predicts what Keras predicted, and
// saves back to files that load with the same configs and predictions.
TEST(MultiHeadAttentionSaving, KerasGridAttentionModelLoadsPredictsAndRoundTrips) {
  const Ref ref = nr::testing::load_reference("attention", "axes_model");
  const auto file = nr::testing::reference_dir() / "attention" / "axes_model.keras";
  auto model = nr::models::load_model(file.string());
  const std::vector<nr::Tensor> inputs{reference_tensor(ref, "x")};
  const nr::Tensor y = model->predict(inputs)[0];
  EXPECT_TRUE(close_to_reference(y, ref, "y"));
  nr::testing::expect_save_and_load_round_trip(*model, file, inputs, {y}, "mha_axes_saving");
}

namespace {
// neurona's transformer for the Keras check: the same architecture written with neurona.
nr::Model neurona_transformer() {
  nr::clear_session();
  nr::set_seed(8);
  auto tokens = nr::Input({6}, {.name = "tokens", .dtype = nr::int32});
  auto positions = nr::Input({6}, {.name = "positions", .dtype = nr::int32});
  auto attention_mask = nr::Input({6, 6}, {.name = "attention_mask"});
  auto e = L::Embedding(20, 16, {.mask_zero = true})(tokens);
  auto p = L::Embedding(6, 16)(positions);
  // KerasHub's positional layers beside the position Embedding.
  auto learned = L::PositionEmbedding(6)(e);
  auto sines = L::SinePositionEncoding()(e);
  auto h = L::Add()({e, p, learned, sines});
  auto a =
      L::MultiHeadAttention(2, 8)->attend(h, h, {}, {.use_causal_mask = true}, attention_mask)[0];
  h = L::LayerNormalization({.epsilon = 1e-5})(L::Add()({h, a}));
  auto f = L::Dense(32, {.activation = "gelu"})(h);
  h = L::LayerNormalization({.epsilon = 1e-5})(L::Add()({h, L::Dense(16)(f)}));
  auto c = L::MultiHeadAttention(2, 4, {.value_dim = 4})({h, e});
  // The other attention layers, on masked token embeddings of their own: Keras's
  // MultiHeadAttention strips the masks off the tensors it was called on (set_keras_mask(value,
  // None)), so a layer that Keras runs after it would see `e` unmasked; neurona does not copy
  // that side effect.
  auto e2 = L::Embedding(20, 16, {.mask_zero = true})(tokens);
  auto luong = L::Attention({.use_scale = true})
                   ->attend(h, e2, {}, {.use_causal_mask = true, .return_attention_scores = true});
  auto bahdanau = L::AdditiveAttention()({h, e2});
  return nr::Model({tokens, positions, attention_mask},
                   {L::Dense(20)(L::Add()({h, c, luong[0], bahdanau})), luong[1]});
}
}  // namespace

// neurona's own files into $NEURONA_WRITE_MHA_FIXTURES, for
// `make_keras_mha_references.py --check DIR` (Keras loads them and reproduces neurona's y).
TEST(MultiHeadAttentionSaving, WriteFixturesForKerasWhenAsked) {
  namespace fs = std::filesystem;
  NEURONA_FIXTURE_DIR_OR_SKIP(dir, "NEURONA_WRITE_MHA_FIXTURES");
  nr::Model model = neurona_transformer();
  const nr::Tensor tokens =
      nr::testing::make_tensor({4, 9, 2, 0, 0, 0, 1, 2, 3, 4, 5, 6}, {2, 6}, nr::int32);
  const nr::Tensor positions =
      nr::testing::make_tensor({0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5}, {2, 6}, nr::int32);
  // Every query sees its first key, and keys 2 and 4 of the first row are hidden.
  std::vector<double> mask(2 * 6 * 6, 1.0);
  for (int q = 0; q < 6; ++q) mask[q * 6 + 2] = mask[q * 6 + 4] = q == 0 ? 1.0 : 0.0;
  const nr::Tensor attention_mask = nr::testing::make_tensor(mask, {2, 6, 6});
  const auto ys = model.predict({tokens, positions, attention_mask});
  const fs::path base = fs::path(dir) / "transformer";
  model.save(base.string() + ".keras");
  model.save_weights(base.string() + ".weights.h5");
  std::ofstream io(base.string() + ".txt");
  nr::testing::write_reference_line(io, "tokens", tokens);
  nr::testing::write_reference_line(io, "positions", positions);
  nr::testing::write_reference_line(io, "attention_mask", attention_mask);
  nr::testing::write_reference_line(io, "y", ys[0]);
  nr::testing::write_reference_line(io, "scores", ys[1]);

  // Keras's grid-attention model as neurona saves it, with neurona's predictions.
  const Ref ref = nr::testing::load_reference("attention", "axes_model");
  auto grid = nr::models::load_model(
      (nr::testing::reference_dir() / "attention" / "axes_model.keras").string());
  const nr::Tensor x = reference_tensor(ref, "x");
  const fs::path axes = fs::path(dir) / "axes_model";
  grid->save(axes.string() + ".keras");
  std::ofstream axes_io(axes.string() + ".txt");
  nr::testing::write_reference_line(axes_io, "x", x);
  nr::testing::write_reference_line(axes_io, "y", grid->predict(x));

  // The keyword-mask model written with neurona (its own weights), with its predictions.
  nr::set_seed(21);
  nr::Model masked = neurona_keyword_masks_model();
  const std::vector<nr::Tensor> masked_inputs =
      keyword_masks_inputs(nr::testing::load_reference("attention", "keyword_masks_model"));
  const fs::path km = fs::path(dir) / "keyword_masks_model";
  masked.save(km.string() + ".keras");
  std::ofstream km_io(km.string() + ".txt");
  const char* names[] = {"tokens",   "context",    "value_mask",
                         "key_mask", "query_mask", "self_key_mask"};
  for (std::size_t i = 0; i < masked_inputs.size(); ++i) {
    nr::testing::write_reference_line(km_io, names[i], masked_inputs[i]);
  }
  nr::testing::write_reference_line(km_io, "y", masked.predict(masked_inputs)[0]);
}

// The stored copies of those files (tests/reference/attention/from_neurona/, which Keras 3.15.1
// loads and reproduces within 5.4e-7) still load into neurona and give the outputs stored
// beside them.
TEST(MultiHeadAttentionSaving, NeuronaFilesThatKerasLoadsStillLoad) {
  const auto dir = nr::testing::reference_dir() / "attention" / "from_neurona";
  const Ref io = nr::testing::parse_reference(dir / "transformer.txt");
  auto model = nr::models::load_model((dir / "transformer.keras").string());
  const auto ys =
      model->predict(std::vector<nr::Tensor>{nr::cast(reference_tensor(io, "tokens"), nr::int32),
                                             nr::cast(reference_tensor(io, "positions"), nr::int32),
                                             reference_tensor(io, "attention_mask")});
  ASSERT_EQ(ys.size(), 2u);
  EXPECT_TRUE(close_to_reference(ys[0], io, "y"));
  EXPECT_TRUE(close_to_reference(ys[1], io, "scores"));
  // The rank-4 grid-attention model (Keras reproduces it within 7.2e-7, 2026-12-06).
  const Ref axes = nr::testing::parse_reference(dir / "axes_model.txt");
  auto grid = nr::models::load_model((dir / "axes_model.keras").string());
  EXPECT_TRUE(close_to_reference(grid->predict(reference_tensor(axes, "x")), axes, "y"));
  // The keyword-mask model (value_mask, key_mask and query_mask inputs).
  const Ref masks = nr::testing::parse_reference(dir / "keyword_masks_model.txt");
  auto masked = nr::models::load_model((dir / "keyword_masks_model.keras").string());
  EXPECT_TRUE(close_to_reference(masked->predict(keyword_masks_inputs(masks))[0], masks, "y"));
}
