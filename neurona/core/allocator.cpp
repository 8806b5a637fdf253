// The CPU allocator and the device-independent caching allocator used for GPUs.
#include "neurona/core/allocator.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <vector>

#include "neurona/core/error.h"

namespace neurona {

namespace {
void note_alloc(AllocatorStats& s, std::size_t n) {
  s.bytes_in_use += n;
  s.peak_bytes_in_use = std::max(s.peak_bytes_in_use, s.bytes_in_use);
  ++s.num_allocations;
}
std::size_t round_up(std::size_t n, std::size_t m) {
  return (n + m - 1) / m * m;
}
// Takes every cached block out of `free_blocks` (under the allocator's lock), counting them as
// given back; the caller frees them after releasing the lock, since a raw free may wait for the
// device's work (the CUDA backend's takes the device's work guard), and the threads doing that
// work allocate, taking the lock: freeing under it could deadlock.
std::vector<void*> take_cached(std::multimap<std::size_t, void*>& free_blocks,
                               AllocatorStats& stats) {
  std::vector<void*> blocks;
  blocks.reserve(free_blocks.size());
  for (const auto& [size, p] : free_blocks) blocks.push_back(p);
  stats.num_raw_frees += static_cast<std::int64_t>(blocks.size());
  free_blocks.clear();
  stats.bytes_cached = 0;
  return blocks;
}
}  // namespace

void* CpuAllocator::allocate(std::size_t nbytes) {
  if (nbytes == 0) return nullptr;
  const std::size_t size = round_up(nbytes, kAlignment);
  NEURONA_CHECK(size >= nbytes, OutOfMemoryError, "cpu allocator: cannot allocate ", nbytes,
                " bytes");
  void* p = std::aligned_alloc(kAlignment, size);
  std::lock_guard lock(mu_);
  NEURONA_CHECK(p != nullptr, OutOfMemoryError, "cpu allocator: out of memory allocating ", nbytes,
                " bytes (", stats_.bytes_in_use, " bytes in use)");
  note_alloc(stats_, size);
  ++stats_.num_raw_allocations;
  return p;
}

void CpuAllocator::deallocate(void* p, std::size_t nbytes) noexcept {
  if (!p) return;
  std::free(p);
  std::lock_guard lock(mu_);
  stats_.bytes_in_use -= round_up(nbytes, kAlignment);
  ++stats_.num_raw_frees;
}

AllocatorStats CpuAllocator::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

CachingAllocator::CachingAllocator(std::string name, std::function<void*(std::size_t)> raw_alloc,
                                   std::function<void(void*)> raw_free)
    : name_(std::move(name)), raw_alloc_(std::move(raw_alloc)), raw_free_(std::move(raw_free)) {}

CachingAllocator::~CachingAllocator() {
  std::lock_guard lock(mu_);
  empty_cache_locked();
}

std::size_t CachingAllocator::round_size(std::size_t nbytes) {
  constexpr std::size_t kSmall = 512, kLarge = std::size_t{2} << 20;
  return nbytes < (std::size_t{1} << 20) ? round_up(std::max<std::size_t>(nbytes, 1), kSmall)
                                         : round_up(nbytes, kLarge);
}

void* CachingAllocator::allocate(std::size_t nbytes) {
  if (nbytes == 0) return nullptr;
  const std::size_t size = round_size(nbytes);
  NEURONA_CHECK(size >= nbytes, OutOfMemoryError, name_, " allocator: cannot allocate ", nbytes,
                " bytes");
  std::unique_lock lock(mu_);
  // Best fit among cached blocks, but never hand out more than twice what was asked.
  auto it = free_blocks_.lower_bound(size);
  if (it != free_blocks_.end() && it->first <= 2 * size) {
    void* p = it->second;
    const std::size_t block = it->first;
    free_blocks_.erase(it);
    stats_.bytes_cached -= block;
    in_use_.emplace(p, block);
    note_alloc(stats_, block);
    return p;
  }
  void* p = raw_alloc_(size);
  if (!p) {  // give the cache back (freed without the lock) and retry
    const std::vector<void*> cached = take_cached(free_blocks_, stats_);
    lock.unlock();
    for (void* block : cached) raw_free_(block);
    lock.lock();
    p = raw_alloc_(size);
  }
  NEURONA_CHECK(p != nullptr, OutOfMemoryError, name_, " allocator: out of memory allocating ",
                nbytes, " bytes (", stats_.bytes_in_use, " bytes in use, ", stats_.bytes_cached,
                " bytes cached after freeing the cache)");
  ++stats_.num_raw_allocations;
  in_use_.emplace(p, size);
  note_alloc(stats_, size);
  return p;
}

void CachingAllocator::deallocate(void* p, std::size_t /*nbytes*/) noexcept {
  if (!p) return;
  std::lock_guard lock(mu_);
  auto it = in_use_.find(p);
  if (it == in_use_.end()) return;  // not ours: ignore rather than corrupt the cache
  const std::size_t size = it->second;
  in_use_.erase(it);
  stats_.bytes_in_use -= size;
  stats_.bytes_cached += size;
  free_blocks_.emplace(size, p);
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void CachingAllocator::empty_cache() {
  std::vector<void*> cached;
  {
    std::lock_guard lock(mu_);
    cached = take_cached(free_blocks_, stats_);
  }
  for (void* block : cached) raw_free_(block);
}

void CachingAllocator::empty_cache_locked() noexcept {
  for (auto& [size, p] : free_blocks_) {
    raw_free_(p);
    ++stats_.num_raw_frees;
  }
  free_blocks_.clear();
  stats_.bytes_cached = 0;
}

}  // namespace neurona
