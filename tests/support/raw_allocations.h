// A fit callback that counts the device allocator's raw allocations (cudaMalloc calls) during
// each epoch, for the GPU tests that check a steady-state step allocates nothing new.
#pragma once

#include <cstdint>
#include <vector>

#include "neurona/neurona.h"

namespace neurona::testing {

class RawAllocations : public callbacks::Callback {
 public:
  /// Counts on `device` when it is a GPU; records nothing on the CPU.
  explicit RawAllocations(Device device) : device_(device) {}
  std::vector<std::int64_t> per_epoch;
  void on_epoch_begin(int /*epoch*/, callbacks::Logs& /*logs*/) override {
    if (device_.is_cuda()) at_begin_ = memory_stats(device_).num_raw_allocations;
  }
  void on_epoch_end(int /*epoch*/, callbacks::Logs& /*logs*/) override {
    if (device_.is_cuda())
      per_epoch.push_back(memory_stats(device_).num_raw_allocations - at_begin_);
  }

 private:
  Device device_;
  std::int64_t at_begin_ = 0;
};

}  // namespace neurona::testing
