// Device memory: a caching allocator for GPUs (a cudaMalloc per op costs more than most ops)
// and for the host (large buffers would otherwise be returned to the kernel and faulted in
// again each step), and a plain aligned allocator for sanitizer builds. The caching logic is
// independent of CUDA so that the CPU tests exercise it through a fake device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>

#include "neurona/core/device.h"

namespace neurona {

/// Counters an allocator keeps. Bytes are the sizes blocks were rounded up to.
struct AllocatorStats {
  std::size_t bytes_in_use = 0;          ///< held by live tensors
  std::size_t bytes_cached = 0;          ///< freed by tensors, kept for reuse
  std::size_t peak_bytes_in_use = 0;     ///< high-water mark of bytes_in_use
  std::int64_t num_allocations = 0;      ///< calls to allocate()
  std::int64_t num_raw_allocations = 0;  ///< calls that reached the device (cudaMalloc)
  std::int64_t num_raw_frees = 0;        ///< blocks given back to the device
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  /// Returns `nbytes` of memory (nullptr for 0 bytes); throws OutOfMemoryError.
  virtual void* allocate(std::size_t nbytes) = 0;
  /// Returns memory from allocate(); never throws.
  virtual void deallocate(void* p, std::size_t nbytes) noexcept = 0;
  virtual AllocatorStats stats() const = 0;
  /// Gives cached blocks back to the device.
  virtual void empty_cache() {}
};

/// Host memory aligned to 64 bytes (one AVX-512 vector, one cache line).
class CpuAllocator final : public Allocator {
 public:
  static constexpr std::size_t kAlignment = 64;
  void* allocate(std::size_t nbytes) override;
  void deallocate(void* p, std::size_t nbytes) noexcept override;
  AllocatorStats stats() const override;

 private:
  mutable std::mutex mu_;
  AllocatorStats stats_;
};

/// Caches freed blocks by size and hands them out again. On a failed raw allocation it frees
/// its cache and retries once, then throws OutOfMemoryError naming the bytes asked, in use
/// and cached. Blocks are used in stream order on one stream, so reuse needs no event.
class CachingAllocator final : public Allocator {
 public:
  /// `raw_alloc` returns nullptr on failure; `raw_free` must not throw. `name` appears in
  /// error messages ("cuda:0").
  CachingAllocator(std::string name, std::function<void*(std::size_t)> raw_alloc,
                   std::function<void(void*)> raw_free);
  ~CachingAllocator() override;

  void* allocate(std::size_t nbytes) override;
  void deallocate(void* p, std::size_t nbytes) noexcept override;
  AllocatorStats stats() const override;
  void empty_cache() override;

  /// The size a request is rounded up to: 512 bytes below 1 MiB, 2 MiB above.
  static std::size_t round_size(std::size_t nbytes);

 private:
  void empty_cache_locked() noexcept;

  std::string name_;
  std::function<void*(std::size_t)> raw_alloc_;
  std::function<void(void*)> raw_free_;
  mutable std::mutex mu_;
  std::multimap<std::size_t, void*> free_blocks_;  // size -> block
  std::unordered_map<void*, std::size_t> in_use_;  // block -> size
  AllocatorStats stats_;
};

}  // namespace neurona
