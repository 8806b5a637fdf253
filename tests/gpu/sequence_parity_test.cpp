// Sequence models on a GPU against the CPU (issue 19): masks from Embedding(mask_zero) through
// MultiHeadAttention (the fused attention kernel), pooling and a masked per-step loss, trained
// by fit from the same weights. Skipped where no GPU is present.
#include <neurona/neurona.h>

#include "support/gpu_test.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;

namespace {

class GpuSequence : public nr::testing::GpuTest {
 protected:
  void TearDown() override { nr::set_default_device(nr::Device::cpu()); }
};

// Right-padded token rows (zeros are padding), and a label per step.
nr::Tensor tokens() {
  return nr::testing::make_tensor(
      {3, 5, 7, 0, 0, 0, 2, 2, 9, 4, 1, 0, 8, 0, 0, 0, 0, 0, 6, 6, 6, 6, 6, 6}, {4, 6}, nr::int32);
}

// Embedding(mask_zero) -> causal self-attention and a per-step softmax, trained two epochs;
// the History and the final weights.
std::pair<std::vector<double>, std::vector<nr::Tensor>> train(nr::Device device,
                                                              std::vector<nr::Tensor>* weights) {
  nr::set_default_device(device);
  nr::set_seed(5);
  auto in = nr::Input({6}, {.dtype = nr::int32});
  auto e = L::Embedding(10, 8, {.mask_zero = true})(in);
  auto a = L::MultiHeadAttention(2, 4)({e, e});
  auto out = L::Dense(3, {.activation = "softmax"})(L::Add()({e, a}));
  nr::Model model(in, out);
  if (weights->empty()) {
    *weights = model.get_weights();
  } else {
    model.set_weights(*weights);
  }
  model.compile({.optimizer = nr::optimizers::Adam(1e-2),
                 .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"}});
  const nr::Tensor y = nr::testing::make_tensor(
      {0, 1, 2, 0, 0, 0, 1, 1, 2, 0, 1, 0, 2, 0, 0, 0, 0, 0, 1, 0, 2, 1, 0, 2}, {4, 6}, nr::int32);
  const auto history = model.fit(tokens(), y, {.batch_size = 2, .epochs = 2, .verbose = 0});
  std::vector<double> losses = history.history.at("loss");
  std::vector<nr::Tensor> final;
  for (const auto& w : model.get_weights()) final.push_back(w.to(nr::Device::cpu()));
  nr::set_default_device(nr::Device::cpu());
  return {losses, final};
}

}  // namespace

TEST_F(GpuSequence, MaskedAttentionModelTrainsAsOnTheCpu) {
  std::vector<nr::Tensor> weights;
  const auto cpu = train(nr::Device::cpu(), &weights);
  const auto gpu = train(nr::Device::cuda(0), &weights);
  ASSERT_EQ(cpu.first.size(), gpu.first.size());
  for (std::size_t i = 0; i < cpu.first.size(); ++i) EXPECT_NEAR(cpu.first[i], gpu.first[i], 2e-4);
  ASSERT_EQ(cpu.second.size(), gpu.second.size());
  for (std::size_t i = 0; i < cpu.second.size(); ++i) {
    EXPECT_TRUE(
        nr::testing::all_close(gpu.second[i], cpu.second[i].to_vector<double>(), 2e-4, 2e-4))
        << "weight " << i;
  }
}
