// The recurrent layers on a GPU (cuDNN's fused LSTM and GRU where Keras's conditions hold, the
// generic loop otherwise) against the same layers on the CPU: outputs, final states and the
// gradients of x, the initial states and the weights; right-padded masks (cuDNN's sequence
// lengths), go_backwards, Bidirectional, and a configuration cuDNN does not take (the loop).
// Skipped where no GPU is present.
#include <gtest/gtest.h>

#include <neurona/neurona.h>

#include <string>
#include <vector>

#include "support/gpu_test.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = neurona::layers;
using nr::testing::all_close;
using nr::testing::random_tensor;

namespace {

class GpuRNN : public nr::testing::GpuTest {
 protected:
  void TearDown() override { nr::set_default_device(nr::Device::cpu()); }
};

struct Run {
  std::vector<nr::Tensor> outputs, grads;
};

// The layer made by `make` on `device`, with the given weights, run on x (and the initial
// states), its outputs and the gradients of sum_i sum(y_i * (i + 1)) with respect to x, the
// states and the trainable weights, all on the CPU.
template <typename Make>
Run run(Make make, nr::Device device, const nr::Tensor& x, const std::vector<nr::Tensor>& states,
        const nr::Tensor& mask, std::vector<nr::Tensor>& weights) {
  nr::set_default_device(device);
  L::AnyLayer layer = make();
  const nr::Tensor xd = x.to(device);
  layer->ensure_built(xd.shape());
  if (weights.empty()) {
    weights = layer->get_weights();
    for (auto& w : weights) w = w.to(nr::Device::cpu());
  }
  layer->set_weights(weights);
  std::vector<nr::Tensor> sd;
  for (const auto& s : states) sd.push_back(s.to(device));
  nr::GradientTape tape;
  tape.watch(xd);
  for (const auto& s : sd) tape.watch(s);
  std::vector<nr::Tensor> ys;
  if (auto* rnn = dynamic_cast<L::RNNLayer*>(layer.ptr().get())) {
    ys = rnn->run(xd, sd, mask.defined() ? mask.to(device) : nr::Tensor(), true);
  } else {
    ys = dynamic_cast<L::BidirectionalLayer&>(*layer).run(
        xd, sd, mask.defined() ? mask.to(device) : nr::Tensor(), true);
  }
  nr::Tensor loss;
  for (std::size_t i = 0; i < ys.size(); ++i) {
    const nr::Tensor term = nr::sum(ys[i]) * static_cast<double>(i + 1);
    loss = loss.defined() ? loss + term : term;
  }
  std::vector<nr::Tensor> sources{xd};
  sources.insert(sources.end(), sd.begin(), sd.end());
  for (const auto& v : layer->trainable_weights()) sources.push_back(v.value());
  Run r;
  for (const auto& g : tape.gradient(loss, sources)) r.grads.push_back(g.to(nr::Device::cpu()));
  for (const auto& y : ys) r.outputs.push_back(y.to(nr::Device::cpu()));
  nr::set_default_device(nr::Device::cpu());
  return r;
}

template <typename Make>
void expect_parity(const std::string& what, Make make, const nr::Shape& x_shape,
                   std::size_t state_count, const nr::Tensor& mask = {}) {
  SCOPED_TRACE(what);
  const nr::Tensor x = random_tensor(x_shape, nr::float32, -1, 1, 11);
  std::vector<nr::Tensor> states;
  for (std::size_t i = 0; i < state_count; ++i) {
    states.push_back(
        random_tensor({x_shape[0], 16}, nr::float32, -1, 1, static_cast<std::uint32_t>(20 + i)));
  }
  std::vector<nr::Tensor> weights;
  const Run cpu = run(make, nr::Device::cpu(), x, states, mask, weights);
  const Run gpu = run(make, nr::Device::cuda(0), x, states, mask, weights);
  ASSERT_EQ(gpu.outputs.size(), cpu.outputs.size());
  for (std::size_t i = 0; i < cpu.outputs.size(); ++i) {
    EXPECT_TRUE(all_close(gpu.outputs[i], cpu.outputs[i].to_vector<double>(), 2e-5, 2e-4))
        << "output " << i;
  }
  ASSERT_EQ(gpu.grads.size(), cpu.grads.size());
  for (std::size_t i = 0; i < cpu.grads.size(); ++i) {
    EXPECT_TRUE(all_close(gpu.grads[i], cpu.grads[i].to_vector<double>(), 1e-4, 1e-3))
        << "gradient " << i;
  }
}

nr::Tensor right_padded_mask() {
  // Lengths 7, 3, 1, 5 of 7 steps.
  std::vector<double> m;
  for (int len : {7, 3, 1, 5}) {
    for (int t = 0; t < 7; ++t) m.push_back(t < len ? 1.0 : 0.0);
  }
  return nr::testing::make_tensor(m, {4, 7});
}

}  // namespace

TEST_F(GpuRNN, FusedLSTMMatchesTheCPULoop) {
  ASSERT_TRUE(nr::rnn_fused_available(nr::Device::cuda(0), nr::float32));
  expect_parity(
      "LSTM sequences and states",
      [] {
        return L::AnyLayer(
            L::LSTM(16, {.return_sequences = true, .return_state = true, .use_cudnn = true}));
      },
      {4, 7, 5}, 2);
  expect_parity(
      "LSTM last output, go_backwards",
      [] { return L::AnyLayer(L::LSTM(16, {.go_backwards = true, .use_cudnn = true})); }, {4, 7, 5},
      0);
  expect_parity(
      "LSTM right-padded mask",
      [] {
        return L::AnyLayer(
            L::LSTM(16, {.return_sequences = true, .return_state = true, .use_cudnn = true}));
      },
      {4, 7, 5}, 0, right_padded_mask());
}

TEST_F(GpuRNN, FusedGRUMatchesTheCPULoop) {
  expect_parity(
      "GRU sequences and state",
      [] {
        return L::AnyLayer(
            L::GRU(16, {.return_sequences = true, .return_state = true, .use_cudnn = true}));
      },
      {4, 7, 5}, 1);
  expect_parity(
      "GRU right-padded mask",
      [] { return L::AnyLayer(L::GRU(16, {.return_sequences = true, .use_cudnn = true})); },
      {4, 7, 5}, 0, right_padded_mask());
  expect_parity(
      "Bidirectional GRU",
      [] { return L::AnyLayer(L::Bidirectional(L::GRU(16, {.return_sequences = true}))); },
      {4, 7, 5}, 0);
}

TEST_F(GpuRNN, ConfigurationsCuDNNDoesNotTakeRunTheLoop) {
  expect_parity(
      "GRU reset_before",
      [] { return L::AnyLayer(L::GRU(16, {.reset_after = false, .return_sequences = true})); },
      {4, 7, 5}, 0);
  expect_parity(
      "LSTM, a mask with holes",
      [] { return L::AnyLayer(L::LSTM(16, {.return_sequences = true})); }, {4, 7, 5}, 0,
      nr::testing::make_tensor(
          {1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
          {4, 7}));
  expect_parity(
      "SimpleRNN", [] { return L::AnyLayer(L::SimpleRNN(16)); }, {4, 7, 5}, 0);
}
