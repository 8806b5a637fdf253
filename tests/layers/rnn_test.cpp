// The recurrent layers (SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed) against Keras 3:
// outputs and gradients from tests/reference/rnn/ (tests/reference/make_keras_rnn_references.py
// wrote them), float64 numerical gradients, configs, argument errors, stateful layers, and a
// model saved by Keras.
#include <neurona/models/keras_config.h>
#include <neurona/models/saving.h>
#include <neurona/neurona.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "layers/layer_gradcheck.h"
#include "support/paths.h"
#include "support/reference_file.h"
#include "support/saving_round_trip.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = neurona::layers;

namespace {

using Reference = nr::testing::Reference;

nr::Tensor tensor(const Reference& ref, const std::string& key) {
  const auto it = ref.find(key);
  if (it == ref.end()) throw std::runtime_error("reference lacks " + key);
  return nr::testing::make_tensor(it->second.values, it->second.shape);
}

std::string key(const char* prefix, std::size_t i) {
  std::string k(prefix);
  k.append(std::to_string(i));
  return k;
}

::testing::AssertionResult close(const nr::Tensor& actual, const Reference& ref,
                                 const std::string& k) {
  const auto& e = ref.at(k);
  if (actual.shape() != e.shape) {
    return ::testing::AssertionFailure()
           << k << ": shape " << actual.shape() << ", Keras " << e.shape;
  }
  auto r = nr::testing::all_close(actual, e.values, 2e-6, 2e-5);
  if (!r) return ::testing::AssertionFailure() << k << ": " << r.message();
  return r;
}

// Runs `layer` on the case's x (with its initial states and mask), compares every output and
// the gradients of sum_i sum(y_i * g_i) with respect to x, the states and the trainable weights.
void check(const std::string& name, const L::AnyLayer& layer) {
  SCOPED_TRACE(name);
  const Reference ref = nr::testing::load_reference("rnn", name);
  const nr::Tensor x = tensor(ref, "x");
  std::vector<nr::Tensor> states;
  for (std::size_t i = 0; ref.count(key("s", i)); ++i) states.push_back(tensor(ref, key("s", i)));
  const nr::Tensor mask = ref.count("mask") ? tensor(ref, "mask") : nr::Tensor();
  layer->ensure_built(x.shape());
  std::vector<nr::Tensor> weights;
  for (std::size_t i = 0; ref.count(key("w", i)); ++i) weights.push_back(tensor(ref, key("w", i)));
  layer->set_weights(weights);
  const std::vector<nr::Variable> trainable = layer->trainable_weights();
  nr::GradientTape tape;
  tape.watch(x);
  for (const auto& s : states) tape.watch(s);
  // The mask travels attached to the sequences, as an Embedding(mask_zero) or a Masking layer
  // leaves it (a copy of the handle: the same tensor for the tape).
  nr::Tensor sequences = x;
  sequences.set_keras_mask(mask);
  std::vector<nr::Tensor> inputs{sequences};
  inputs.insert(inputs.end(), states.begin(), states.end());
  const std::vector<nr::Tensor> ys = layer->apply(inputs);
  if (mask.defined()) {
    // Keras's compute_mask: the output keeps the mask only with return_sequences.
    const auto* rnn = dynamic_cast<const L::RNNLayer*>(layer.ptr().get());
    const bool sequences_out =
        rnn != nullptr
            ? rnn->return_sequences()
            : dynamic_cast<const L::BidirectionalLayer&>(*layer).forward_layer().return_sequences();
    EXPECT_EQ(ys[0].keras_mask().defined(), sequences_out);
    for (std::size_t i = 1; i < ys.size(); ++i) EXPECT_FALSE(ys[i].keras_mask().defined());
  }
  std::size_t n = 0;
  for (; ref.count(key("y", n)); ++n) {
  }
  ASSERT_EQ(ys.size(), n);
  nr::Tensor loss;
  for (std::size_t i = 0; i < n; ++i) {
    EXPECT_TRUE(close(ys[i], ref, key("y", i)));
    const nr::Tensor term = nr::sum(ys[i] * tensor(ref, key("g", i)));
    loss = loss.defined() ? loss + term : term;
  }
  std::vector<nr::Tensor> sources{x};
  sources.insert(sources.end(), states.begin(), states.end());
  for (const nr::Variable& v : trainable) sources.push_back(v.value());
  const std::vector<nr::Tensor> grads = tape.gradient(loss, sources);
  EXPECT_TRUE(close(grads[0], ref, "grad_x"));
  for (std::size_t i = 0; i < states.size(); ++i) {
    EXPECT_TRUE(close(grads[1 + i], ref, key("grad_s", i)));
  }
  for (std::size_t i = 0; i < trainable.size(); ++i) {
    EXPECT_TRUE(close(grads[1 + states.size() + i], ref, key("grad_w", i)));
  }
  EXPECT_FALSE(ref.count(key("grad_w", trainable.size()))) << "Keras has more trainable weights";
}

}  // namespace

