// Fashion-MNIST from Debian's dataset-fashion-mnist package, and the checks on a folder of
// IDX files made up here (missing files, mismatched counts, bad labels, wrong shapes).
#include "neurona/data/datasets.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "data/data_test_util.h"
#include "neurona/data/idx.h"
#include "support/bombs.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::ScratchDir;

namespace {

bool fashion_mnist_installed() {
  const std::filesystem::path dir(nr::datasets::kFashionMnistDefaultDir);
  for (const char* f : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}) {
    if (!std::filesystem::exists(dir / f)) return false;
  }
  return true;
}

/// Sets an environment variable for the life of the object, then restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

/// n images whose pixel (i, r, c) is (i + r + c) % 256, and the given labels.
void write_split(const ScratchDir& dir, const std::string& prefix, std::int64_t n,
                 const std::vector<double>& labels, bool gzip = true) {
  std::vector<double> pixels(static_cast<std::size_t>(n * 28 * 28));
  for (std::int64_t i = 0; i < n; ++i) {
    for (int r = 0; r < 28; ++r) {
      for (int c = 0; c < 28; ++c) {
        pixels[static_cast<std::size_t>((i * 28 + r) * 28 + c)] =
            static_cast<double>((i + r + c) % 256);
      }
    }
  }
  const std::string suffix = gzip ? ".gz" : "";
  nr::data::save_idx(dir.file(prefix + "-images-idx3-ubyte" + suffix),
                     nr::testing::make_tensor(pixels, {n, 28, 28}, nr::uint8), {.gzip = gzip});
  nr::data::save_idx(
      dir.file(prefix + "-labels-idx1-ubyte" + suffix),
      nr::testing::make_tensor(labels, {static_cast<std::int64_t>(labels.size())}, nr::uint8),
      {.gzip = gzip});
}

}  // namespace

class FashionMnistPackage : public ::testing::Test {
 protected:
  // The real data set is read once for all the tests that look at it.
  static void SetUpTestSuite() {
    if (fashion_mnist_installed()) {
      data_ = new nr::datasets::Dataset(
          nr::datasets::fashion_mnist(std::string(nr::datasets::kFashionMnistDefaultDir)));
    }
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }
  void SetUp() override {
    if (data_ == nullptr) {
      GTEST_SKIP() << "Debian's dataset-fashion-mnist is not installed ("
                   << nr::datasets::kFashionMnistDefaultDir
                   << " lacks its files); apt-get install dataset-fashion-mnist";
    }
  }
  static nr::datasets::Dataset* data_;
};
nr::datasets::Dataset* FashionMnistPackage::data_ = nullptr;

TEST_F(FashionMnistPackage, HasKerasShapesAndDtypes) {
  EXPECT_EQ(data_->x_train.shape(), (nr::Shape{60000, 28, 28, 1}));
  EXPECT_EQ(data_->y_train.shape(), (nr::Shape{60000}));
  EXPECT_EQ(data_->x_test.shape(), (nr::Shape{10000, 28, 28, 1}));
  EXPECT_EQ(data_->y_test.shape(), (nr::Shape{10000}));
  EXPECT_EQ(data_->x_train.dtype(), nr::float32);
  EXPECT_EQ(data_->y_train.dtype(), nr::int32);
  EXPECT_EQ(data_->x_train.device(), nr::Device::cpu());
}

TEST_F(FashionMnistPackage, PixelsAreBytesOver255) {
  // Reference numbers from NumPy on the same files: the byte sums of the first training and
  // test images, of all test images, and four pixels of row 10 of the first training image.
  for (const nr::Tensor* x : {&data_->x_train, &data_->x_test}) {
    const float* p = x->data<float>();
    float lo = 1, hi = 0;
    for (std::int64_t i = 0; i < x->numel(); ++i) {
      lo = std::min(lo, p[i]);
      hi = std::max(hi, p[i]);
    }
    EXPECT_EQ(lo, 0.0f);
    EXPECT_EQ(hi, 1.0f);
  }
  auto byte_sum = [](const nr::Tensor& x, std::int64_t first, std::int64_t count) {
    const float* p = x.data<float>() + first * 784;
    std::int64_t sum = 0;
    for (std::int64_t i = 0; i < count * 784; ++i) sum += std::lround(p[i] * 255.0f);
    return sum;
  };
  EXPECT_EQ(byte_sum(data_->x_train, 0, 1), 76247);
  EXPECT_EQ(byte_sum(data_->x_test, 0, 1), 33456);
  EXPECT_EQ(byte_sum(data_->x_test, 0, 10000), 573469082);
  const float* row10 = data_->x_train.data<float>() + 10 * 28 + 10;
  EXPECT_EQ(row10[0], 0.0f);
  EXPECT_EQ(row10[3], 193.0f / 255.0f);
}

