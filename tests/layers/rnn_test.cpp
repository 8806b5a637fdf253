// The recurrent layers (SimpleRNN, LSTM, GRU, Bidirectional, TimeDistributed) against Keras 3:
// outputs and gradients from tests/reference/rnn/ (tests/reference/make_keras_rnn_references.py
// wrote them), float64 numerical gradients, configs, argument errors, stateful layers, and a
// model saved by Keras.
#include <neurona/neurona.h>

#include <filesystem>

#include "layers/layer_gradcheck.h"
#include "support/paths.h"
#include "support/reference_file.h"
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
    return ::testing::AssertionFailure() << k << ": shape " << actual.shape() << ", Keras "
                                         << e.shape;
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
  std::vector<nr::Tensor> ys;
  if (mask.defined()) {
    if (auto* rnn = dynamic_cast<L::RNNLayer*>(layer.ptr().get())) {
      ys = rnn->run(x, states, mask, false);
    } else {
      ys = dynamic_cast<L::BidirectionalLayer&>(*layer).run(x, states, mask, false);
    }
  } else {
    std::vector<nr::Tensor> inputs{x};
    inputs.insert(inputs.end(), states.begin(), states.end());
    ys = layer->apply(inputs);
  }
  std::size_t n = 0;
  for (; ref.count(key("y", n)); ++n) {}
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