TEST(RNNKerasReference, SimpleRNN) {
  check("simple_rnn", L::SimpleRNN(3));
  check("simple_rnn_relu_sequences_backwards",
        L::SimpleRNN(3, {.activation = "relu", .return_sequences = true, .go_backwards = true}));
  check("simple_rnn_state", L::SimpleRNN(3, {.use_bias = false, .return_state = true}));
}

TEST(RNNKerasReference, LSTM) {
  check("lstm", L::LSTM(3, {.return_sequences = true}));
  check("lstm_state", L::LSTM(3, {.return_state = true}));
  check("lstm_sequences_state_backwards",
        L::LSTM(3, {.return_sequences = true, .return_state = true, .go_backwards = true}));
  check("lstm_hard_sigmoid_no_bias", L::LSTM(3, {.activation = "relu",
                                                 .recurrent_activation = "hard_sigmoid",
                                                 .use_bias = false,
                                                 .return_sequences = true}));
}

TEST(RNNKerasReference, GRUResetAfterAndBefore) {
  check("gru", L::GRU(3, {.return_sequences = true}));
  check("gru_reset_before", L::GRU(3, {.reset_after = false, .return_sequences = true}));
  check("gru_state", L::GRU(3, {.return_state = true}));
  check("gru_reset_before_state_backwards",
        L::GRU(3, {.reset_after = false, .return_state = true, .go_backwards = true}));
}

TEST(RNNKerasReference, MaskedStepsKeepTheStates) {
  check("lstm_masked", L::LSTM(3, {.return_sequences = true, .return_state = true}));
  check("gru_masked", L::GRU(3, {.return_sequences = true}));
  check("simple_rnn_masked_backwards", L::SimpleRNN(3, {.go_backwards = true}));
  check("bidirectional_lstm_masked", L::Bidirectional(L::LSTM(3, {.return_sequences = true})));
}

TEST(RNNKerasReference, Bidirectional) {
  check("bidirectional_lstm_concat", L::Bidirectional(L::LSTM(3, {.return_sequences = true})));
  check("bidirectional_gru_sum", L::Bidirectional(L::GRU(3), {.merge_mode = "sum"}));
  check("bidirectional_simple_rnn_ave",
        L::Bidirectional(L::SimpleRNN(3, {.return_sequences = true}), {.merge_mode = "ave"}));
  check("bidirectional_lstm_mul_state",
        L::Bidirectional(L::LSTM(3, {.return_state = true}), {.merge_mode = "mul"}));
  check("bidirectional_gru_none",
        L::Bidirectional(L::GRU(3, {.return_sequences = true}), {.merge_mode = std::nullopt}));
  check("bidirectional_backward_layer",
        L::Bidirectional(L::LSTM(3), {.backward_layer = L::GRU(3, {.go_backwards = true})}));
}

