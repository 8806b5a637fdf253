// Fashion-MNIST and MNIST from their IDX files, checked as a whole (shapes, counts, labels)
// so that a damaged or mismatched folder fails here with the file's name and not as a shape
// error deep inside fit().
#include "neurona/data/datasets.h"

#include <cstdlib>
#include <filesystem>

#include "neurona/core/error.h"
#include "neurona/data/idx.h"

namespace neurona::datasets {

namespace {

constexpr int kSide = 28;
constexpr int kClasses = 10;
// The most images (and labels) a file may declare: both data sets' training splits hold
// 60000. A header past it is refused before its data is inflated (a 47 MB file at most, where
// read_idx's own default would let a 33 MB gzip bomb inflate to 33 GB).
constexpr std::int64_t kMaxImages = 60000;

struct Source {
  const char* op;          // "fashion_mnist" or "mnist"
  std::string dir;         // the folder
  std::string dir_origin;  // how it was chosen, for messages
  std::string missing_hint;
};

std::string find_file(const Source& src, const std::string& name) {
  const std::filesystem::path dir(src.dir);
  for (const std::string& candidate : {name + ".gz", name}) {
    std::error_code ec;
    if (std::filesystem::is_regular_file(dir / candidate, ec)) return (dir / candidate).string();
  }
  throw IoError(detail::str(src.op, ": cannot find ", name, ".gz (or ", name, ") in '", src.dir,
                            "' (", src.dir_origin, "); ", src.missing_hint));
}

Tensor images_to_float(const Tensor& raw, const std::string& path, const char* op) {
  NEURONA_CHECK(raw.dtype() == DType::uint8 && raw.rank() == 3 && raw.shape()[1] == kSide &&
                    raw.shape()[2] == kSide,
                IoError, op, ": '", path, "' should hold (N, 28, 28) unsigned bytes, but holds ",
                raw.shape(), " of ", raw.dtype(), " (is it a label file?)");
  const std::int64_t n = raw.shape()[0];
  Tensor x = Tensor::empty({n, kSide, kSide, 1}, DType::float32, Device::cpu());
  const std::uint8_t* src = raw.data<std::uint8_t>();
  float* dst = x.data<float>();
  // As x.astype("float32") / 255 in NumPy: a float32 division, correctly rounded.
  for (std::int64_t i = 0; i < raw.numel(); ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
  return x;
}

Tensor labels_to_int(const Tensor& raw, const std::string& path, const char* op) {
  NEURONA_CHECK(raw.dtype() == DType::uint8 && raw.rank() == 1, IoError, op, ": '", path,
                "' should hold (N,) unsigned bytes, but holds ", raw.shape(), " of ", raw.dtype(),
                " (is it an image file?)");
  Tensor y = Tensor::empty(raw.shape(), DType::int32, Device::cpu());
  const std::uint8_t* src = raw.data<std::uint8_t>();
  std::int32_t* dst = y.data<std::int32_t>();
  for (std::int64_t i = 0; i < raw.numel(); ++i) {
    NEURONA_CHECK(src[i] < kClasses, IoError, op, ": '", path, "' has label ", int{src[i]},
                  " at index ", i, "; labels must be 0 to ", kClasses - 1);
    dst[i] = src[i];
  }
  return y;
}

void load_split(const Source& src, const std::string& prefix, Tensor& x, Tensor& y) {
  const std::string images_path = find_file(src, prefix + "-images-idx3-ubyte");
  const std::string labels_path = find_file(src, prefix + "-labels-idx1-ubyte");
  constexpr std::int64_t kImageBytes = kMaxImages * kSide * kSide;
  x = images_to_float(
      data::read_idx(images_path, {.max_elements = kImageBytes, .max_bytes = kImageBytes}),
      images_path, src.op);
  y = labels_to_int(
      data::read_idx(labels_path, {.max_elements = kMaxImages, .max_bytes = kMaxImages}),
      labels_path, src.op);
  NEURONA_CHECK(x.shape()[0] == y.shape()[0], IoError, src.op, ": '", images_path, "' holds ",
                x.shape()[0], " images but '", labels_path, "' holds ", y.shape()[0],
                " labels; the files do not belong together");
}

Dataset load(const Source& src) {
  Dataset d;
  load_split(src, "train", d.x_train, d.y_train);
  load_split(src, "t10k", d.x_test, d.y_test);
  return d;
}

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

}  // namespace

Dataset fashion_mnist(const std::string& dir) {
  Source src{"fashion_mnist", dir, "the folder passed to fashion_mnist()", ""};
  if (dir.empty()) {
    if (const char* e = env("NEURONA_FASHION_MNIST_DIR")) {
      src.dir = e;
      src.dir_origin = "from NEURONA_FASHION_MNIST_DIR";
    } else {
      src.dir = std::string(kFashionMnistDefaultDir);
      src.dir_origin = "the default folder of Debian's dataset-fashion-mnist package";
    }
  }
  src.missing_hint =
      "install the data with `apt-get install dataset-fashion-mnist`, or pass the folder that "
      "holds the files to fashion_mnist(dir) or in NEURONA_FASHION_MNIST_DIR";
  return load(src);
}

Dataset mnist(const std::string& dir) {
  Source src{"mnist", dir, "the folder passed to mnist()", ""};
  if (dir.empty()) {
    const char* e = env("NEURONA_MNIST_DIR");
    NEURONA_CHECK(e != nullptr, IoError,
                  "mnist: no folder given; pass the folder that holds "
                  "train-images-idx3-ubyte.gz and the other MNIST files to mnist(dir), or set "
                  "NEURONA_MNIST_DIR (Debian has no MNIST package; fashion_mnist() needs none)");
    src.dir = e;
    src.dir_origin = "from NEURONA_MNIST_DIR";
  }
  src.missing_hint =
      "download the four MNIST files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
      "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) into that folder";
  return load(src);
}

}  // namespace neurona::datasets
