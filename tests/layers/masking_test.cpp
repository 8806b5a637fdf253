// Masks as Keras 3 carries them: Embedding(mask_zero) and Masking make them, layers that
// support masking pass them on (merging layers combine them), GlobalAveragePooling1D, the
// losses, the metrics and BatchNormalization's training statistics use them; against Keras
// itself (tests/reference/masks/, made by tests/reference/make_keras_mask_references.py).
#include <cmath>
#include <filesystem>
#include <fstream>

#include <neurona/models/keras_config.h>
#include <neurona/neurona.h>

#include "support/gradcheck.h"
#include "support/paths.h"
#include "support/reference_file.h"
#include "support/saving_round_trip.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;

namespace {

using Ref = std::map<std::string, nr::testing::ReferenceEntry>;

Ref load(const std::string& name) {
  return nr::testing::load_reference("masks", name);
}

nr::Tensor tensor(const Ref& ref, const std::string& key, nr::DType dtype = nr::float32) {
  const auto it = ref.find(key);
  if (it == ref.end()) throw std::runtime_error("reference lacks " + key);
  return nr::testing::make_tensor(it->second.values, it->second.shape, dtype);
}

::testing::AssertionResult close(const nr::Tensor& actual, const Ref& ref, const std::string& key,
                                 double tol = 1e-5) {
  const auto& e = ref.at(key);
  if (actual.shape() != e.shape) {
    return ::testing::AssertionFailure()
           << key << ": shape " << actual.shape() << ", Keras " << e.shape;
  }
  return nr::testing::all_close(actual, e.values, tol, tol);
}

std::vector<nr::Tensor> weights_of(const Ref& ref, const char* prefix = "w") {
  std::vector<nr::Tensor> out;
  for (int i = 0;; ++i) {
    const std::string k = nr::detail::str(prefix, i);
    if (!ref.count(k)) return out;
    out.push_back(tensor(ref, k));
  }
}

}  // namespace

TEST(Embedding, MatchesKerasRowsMaskAndGradient) {
  const Ref ref = load("embedding");
  auto emb = L::Embedding(7, 4, {.mask_zero = true});
  const nr::Tensor x = tensor(ref, "x", nr::int32);
  emb->ensure_built(x.shape());
  emb->set_weights({tensor(ref, "w0")});
  nr::GradientTape tape;
  const nr::Tensor y = emb(x);
  EXPECT_TRUE(close(y, ref, "y"));
  ASSERT_TRUE(y.keras_mask().defined());
  EXPECT_EQ(y.keras_mask().dtype(), nr::uint8);
  EXPECT_TRUE(close(y.keras_mask(), ref, "mask"));
  const nr::Tensor loss = nr::sum(y * tensor(ref, "g"));
  EXPECT_TRUE(close(tape.gradient(loss, emb->embeddings()), ref, "grad_w0"));
}

TEST(Embedding, GradientOfTheTableMatchesCentralDifferencesInFloat64) {
  auto emb = L::Embedding(5, 3, {.dtype = nr::float64});
  const nr::Tensor x = nr::testing::make_tensor({0, 4, 4, 2, 1, 0}, {2, 3}, nr::int64);
  emb->ensure_built(x.shape());
  const nr::Tensor table = emb->get_weights()[0];
  const nr::Tensor g = nr::testing::random_tensor({2, 3, 3}, nr::float64, 0.5, 1.5, 3);
  nr::GradientTape tape;
  const nr::Tensor analytic = tape.gradient(nr::sum(emb(x) * g), emb->embeddings());
  const auto numeric = nr::testing::numeric_gradients(
      [&](const std::vector<nr::Tensor>& in) {
        emb->set_weights({in[0]});
        return nr::sum(emb(x) * g);
      },
      {table});
  EXPECT_TRUE(nr::testing::all_close(analytic, numeric[0], 1e-7, 1e-7));
}

TEST(Embedding, CastsFloatIndicesAndMakesNoMaskWithoutMaskZero) {
  auto emb =
      L::Embedding(4, 2, {.weights = nr::testing::make_tensor({0, 1, 2, 3, 4, 5, 6, 7}, {4, 2})});
  EXPECT_TRUE(emb->built());
  const nr::Tensor y = emb(nr::testing::make_tensor({3, 0}, {2}));
  EXPECT_EQ(y.dtype(), nr::float32);
  EXPECT_TRUE(nr::testing::all_close(y, {6, 7, 0, 1}));
  EXPECT_FALSE(y.keras_mask().defined());
  EXPECT_FALSE(emb->supports_masking());
  // NaN would be cast to row 0 silently: refused on the CPU, naming the index.
  NEURONA_EXPECT_THROW_MSG((void)emb(nr::testing::make_tensor({3, std::nan("")}, {2})),
                           nr::ValueError, "Embedding", "nan", "index 1", "(2,)");
  // A mixed policy returns the compute dtype; the table stays float32.
  auto mixed = L::Embedding(4, 2, {.dtype = "mixed_bfloat16"});
  EXPECT_EQ(mixed(nr::testing::make_tensor({1}, {1}, nr::int32)).dtype(), nr::DType::bfloat16);
  EXPECT_EQ(mixed->embeddings().dtype(), nr::float32);
}