TEST(RNNKerasReference, TimeDistributedDense) {
  check("time_distributed_dense", L::TimeDistributed(L::Dense(3, {.activation = "tanh"})));
}

// ---------------------------------------------------------------- gradients (float64)

TEST(RNNGradients, MatchCentralDifferencesInFloat64) {
  const nr::Tensor x = nr::testing::random_tensor({2, 3, 2}, nr::float64, -1.0, 1.0, 3);
  const nr::Tensor x_sequences = nr::testing::random_tensor({2, 3, 2}, nr::float64, -1.0, 1.0, 4);
  using nr::testing::check_layer_gradients;
  EXPECT_TRUE(check_layer_gradients("SimpleRNN", L::SimpleRNN(2, {.dtype = nr::float64}), x));
  EXPECT_TRUE(check_layer_gradients(
      "LSTM", L::LSTM(2, {.return_sequences = true, .dtype = nr::float64}), x_sequences));
  EXPECT_TRUE(
      check_layer_gradients("GRU", L::GRU(2, {.go_backwards = true, .dtype = nr::float64}), x));
  EXPECT_TRUE(check_layer_gradients("GRU reset_before",
                                    L::GRU(2, {.reset_after = false, .dtype = nr::float64}), x));
  EXPECT_TRUE(check_layer_gradients(
      "Bidirectional",
      L::Bidirectional(L::LSTM(2, {.return_sequences = true, .dtype = nr::float64}),
                       {.dtype = nr::float64}),
      x_sequences));
  EXPECT_TRUE(check_layer_gradients(
      "TimeDistributed",
      L::TimeDistributed(L::Dense(2, {.dtype = nr::float64}), {.dtype = nr::float64}), x));
}

TEST(RNNGradients, RecurrentDropoutRunsPerGateMasksAndDifferentiates) {
  // Fixed masks (seeded): the gradient of the dropped-out training call is a gradient.
  const nr::Tensor x = nr::testing::random_tensor({2, 3, 2}, nr::float64, -1.0, 1.0, 5);
  for (int kind = 0; kind < 3; ++kind) {
    L::AnyLayer layer =
        kind == 0
            ? L::AnyLayer(L::LSTM(
                  3, {.dropout = 0.3, .recurrent_dropout = 0.4, .seed = 7, .dtype = nr::float64}))
        : kind == 1
            ? L::AnyLayer(L::GRU(
                  3, {.dropout = 0.3, .recurrent_dropout = 0.4, .seed = 7, .dtype = nr::float64}))
            : L::AnyLayer(L::SimpleRNN(
                  3, {.dropout = 0.3, .recurrent_dropout = 0.4, .seed = 7, .dtype = nr::float64}));
    const nr::Tensor inference = layer(x, false);
    const nr::Tensor train = layer(x, true);
    EXPECT_EQ(train.shape(), inference.shape());
    EXPECT_FALSE(nr::testing::all_close(train, inference.to_vector<double>(), 1e-9, 0.0))
        << "dropout changed nothing";
    nr::GradientTape tape;
    const nr::Tensor loss = nr::sum(layer(x, true));
    const nr::Tensor grad = tape.gradient(loss, layer->trainable_weights()[0].value());
    ASSERT_TRUE(grad.defined());
  }
}

// ---------------------------------------------------------------- behaviour

