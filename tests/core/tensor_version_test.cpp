// Tensor::version() and cached_derived(): every in-place write neurona makes bumps the version,
// and a value cached from a tensor is made again after a write, a graph replay, or while a
// graph is being captured (the CUDA convolution caches its weights' cuDNN layout this way).
#include <neurona/neurona.h>

#include "neurona/core/graph.h"
#include "support/test_util.h"

namespace nr = neurona;

namespace {

// cached_derived with a counter of how often `make` ran.
struct Cache {
  int made = 0;
  nr::Tensor get(const nr::Tensor& t) {
    return t.cached_derived(this, [this](const nr::Tensor& x) {
      ++made;
      return nr::add(x, x);
    });
  }
};

}  // namespace

TEST(TensorVersion, InPlaceWritesBumpTheVersionAndNewTensorsStartAtZero) {
  const nr::Tensor t = nr::constant({1.0f, 2.0f});
  EXPECT_EQ(t.version(), 0u);
  EXPECT_EQ(nr::Tensor().version(), 0u);
  t.copy_from(nr::constant({3.0f, 4.0f}));
  EXPECT_EQ(t.version(), 1u);
  t.bump_version();
  EXPECT_EQ(t.version(), 2u);
  // Views share the storage and so its version; a clone has its own.
  EXPECT_EQ(t.reshape({2, 1}).version(), 2u);
  EXPECT_EQ(t.clone().version(), 0u);
  NEURONA_EXPECT_THROW_MSG(nr::Tensor().bump_version(), nr::ValueError, "bump_version");
}

TEST(TensorVersion, VariableAssignAndOptimizerStepsBumpTheVersion) {
  nr::Variable w(nr::constant({1.0f, 2.0f}));
  const std::uint64_t v0 = w.value().version();
  w.assign(nr::constant({0.5f, 0.5f}));
  EXPECT_GT(w.value().version(), v0);
  const std::uint64_t v1 = w.value().version();
  w.assign_add(nr::constant({1.0f, 1.0f}));
  EXPECT_GT(w.value().version(), v1);

  auto sgd = nr::optimizers::SGD(0.1, {.momentum = 0.9}).ptr();
  const std::uint64_t v2 = w.value().version();
  sgd->apply_gradients({nr::constant({1.0f, 1.0f})}, {w});
  EXPECT_GT(w.value().version(), v2);
  EXPECT_LT(w.value().to_vector<float>()[0], 1.5f);  // the step happened
}

TEST(TensorVersion, CachedDerivedIsMadeOncePerVersion) {
  const nr::Tensor t = nr::constant({1.0f, 2.0f});
  Cache cache;
  EXPECT_EQ(cache.get(t).to_vector<float>(), (std::vector<float>{2, 4}));
  EXPECT_EQ(cache.get(t).to_vector<float>(), (std::vector<float>{2, 4}));
  EXPECT_EQ(cache.made, 1);
  // A copy of the handle shares the cache; a write makes the value again from the new contents.
  const nr::Tensor same = t;
  (void)cache.get(same);
  EXPECT_EQ(cache.made, 1);
  t.copy_from(nr::constant({5.0f, 6.0f}));
  EXPECT_EQ(cache.get(t).to_vector<float>(), (std::vector<float>{10, 12}));
  EXPECT_EQ(cache.made, 2);
  t.bump_version();
  (void)cache.get(t);
  EXPECT_EQ(cache.made, 3);
}

TEST(TensorVersion, CachedDerivedKeysOnTheCallerAndTheView) {
  const nr::Tensor t = nr::constant({1.0f, 2.0f, 3.0f, 4.0f});
  Cache a, b;
  (void)a.get(t);
  (void)b.get(t);
  EXPECT_EQ(a.made, 1);
  EXPECT_EQ(b.made, 1);
  // Another view of the same storage (other offset, other shape) is another entry.
  EXPECT_EQ(a.get(t.slice(2, 4)).to_vector<float>(), (std::vector<float>{6, 8}));
  EXPECT_EQ(a.get(t.reshape({2, 2})).shape(), nr::Shape({2, 2}));
  EXPECT_EQ(a.made, 3);
  (void)a.get(t);
  EXPECT_EQ(a.made, 3);
}

TEST(TensorVersion, CachedDerivedIsNotUsedWhileCapturingAndIsStaleAfterAReplay) {
  nr::detail::set_cpu_graph_emulation(true);
  const nr::Tensor t = nr::constant({1.0f, 2.0f});
  Cache cache;
  (void)cache.get(t);
  EXPECT_EQ(cache.made, 1);
  // During a capture the value is made (and recorded) every time, never served or kept: a
  // replay must compute it from the values of its own step.
  nr::Tensor captured;
  auto graph = nr::capture_graph(nr::Device::cpu(), [&] { captured = cache.get(t); });
  EXPECT_EQ(cache.made, 2);
  (void)cache.get(t);
  EXPECT_EQ(cache.made, 2);  // the entry made before the capture still holds
  // A replay writes without bumping versions: what was cached before it is made again.
  graph->replay();
  EXPECT_EQ(captured.to_vector<float>(), (std::vector<float>{2, 4}));
  (void)cache.get(t);
  EXPECT_EQ(cache.made, 3);
  nr::detail::set_cpu_graph_emulation(false);
}
