// keras.applications' imagenet_utils: preprocess_input's three modes in both data formats (and
// resnet's and mobilenet_v2's) against Keras 3 itself (tests/reference/applications/
// preprocess_input.txt, made by make_keras_application_references.py --preprocess), and
// decode_predictions on a class index file.
#include <neurona/neurona.h>

#include <filesystem>
#include <fstream>

#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace app = nr::applications;

namespace {

nr::Tensor tensor(const nr::testing::Reference& ref, const std::string& key,
                  nr::DType dtype = nr::float32) {
  const auto& e = ref.at(key);
  return nr::testing::make_tensor(e.values, e.shape, dtype);
}

::testing::AssertionResult matches(const nr::Tensor& actual, const nr::testing::Reference& ref,
                                   const std::string& key) {
  const auto& e = ref.at(key);
  if (actual.shape() != e.shape) {
    return ::testing::AssertionFailure()
           << key << ": shape " << actual.shape() << ", Keras " << e.shape;
  }
  if (actual.dtype() != nr::float32) {
    return ::testing::AssertionFailure() << key << ": dtype " << actual.dtype();
  }
  // The same float32 operations in the same order as Keras's NumPy path: equal to the last bit
  // but for the 9 digits the file keeps.
  return nr::testing::all_close(actual, e.values, 1e-7, 1e-6);
}

}  // namespace

TEST(ImagenetUtils, PreprocessInputMatchesKerasInEveryModeAndDataFormat) {
  const auto ref = nr::testing::load_reference("applications", "preprocess_input");
  for (const std::string name : {"u8", "f32", "one"}) {
    SCOPED_TRACE(name);
    const nr::Tensor x = tensor(ref, "x_" + name, name == "u8" ? nr::uint8 : nr::float32);
    const int channel_axis = x.rank() - 1;
    std::vector<int> to_first(static_cast<std::size_t>(x.rank()));
    for (int i = 0; i < x.rank(); ++i) to_first[static_cast<std::size_t>(i)] = i;
    to_first.erase(to_first.begin() + channel_axis);
    to_first.insert(to_first.end() - 2, channel_axis);
    const nr::Tensor x_first = nr::transpose(x, to_first);
    for (const std::string mode : {"caffe", "tf", "torch"}) {
      EXPECT_TRUE(matches(app::imagenet_utils::preprocess_input(x, mode), ref, mode + "_" + name));
      EXPECT_TRUE(matches(app::imagenet_utils::preprocess_input(x_first, mode, "channels_first"),
                          ref, mode + "_first_" + name));
    }
    EXPECT_TRUE(matches(app::resnet::preprocess_input(x), ref, "resnet_" + name));
    EXPECT_TRUE(matches(app::mobilenet_v2::preprocess_input(x), ref, "mobilenet_v2_" + name));
  }
  // float64 stays float64.
  EXPECT_EQ(app::resnet::preprocess_input(nr::zeros({1, 2, 2, 3}, {.dtype = nr::float64})).dtype(),
            nr::float64);
}

TEST(ImagenetUtils, PreprocessInputRefusesWhatKerasRefuses) {
  const nr::Tensor x = nr::zeros({1, 4, 4, 3});
  NEURONA_EXPECT_THROW_MSG(app::imagenet_utils::preprocess_input(x, "keras"), nr::ValueError,
                           "Expected mode to be one of `caffe`, `tf` or `torch`",
                           "Received: mode=keras");
  NEURONA_EXPECT_THROW_MSG(app::imagenet_utils::preprocess_input(x, "tf", "nhwc"), nr::ValueError,
                           "Received: data_format=nhwc");
  NEURONA_EXPECT_THROW_MSG(app::resnet::preprocess_input(nr::zeros({1, 4, 4, 1})), nr::ValueError,
                           "expected 3 (RGB) channels on axis 3", "(1, 4, 4, 1)");
  NEURONA_EXPECT_THROW_MSG(app::resnet::preprocess_input(x, "channels_first"), nr::ValueError,
                           "channels on axis 1 (channels_first)");
  NEURONA_EXPECT_THROW_MSG(app::resnet::preprocess_input(nr::zeros({4, 3})), nr::ValueError,
                           "rank 4", "(4, 3)");
}

TEST(ImagenetUtils, DecodePredictionsNamesTheTopClassesMostLikelyFirst) {
  const auto dir = std::filesystem::temp_directory_path() / "neurona_imagenet_utils_test";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "imagenet_class_index.json").string();
  {
    std::ofstream out(path);
    out << "{";
    for (int i = 0; i < 1000; ++i) {
      out << (i ? ", " : "") << "\"" << i << "\": [\"n" << 1000 + i << "\", \"class " << i << "\"]";
    }
    out << "}";
  }
  std::vector<float> p(2 * 1000, 0.0f);
  p[7] = 0.5f, p[3] = 0.3f, p[999] = 0.2f;                 // row 0
  p[1000 + 42] = 0.9f, p[1000 + 1] = p[1000 + 2] = 0.05f;  // row 1: a tie, in class order
  const auto top = app::imagenet_utils::decode_predictions(nr::constant(p, {2, 1000}), path, 3);
  ASSERT_EQ(top.size(), 2u);
  ASSERT_EQ(top[0].size(), 3u);
  EXPECT_EQ(top[0][0].class_name, "n1007");
  EXPECT_EQ(top[0][0].description, "class 7");
  EXPECT_FLOAT_EQ(static_cast<float>(top[0][0].score), 0.5f);
  EXPECT_EQ(top[0][1].description, "class 3");
  EXPECT_EQ(top[0][2].description, "class 999");
  EXPECT_EQ(top[1][0].description, "class 42");
  EXPECT_EQ(top[1][1].description, "class 1");
  EXPECT_EQ(top[1][2].description, "class 2");
  EXPECT_EQ(app::imagenet_utils::decode_predictions(nr::constant(p, {2, 1000}), path).at(1).size(),
            5u);

  NEURONA_EXPECT_THROW_MSG(app::imagenet_utils::decode_predictions(nr::zeros({2, 10}), path),
                           nr::ValueError, "expects a batch of predictions",
                           "Received array with shape: (2, 10)");
  {
    std::ofstream out(path);
    out << "{\"0\": [\"n01440764\", \"tench\"]}";
  }
  NEURONA_EXPECT_THROW_MSG(
      app::imagenet_utils::decode_predictions(nr::constant(p, {2, 1000}), path), nr::IoError,
      "is not ImageNet's class index");
  NEURONA_EXPECT_THROW_MSG(app::imagenet_utils::decode_predictions(nr::constant(p, {2, 1000}),
                                                                   (dir / "missing.json").string()),
                           nr::IoError, "missing.json");
  std::filesystem::remove_all(dir);
}