TEST(RNNLayers, ShapesOfOutputsAndStates) {
  const nr::Tensor x = nr::testing::random_tensor({4, 5, 3});
  EXPECT_EQ(L::LSTM(6)(x).shape(), nr::Shape({4, 6}));
  EXPECT_EQ(L::GRU(6, {.return_sequences = true})(x).shape(), nr::Shape({4, 5, 6}));
  auto lstm = L::LSTM(6, {.return_sequences = true, .return_state = true});
  const auto outs = lstm->apply({x});
  ASSERT_EQ(outs.size(), 3u);
  EXPECT_EQ(outs[0].shape(), nr::Shape({4, 5, 6}));
  EXPECT_EQ(outs[1].shape(), nr::Shape({4, 6}));
  EXPECT_EQ(outs[2].shape(), nr::Shape({4, 6}));
  // The last output is the final h.
  EXPECT_TRUE(nr::testing::all_close(nr::narrow(outs[0], 1, 4, 1).reshape({4, 6}),
                                     outs[1].to_vector<double>()));
  EXPECT_EQ(
      lstm->compute_output_shape_list({nr::Shape({-1, 5, 3})}),
      (std::vector<nr::Shape>{nr::Shape({-1, 5, 6}), nr::Shape({-1, 6}), nr::Shape({-1, 6})}));
  NEURONA_EXPECT_THROW_MSG(lstm(x), nr::ValueError, "returns 3 tensors", "apply()");
  auto weights = lstm->weights();
  ASSERT_EQ(weights.size(), 3u);
  EXPECT_EQ(weights[0].name(), "lstm_cell/kernel");
  EXPECT_EQ(weights[0].shape(), nr::Shape({3, 24}));
  EXPECT_EQ(weights[1].shape(), nr::Shape({6, 24}));
  EXPECT_EQ(weights[2].shape(), nr::Shape({24}));
  // unit_forget_bias: ones for the forget gate.
  const auto bias = weights[2].value().to_vector<double>();
  for (int i = 0; i < 24; ++i) EXPECT_EQ(bias[static_cast<std::size_t>(i)], i >= 6 && i < 12);
  auto gru = L::GRU(2);
  gru(x);
  EXPECT_EQ(gru->weights()[2].shape(), nr::Shape({2, 6}));
  auto gru_before = L::GRU(2, {.reset_after = false});
  gru_before(x);
  EXPECT_EQ(gru_before->weights()[2].shape(), nr::Shape({6}));
}

TEST(RNNLayers, UnrollGivesTheSameResult) {
  const nr::Tensor x = nr::testing::random_tensor({2, 4, 3});
  auto a = L::GRU(3, {.return_sequences = true});
  auto b = L::GRU(3, {.return_sequences = true, .unroll = true});
  a(x);
  b(x);
  b->set_weights(a->get_weights());
  EXPECT_TRUE(nr::testing::all_close(b(x), a(x).to_vector<double>()));
}

TEST(RNNLayers, StatefulCarriesStatesAcrossCallsUntilReset) {
  const nr::Tensor x = nr::testing::random_tensor({2, 6, 3});
  auto whole = L::LSTM(4);
  auto parts = L::LSTM(4, {.stateful = true});
  whole(x);
  parts(nr::narrow(x, 1, 0, 3));
  parts->set_weights(whole->get_weights());
  parts->reset_states();
  parts(nr::narrow(x, 1, 0, 3));
  const nr::Tensor second = parts(nr::narrow(x, 1, 3, 3));
  EXPECT_TRUE(nr::testing::all_close(second, whole(x).to_vector<double>(), 1e-6, 1e-5));
  EXPECT_EQ(parts->weights().size(), 3u) << "states are not weights";
  parts->reset_states();
  for (const nr::Tensor& s : parts->states()) {
    EXPECT_TRUE(nr::testing::all_close(s, std::vector<double>(8, 0.0)));
  }
  const nr::Tensor fresh = parts(nr::narrow(x, 1, 3, 3));
  auto plain = L::LSTM(4);
  plain(x);
  plain->set_weights(whole->get_weights());
  EXPECT_TRUE(nr::testing::all_close(fresh, plain(nr::narrow(x, 1, 3, 3)).to_vector<double>()));
  NEURONA_EXPECT_THROW_MSG(parts(nr::testing::random_tensor({3, 6, 3})), nr::ValueError,
                           "If an RNN is stateful, the batch size of the input sequences must be "
                           "the same as the batch size of the initial state.");
}

