// libFuzzer target for the .npy reader: any bytes must give a tensor or a neurona::Error,
// never a crash, a sanitizer report or another exception; and what parses must survive a
// write and a second read unchanged.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "neurona/core/error.h"
#include "neurona/data/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  neurona::Tensor t;
  try {
    t = neurona::data::parse_npy(std::span<const std::uint8_t>(data, size), "fuzz-input");
  } catch (const neurona::Error&) {
    return 0;  // rejected input: the expected outcome for almost every mutation
  }
  // Accepted: encode_npy and parse_npy must agree on it (a round trip is exact).
  const std::string again = neurona::data::encode_npy(t);
  const neurona::Tensor back = neurona::data::parse_npy(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(again.data()),
                                    again.size()),
      "fuzz-roundtrip");
  if (back.dtype() != t.dtype() || back.shape() != t.shape() ||
      (t.nbytes() > 0 && std::memcmp(back.raw_data(), t.raw_data(), t.nbytes()) != 0)) {
    __builtin_trap();
  }
  return 0;
}