TEST(Embedding, ConfigRoundTripsAndBadArgumentsAreRefused) {
  auto emb = L::Embedding(10, 3, {.mask_zero = true, .name = "tokens"});
  const nr::ConfigValue config = emb->get_config();
  EXPECT_EQ(config.at("input_dim").as_int(), 10);
  EXPECT_EQ(config.at("output_dim").as_int(), 3);
  EXPECT_TRUE(config.at("mask_zero").as_bool());
  EXPECT_EQ(config.at("embeddings_initializer").at("class_name").as_string(), "RandomUniform");
  auto back = L::Embedding::from_config(config);
  EXPECT_EQ(back->get_config(), config);
  EXPECT_EQ(back->name(), "tokens");
  NEURONA_EXPECT_THROW_MSG(L::Embedding(0, 3), nr::ValueError,
                           "`input_dim` must be a positive integer. Received: input_dim=0");
  NEURONA_EXPECT_THROW_MSG(L::Embedding(3, -1), nr::ValueError,
                           "`output_dim` must be a positive integer. Received: output_dim=-1");
  NEURONA_EXPECT_THROW_MSG(L::Embedding(3, 2, {.weights = nr::zeros({2, 2})}), nr::ShapeError,
                           "Embedding", "(input_dim, output_dim) = (3, 2)", "(2, 2)");
  EXPECT_THROW(emb(nr::testing::make_tensor({10}, {1}, nr::int32)), nr::ValueError);
  const nr::Tensor summary_in = nr::testing::make_tensor({1, 2}, {1, 2}, nr::int32);
  EXPECT_EQ(emb(summary_in).shape(), (nr::Shape{1, 2, 3}));
}

TEST(Masking, MatchesKeras) {
  const Ref ref = load("masking");
  const nr::Tensor y = L::Masking(0.5)(tensor(ref, "x"));
  EXPECT_TRUE(close(y, ref, "y"));
  EXPECT_TRUE(close(y.keras_mask(), ref, "mask"));
  auto masking = L::Masking(-1.0, {.name = "pad"});
  auto back = L::Masking::from_config(masking->get_config());
  EXPECT_EQ(back->mask_value(), -1.0);
  EXPECT_EQ(back->name(), "pad");
}

TEST(Masks, PassThroughDenseIntoGlobalAveragePoolingAsKeras) {
  const Ref ref = load("pooled_model");
  nr::Sequential model({
      L::Input({6}, {.dtype = nr::int32}),
      L::Embedding(10, 4, {.mask_zero = true}),
      L::Dense(3, {.activation = "relu"}),
      L::GlobalAveragePooling1D(),
      L::Dense(2),
  });
  model.set_weights(weights_of(ref));
  EXPECT_TRUE(close(model.predict(tensor(ref, "x", nr::int32)), ref, "y"));
}

TEST(Masks, MergingLayersCombineMasksAsKeras) {
  const Ref ref = load("merge");
  auto a = nr::Input({5}, {.dtype = nr::int32});
  auto b = nr::Input({5}, {.dtype = nr::int32});
  auto ea = L::Embedding(8, 3, {.mask_zero = true})(a);
  auto eb = L::Embedding(8, 3, {.mask_zero = true})(b);
  auto ec = L::Embedding(8, 3)(b);
  const auto gap = [](const nr::layers::KerasTensor& x) { return L::GlobalAveragePooling1D()(x); };
  nr::Model model({a, b}, {gap(L::Add()({ea, eb})), gap(L::Concatenate()({ea, eb})),
                           gap(L::Multiply()({ea, eb})), gap(L::Maximum()({ea, eb})),
                           gap(L::Minimum()({ea, ec})), gap(L::Add()({ea, ec}))});
  model.set_weights(weights_of(ref));
  const std::vector<nr::Tensor> y = model.predict(
      std::vector<nr::Tensor>{tensor(ref, "a", nr::int32), tensor(ref, "b", nr::int32)});
  const char* names[] = {"y_add",     "y_concat",          "y_multiply",
                         "y_maximum", "y_minimum_partial", "y_add_partial"};
  ASSERT_EQ(y.size(), 6u);
  for (std::size_t i = 0; i < y.size(); ++i) EXPECT_TRUE(close(y[i], ref, names[i])) << names[i];
}