TEST(RNNLayers, RejectsBadArgumentsWithKerasMessages) {
  NEURONA_EXPECT_THROW_MSG(L::LSTM(0), nr::ValueError, "LSTM '",
                           "Received an invalid value for argument `units`, expected a positive "
                           "integer, got 0.");
  NEURONA_EXPECT_THROW_MSG(L::GRU(3)(nr::testing::random_tensor({2, 3})), nr::ValueError,
                           "expected ndim=3, found ndim=2");
  auto built = L::SimpleRNN(2);
  built(nr::testing::random_tensor({1, 2, 3}));
  NEURONA_EXPECT_THROW_MSG(built(nr::testing::random_tensor({1, 2, 4})), nr::ValueError,
                           "expected axis -1 of input shape to have value 3");
  NEURONA_EXPECT_THROW_MSG(L::LSTM(2, {.stateful = true})->ensure_built(nr::Shape({-1, 4, 3})),
                           nr::ValueError,
                           "When using `stateful=True` in a RNN, the batch size must be static.");
  NEURONA_EXPECT_THROW_MSG(L::Bidirectional(L::LSTM(2), {.merge_mode = "max"}), nr::ValueError,
                           "Invalid merge mode. Received: max. Merge mode should be one of");
  NEURONA_EXPECT_THROW_MSG(
      L::Bidirectional(L::LSTM(2), {.backward_layer = L::LSTM(2)}), nr::ValueError,
      "Forward layer and backward layer should have different `go_backwards` value.");
  NEURONA_EXPECT_THROW_MSG(
      L::Bidirectional(L::LSTM(2), {.backward_layer = L::LSTM(
                                        2, {.return_sequences = true, .go_backwards = true})}),
      nr::ValueError,
      "Forward layer and backward layer are expected to have the same value for attribute "
      "\"return_sequences\"");
  NEURONA_EXPECT_THROW_MSG(L::TimeDistributed(L::Dense(2))(nr::testing::random_tensor({2, 3})),
                           nr::ValueError,
                           "`TimeDistributed` Layer should be passed an `input_shape` with at "
                           "least 3 dimensions, received: (2, 3)");
  // No cuDNN on the CPU: use_cudnn = true is refused as Keras refuses it without a GPU.
  NEURONA_EXPECT_THROW_MSG(L::LSTM(2, {.use_cudnn = true})(nr::testing::random_tensor({1, 2, 3})),
                           nr::ValueError,
                           "use_cudnn=True was specified, but cuDNN is not "
                           "supported for this layer configuration");
  auto lstm = L::LSTM(2);
  NEURONA_EXPECT_THROW_MSG(
      lstm->apply({nr::testing::random_tensor({1, 2, 3}), nr::testing::random_tensor({1, 2})}),
      nr::ValueError, "expected 2 initial state tensor(s), got 1");
}

