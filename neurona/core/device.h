// Where a tensor lives: the CPU or one CUDA GPU. A device is a value, not a build flag: code
// above kernels/ never asks whether CUDA was compiled in, it asks for a device.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

namespace neurona {

enum class DeviceType : std::uint8_t { cpu, cuda };

class Device {
 public:
  constexpr Device() = default;
  constexpr Device(DeviceType type, int index) : type_(type), index_(index) {}

  static constexpr Device cpu() { return {DeviceType::cpu, 0}; }
  static constexpr Device cuda(int index = 0) { return {DeviceType::cuda, index}; }
  /// Parses "cpu", "cuda" (GPU 0) or "cuda:N"; throws ValueError otherwise.
  static Device parse(std::string_view s);

  constexpr DeviceType type() const { return type_; }
  constexpr int index() const { return index_; }
  constexpr bool is_cpu() const { return type_ == DeviceType::cpu; }
  constexpr bool is_cuda() const { return type_ == DeviceType::cuda; }
  /// "cpu" or "cuda:N".
  std::string str() const;
  constexpr bool operator==(const Device&) const = default;

 private:
  DeviceType type_ = DeviceType::cpu;
  int index_ = 0;
};

inline std::ostream& operator<<(std::ostream& os, const Device& d) {
  return os << d.str();
}

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

}  // namespace neurona