TEST(Masks, LossAndAccuracyCountOnlyTheUnmaskedStepsAsKeras) {
  const Ref ref = load("masked_loss");
  nr::Sequential model({
      L::Input({6}, {.dtype = nr::int32}),
      L::Embedding(9, 4, {.mask_zero = true}),
      L::Dense(5, {.activation = "softmax"}),
  });
  model.set_weights(weights_of(ref));
  model.compile({.optimizer = nr::optimizers::SGD(0.5),
                 .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"}});
  const nr::Tensor x = tensor(ref, "x", nr::int32);
  const nr::Tensor y = tensor(ref, "y", nr::int32);
  const auto scores = model.evaluate(x, y, {.batch_size = 4, .verbose = 0});
  EXPECT_NEAR(scores.at("loss"), ref.at("loss").values[0], 1e-5);
  EXPECT_NEAR(scores.at("accuracy"), ref.at("accuracy").values[0], 1e-6);
  EXPECT_GT(std::abs(scores.at("loss") - ref.at("unmasked_loss").values[0]), 1e-3);
  const auto logs = model.train_on_batch(x, y);
  EXPECT_NEAR(logs.at("loss"), ref.at("train_loss").values[0], 1e-5);
  const std::vector<nr::Tensor> after = model.get_weights();
  const std::vector<nr::Tensor> expected = weights_of(ref, "after_w");
  ASSERT_EQ(after.size(), expected.size());
  for (std::size_t i = 0; i < after.size(); ++i) {
    EXPECT_TRUE(nr::testing::all_close(after[i], expected[i].to_vector<double>(), 1e-5, 1e-5))
        << "weight " << i;
  }
}

TEST(Masks, LayersWithoutMaskSupportDropTheMaskAndAnExplicitMaskWins) {
  const nr::Tensor tokens = nr::testing::make_tensor({1, 2, 0, 3, 0, 0}, {2, 3}, nr::int32);
  const nr::Tensor e = L::Embedding(4, 2, {.mask_zero = true})(tokens);
  ASSERT_TRUE(e.keras_mask().defined());
  EXPECT_TRUE(nr::testing::all_close(e.keras_mask(), {1, 1, 0, 1, 0, 0}));
  // Dropout and Dense pass it on; Flatten does not support masking; views drop it.
  EXPECT_TRUE(L::Dropout(0.5)(e).keras_mask().defined());
  EXPECT_TRUE(L::Dense(2)(e).keras_mask().defined());
  EXPECT_FALSE(L::Flatten()(e).keras_mask().defined());
  EXPECT_FALSE(e.reshape({2, 6}).keras_mask().defined());
  EXPECT_FALSE(nr::multiply(e, e).keras_mask().defined());
  // An explicit mask replaces the attached one (Keras's layer(x, mask=m)).
  auto gap = L::GlobalAveragePooling1D();
  const nr::Tensor all = nr::testing::make_tensor({1, 1, 1, 1, 1, 1}, {2, 3}, nr::uint8);
  EXPECT_TRUE(nr::testing::all_close(gap(e, all), nr::mean(e, 1).to_vector<double>()));
  EXPECT_FALSE(nr::testing::all_close(gap(e), nr::mean(e, 1).to_vector<double>()));
  // Softmax takes the attached mask as its mask argument, as Keras's does.
  const nr::Tensor scores = nr::ones({2, 3});
  nr::Tensor masked = scores.alias();
  masked.set_keras_mask(e.keras_mask());
  EXPECT_TRUE(nr::testing::all_close(L::Softmax()(masked), {0.5, 0.5, 0, 1, 0, 0}));
}

namespace {
// make_keras_mask_references.py's mask_argument_model written with neurona's layer(x, m).
nr::Model neurona_mask_argument_model() {
  auto features = nr::Input({5, 3}, {.name = "features"});
  auto tokens = nr::Input({5}, {.name = "tokens", .dtype = nr::int32});
  auto step_mask = nr::Input({5}, {.name = "step_mask", .dtype = nr::int32});
  auto h = L::LSTM(4, {.return_sequences = true})(features, step_mask);
  auto embedded = L::Embedding(10, 4, {.mask_zero = true})(tokens);
  auto pooled = L::GlobalAveragePooling1D()(L::Add()({h, embedded}), step_mask);
  return nr::Model({features, tokens, step_mask}, L::Dense(2)(pooled));
}

std::vector<nr::Tensor> mask_argument_inputs(const Ref& ref) {
  return {tensor(ref, "features"), tensor(ref, "tokens", nr::int32),
          tensor(ref, "step_mask", nr::int32)};
}

// make_keras_mask_references.py's attention_list_masks_model written with neurona's
// layer({q, v}, {qm, vm}).
nr::Model neurona_attention_list_masks_model() {
  auto query = nr::Input({4, 6}, {.name = "query"});
  auto query_tokens = nr::Input({4}, {.name = "query_tokens", .dtype = nr::int32});
  auto value_tokens = nr::Input({5}, {.name = "value_tokens", .dtype = nr::int32});
  auto query_mask = nr::Input({4}, {.name = "query_mask", .dtype = nr::int32});
  auto value_mask = nr::Input({5}, {.name = "value_mask", .dtype = nr::int32});
  auto value = L::Embedding(10, 6, {.mask_zero = true})(value_tokens);
  auto a = L::Attention({.use_scale = true})({query, value}, {query_mask, value_mask});
  auto q2 = L::Embedding(10, 6, {.mask_zero = true})(query_tokens);
  auto b = L::AdditiveAttention()({q2, value, value}, {{}, value_mask});
  return nr::Model({query, query_tokens, value_tokens, query_mask, value_mask},
                   L::Concatenate()({a, b}));
}

// `mine`, given the weights of Keras's model, predicts Keras's y, and so does the model its
// config makes.
void expect_predicts_keras(nr::Model& mine, const std::vector<nr::Tensor>& weights,
                           const std::vector<nr::Tensor>& inputs, const Ref& ref) {
  mine.set_weights(weights);
  EXPECT_TRUE(close(mine.predict(inputs)[0], ref, "y"));
  const auto back =
      nr::models::detail::model_from_config_json(nr::models::detail::model_config_json(mine));
  back->set_weights(weights);
  EXPECT_TRUE(close(back->predict(inputs)[0], ref, "y"));
}

// The .keras file Keras saved for `name` (make_keras_mask_references.py): it predicts Keras's
// y from `inputs` and round-trips. Returns the model and its prediction.
std::pair<std::shared_ptr<nr::Model>, nr::Tensor> expect_keras_file_predicts(
    const std::string& name, const std::vector<nr::Tensor>& inputs, const Ref& ref) {
  const auto file = nr::testing::reference_dir() / "masks" / (name + ".keras");
  auto model = nr::models::load_model(file.string());
  const nr::Tensor y = model->predict(inputs)[0];
  EXPECT_TRUE(close(y, ref, "y"));
  nr::testing::expect_save_and_load_round_trip(*model, file, inputs, {y}, name);
  return {std::move(model), y};
}

std::vector<nr::Tensor> attention_list_masks_inputs(const Ref& ref) {
  return {tensor(ref, "query"), tensor(ref, "query_tokens", nr::int32),
          tensor(ref, "value_tokens", nr::int32), tensor(ref, "query_mask", nr::int32),
          tensor(ref, "value_mask", nr::int32)};
}
}  // namespace

// Keras's layer(x, mask=m) with m a model input, in a .keras file Keras 3 saved
// (make_keras_mask_references.py): an LSTM over the steps m keeps, and a
// GlobalAveragePooling1D given m in place of the mask its input carries. The model predicts
// Keras's outputs and round-trips; the same model written with neurona's layer(x, m) predicts
// the same with the same weights, and its config names the masks as Keras does.
TEST(Masks, AMaskGivenToACallAsKerasWritesIt) {
  const Ref ref = load("mask_argument_model");
  const std::vector<nr::Tensor> inputs = mask_argument_inputs(ref);
  const auto [model, y] = expect_keras_file_predicts("mask_argument_model", inputs, ref);
  const std::string json = nr::models::detail::model_config_json(*model);
  EXPECT_NE(json.find(R"("mask":{"class_name":"__keras_tensor__")"), std::string::npos) << json;
  // The mask takes part: all ones instead changes the output.
  std::vector<nr::Tensor> ones = inputs;
  ones[2] = nr::ones_like(inputs[2]);
  EXPECT_FALSE(nr::testing::all_close(model->predict(ones)[0], y.to_vector<double>(), 1e-4, 1e-4));

  nr::Model mine = neurona_mask_argument_model();
  expect_predicts_keras(mine, model->get_weights(), inputs, ref);

  // A mask of a higher rank than the input, given to a layer whose call takes none, or to a
  // list call, is refused.
  auto features = nr::Input({5, 3});
  auto step_mask = nr::Input({5}, {.dtype = nr::int32});
  auto h = L::LSTM(4, {.return_sequences = true})(features);
  NEURONA_EXPECT_THROW_MSG((void)L::LSTM(4)(features, nr::Input({5, 3, 2})), nr::ShapeError,
                           "the mask must have rank 1 to the input's (input (None, 5, 3)), got "
                           "(None, 5, 3, 2)");
  NEURONA_EXPECT_THROW_MSG((void)L::Dense(4)(features, step_mask), nr::ValueError,
                           "its call takes no mask argument (as Keras's Dense.call takes none)");
  NEURONA_EXPECT_THROW_MSG((void)L::MultiHeadAttention(2, 2)(features, features), nr::ValueError,
                           "called on two symbolic tensors as layer(x, mask)");
  // A model on two inputs takes a list of masks, not one.
  auto a = nr::Input({5, 4});
  auto b = nr::Input({5, 4});
  const auto pair = std::make_shared<nr::Model>(std::vector{a, b}, L::Add()({a, b}));
  NEURONA_EXPECT_THROW_MSG(
      (void)pair->apply_with_kwargs({h, h}, nr::ConfigValue(), std::nullopt, {{"mask", step_mask}}),
      nr::ValueError, "a mask given as a keyword argument applies to a call on one tensor");
  // Given a list, it attaches each mask to its input (a None keeps the input's own, as Keras's
  // Functional.call): the first average counts m's steps only, the second every step.
  auto x1 = nr::Input({5, 4});
  auto x2 = nr::Input({5, 4});
  auto m = nr::Input({5}, {.dtype = nr::int32});
  const auto pooled = std::make_shared<nr::Model>(
      std::vector{a, b},
      L::Add()({L::GlobalAveragePooling1D()(a), L::GlobalAveragePooling1D()(b)}));
  nr::Model outer({x1, x2, m}, (*pooled)({x1, x2}, {m, {}}));
  const nr::Tensor v1 = nr::random_normal({2, 5, 4}, {.seed = 1});
  const nr::Tensor v2 = nr::random_normal({2, 5, 4}, {.seed = 2});
  const nr::Tensor vm = nr::testing::make_tensor({1, 1, 0, 1, 0, 0, 1, 1, 1, 1}, {2, 5}, nr::int32);
  const nr::Tensor expected = L::GlobalAveragePooling1D()(v1, vm) + nr::mean(v2, 1);
  EXPECT_TRUE(nr::testing::all_close(outer.predict(std::vector<nr::Tensor>{v1, v2, vm})[0],
                                     expected.to_vector<double>(), 1e-6, 1e-6));
  EXPECT_FALSE(
      nr::testing::all_close(expected, (nr::mean(v1, 1) + nr::mean(v2, 1)).to_vector<double>()));
}

// A symbolic list call given a list of masks that returns several tensors: Keras's
// Attention()([q, v], mask=[qm, vm], return_attention_scores=True) is attend(q, v, {}, {...},
// {qm, vm}), and a nested model with two outputs called with a mask per input is apply({x1,
// x2}, {m, {}}). Both predict what the eager calls give with the masks on the inputs, and the
// Attention model's config round-trips.
TEST(Masks, SymbolicListCallsGivenMasksReturnEveryOutput) {
  auto query = nr::Input({3, 4});
  auto value = nr::Input({5, 4});
  auto query_mask = nr::Input({3}, {.dtype = nr::int32});
  auto value_mask = nr::Input({5}, {.dtype = nr::int32});
  auto attention = L::Attention();
  const std::vector<L::KerasTensor> outs = attention->attend(
      query, value, {}, {.return_attention_scores = true}, {query_mask, value_mask});
  ASSERT_EQ(outs.size(), 2u);
  nr::Model model({query, value, query_mask, value_mask}, outs);
  const nr::Tensor q = nr::random_normal({2, 3, 4}, {.seed = 1});
  const nr::Tensor v = nr::random_normal({2, 5, 4}, {.seed = 2});
  const std::vector<double> qm_values{1, 0, 1, 1, 1, 0};
  const std::vector<double> vm_values{1, 1, 0, 1, 0, 0, 1, 1, 1, 1};
  const std::vector<nr::Tensor> inputs{q, v, nr::testing::make_tensor(qm_values, {2, 3}, nr::int32),
                                       nr::testing::make_tensor(vm_values, {2, 5}, nr::int32)};
  const std::vector<nr::Tensor> predicted = model.predict(inputs);
  ASSERT_EQ(predicted.size(), 2u);
  nr::Tensor q_masked = q.alias();
  q_masked.set_keras_mask(nr::testing::make_tensor(qm_values, {2, 3}, nr::uint8));
  nr::Tensor v_masked = v.alias();
  v_masked.set_keras_mask(nr::testing::make_tensor(vm_values, {2, 5}, nr::uint8));
  const std::vector<nr::Tensor> eager =
      attention->attend(q_masked, v_masked, {}, {.return_attention_scores = true});
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(nr::testing::all_close(predicted[i], eager.at(i).to_vector<double>(), 1e-6, 1e-6))
        << i;
  }
  // The value mask takes part: a masked key gets no attention.
  const std::vector<double> scores = predicted[1].to_vector<double>();
  for (std::size_t i = 0; i < scores.size(); ++i) {
    if (vm_values[(i / 15) * 5 + i % 5] == 0) {
      EXPECT_EQ(scores[i], 0.0) << i;
    }
  }
  const auto back =
      nr::models::detail::model_from_config_json(nr::models::detail::model_config_json(model));
  back->set_weights(model.get_weights());
  const std::vector<nr::Tensor> again = back->predict(inputs);
  ASSERT_EQ(again.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_TRUE(nr::testing::all_close(again[i], predicted[i].to_vector<double>(), 1e-6, 1e-6))
        << i;
  }

  // A nested model with an output per input: each average counts its mask's steps (a None
  // keeps the input's own: none here, so every step).
  auto a = nr::Input({5, 4});
  auto b = nr::Input({5, 4});
  const auto pooled = std::make_shared<nr::Model>(
      std::vector{a, b},
      std::vector{L::GlobalAveragePooling1D()(a), L::GlobalAveragePooling1D()(b)});
  auto x1 = nr::Input({5, 4});
  auto x2 = nr::Input({5, 4});
  auto m = nr::Input({5}, {.dtype = nr::int32});
  const std::vector<L::KerasTensor> pooled_outs = pooled->apply({x1, x2}, {m, {}});
  ASSERT_EQ(pooled_outs.size(), 2u);
  nr::Model outer({x1, x2, m}, pooled_outs);
  const nr::Tensor v1 = nr::random_normal({2, 5, 4}, {.seed = 3});
  const nr::Tensor v2 = nr::random_normal({2, 5, 4}, {.seed = 4});
  const nr::Tensor vm = nr::testing::make_tensor(vm_values, {2, 5}, nr::int32);
  const std::vector<nr::Tensor> averages = outer.predict(std::vector<nr::Tensor>{v1, v2, vm});
  ASSERT_EQ(averages.size(), 2u);
  EXPECT_TRUE(nr::testing::all_close(
      averages[0], L::GlobalAveragePooling1D()(v1, vm).to_vector<double>(), 1e-6, 1e-6));
  EXPECT_TRUE(nr::testing::all_close(averages[1], nr::mean(v2, 1).to_vector<double>(), 1e-6, 1e-6));
  // The single-output call refuses a layer that gives two, naming apply().
  NEURONA_EXPECT_THROW_MSG((void)(*pooled)({x1, x2}, {m, {}}), nr::ValueError,
                           "returns 2 tensors; call apply() to get them all");
}

// Keras's list call given a list of masks, Attention()([q, v], mask=[qm, vm]) with model inputs
// qm and vm, in a .keras file Keras 3 saved (make_keras_mask_references.py): an Attention given
// a value mask in place of the one its value carries, and an AdditiveAttention given
// mask=[None, vm] over a query that carries a mask (None: not zeroed at its padded steps). The
// model predicts Keras's outputs and round-trips; each mask takes part; the same model written
// with neurona's layer({q, v}, {qm, vm}) predicts the same, and the eager call reads the masks
// as the ones the inputs would carry.
TEST(Masks, AListCallGivenAListOfMasksAsKerasWritesIt) {
  const Ref ref = load("attention_list_masks_model");
  const std::vector<nr::Tensor> inputs = attention_list_masks_inputs(ref);
  const auto [model, y] = expect_keras_file_predicts("attention_list_masks_model", inputs, ref);
  const std::string json = nr::models::detail::model_config_json(*model);
  EXPECT_NE(json.find(R"("mask":[{"class_name":"__keras_tensor__")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("mask":[null,{"class_name":"__keras_tensor__")"), std::string::npos)
      << json;
  // Each given mask moves the output: all ones instead.
  for (std::size_t i : {3u, 4u}) {
    std::vector<nr::Tensor> ones = inputs;
    ones[i] = nr::ones_like(inputs[i]);
    EXPECT_FALSE(nr::testing::all_close(model->predict(ones)[0], y.to_vector<double>(), 1e-4, 1e-4))
        << i;
  }

  nr::Model mine = neurona_attention_list_masks_model();
  expect_predicts_keras(mine, model->get_weights(), inputs, ref);
  // Without the None, the query's own mask would zero the padded steps: another output.
  auto query = nr::Input({4, 6});
  auto query_tokens = nr::Input({4}, {.dtype = nr::int32});
  auto value_tokens = nr::Input({5}, {.dtype = nr::int32});
  auto query_mask = nr::Input({4}, {.dtype = nr::int32});
  auto value_mask = nr::Input({5}, {.dtype = nr::int32});
  auto value = L::Embedding(10, 6, {.mask_zero = true})(value_tokens);
  auto a = L::Attention({.use_scale = true})({query, value}, {query_mask, value_mask});
  auto q2 = L::Embedding(10, 6, {.mask_zero = true})(query_tokens);
  auto carried = L::AdditiveAttention()({q2, value, value});
  nr::Model plain({query, query_tokens, value_tokens, query_mask, value_mask},
                  L::Concatenate()({a, carried}));
  plain.set_weights(model->get_weights());
  EXPECT_FALSE(close(plain.predict(inputs)[0], ref, "y"));

  // A list of Nones is recorded and read back as one (Keras's mask=[None, None]: no masks, not
  // the ones the inputs carry), as the eager call reads it; a short list is recorded with a
  // None for each tensor past it, as Keras's Attention wants a list of 2 or 3.
  auto none = L::Attention()({q2, value}, {{}, {}});
  nr::Model nones({query, query_tokens, value_tokens, query_mask, value_mask}, none);
  const std::string nones_json = nr::models::detail::model_config_json(nones);
  EXPECT_NE(nones_json.find(R"("mask":[null,null])"), std::string::npos) << nones_json;
  const nr::Tensor no_masks = nones.predict(inputs)[0];
  const auto nones_back = nr::models::detail::model_from_config_json(nones_json);
  nones_back->set_weights(nones.get_weights());
  EXPECT_TRUE(nr::testing::all_close(nones_back->predict(inputs)[0], no_masks.to_vector<double>(),
                                     1e-6, 1e-6));
  nr::Model carried_masks({query, query_tokens, value_tokens, query_mask, value_mask},
                          L::Attention()({q2, value}));
  EXPECT_FALSE(nr::testing::all_close(carried_masks.predict(inputs)[0],
                                      no_masks.to_vector<double>(), 1e-4, 1e-4));
  auto short_list = L::Attention()({query, value}, {query_mask});
  const std::string short_json = nr::models::detail::model_config_json(
      nr::Model({query, query_tokens, value_tokens, query_mask, value_mask}, short_list));
  EXPECT_NE(short_json.find(R"("mask":[{"class_name":"__keras_tensor__")"), std::string::npos)
      << short_json;
  EXPECT_NE(short_json.find(R"(,0,0]}},null]}}])"), std::string::npos) << short_json;

  // Eager: the masks given are read as the masks the inputs would carry, and a None as none.
  const nr::Tensor q = nr::random_normal({2, 3, 4}, {.seed = 1});
  const nr::Tensor v = nr::random_normal({2, 5, 4}, {.seed = 2});
  const nr::Tensor qm = nr::testing::make_tensor({1, 0, 1, 1, 1, 0}, {2, 3}, nr::uint8);
  const nr::Tensor vm = nr::testing::make_tensor({1, 1, 0, 1, 0, 0, 1, 1, 1, 1}, {2, 5}, nr::uint8);
  nr::Tensor q_masked = q.alias();
  q_masked.set_keras_mask(qm);
  nr::Tensor v_masked = v.alias();
  v_masked.set_keras_mask(vm);
  auto attention = L::Attention();
  const nr::Tensor expected = attention({q_masked, v_masked});
  const std::vector<nr::Tensor> given = attention->apply({q, v}, {qm, vm});
  EXPECT_EQ(given.at(0).to_vector<float>(), expected.to_vector<float>());
  EXPECT_EQ(given.at(0).keras_mask().to_vector<std::uint8_t>(), qm.to_vector<std::uint8_t>());
  const nr::Tensor none_for_query = attention({q_masked, v}, {{}, vm});
  EXPECT_EQ(none_for_query.to_vector<float>(), attention({q, v_masked}).to_vector<float>());
  EXPECT_FALSE(none_for_query.keras_mask().defined());
  EXPECT_EQ(attention({q_masked, v_masked}, {{}, {}}).to_vector<float>(),
            attention({q, v}).to_vector<float>());
  EXPECT_EQ(attention->apply({q_masked, v_masked}, {}).at(0).to_vector<float>(),
            expected.to_vector<float>());  // an empty list: the masks they carry

  // Refused: a layer whose call takes no mask, a recurrent call, more masks than tensors, a
  // mask of another shape than its tensor's steps (when the layer runs) or of a higher rank.
  NEURONA_EXPECT_THROW_MSG((void)L::Add()({query, query}, {query_mask, query_mask}), nr::ValueError,
                           "its call takes no mask argument (as Keras's Add.call takes none)");
  NEURONA_EXPECT_THROW_MSG((void)attention->apply({q, v}, {qm, vm, vm}), nr::ValueError,
                           "got 3 masks for a call on 2 tensors");
  NEURONA_EXPECT_THROW_MSG((void)attention({q, v}, {qm, qm}), nr::ShapeError,
                           "the value_mask must have shape (batch, steps) = (2, 5), got (2, 3)");
  NEURONA_EXPECT_THROW_MSG(
      (void)L::Attention()({query, value}, {query_mask, nr::Input({5, 6, 2})}), nr::ShapeError,
      "the mask must have rank 1 to the input's (input (None, 5, 6)), got (None, 5, 6, 2)");
  auto h0 = nr::Input({2});
  NEURONA_EXPECT_THROW_MSG((void)L::SimpleRNN(2)({query, h0}, {query_mask, {}}), nr::ValueError,
                           "a list of masks applies to a call on a list of tensors, one mask per "
                           "tensor (a recurrent call takes one mask, for its sequences)");
}

// neurona's own files of the two mask models into $NEURONA_WRITE_MASK_FIXTURES, for
// `make_keras_mask_references.py --check DIR` (Keras loads them and reproduces neurona's y).
TEST(Masks, WriteFixturesForKerasWhenAsked) {
  namespace fs = std::filesystem;
  NEURONA_FIXTURE_DIR_OR_SKIP(dir, "NEURONA_WRITE_MASK_FIXTURES");
  const auto write = [&](const char* name, nr::Model& model,
                         const std::vector<nr::Tensor>& inputs) {
    const fs::path base = fs::path(dir) / name;
    model.save(base.string() + ".keras");
    std::ofstream io(base.string() + ".txt");
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      nr::testing::write_reference_line(io, model.inputs()[i].layer().name(), inputs[i]);
    }
    nr::testing::write_reference_line(io, "y", model.predict(inputs)[0]);
  };
  nr::set_seed(31);
  nr::Model argument = neurona_mask_argument_model();
  write("mask_argument_model", argument, mask_argument_inputs(load("mask_argument_model")));
  nr::Model list = neurona_attention_list_masks_model();
  write("attention_list_masks_model", list,
        attention_list_masks_inputs(load("attention_list_masks_model")));
}

