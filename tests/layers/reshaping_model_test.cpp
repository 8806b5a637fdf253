// A Sequential model of every reshaping and 1-D pooling layer of issue 18 (with a bilinear
// UpSampling2D) through `.keras` files both ways: the file Keras 3 saved
// (tests/reference/layers/reshaping_model.keras, from make_keras_layer_references.py) loads and
// predicts what Keras predicted, and the same model built in C++ saves, loads back and
// summarises. With NEURONA_WRITE_SAVING_FIXTURES=DIR it also writes its own
// reshaping_model.keras and .io.txt there, for Keras to load.
#include <neurona/neurona.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;
namespace fs = std::filesystem;

namespace {

nr::Tensor tensor(const std::map<std::string, nr::testing::ReferenceEntry>& ref,
                  const std::string& key) {
  return nr::testing::make_tensor(ref.at(key).values, ref.at(key).shape);
}

// make_keras_layer_references.py's reshaping_model().
nr::Sequential reshaping_model() {
  return nr::Sequential({
      L::Input({6, 4}),
      L::ZeroPadding1D(1),
      L::Cropping1D({1, 0}),
      L::UpSampling1D(2),
      L::MaxPooling1D(2),
      L::AveragePooling1D(2, {.padding = "same"}),
      L::Permute({2, 1}),
      L::Reshape({4, 4, 1}),
      L::UpSampling2D(2, {.interpolation = "bilinear"}),
      L::Conv2D(2, 3, {.activation = "relu"}),
      L::Cropping2D({{1, 0}, {0, 1}}),
      L::Reshape({5, 10}),
      L::GlobalMaxPooling1D({.data_format = "channels_first", .keepdims = true}),
      L::Flatten(),
      L::RepeatVector(2),
      L::GlobalAveragePooling1D(),
      L::Dense(3),
  });
}

}  // namespace

TEST(ReshapingModel, KerasFileLoadsAndPredictsWhatKerasPredicted) {
  const fs::path dir = nr::testing::reference_dir() / "layers";
  const auto io = nr::testing::load_reference("layers", "reshaping_model.io");
  auto model = nr::models::load_model((dir / "reshaping_model.keras").string());
  const nr::Tensor y = model->predict(tensor(io, "x"));
  EXPECT_EQ(y.shape(), io.at("y").shape);
  EXPECT_TRUE(nr::testing::all_close(y, io.at("y").values, 1e-5, 1e-5));
}

TEST(ReshapingModel, SavesLoadsAndSummarisesInNeurona) {
  nr::clear_session();
  nr::set_seed(7);
  nr::Sequential model = reshaping_model();
  const std::string summary = model.summary_string();
  for (const char* expected :
       {"up_sampling2d (UpSampling2D)", "(None, 8, 8, 1)", "cropping2d (Cropping2D)",
        "(None, 5, 5, 2)", "repeat_vector (RepeatVector)", "(None, 2, 5)"}) {
    EXPECT_NE(summary.find(expected), std::string::npos) << expected << "\n" << summary;
  }
  const nr::Tensor x = nr::testing::random_tensor({3, 6, 4}, nr::float32, -1, 1, 8);
  const nr::Tensor y = model.predict(x);
  const fs::path tmp =
      fs::temp_directory_path() / ("neurona_reshaping_model_" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  model.save((tmp / "m.keras").string());
  auto loaded = nr::models::load_model((tmp / "m.keras").string());
  EXPECT_EQ(loaded->predict(x).to_vector<float>(), y.to_vector<float>());
  fs::remove_all(tmp);
  if (const char* out = std::getenv("NEURONA_WRITE_SAVING_FIXTURES"); out && *out) {
    fs::create_directories(out);
    model.save((fs::path(out) / "reshaping_model.keras").string());
    std::ofstream io(fs::path(out) / "reshaping_model.io.txt");
    nr::testing::write_reference_line(io, "x", x);
    nr::testing::write_reference_line(io, "y", y);
  }
}
