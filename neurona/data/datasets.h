// Ready-made data sets, as keras.datasets: Fashion-MNIST from Debian's dataset-fashion-mnist
// package by default, and MNIST from a folder of the original files. Nothing is downloaded.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "neurona/core/tensor.h"

namespace neurona::datasets {

/// A training and a test set, as the tuples keras.datasets.*.load_data() returns. CPU tensors.
struct Dataset {
  Tensor x_train, y_train, x_test, y_test;
};

/// Where fashion_mnist() looks when given no folder and NEURONA_FASHION_MNIST_DIR is unset:
/// the folder Debian's dataset-fashion-mnist package installs.
inline constexpr std::string_view kFashionMnistDefaultDir = "/usr/share/datasets/fashion-mnist";

/// The ten Fashion-MNIST classes, indexed by label (the names Keras's tutorial uses).
inline constexpr std::array<std::string_view, 10> fashion_mnist_class_names = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

/// Fashion-MNIST (Xiao et al. 2017): 60000 training and 10000 test images of clothing.
/// x_train and x_test are float32 in [0, 1] (the bytes divided by 255) of shape (N, 28, 28, 1),
/// ready for a Conv2D; y_train and y_test are int32 labels 0..9 of shape (N,).
///
///   auto data = nr::datasets::fashion_mnist();
///   model.fit(data.x_train, data.y_train, {.epochs = 5});
///
/// The files {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (or the same names without .gz)
/// are read from `dir`, else from $NEURONA_FASHION_MNIST_DIR, else from
/// kFashionMnistDefaultDir. Throws IoError naming the file when one is missing (saying to
/// install dataset-fashion-mnist with apt-get or to pass the folder) or invalid: not an IDX
/// file, images that are not (N, 28, 28) bytes, labels that are not (N,) bytes, more than
/// 60000 of them in a file (as many as the training split holds; checked on the header,
/// before the data is inflated), counts that differ between images and labels, or a label of
/// 10 or more.
Dataset fashion_mnist(const std::string& dir = "");

/// MNIST (LeCun et al.): handwritten digits in the same files, shapes and types as
/// fashion_mnist(). Debian ships no MNIST package, so the folder is `dir`, else
/// $NEURONA_MNIST_DIR; with neither, or a file missing, it throws IoError saying so.
///
///   auto data = nr::datasets::mnist("/data/mnist");
Dataset mnist(const std::string& dir = "");

}  // namespace neurona::datasets