TEST(RNNLayers, ConfigsRoundTripWithKerasKeys) {
  auto lstm = L::LSTM(4, {.recurrent_activation = "hard_sigmoid",
                          .unit_forget_bias = false,
                          .kernel_regularizer = nr::regularizers::L2(0.01),
                          .dropout = 0.25,
                          .seed = 3,
                          .return_state = true,
                          .go_backwards = true});
  const L::ConfigValue config = lstm->get_config();
  std::vector<std::string> keys;
  for (const auto& [k, v] : config.as_dict()) keys.push_back(k);
  // Keras 3.15's LSTM.get_config() keys, in its order.
  EXPECT_EQ(keys, (std::vector<std::string>{"name",
                                            "trainable",
                                            "dtype",
                                            "return_sequences",
                                            "return_state",
                                            "go_backwards",
                                            "stateful",
                                            "unroll",
                                            "zero_output_for_mask",
                                            "units",
                                            "activation",
                                            "recurrent_activation",
                                            "use_bias",
                                            "kernel_initializer",
                                            "recurrent_initializer",
                                            "bias_initializer",
                                            "unit_forget_bias",
                                            "kernel_regularizer",
                                            "recurrent_regularizer",
                                            "bias_regularizer",
                                            "activity_regularizer",
                                            "kernel_constraint",
                                            "recurrent_constraint",
                                            "bias_constraint",
                                            "dropout",
                                            "recurrent_dropout",
                                            "seed"}));
  EXPECT_EQ(L::LSTM::from_config(config)->get_config(), config);
  auto gru = L::GRU(3, {.reset_after = false, .return_sequences = true});
  EXPECT_EQ(L::GRU::from_config(gru->get_config())->get_config(), gru->get_config());
  EXPECT_FALSE(gru->get_config().find("reset_after")->as_bool());
  auto rnn = L::SimpleRNN(3, {.activation = "relu"});
  EXPECT_EQ(rnn->get_config().find("seed"), nullptr) << "Keras's SimpleRNN has no seed key";
  EXPECT_EQ(L::SimpleRNN::from_config(rnn->get_config())->get_config(), rnn->get_config());
  auto bi = L::Bidirectional(L::GRU(3, {.return_sequences = true, .name = "enc"}),
                             {.merge_mode = std::nullopt});
  bi->apply({nr::testing::random_tensor({1, 2, 3})});
  const L::ConfigValue bc = bi->get_config();
  EXPECT_TRUE(bc.find("merge_mode")->is_null());
  EXPECT_EQ(bc.find("layer")->find("config")->find("name")->as_string(), "forward_enc");
  EXPECT_TRUE(bc.find("backward_layer")->find("config")->find("go_backwards")->as_bool());
  auto bi2 = L::Bidirectional::from_config(bc);
  EXPECT_EQ(bi2->forward_layer().name(), "forward_enc");
  EXPECT_EQ(bi2->backward_layer().name(), "backward_enc");
  EXPECT_FALSE(bi2->merge_mode().has_value());
  auto td = L::TimeDistributed(L::Dense(2, {.activation = "relu"}));
  EXPECT_EQ(L::TimeDistributed::from_config(td->get_config())->get_config(), td->get_config());
}

TEST(RNNLayers, BidirectionalTracksForwardAndBackwardLayers) {
  auto bi = L::Bidirectional(L::LSTM(2, {.name = "enc"}));
  bi(nr::testing::random_tensor({1, 3, 4}));
  const auto tracked = bi->tracked_layers();
  ASSERT_EQ(tracked.size(), 2u);
  EXPECT_EQ(tracked[0].attribute, "forward_layer");
  EXPECT_EQ(tracked[0].layer->name(), "forward_enc");
  EXPECT_EQ(tracked[1].attribute, "backward_layer");
  EXPECT_EQ(tracked[1].layer->name(), "backward_enc");
  EXPECT_EQ(bi->weights().size(), 6u);
  EXPECT_EQ(bi->weights()[0].name(), "lstm_cell/kernel");
}

// Keras calls Bidirectional's two layers, so their activity regularizers add a loss each (on
// every output: the sequence and, with return_state, the states), divided by the batch size.
TEST(RNNLayers, BidirectionalKeepsItsLayersActivityRegularizers) {
  auto bi = L::Bidirectional(L::LSTM(2, {.activity_regularizer = "l2", .return_state = true}));
  const nr::Tensor x = nr::testing::random_tensor({3, 4, 5}, nr::float32, -1, 1, 4);
  const auto out = bi->apply({x});
  ASSERT_EQ(out.size(), 5u);  // merged output, forward h and c, backward h and c
  const auto losses = bi->losses();
  ASSERT_EQ(losses.size(), 6u);  // three outputs of each layer
  const auto l2 = [](const nr::Tensor& t) {
    double total = 0;
    for (double v : t.to_vector<double>()) total += 0.01 * v * v;
    return total / 3.0;
  };
  const auto forward = bi->forward_layer().run(x, {}, {}, false);
  const auto backward = bi->backward_layer().run(x, {}, {}, false);
  double expected = 0, got = 0;
  for (const auto& t : forward) expected += l2(t);
  for (const auto& t : backward) expected += l2(t);
  for (const auto& l : losses) got += l.item<double>();
  EXPECT_NEAR(got, expected, 1e-6);
}

