// nr::dot_product_attention on the CPU: numerical gradient checks in float64 through the tape
// (plain, causal with Tq != Tk, a mask with an entirely masked row, grouped-query heads, a given
// scale, dropout with a fixed seed), and dropout's keys: a seed repeats the mask, the global
// seed's call counter draws a new one per call, a SeedGenerator draws its key on the device
// (forward and backward alike; captured steps drop anew), and an offset draws a larger batch's
// rows.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "neurona/core/replica_context.h"
#include "neurona/kernels/attention.h"
#include "neurona/neurona.h"
#include "support/captured_fit.h"
#include "support/gradcheck.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::check_gradients;
using nr::testing::random_tensor;

namespace {

struct Shapes {
  std::int64_t b, tq, tk, n, nk, h, hv;
};

std::vector<nr::Tensor> qkv(const Shapes& s) {
  return {random_tensor({s.b, s.tq, s.n, s.h}, nr::float64, -1, 1, 1),
          random_tensor({s.b, s.tk, s.nk, s.h}, nr::float64, -1, 1, 2),
          random_tensor({s.b, s.tk, s.nk, s.hv}, nr::float64, -1, 1, 3)};
}

::testing::AssertionResult check(const char* name, const Shapes& s,
                                 const nr::DotProductAttentionOptions& o) {
  return check_gradients(
      name,
      [&](const std::vector<nr::Tensor>& in) {
        return nr::dot_product_attention(in[0], in[1], in[2], o);
      },
      qkv(s));
}

}  // namespace

TEST(DotProductAttention, GradientsMatchNumericalInFloat64) {
  EXPECT_TRUE(check("plain", {2, 3, 4, 2, 2, 3, 2}, {}));
  EXPECT_TRUE(check("causal Tq < Tk", {1, 3, 5, 2, 2, 3, 2}, {.is_causal = true}));
  EXPECT_TRUE(check("causal Tq > Tk", {1, 5, 3, 1, 1, 3, 2}, {.is_causal = true}));
  EXPECT_TRUE(check("grouped heads", {1, 3, 4, 4, 2, 2, 3}, {}));
  EXPECT_TRUE(check("scale", {1, 3, 4, 1, 1, 3, 2}, {.scale = 0.7}));
  // Batch 1 sees no key at all: its rows average the values uniformly.
  const nr::Tensor mask =
      nr::testing::make_tensor({1, 0, 1, 1, 0, 0, 0, 0}, {2, 1, 1, 4}, nr::uint8);
  EXPECT_TRUE(check("mask", {2, 3, 4, 2, 2, 3, 2}, {.mask = mask}));
  EXPECT_TRUE(check("mask and causal", {2, 3, 4, 2, 2, 3, 2}, {.mask = mask, .is_causal = true}));
  EXPECT_TRUE(check("dropout", {1, 4, 5, 2, 1, 3, 2}, {.dropout_rate = 0.4, .seed = 3}));
}

TEST(DotProductAttention, DropoutSeedRepeatsTheMaskAndTheGlobalSeedAdvances) {
  const std::vector<nr::Tensor> in = qkv({1, 8, 8, 2, 2, 4, 4});
  const nr::DotProductAttentionOptions seeded{.dropout_rate = 0.5, .seed = 11};
  const nr::Tensor a = nr::dot_product_attention(in[0], in[1], in[2], seeded);
  const nr::Tensor b = nr::dot_product_attention(in[0], in[1], in[2], seeded);
  EXPECT_EQ(a.to_vector<double>(), b.to_vector<double>());
  nr::set_seed(5);
  const nr::Tensor c = nr::dot_product_attention(in[0], in[1], in[2], {.dropout_rate = 0.5});
  const nr::Tensor d = nr::dot_product_attention(in[0], in[1], in[2], {.dropout_rate = 0.5});
  EXPECT_NE(c.to_vector<double>(), d.to_vector<double>());
  nr::set_seed(5);
  const nr::Tensor e = nr::dot_product_attention(in[0], in[1], in[2], {.dropout_rate = 0.5});
  EXPECT_EQ(c.to_vector<double>(), e.to_vector<double>());
  // Without dropout: no random key is drawn, and the result is the plain one.
  const nr::Tensor plain = nr::dot_product_attention(in[0], in[1], in[2]);
  EXPECT_NE(plain.to_vector<double>(), a.to_vector<double>());
}

