// The CPU allocator's alignment and counters, and the caching allocator's reuse, statistics
// and out-of-memory path, driven by a fake device with a fixed capacity.
#include <neurona/neurona.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "support/test_util.h"

namespace nr = neurona;

namespace {

// A device of `capacity` bytes whose raw allocations are plain host memory.
struct FakeDevice {
  explicit FakeDevice(std::size_t cap) : capacity(cap) {}
  std::size_t capacity;
  std::size_t used = 0;
  int mallocs = 0, frees = 0;
  std::set<void*> live;

  nr::CachingAllocator make() {
    return nr::CachingAllocator(
        "fake:0",
        [this](std::size_t n) -> void* {
          if (used + n > capacity) return nullptr;
          void* p = std::malloc(n);
          used += n;
          ++mallocs;
          live.insert(p);
          sizes[p] = n;
          return p;
        },
        [this](void* p) {
          used -= sizes[p];
          ++frees;
          live.erase(p);
          std::free(p);
        });
  }
  std::map<void*, std::size_t> sizes;
};

}  // namespace

TEST(CpuAllocator, AlignsTo64Bytes) {
  for (std::int64_t n : {1, 3, 17, 1000}) {
    nr::Tensor t = nr::Tensor::empty({n}, nr::float32, nr::Device::cpu());
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw_data()) % 64, 0u);
  }
}

TEST(CpuAllocator, CountsBytesInUse) {
  const auto before = nr::memory_stats(nr::Device::cpu()).bytes_in_use;
  {
    nr::Tensor t = nr::zeros({1000}, {.device = nr::Device::cpu()});
    EXPECT_GE(nr::memory_stats(nr::Device::cpu()).bytes_in_use, before + 4000);
  }
  EXPECT_EQ(nr::memory_stats(nr::Device::cpu()).bytes_in_use, before);
}

TEST(CachingAllocator, RoundsSmallTo512AndLargeTo2MiB) {
  EXPECT_EQ(nr::CachingAllocator::round_size(1), 512u);
  EXPECT_EQ(nr::CachingAllocator::round_size(513), 1024u);
  EXPECT_EQ(nr::CachingAllocator::round_size((1u << 20) + 1), 2u << 20);
}

TEST(CachingAllocator, ReusesFreedBlockWithoutRawAllocation) {
  FakeDevice dev{1 << 20};
  auto alloc = dev.make();
  void* a = alloc.allocate(1000);
  alloc.deallocate(a, 1000);
  EXPECT_EQ(alloc.stats().bytes_cached, 1024u);
  void* b = alloc.allocate(900);
  EXPECT_EQ(a, b);
  EXPECT_EQ(dev.mallocs, 1);
  EXPECT_EQ(alloc.stats().num_raw_allocations, 1);
  EXPECT_EQ(alloc.stats().num_allocations, 2);
  EXPECT_EQ(alloc.stats().bytes_in_use, 1024u);
  EXPECT_EQ(alloc.stats().bytes_cached, 0u);
  alloc.deallocate(b, 900);
}

TEST(CachingAllocator, DoesNotHandOutBlocksMoreThanTwiceTheRequest) {
  FakeDevice dev{1 << 20};
  auto alloc = dev.make();
  void* big = alloc.allocate(8192);
  alloc.deallocate(big, 8192);
  void* small = alloc.allocate(512);
  EXPECT_NE(big, small);
  EXPECT_EQ(dev.mallocs, 2);
  alloc.deallocate(small, 512);
}

TEST(CachingAllocator, TracksPeakAndZeroBytes) {
  FakeDevice dev{1 << 20};
  auto alloc = dev.make();
  EXPECT_EQ(alloc.allocate(0), nullptr);
  void* a = alloc.allocate(4096);
  void* b = alloc.allocate(4096);
  alloc.deallocate(a, 4096);
  alloc.deallocate(b, 4096);
  EXPECT_EQ(alloc.stats().peak_bytes_in_use, 8192u);
  EXPECT_EQ(alloc.stats().bytes_in_use, 0u);
}

