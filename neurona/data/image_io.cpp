// PNG through libpng's simplified API (png_image_*), JPEG through libjpeg's decompressor with
// an error manager that longjmps back (libjpeg's documented way: its error_exit must not
// return, and a C++ exception may not unwind through its C frames).
#include "neurona/data/image_io.h"

// clang-format off: jpeglib.h needs <cstdio> (FILE, size_t) before it.
#include <jpeglib.h>
#include <cstdio>
// clang-format on
#include <png.h>

#include <csetjmp>
#include <cstring>
#include <memory>
#include <vector>

#include "neurona/core/error.h"
#include "neurona/core/io.h"

namespace neurona::data {

namespace {

using neurona::detail::str;

// Pixels past which an image is refused: 2^26 (8192 x 8192), so that a header cannot make the
// decoder allocate without bound; and the most libjpeg may allocate for its own buffers (a
// progressive JPEG keeps the whole image's coefficients).
constexpr std::uint64_t kMaxPixels = std::uint64_t{1} << 26;
constexpr long kMaxJpegMemory = 512L << 20;

bool is_png(std::span<const std::uint8_t> b) {
  static constexpr std::uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return b.size() >= 8 && std::memcmp(b.data(), kSignature, 8) == 0;
}

bool is_jpeg(std::span<const std::uint8_t> b) {
  return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

void check_size(std::uint64_t height, std::uint64_t width, const std::string& source) {
  NEURONA_CHECK(height > 0 && width > 0 && height * width <= kMaxPixels, IoError,
                "decode_image: ", source, ": an image of ", height, " x ", width,
                " pixels (neurona decodes images of 1 to 2^26 pixels)");
}

// ---- PNG ---------------------------------------------------------------------------------------

Tensor decode_png(std::span<const std::uint8_t> bytes, const std::string& source) {
  png_image image;
  std::memset(&image, 0, sizeof(image));
  image.version = PNG_IMAGE_VERSION;
  // Ends libpng's hold on `image` however this function leaves.
  struct Free {
    png_image* p;
    ~Free() { png_image_free(p); }
  } free_image{&image};
  NEURONA_CHECK(png_image_begin_read_from_memory(&image, bytes.data(), bytes.size()) != 0, IoError,
                "decode_image: ", source, ": not a readable PNG (", image.message, ")");
  check_size(image.height, image.width, source);
  // The file's own channels, 8 bits each, palettes expanded (no colour-map output).
  const png_uint_32 keep = PNG_FORMAT_FLAG_ALPHA | PNG_FORMAT_FLAG_COLOR;
  image.format = image.format & keep;
  const int channels = static_cast<int>(PNG_IMAGE_SAMPLE_CHANNELS(image.format));
  Tensor out = Tensor::empty(Shape{static_cast<std::int64_t>(image.height),
                                   static_cast<std::int64_t>(image.width), channels},
                             DType::uint8, Device::cpu());
  NEURONA_CHECK(png_image_finish_read(&image, nullptr, out.data<std::uint8_t>(), 0, nullptr) != 0,
                IoError, "decode_image: ", source, ": a broken PNG (", image.message, ")");
  return out;
}

// ---- JPEG --------------------------------------------------------------------------------------

struct JpegError {
  jpeg_error_mgr mgr;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void jpeg_fail(j_common_ptr info) {
  auto* err = reinterpret_cast<JpegError*>(info->err);
  (*info->err->format_message)(info, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings (level -1: corrupt or truncated data, which libjpeg would pad with gray) are errors,
// as tf.io.decode_jpeg treats them; trace messages (level >= 0) are dropped.
void jpeg_strict(j_common_ptr info, int level) {
  if (level < 0) jpeg_fail(info);
}

// The decompression itself, with no C++ object that needs destroying between setjmp and a
// longjmp: returns false with the message in err.message on a failure.
bool run_jpeg(std::span<const std::uint8_t> bytes, jpeg_decompress_struct& info, JpegError& err,
              std::unique_ptr<std::uint8_t[]>& pixels, std::string& refusal) {
  if (setjmp(err.jump) != 0) return false;
  jpeg_create_decompress(&info);
  info.mem->max_memory_to_use = kMaxJpegMemory;
  jpeg_mem_src(&info, bytes.data(), static_cast<unsigned long>(bytes.size()));
  jpeg_read_header(&info, TRUE);
  if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) {
    refusal = "a CMYK JPEG (neurona decodes grayscale and colour JPEGs)";
    return true;
  }
  info.out_color_space = info.num_components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  if (static_cast<std::uint64_t>(info.image_height) * info.image_width > kMaxPixels ||
      info.image_height == 0 || info.image_width == 0) {
    refusal = str("an image of ", info.image_height, " x ", info.image_width,
                  " pixels (neurona decodes images of 1 to 2^26 pixels)");
    return true;
  }
  jpeg_start_decompress(&info);
  const std::size_t row = static_cast<std::size_t>(info.output_width) *
                          static_cast<std::size_t>(info.output_components);
  pixels.reset(new std::uint8_t[row * info.output_height]);  // uninitialised: rows fill it
  while (info.output_scanline < info.output_height) {
    JSAMPROW line = pixels.get() + row * info.output_scanline;
    jpeg_read_scanlines(&info, &line, 1);
  }
  jpeg_finish_decompress(&info);
  return true;
}

Tensor decode_jpeg(std::span<const std::uint8_t> bytes, const std::string& source) {
  jpeg_decompress_struct info;
  std::memset(&info, 0, sizeof(info));
  JpegError err;
  info.err = jpeg_std_error(&err.mgr);
  err.mgr.error_exit = jpeg_fail;
  err.mgr.emit_message = jpeg_strict;
  err.message[0] = '\0';
  std::unique_ptr<std::uint8_t[]> pixels;
  std::string refusal;
  const bool ok = run_jpeg(bytes, info, err, pixels, refusal);
  const int height = static_cast<int>(info.output_height);
  const int width = static_cast<int>(info.output_width);
  const int channels = info.output_components;
  jpeg_destroy_decompress(&info);
  NEURONA_CHECK(ok, IoError, "decode_image: ", source, ": a broken JPEG (", err.message, ")");
  NEURONA_CHECK(refusal.empty(), IoError, "decode_image: ", source, ": ", refusal);
  Tensor out = Tensor::empty(Shape{height, width, channels}, DType::uint8, Device::cpu());
  std::memcpy(out.data<std::uint8_t>(), pixels.get(), out.nbytes());
  return out;
}

// ---- channel conversion ------------------------------------------------------------------------

// `image` (h, w, from) with `to` channels, as decode_image documents.
Tensor convert_channels(const Tensor& image, int to) {
  const int from = static_cast<int>(image.shape()[2]);
  if (to == 0 || to == from) return image;
  const std::int64_t pixels = image.shape()[0] * image.shape()[1];
  Tensor out =
      Tensor::empty(Shape{image.shape()[0], image.shape()[1], to}, DType::uint8, Device::cpu());
  const std::uint8_t* src = image.data<std::uint8_t>();
  std::uint8_t* dst = out.data<std::uint8_t>();
  const bool color = from >= 3;
  const bool alpha = from == 2 || from == 4;
  for (std::int64_t p = 0; p < pixels; ++p, src += from, dst += to) {
    std::uint8_t gray;
    if (color) {  // PIL's fixed-point BT.601: (19595 R + 38470 G + 7471 B + 2^15) >> 16
      gray = static_cast<std::uint8_t>(
          (19595u * src[0] + 38470u * src[1] + 7471u * src[2] + 0x8000u) >> 16);
    } else {
      gray = src[0];
    }
    if (to == 1) {
      dst[0] = gray;
      continue;
    }
    for (int c = 0; c < 3; ++c) dst[c] = color ? src[c] : gray;
    if (to == 4) dst[3] = alpha ? src[from - 1] : 255;
  }
  return out;
}

}  // namespace

int channels_of_color_mode(const std::string& color_mode) {
  if (color_mode == "grayscale") return 1;
  if (color_mode == "rgb") return 3;
  if (color_mode == "rgba") return 4;
  throw ValueError(
      str("`color_mode` must be one of {\"rgb\", \"rgba\", \"grayscale\"}. "
          "Received: color_mode=",
          color_mode));
}

Tensor decode_image(std::span<const std::uint8_t> bytes, int channels, const std::string& source) {
  NEURONA_CHECK(channels == 0 || channels == 1 || channels == 3 || channels == 4, ValueError,
                "decode_image: channels must be 0 (the file's), 1, 3 or 4, got ", channels);
  Tensor image;
  if (is_png(bytes)) {
    image = decode_png(bytes, source);
  } else if (is_jpeg(bytes)) {
    image = decode_jpeg(bytes, source);
  } else {
    throw IoError(str("decode_image: ", source,
                      ": neither a PNG nor a JPEG (neurona decodes these two formats)"));
  }
  return convert_channels(image, channels);
}

Tensor read_image(const std::string& path, int channels) {
  const std::vector<std::uint8_t> bytes =
      read_regular_file_bytes(path, "read_image", "images", std::uint64_t{1} << 30);
  return decode_image(bytes, channels, path);
}

std::string encode_png(const Tensor& image) {
  NEURONA_CHECK(image.defined() && image.dtype() == DType::uint8 && image.rank() == 3 &&
                    image.shape()[2] >= 1 && image.shape()[2] <= 4,
                ValueError,
                "encode_png: expected a uint8 image (height, width, channels) with 1 to 4 "
                "channels, got ",
                image.defined() ? str(image.dtype(), " of shape ", image.shape()) : "undefined");
  check_size(static_cast<std::uint64_t>(image.shape()[0]),
             static_cast<std::uint64_t>(image.shape()[1]), "encode_png");
  const Tensor host = image.to(Device::cpu());
  png_image png;
  std::memset(&png, 0, sizeof(png));
  png.version = PNG_IMAGE_VERSION;
  png.height = static_cast<png_uint_32>(host.shape()[0]);
  png.width = static_cast<png_uint_32>(host.shape()[1]);
  constexpr png_uint_32 kFormats[] = {PNG_FORMAT_GRAY, PNG_FORMAT_GA, PNG_FORMAT_RGB,
                                      PNG_FORMAT_RGBA};
  png.format = kFormats[host.shape()[2] - 1];
  png_alloc_size_t size = 0;
  // The first call measures, the second writes.
  NEURONA_CHECK(png_image_write_to_memory(&png, nullptr, &size, 0, host.data<std::uint8_t>(), 0,
                                          nullptr) != 0,
                IoError, "encode_png: ", png.message);
  std::string bytes(size, '\0');
  NEURONA_CHECK(png_image_write_to_memory(&png, bytes.data(), &size, 0, host.data<std::uint8_t>(),
                                          0, nullptr) != 0,
                IoError, "encode_png: ", png.message);
  bytes.resize(size);
  png_image_free(&png);
  return bytes;
}

void write_png(const std::string& path, const Tensor& image) {
  write_file_atomic(path, encode_png(image), "write_png");
}

}  // namespace neurona::data