TEST(RNNLayers, FunctionalInitialStateAndReturnState) {
  auto x = nr::layers::Input({5, 3});
  auto h = nr::layers::Input({4});
  auto c = nr::layers::Input({4});
  auto lstm = L::LSTM(4, {.return_state = true});
  const auto outs = lstm->apply({x, h, c});
  ASSERT_EQ(outs.size(), 3u);
  auto model = nr::Model({x, h, c}, {outs[0], outs[2]});
  const nr::Tensor xs = nr::testing::random_tensor({2, 5, 3});
  const nr::Tensor hs = nr::testing::random_tensor({2, 4}, nr::float32, -1, 1, 1);
  const nr::Tensor cs = nr::testing::random_tensor({2, 4}, nr::float32, -1, 1, 2);
  const auto predicted = model.predict({xs, hs, cs});
  const auto direct = lstm->apply({xs, hs, cs});
  EXPECT_TRUE(nr::testing::all_close(predicted[0], direct[0].to_vector<double>()));
  EXPECT_TRUE(nr::testing::all_close(predicted[1], direct[2].to_vector<double>()));
}

TEST(RNNLayers, SequentialLSTMTrains) {
  nr::set_seed(3);
  const nr::Tensor x = nr::testing::random_tensor({16, 5, 2}, nr::float32, -1, 1, 9);
  const nr::Tensor y = nr::sum(x, nr::Axes{1, 2}).reshape({16, 1});
  nr::Sequential model({nr::layers::Input({5, 2}), L::LSTM(8), nr::layers::Dense(1)});
  model.compile({.optimizer = nr::optimizers::Adam(0.02), .loss = "mse"});
  const auto history = model.fit(x, y, {.batch_size = 8, .epochs = 15, .verbose = 0});
  const auto& loss = history.history.at("loss");
  EXPECT_LT(loss.back(), 0.5 * loss.front());
}

// ---------------------------------------------------------------- saving

TEST(RNNSaving, KerasFileLoadsAndPredictsKerasOutputs) {
  namespace fs = std::filesystem;
  const Reference ref = nr::testing::load_reference("rnn", "lstm_model");
  const fs::path file = nr::testing::reference_dir() / "rnn" / "lstm_model.keras";
  auto model = nr::models::load_model(file.string());
  std::vector<std::string> classes;
  for (const auto& layer : model->layers()) classes.push_back(layer->class_name());
  EXPECT_EQ(classes, (std::vector<std::string>{"InputLayer", "LSTM", "Bidirectional",
                                               "TimeDistributed", "SimpleRNN", "Dense"}));
  const nr::Tensor x = tensor(ref, "x");
  const nr::Tensor y = model->predict(x);
  EXPECT_TRUE(close(y, ref, "y"));

  // neurona's save loads back with the same configs and predictions, and so do its weights.
  nr::testing::expect_save_and_load_round_trip(*model, file, {x}, {y}, "rnn_saving");
}