TEST(DotProductAttention, SeedGeneratorDrawsItsKeyOnTheDeviceAndAdvances) {
  const std::vector<nr::Tensor> in = qkv({2, 6, 7, 2, 1, 4, 3});
  nr::SeedGenerator generator(21);
  // The key the first call uses: the generator's state as it stands.
  const std::vector<std::int64_t> state =
      nr::SeedGenerator(21).state(nr::Device::cpu()).to_vector<std::int64_t>();
  const nr::RandomKey key{static_cast<std::uint64_t>(state[0]),
                          static_cast<std::uint32_t>(state[1])};
  nr::GradientTape tape;
  for (const nr::Tensor& t : in) tape.watch(t);
  const nr::Tensor y = nr::dot_product_attention(
      in[0], in[1], in[2], {.dropout_rate = 0.4, .seed_generator = &generator});
  const nr::Tensor dout = random_tensor(y.shape(), nr::float64, -1, 1, 9);
  const std::vector<nr::Tensor> grads = tape.gradient(nr::sum(y * dout), in);
  // The kernels with that key by value: the same output, and the backward pass dropped what
  // the forward pass dropped.
  const nr::kernels::AttentionOptions o{.dropout_rate = 0.4, .dropout_key = key};
  const nr::kernels::AttentionForward f = nr::kernels::attention_forward(in[0], in[1], in[2], o);
  EXPECT_EQ(y.to_vector<double>(), f.out.to_vector<double>());
  const nr::kernels::AttentionGradients g =
      nr::kernels::attention_backward(dout, in[0], in[1], in[2], f.out, f.lse, o);
  EXPECT_EQ(grads[0].to_vector<double>(), g.dquery.to_vector<double>());
  EXPECT_EQ(grads[1].to_vector<double>(), g.dkey.to_vector<double>());
  EXPECT_EQ(grads[2].to_vector<double>(), g.dvalue.to_vector<double>());
  // The generator advanced: the next call drops anew; a generator of the same seed repeats.
  const nr::Tensor next = nr::dot_product_attention(
      in[0], in[1], in[2], {.dropout_rate = 0.4, .seed_generator = &generator});
  EXPECT_NE(next.to_vector<double>(), y.to_vector<double>());
  nr::SeedGenerator again(21);
  EXPECT_EQ(nr::dot_product_attention(in[0], in[1], in[2],
                                      {.dropout_rate = 0.4, .seed_generator = &again})
                .to_vector<double>(),
            y.to_vector<double>());
  NEURONA_EXPECT_THROW_MSG(
      nr::dot_product_attention(in[0], in[1], in[2],
                                {.dropout_rate = 0.4, .seed = 1, .seed_generator = &again}),
      nr::ValueError, "dot_product_attention", "seed_generator");
}

TEST(DotProductAttention, DropoutOffsetDrawsTheRowsOfALargerBatch) {
  // Rows 2..3 of a batch of 4 with the offset of their first element draw what the whole
  // batch's call draws for them (a data-parallel replica's part of the global batch).
  const std::vector<nr::Tensor> all = qkv({4, 5, 6, 2, 2, 3, 3});
  const nr::kernels::AttentionOptions whole{.dropout_rate = 0.5, .dropout_key = {77, 2}};
  const nr::kernels::AttentionForward f =
      nr::kernels::attention_forward(all[0], all[1], all[2], whole);
  std::vector<nr::Tensor> part;
  for (const nr::Tensor& t : all) part.push_back(nr::slice(t, 2, 4));
  nr::kernels::AttentionOptions mine = whole;
  mine.dropout_offset = 2 * 2 * 5 * 6;  // rows * heads * Tq * Tk
  const nr::kernels::AttentionForward p =
      nr::kernels::attention_forward(part[0], part[1], part[2], mine);
  EXPECT_EQ(p.out.to_vector<double>(), nr::slice(f.out, 2, 4).to_vector<double>());
  EXPECT_NE(
      nr::kernels::attention_forward(part[0], part[1], part[2], whole).out.to_vector<double>(),
      p.out.to_vector<double>());
}