// The stored copies of those files (tests/reference/masks/from_neurona/, which Keras 3.15.1
// loads and reproduces) still load into neurona and give the outputs stored beside them.
TEST(Masks, NeuronaFilesThatKerasLoadsStillLoad) {
  const auto dir = nr::testing::reference_dir() / "masks" / "from_neurona";
  for (const char* name : {"mask_argument_model", "attention_list_masks_model"}) {
    const Ref io = nr::testing::parse_reference(dir / (std::string(name) + ".txt"));
    auto model = nr::models::load_model((dir / (std::string(name) + ".keras")).string());
    std::vector<nr::Tensor> inputs;
    for (const auto& input : model->inputs()) {
      inputs.push_back(tensor(io, input.layer().name(), input.dtype()));
    }
    EXPECT_TRUE(close(model->predict(inputs)[0], io, "y")) << name;
  }
}

// A model given a mask (Keras's model(x, mask=m)) attaches it to its input for its layers, as
// Keras's Functional.call does, eagerly and inside another model.
TEST(Masks, AModelGivenAMaskAttachesItToItsInput) {
  auto x = nr::Input({3, 2});
  nr::Model inner(x, L::GlobalAveragePooling1D()(x));
  const nr::Tensor xs = nr::testing::make_tensor({1, 2, 3, 4, 5, 6, 1, 1, 2, 2, 9, 9}, {2, 3, 2});
  const nr::Tensor m = nr::testing::make_tensor({1, 1, 0, 0, 1, 1}, {2, 3}, nr::uint8);
  // Row 0 averages steps 0 and 1, row 1 steps 1 and 2.
  EXPECT_TRUE(nr::testing::all_close(inner(xs, m), {2, 3, 5.5, 5.5}));
  auto outer_x = nr::Input({3, 2});
  auto outer_m = nr::Input({3}, {.dtype = nr::uint8});
  auto shared = std::make_shared<nr::Model>(x, L::GlobalAveragePooling1D()(x));
  nr::Model outer({outer_x, outer_m}, (*shared)(outer_x, outer_m));
  EXPECT_TRUE(
      nr::testing::all_close(outer.predict(std::vector<nr::Tensor>{xs, m})[0], {2, 3, 5.5, 5.5}));
}