TEST_F(FashionMnistPackage, FirstLabelsAndBalancedClasses) {
  EXPECT_EQ(data_->y_train.slice(0, 10).to_vector<int>(),
            (std::vector<int>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}));
  EXPECT_EQ(data_->y_test.slice(0, 10).to_vector<int>(),
            (std::vector<int>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7}));
  std::vector<int> train_counts(10, 0), test_counts(10, 0);
  for (int y : data_->y_train.to_vector<int>()) ++train_counts.at(static_cast<std::size_t>(y));
  for (int y : data_->y_test.to_vector<int>()) ++test_counts.at(static_cast<std::size_t>(y));
  EXPECT_EQ(train_counts, std::vector<int>(10, 6000));
  EXPECT_EQ(test_counts, std::vector<int>(10, 1000));
}

TEST(FashionMnist, ClassNamesAreTheTenKerasTutorialNames) {
  ASSERT_EQ(nr::datasets::fashion_mnist_class_names.size(), 10u);
  EXPECT_EQ(nr::datasets::fashion_mnist_class_names[0], "T-shirt/top");
  EXPECT_EQ(nr::datasets::fashion_mnist_class_names[9], "Ankle boot");
}

TEST(FashionMnist, EnvironmentVariableChoosesTheFolder) {
  ScratchDir dir("fmnist_env");
  write_split(dir, "train", 3, {0, 9, 4});
  write_split(dir, "t10k", 2, {1, 2}, /*gzip=*/false);  // plain files are found too
  ScopedEnv env("NEURONA_FASHION_MNIST_DIR", dir.path().c_str());
  const nr::datasets::Dataset d = nr::datasets::fashion_mnist();
  EXPECT_EQ(d.x_train.shape(), (nr::Shape{3, 28, 28, 1}));
  EXPECT_EQ(d.y_train.to_vector<int>(), (std::vector<int>{0, 9, 4}));
  EXPECT_EQ(d.x_test.shape(), (nr::Shape{2, 28, 28, 1}));
  EXPECT_EQ(d.y_test.to_vector<int>(), (std::vector<int>{1, 2}));
  // Pixel (i=2, r=27, c=27) of the training set is byte (2 + 54) = 56.
  EXPECT_EQ(d.x_train.to_vector<float>()[2 * 784 + 27 * 28 + 27], 56.0f / 255.0f);
}

TEST(FashionMnist, ArgumentOverridesTheEnvironment) {
  ScratchDir dir("fmnist_arg");
  write_split(dir, "train", 1, {5});
  write_split(dir, "t10k", 1, {6});
  ScopedEnv env("NEURONA_FASHION_MNIST_DIR", "/nonexistent-neurona");
  EXPECT_EQ(nr::datasets::fashion_mnist(dir.path().string()).y_test.item<int>(), 6);
}

TEST(FashionMnist, MissingFilesSayHowToInstallThePackage) {
  ScratchDir dir("fmnist_missing");
  write_split(dir, "train", 1, {5});  // no t10k files
  NEURONA_EXPECT_THROW_MSG(nr::datasets::fashion_mnist(dir.path().string()), nr::IoError,
                           "fashion_mnist", "t10k-images-idx3-ubyte.gz", dir.path().c_str(),
                           "apt-get install dataset-fashion-mnist", "NEURONA_FASHION_MNIST_DIR");
}

TEST(FashionMnist, ImageAndLabelCountsMustAgree) {
  ScratchDir dir("fmnist_counts");
  write_split(dir, "train", 3, {1, 2});
  write_split(dir, "t10k", 1, {1});
  NEURONA_EXPECT_THROW_MSG(nr::datasets::fashion_mnist(dir.path().string()), nr::IoError,
                           "holds 3 images", "holds 2 labels", "train-labels-idx1-ubyte.gz");
}

