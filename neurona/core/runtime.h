// The devices of this process as a whole: which exist, which one new tensors go to, waiting
// for one, and its allocator. Above the backends (core/backend.h), which it asks.
#pragma once

#include "neurona/core/allocator.h"
#include "neurona/core/device.h"

namespace neurona {

/// Number of usable CUDA GPUs: 0 in a CPU-only build, without a driver, or without a GPU.
int cuda_device_count();

/// True when this build has the CUDA backend compiled in (whether or not a GPU is present).
bool cuda_built();

/// The device new tensors go to: NEURONA_DEVICE (cpu, cuda, cuda:N) when set, else the first
/// GPU when there is one, else the CPU. Throws ValueError when NEURONA_DEVICE names a device
/// that does not exist. Read once, then cached; set_default_device() changes it.
Device default_device();

/// Makes `d` the default device; throws ValueError if it does not exist.
void set_default_device(Device d);

/// Waits until all work queued on `d` has finished (a no-op on the CPU). Ops on a GPU return
/// before their kernels finish; reading a value back (item, to_vector, to(cpu)) waits anyway.
void synchronize(Device d);

/// Throws ValueError naming `op` if `d` does not exist in this build and on this machine.
void check_device_available(Device d, const char* op);

namespace detail {
/// The default device that a NEURONA_DEVICE value (nullptr for unset) selects, given the
/// number of GPUs present. Exposed for tests.
Device resolve_default_device(const char* env_value, int gpu_count);
}  // namespace detail

/// The allocator of a device (throws ValueError if the device does not exist).
Allocator& allocator_for(Device d);

/// The counters of a device's allocator.
AllocatorStats memory_stats(Device d);

/// Frees the blocks a device's allocator keeps cached.
void empty_cache(Device d);

}  // namespace neurona
