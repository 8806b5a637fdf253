// The recurrent layers on a GPU (cuDNN's fused LSTM and GRU where Keras's conditions hold, the
// generic loop otherwise) against the same layers on the CPU: outputs, final states and the
// gradients of x, the initial states and the weights; right-padded masks (cuDNN's sequence
// lengths), go_backwards, Bidirectional, and a configuration cuDNN does not take (the loop).
// Skipped where no GPU is present.
#include <gtest/gtest.h>

#include <neurona/neurona.h>

#include <optional>
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

// use_cudnn for a layer on the GPU (true: the fused path must run there) or on the CPU (auto: the
// CPU refuses true, as Keras does without a GPU).
std::optional<bool> cudnn(bool gpu) {
  return gpu ? std::optional<bool>(true) : std::nullopt;
}

// The layer made by `make(device is a GPU)` on `device`, with the given weights, run on x (and the
// initial states), its outputs and the gradients of sum_i sum(y_i * (i + 1)) with respect to x, the
// states and the trainable weights, all on the CPU.
template <typename Make>
Run run(Make make, nr::Device device, const nr::Tensor& x, const std::vector<nr::Tensor>& states,
        const nr::Tensor& mask, std::vector<nr::Tensor>& weights) {
  nr::set_default_device(device);
  L::AnyLayer layer = make(device.is_cuda());
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

// A (batch, 7) mask of right-padded sequences of the given lengths.
nr::Tensor right_padded_mask(const std::vector<int>& lengths = {7, 3, 1, 5}) {
  std::vector<double> m;
  for (int len : lengths) {
    for (int t = 0; t < 7; ++t) m.push_back(t < len ? 1.0 : 0.0);
  }
  return nr::testing::make_tensor(m, {static_cast<std::int64_t>(lengths.size()), 7});
}

}  // namespace

TEST_F(GpuRNN, FusedLSTMMatchesTheCPULoop) {
  ASSERT_TRUE(nr::rnn_fused_available(nr::Device::cuda(0), nr::float32));
  expect_parity(
      "LSTM sequences and states",
      [](bool gpu) {
        return L::AnyLayer(
            L::LSTM(16, {.return_sequences = true, .return_state = true, .use_cudnn = cudnn(gpu)}));
      },
      {4, 7, 5}, 2);
  expect_parity(
      "LSTM last output, go_backwards",
      [](bool gpu) {
        return L::AnyLayer(L::LSTM(16, {.go_backwards = true, .use_cudnn = cudnn(gpu)}));
      },
      {4, 7, 5}, 0);
  expect_parity(
      "LSTM right-padded mask",
      [](bool gpu) {
        return L::AnyLayer(
            L::LSTM(16, {.return_sequences = true, .return_state = true, .use_cudnn = cudnn(gpu)}));
      },
      {4, 7, 5}, 0, right_padded_mask());
}

// Two masks of one shape through one LSTM, the second batch's forward pass between the first's
// forward and backward passes: cuDNN's plan is one per shape, each call's data descriptors and
// lengths its own, so each backward pass reads its own batch's lengths, as on the CPU.
TEST_F(GpuRNN, MasksOfOneShapeEachKeepTheirLengths) {
  const nr::Tensor x = random_tensor({4, 7, 5}, nr::float32, -1, 1, 11);
  const nr::Tensor first = right_padded_mask({7, 3, 1, 5});
  const nr::Tensor second = right_padded_mask({2, 7, 4, 1});
  std::vector<nr::Tensor> weights;
  std::vector<std::vector<nr::Tensor>> results;  // per device: ya, yb, dx_a, dx_b, dkernel_a
  for (const nr::Device device : {nr::Device::cpu(), nr::Device::cuda(0)}) {
    nr::set_default_device(device);
    auto lstm = L::LSTM(16, {.return_sequences = true, .use_cudnn = cudnn(device.is_cuda())});
    const nr::Tensor xd = x.to(device);
    lstm->ensure_built(xd.shape());
    if (weights.empty()) {
      for (const auto& w : lstm->get_weights()) weights.push_back(w.to(nr::Device::cpu()));
    }
    lstm->set_weights(weights);
    nr::GradientTape tape({.persistent = true});
    tape.watch(xd);
    const nr::Tensor ya = lstm->run(xd, {}, first.to(device), true)[0];
    const nr::Tensor yb = lstm->run(xd, {}, second.to(device), true)[0];
    const nr::Tensor kernel = lstm->trainable_weights()[0].value();
    const auto da = tape.gradient(nr::sum(ya), std::vector<nr::Tensor>{xd, kernel});
    const nr::Tensor db = tape.gradient(nr::sum(yb), xd);
    std::vector<nr::Tensor> r;
    for (const nr::Tensor& t : {ya, yb, da[0], db, da[1]}) r.push_back(t.to(nr::Device::cpu()));
    results.push_back(std::move(r));
    nr::set_default_device(nr::Device::cpu());
  }
  for (std::size_t i = 0; i < results[0].size(); ++i) {
    const double tol = i < 2 ? 2e-5 : 1e-4;
    EXPECT_TRUE(all_close(results[1][i], results[0][i].to_vector<double>(), tol, tol * 10))
        << "result " << i;
  }
  // The two batches differ where their lengths do.
  EXPECT_FALSE(all_close(results[1][2], results[1][3].to_vector<double>(), 1e-3, 1e-3));
}

TEST_F(GpuRNN, FusedGRUMatchesTheCPULoop) {
  expect_parity(
      "GRU sequences and state",
      [](bool gpu) {
        return L::AnyLayer(
            L::GRU(16, {.return_sequences = true, .return_state = true, .use_cudnn = cudnn(gpu)}));
      },
      {4, 7, 5}, 1);
  expect_parity(
      "GRU right-padded mask",
      [](bool gpu) {
        return L::AnyLayer(L::GRU(16, {.return_sequences = true, .use_cudnn = cudnn(gpu)}));
      },
      {4, 7, 5}, 0, right_padded_mask());
  expect_parity(
      "Bidirectional GRU",
      [](bool) { return L::AnyLayer(L::Bidirectional(L::GRU(16, {.return_sequences = true}))); },
      {4, 7, 5}, 0);
}

TEST_F(GpuRNN, ConfigurationsCuDNNDoesNotTakeRunTheLoop) {
  expect_parity(
      "GRU reset_before",
      [](bool) {
        return L::AnyLayer(L::GRU(16, {.reset_after = false, .return_sequences = true}));
      },
      {4, 7, 5}, 0);
  expect_parity(
      "LSTM, a mask with holes",
      [](bool) { return L::AnyLayer(L::LSTM(16, {.return_sequences = true})); }, {4, 7, 5}, 0,
      nr::testing::make_tensor(
          {1, 0, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
          {4, 7}));
  expect_parity(
      "SimpleRNN", [](bool) { return L::AnyLayer(L::SimpleRNN(16)); }, {4, 7, 5}, 0);
}
