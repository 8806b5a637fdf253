// libFuzzer target for the image decoders (PNG through libpng, JPEG through libjpeg-turbo): any
// bytes must give a uint8 image or a neurona::Error, never a crash, a sanitizer report or
// another exception; and a decoded image must survive encode_png and a second decode unchanged.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>

#include "neurona/core/error.h"
#include "neurona/data/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  neurona::Tensor image;
  try {
    image = neurona::data::decode_image(std::span<const std::uint8_t>(data, size), 0, "fuzz-input");
  } catch (const neurona::Error&) {
    return 0;  // rejected input: the expected outcome for almost every mutation
  }
  if (image.dtype() != neurona::DType::uint8 || image.rank() != 3) __builtin_trap();
  const std::string png = neurona::data::encode_png(image);
  const neurona::Tensor back = neurona::data::decode_image(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(png.data()), png.size()),
      0, "fuzz-roundtrip");
  if (back.shape() != image.shape() ||
      std::memcmp(back.raw_data(), image.raw_data(), image.nbytes()) != 0) {
    __builtin_trap();
  }
  return 0;
}