namespace {

// Self-attention over two heads with dropout drawn from the layer's generator (or, with
// `host_key`, from the global seed on the host).
class DroppedSelfAttention : public nr::layers::Layer {
 public:
  explicit DroppedSelfAttention(bool host_key) : Layer("DroppedSelfAttention"), host_(host_key) {
    track_seed_generator(seeds_);
  }
  nr::Tensor call(const nr::Tensor& x, bool training) override {
    const nr::Tensor h = nr::reshape(x, {x.shape()[0], x.shape()[1], 2, x.shape()[2] / 2});
    nr::DotProductAttentionOptions o{.dropout_rate = training ? 0.3 : 0.0};
    if (!host_) o.seed_generator = &seeds_;
    return nr::reshape(nr::dot_product_attention(h, h, h, o), x.shape());
  }

 private:
  bool host_;
  nr::SeedGenerator seeds_;
};

}  // namespace

// A model whose attention drops from a SeedGenerator trains with its steps captured (the CPU's
// emulation of graph capture: each replay reruns the recorded kernels and copies only) exactly
// as eagerly, each replay dropping anew; with a key drawn on the host, fit does not capture.
TEST(DotProductAttention, DropoutFromAGeneratorIsCapturedAndTrainsAsEagerly) {
  const auto train = [](bool host_key) {
    return [host_key] {
      nr::set_seed(3);
      const nr::Tensor x = nr::random_uniform({64, 6, 8}, {.seed = 4});
      const nr::Tensor y = nr::cast(nr::random_uniform({64}, {.maxval = 3, .seed = 5}), nr::int32);
      nr::Sequential model({nr::layers::Input({6, 8}), nr::layers::Dense(8),
                            nr::layers::AnyLayer(std::make_shared<DroppedSelfAttention>(host_key)),
                            nr::layers::Flatten(),
                            nr::layers::Dense(3, {.activation = "softmax"})});
      model.compile(
          {.optimizer = nr::optimizers::Adam(1e-2), .loss = "sparse_categorical_crossentropy"});
      const auto history = model.fit(x, y, {.batch_size = 16, .epochs = 2, .verbose = 0});
      return std::pair{history.history.at("loss"), model.get_weights()};
    };
  };
  nr::testing::expect_captured_fit_matches_eager(train(false));
  // A key drawn on the host would be frozen into the graph: fit runs those steps eagerly.
  EXPECT_EQ(nr::testing::record_fit(true, train(true)).replays, 0);
}

// Inside a data-parallel replica's step, a generator's dropout draws the replica's rows of what
// one process draws for the global batch (as the other SeedGenerator draws do).
TEST(DotProductAttention, AReplicaDropsItsRowsOfTheGlobalBatch) {
  const std::vector<nr::Tensor> all = qkv({4, 5, 6, 2, 2, 3, 3});
  nr::SeedGenerator whole(8);
  const nr::Tensor global = nr::dot_product_attention(
      all[0], all[1], all[2], {.dropout_rate = 0.5, .seed_generator = &whole});
  std::vector<nr::Tensor> part;
  for (const nr::Tensor& t : all) part.push_back(nr::slice(t, 2, 4));
  nr::SeedGenerator mine(8);
  nr::Tensor replica;
  {
    nr::detail::ReplicaContext rows_2_and_3;
    rows_2_and_3.num_replicas = 2;
    rows_2_and_3.rank = 1;
    rows_2_and_3.share = 0.5;
    rows_2_and_3.shard = {.rows = 4, .begin = 2, .end = 4};
    const nr::detail::ScopedReplicaContext context(rows_2_and_3);
    replica = nr::dot_product_attention(part[0], part[1], part[2],
                                        {.dropout_rate = 0.5, .seed_generator = &mine});
  }
  EXPECT_EQ(replica.to_vector<double>(), nr::slice(global, 2, 4).to_vector<double>());
}
