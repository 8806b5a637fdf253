// libFuzzer target for the IDX reader: any bytes, plain or gzip, must give a tensor or a
// neurona::Error, never a crash, a sanitizer report or another exception.
#include <cstddef>
#include <cstdint>
#include <span>

#include "neurona/core/error.h"
#include "neurona/data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const neurona::Tensor t =
        neurona::data::read_idx_bytes(std::span<const std::uint8_t>(data, size), "fuzz-input");
    // Each element of a plain file takes at least one byte of it: the reader must never
    // return more than the input holds (gzip input, starting 0x1f 0x8b, may expand).
    const bool gzip = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    if (!gzip && t.numel() > static_cast<std::int64_t>(size)) __builtin_trap();
  } catch (const neurona::Error&) {
    // Rejected input: the expected outcome for almost every mutation.
  }
  return 0;
}