TEST(CachingAllocator, FreesCacheAndRetriesBeforeFailing) {
  FakeDevice dev{4096};
  auto alloc = dev.make();
  void* a = alloc.allocate(2048);
  alloc.deallocate(a, 2048);       // cached, still counts against the device
  void* b = alloc.allocate(4096);  // needs the cache freed first
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(dev.frees, 1);
  EXPECT_EQ(alloc.stats().bytes_cached, 0u);
  alloc.deallocate(b, 4096);
}

TEST(CachingAllocator, OutOfMemoryNamesBytesAskedInUseAndCached) {
  FakeDevice dev{4096};
  auto alloc = dev.make();
  void* a = alloc.allocate(3000);
  NEURONA_EXPECT_THROW_MSG(alloc.allocate(2000), nr::OutOfMemoryError, "fake:0", "2000 bytes",
                           "3072 bytes in use", "0 bytes cached");
  alloc.deallocate(a, 3000);
}

TEST(CachingAllocator, EmptyCacheGivesBlocksBack) {
  FakeDevice dev{1 << 20};
  {
    auto alloc = dev.make();
    void* a = alloc.allocate(100);
    void* b = alloc.allocate(200000);
    alloc.deallocate(a, 100);
    alloc.empty_cache();
    EXPECT_EQ(dev.live.size(), 1u);
    alloc.deallocate(b, 200000);
  }
  EXPECT_TRUE(dev.live.empty());  // the destructor frees the rest
}

// The raw frees of an emptied cache (empty_cache, and the retry after a failed allocation) run
// without the allocator's lock: the CUDA backend's raw free waits for the device's work, whose
// threads allocate, so freeing under the lock could deadlock. Each raw free here checks that
// another thread can take the lock (stats()) meanwhile.
TEST(CachingAllocator, FreesItsCacheWithoutHoldingItsLock) {
  struct Shared {
    std::atomic<nr::CachingAllocator*> alloc{nullptr};
    std::atomic<int> unlocked{0}, locked{0};
    std::atomic<bool> fail_next{false};
  };
  auto shared = std::make_shared<Shared>();
  const auto lock_is_free = [shared] {
    auto answered = std::make_shared<std::atomic<bool>>(false);
    std::thread([shared, answered] {
      (void)shared->alloc.load()->stats();
      *answered = true;
    }).detach();
    for (int i = 0; i < 300 && !*answered; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return answered->load();
  };
  auto* alloc = new nr::CachingAllocator(
      "fake:0",
      [shared](std::size_t n) -> void* {
        if (shared->fail_next.exchange(false)) return nullptr;  // out of memory, once
        return std::malloc(n);
      },
      [shared, lock_is_free](void* p) {
        (lock_is_free() ? shared->unlocked : shared->locked) += 1;
        std::free(p);
      });
  shared->alloc = alloc;
  void* a = alloc->allocate(1000);
  alloc->deallocate(a, 1000);
  alloc->empty_cache();
  void* b = alloc->allocate(1000);
  alloc->deallocate(b, 1000);
  shared->fail_next = true;  // the next raw allocation fails: b's cached block is freed, retried
  void* c = alloc->allocate(4096);
  ASSERT_NE(c, nullptr);
  alloc->deallocate(c, 4096);
  EXPECT_EQ(alloc->stats().bytes_cached, 4096u);
  alloc->empty_cache();  // c's block: the destructor has nothing left to free
  EXPECT_EQ(shared->locked, 0);
  EXPECT_EQ(shared->unlocked, 3);
  // A thread still waiting for the lock (the failure) would outlive a deleted allocator.
  if (shared->locked == 0) delete alloc;
}

TEST(CachingAllocator, IgnoresForeignPointers) {
  FakeDevice dev{1 << 20};
  auto alloc = dev.make();
  int x = 0;
  alloc.deallocate(&x, 4);
  EXPECT_EQ(alloc.stats().bytes_cached, 0u);
}
