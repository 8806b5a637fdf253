// Sequence models on a GPU against the CPU (issue 19): masks from Embedding(mask_zero) through
// MultiHeadAttention (the fused attention kernel), Attention, AdditiveAttention, KerasHub's
// positional layers, and a masked per-step loss, trained by fit from the same weights. Skipped
// where no GPU is present.
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

// Embedding(mask_zero) -> self-attention and a per-step softmax.
L::KerasTensor attention_model(const L::KerasTensor& in) {
  auto e = L::Embedding(10, 8, {.mask_zero = true})(in);
  auto a = L::MultiHeadAttention(2, 4)({e, e});
  return L::Dense(3, {.activation = "softmax"})(L::Add()({e, a}));
}

// Positional layers, causal MultiHeadAttention (the fused kernel's causal path), Attention
// (concat scores, causal) and AdditiveAttention on the masked embeddings.
L::KerasTensor positional_attention_model(const L::KerasTensor& in) {
  auto e = L::Embedding(10, 8, {.mask_zero = true})(in);
  auto h = L::Add()({e, L::PositionEmbedding(6)(e), L::SinePositionEncoding()(e)});
  auto a = L::MultiHeadAttention(2, 4)->attend(h, h, {}, {.use_causal_mask = true})[0];
  auto luong = L::Attention({.use_scale = true, .score_mode = "concat"})
                   ->attend(h, e, {}, {.use_causal_mask = true})[0];
  auto bahdanau = L::AdditiveAttention()({h, e});
  return L::Dense(3, {.activation = "softmax"})(L::Add()({h, a, luong, bahdanau}));
}

// The model `build` makes, trained two epochs; the History and the final weights.
std::pair<std::vector<double>, std::vector<nr::Tensor>> train(
    nr::Device device, std::vector<nr::Tensor>* weights,
    L::KerasTensor (*build)(const L::KerasTensor&)) {
  nr::set_default_device(device);
  nr::set_seed(5);
  auto in = nr::Input({6}, {.dtype = nr::int32});
  nr::Model model(in, build(in));
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

void expect_trains_as_on_the_cpu(L::KerasTensor (*build)(const L::KerasTensor&)) {
  std::vector<nr::Tensor> weights;
  const auto cpu = train(nr::Device::cpu(), &weights, build);
  const auto gpu = train(nr::Device::cuda(0), &weights, build);
  ASSERT_EQ(cpu.first.size(), gpu.first.size());
  for (std::size_t i = 0; i < cpu.first.size(); ++i) EXPECT_NEAR(cpu.first[i], gpu.first[i], 2e-4);
  ASSERT_EQ(cpu.second.size(), gpu.second.size());
  for (std::size_t i = 0; i < cpu.second.size(); ++i) {
    EXPECT_TRUE(
        nr::testing::all_close(gpu.second[i], cpu.second[i].to_vector<double>(), 2e-4, 2e-4))
        << "weight " << i;
  }
}

}  // namespace

TEST_F(GpuSequence, MaskedAttentionModelTrainsAsOnTheCpu) {
  expect_trains_as_on_the_cpu(attention_model);
}

TEST_F(GpuSequence, PositionalAndOtherAttentionLayersTrainAsOnTheCpu) {
  expect_trains_as_on_the_cpu(positional_attention_model);
}