// An RNN's call on its sequences and initial states takes a mask too (Keras's
// lstm(x, initial_state=[h, c], mask=m)): the sequences' mask, written in configs beside the
// initial_state and read back.
TEST(Masks, AnRnnCallWithInitialStatesTakesAMask) {
  nr::set_seed(4);
  auto x = nr::Input({4, 3});
  auto h0 = nr::Input({2});
  auto c0 = nr::Input({2});
  auto m = nr::Input({4});
  auto lstm = L::LSTM(2);
  auto y = lstm->apply_with_kwargs({x, h0, c0}, nr::ConfigValue(), std::nullopt, {{"mask", m}})[0];
  nr::Model model({x, h0, c0, m}, y);
  const nr::Tensor xs = nr::testing::random_tensor({2, 4, 3}, nr::float32, -1, 1, 1);
  const nr::Tensor hs = nr::testing::random_tensor({2, 2}, nr::float32, -1, 1, 2);
  const nr::Tensor cs = nr::testing::random_tensor({2, 2}, nr::float32, -1, 1, 3);
  const nr::Tensor ms = nr::testing::make_tensor({1, 1, 0, 0, 1, 0, 1, 1}, {2, 4});
  const nr::Tensor got = model.predict(std::vector<nr::Tensor>{xs, hs, cs, ms})[0];
  nr::Tensor carried = xs.alias();
  carried.set_keras_mask(nr::not_equal(ms, nr::scalar_like(ms, 0.0)));
  const auto want = lstm->apply({carried, hs, cs})[0].to_vector<double>();
  EXPECT_TRUE(nr::testing::all_close(got, want, 1e-6, 1e-6));
  EXPECT_FALSE(nr::testing::all_close(lstm->apply({xs, hs, cs})[0], want, 1e-4, 1e-4));
  const std::string json = nr::models::detail::model_config_json(model);
  EXPECT_NE(json.find(R"("initial_state":[{"class_name":"__keras_tensor__")"), std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("mask":{"class_name":"__keras_tensor__")"), std::string::npos) << json;
  const auto back = nr::models::detail::model_from_config_json(json);
  back->set_weights(model.get_weights());
  EXPECT_TRUE(nr::testing::all_close(back->predict(std::vector<nr::Tensor>{xs, hs, cs, ms})[0],
                                     want, 1e-6, 1e-6));
}

TEST(BatchNormalization, MaskedTrainingMatchesKeras) {
  const Ref ref = load("masked_batch_norm");
  auto bn = L::BatchNormalization({.momentum = 0.5});
  const nr::Tensor x = tensor(ref, "x");
  const nr::Tensor mask = nr::cast(tensor(ref, "mask"), nr::uint8);
  bn->ensure_built(x.shape());
  bn->set_weights(weights_of(ref));
  nr::GradientTape tape;
  tape.watch(x);
  const nr::Tensor y = bn(x, mask, /*training=*/true);
  EXPECT_TRUE(close(y, ref, "y"));
  EXPECT_TRUE(close(bn->moving_mean().value(), ref, "moving_mean"));
  EXPECT_TRUE(close(bn->moving_variance().value(), ref, "moving_variance"));
  const std::vector<nr::Tensor> g =
      tape.gradient(nr::sum(y * tensor(ref, "g")), {x, bn->gamma().value(), bn->beta().value()});
  EXPECT_TRUE(close(g[0], ref, "grad_x"));
  EXPECT_TRUE(close(g[1], ref, "grad_w0"));
  EXPECT_TRUE(close(g[2], ref, "grad_w1"));
  // Without the mask the statistics differ: the padding would count.
  auto unmasked = L::BatchNormalization({.momentum = 0.5});
  unmasked->ensure_built(x.shape());
  unmasked->set_weights(weights_of(ref));
  EXPECT_FALSE(close(unmasked(x, /*training=*/true), ref, "y", 1e-3));
}
