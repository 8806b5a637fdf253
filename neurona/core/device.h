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

}  // namespace neurona