TEST(RNNSaving, InitialStateCallsRoundTripAsKerasKeywordArguments) {
  namespace fs = std::filesystem;
  auto x = nr::layers::Input({5, 3});
  auto h = nr::layers::Input({4});
  auto lstm_outs = L::GRU(4, {.return_sequences = true, .return_state = true})->apply({x, h});
  auto bi = L::Bidirectional(L::LSTM(2, {.return_state = true}))->apply({lstm_outs[0]});
  auto model = nr::Model({x, h}, {bi[0], lstm_outs[1], bi[4]});
  const std::string json = nr::models::detail::model_config_json(model);
  EXPECT_NE(json.find("\"initial_state\""), std::string::npos);
  const fs::path dir =
      fs::temp_directory_path() / ("neurona_rnn_state_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  model.save((dir / "model.keras").string());
  auto again = nr::models::load_model((dir / "model.keras").string());
  const nr::Tensor xs = nr::testing::random_tensor({2, 5, 3});
  const nr::Tensor hs = nr::testing::random_tensor({2, 4}, nr::float32, -1, 1, 2);
  const auto a = model.predict({xs, hs});
  const auto b = again->predict({xs, hs});
  ASSERT_EQ(a.size(), 3u);
  ASSERT_EQ(b.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_TRUE(nr::testing::all_close(b[i], a[i].to_vector<double>(), 1e-6, 1e-6));
  }
  fs::remove_all(dir);
}

// neurona's own files into $NEURONA_WRITE_RNN_FIXTURES, for
// `make_keras_rnn_references.py --check DIR` (Keras loads them and reproduces neurona's y).
TEST(RNNSaving, WriteFixturesForKerasWhenAsked) {
  namespace fs = std::filesystem;
  NEURONA_FIXTURE_DIR_OR_SKIP(dir, "NEURONA_WRITE_RNN_FIXTURES");
  nr::clear_session();
  nr::set_seed(5);
  auto x = nr::layers::Input({5, 3});
  auto h = nr::layers::Input({4});
  auto c = nr::layers::Input({4});
  auto seq = L::LSTM(4, {.return_sequences = true})->apply({x, h, c})[0];
  auto gru = L::GRU(4, {.reset_after = false, .return_sequences = true, .go_backwards = true})(seq);
  auto bi =
      L::Bidirectional(L::SimpleRNN(3, {.return_sequences = true}), {.merge_mode = "ave"})(gru);
  auto td = L::TimeDistributed(L::Dense(2))(bi);
  auto out = L::Bidirectional(L::GRU(2, {.return_state = true}))->apply({td});
  auto model = nr::Model({x, h, c}, {out[0], out[1]});
  const nr::Tensor xs = nr::testing::random_tensor({2, 5, 3}, nr::float32, -1, 1, 31);
  const nr::Tensor hs = nr::testing::random_tensor({2, 4}, nr::float32, -1, 1, 32);
  const nr::Tensor cs = nr::testing::random_tensor({2, 4}, nr::float32, -1, 1, 33);
  const auto ys = model.predict({xs, hs, cs});
  const fs::path base = fs::path(dir) / "rnn_functional";
  model.save(base.string() + ".keras");
  model.save_weights(base.string() + ".weights.h5");
  std::ofstream io(base.string() + ".txt");
  nr::testing::write_reference_line(io, "x", xs);
  nr::testing::write_reference_line(io, "h", hs);
  nr::testing::write_reference_line(io, "c", cs);
  nr::testing::write_reference_line(io, "y0", ys[0]);
  nr::testing::write_reference_line(io, "y1", ys[1]);
}

// The stored copies of those files (tests/reference/rnn/from_neurona/, which Keras loads) still
// load into neurona and give the outputs stored beside them.
TEST(RNNSaving, NeuronaFilesThatKerasLoadsStillLoad) {
  const auto dir = nr::testing::reference_dir() / "rnn" / "from_neurona";
  const Reference io = nr::testing::parse_reference(dir / "rnn_functional.txt");
  auto model = nr::models::load_model((dir / "rnn_functional.keras").string());
  const auto ys = model->predict({tensor(io, "x"), tensor(io, "h"), tensor(io, "c")});
  ASSERT_EQ(ys.size(), 2u);
  EXPECT_TRUE(close(ys[0], io, "y0"));
  EXPECT_TRUE(close(ys[1], io, "y1"));
}