TEST(FashionMnist, LabelsMustBeBelowTen) {
  ScratchDir dir("fmnist_labels");
  write_split(dir, "train", 2, {3, 10});
  write_split(dir, "t10k", 1, {1});
  NEURONA_EXPECT_THROW_MSG(nr::datasets::fashion_mnist(dir.path().string()), nr::IoError,
                           "train-labels-idx1-ubyte.gz", "label 10 at index 1", "0 to 9");
}

TEST(FashionMnist, SwappedFilesAreReportedByShape) {
  ScratchDir dir("fmnist_swapped");
  write_split(dir, "train", 2, {3, 4});
  write_split(dir, "t10k", 1, {1});
  std::filesystem::rename(dir.file("train-images-idx3-ubyte.gz"), dir.file("tmp"));
  std::filesystem::rename(dir.file("train-labels-idx1-ubyte.gz"),
                          dir.file("train-images-idx3-ubyte.gz"));
  std::filesystem::rename(dir.file("tmp"), dir.file("train-labels-idx1-ubyte.gz"));
  NEURONA_EXPECT_THROW_MSG(nr::datasets::fashion_mnist(dir.path().string()), nr::IoError,
                           "train-images-idx3-ubyte.gz", "should hold (N, 28, 28)", "(2,)");
}

TEST(FashionMnist, FileDeclaringMoreImagesThanTheDataSetHasIsRefusedOnItsHeader) {
  // 80 KB of gzip that inflates to 100000 images of zeros (78 MB, then 314 MB as float32):
  // more than the 60000 a split of the data set holds, refused before the data is inflated.
  ScratchDir dir("fmnist_bomb");
  write_split(dir, "train", 1, {1});
  write_split(dir, "t10k", 1, {1});
  constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;
  constexpr std::uint64_t kPixels = std::uint64_t{100000} * 28 * 28;
  std::vector<std::uint8_t> bomb =
      nr::testing::gzip_member({0, 0, 0x08, 3, 0, 1, 0x86, 0xA0, 0, 0, 0, 28, 0, 0, 0, 28});
  const std::string mib = nr::testing::gzip_repeated(0, kMiB);
  for (std::uint64_t i = 0; i < kPixels / kMiB; ++i)
    bomb.insert(bomb.end(), mib.begin(), mib.end());
  const std::string rest = nr::testing::gzip_repeated(0, kPixels % kMiB);
  bomb.insert(bomb.end(), rest.begin(), rest.end());
  ASSERT_LT(bomb.size(), 200u << 10);
  nr::testing::write_bytes(dir.file("train-images-idx3-ubyte.gz"), bomb);
  const nr::testing::PeakMemory memory;
  NEURONA_EXPECT_THROW_MSG(nr::datasets::fashion_mnist(dir.path().string()), nr::IoError,
                           "train-images-idx3-ubyte.gz", "(100000, 28, 28)",
                           "78400000 elements, more than the limit of 47040000");
  EXPECT_LT(memory.peak_growth(), std::int64_t{32} << 20);
}

TEST(Mnist, ReadsAFolderAndNeedsOne) {
  ScratchDir dir("mnist");
  write_split(dir, "train", 2, {7, 1});
  write_split(dir, "t10k", 1, {3});
  const nr::datasets::Dataset d = nr::datasets::mnist(dir.path().string());
  EXPECT_EQ(d.y_train.to_vector<int>(), (std::vector<int>{7, 1}));
  EXPECT_EQ(d.x_test.shape(), (nr::Shape{1, 28, 28, 1}));
  {
    ScopedEnv env("NEURONA_MNIST_DIR", dir.path().c_str());
    EXPECT_EQ(nr::datasets::mnist().y_test.item<int>(), 3);
  }
  ScopedEnv env("NEURONA_MNIST_DIR", nullptr);
  NEURONA_EXPECT_THROW_MSG(nr::datasets::mnist(), nr::IoError, "mnist: no folder given",
                           "NEURONA_MNIST_DIR");
  NEURONA_EXPECT_THROW_MSG(nr::datasets::mnist("/nonexistent-neurona"), nr::IoError,
                           "train-images-idx3-ubyte.gz", "/nonexistent-neurona");
}
