// The image preprocessing layers: Rescaling, Resizing and CenterCrop against Keras 3's outputs
// (tests/reference/make_keras_preprocessing_references.py); RandomFlip, RandomBrightness and
// RandomContrast by what each image must satisfy, their seeds, and configs that round-trip.
#include "neurona/layers/image_preprocessing.h"

#include <gtest/gtest.h>

#include <set>

#include "neurona/neurona.h"
#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;

namespace {

const nr::testing::Reference& keras_outputs() {
  static const nr::testing::Reference ref = nr::testing::parse_reference(
      nr::testing::reference_dir() / "preprocessing" / "image_layers.txt");
  return ref;
}

nr::Tensor tensor_of(const nr::testing::ReferenceEntry& e) {
  std::vector<float> v(e.values.begin(), e.values.end());
  return nr::constant(v, e.shape);
}

// `tol` is absolute: the inputs are in [0, 255), so float32's rounding of the weighted sums of a
// resize is a few units of 255 * 2^-24 (about 1.5e-5), whatever the output's own size.
void expect_matches_keras(nr::layers::Layer& layer, const std::string& name, double tol) {
  const nr::Tensor x = tensor_of(keras_outputs().at("x"));
  const auto& want = keras_outputs().at(name);
  const nr::Tensor y = layer(x);
  ASSERT_EQ(y.shape(), want.shape) << name;
  const std::vector<float> got = y.to_vector<float>();
  for (std::size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want.values[i], tol) << name << " at " << i;
  }
}

// 4 images of 5x6x2 in [0, 255).
nr::Tensor images() {
  return nr::random_uniform({4, 5, 6, 2}, {.minval = 0, .maxval = 255, .seed = 9});
}

}  // namespace

TEST(ImagePreprocessing, RescalingResizingAndCenterCropMatchKeras) {
  L::Rescaling rescaling(1.0 / 127.5, {.offset = -1});
  expect_matches_keras(*rescaling, "rescaling", 1e-6);  // outputs in [-1, 1]
  L::Resizing up(9, 13);
  expect_matches_keras(*up, "resizing_bilinear_up", 1e-4);
  L::Resizing down(4, 5);
  expect_matches_keras(*down, "resizing_bilinear_down", 1e-4);
  L::Resizing nearest(5, 7, {.interpolation = "nearest"});
  expect_matches_keras(*nearest, "resizing_nearest", 1e-4);
  L::Resizing bicubic(6, 8, {.interpolation = "bicubic"});
  // Bicubic's negative lobes make larger partial sums: ~8 ulps of 166 apart from JAX's order of
  // summation (image_resize itself matches JAX's weights to 1e-12 in float64: ImageResize.*).
  expect_matches_keras(*bicubic, "resizing_bicubic", 3e-4);
  L::Resizing crop(4, 4, {.crop_to_aspect_ratio = true});
  expect_matches_keras(*crop, "resizing_crop_to_aspect", 1e-4);
  L::CenterCrop center(4, 6);  // a copy: only the reference file's 9 digits differ
  expect_matches_keras(*center, "center_crop", 1e-4);
  L::CenterCrop smaller(9, 6);
  expect_matches_keras(*smaller, "center_crop_smaller", 1e-4);
}

TEST(ImagePreprocessing, RescalingTurnsBytesIntoFloats) {
  const nr::Tensor bytes = nr::testing::make_tensor({0, 255}, {2}, nr::uint8);
  L::Rescaling rescale(1.0 / 255);
  const nr::Tensor y = rescale(bytes);
  EXPECT_EQ(y.dtype(), nr::float32);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0.0f, 1.0f}));
}

TEST(ImagePreprocessing, RandomLayersAreTheIdentityOutsideTraining) {
  const nr::Tensor x = images();
  L::RandomFlip flip("horizontal_and_vertical", {.seed = 1});
  L::RandomBrightness brightness(0.5, {.seed = 1});
  L::RandomContrast contrast(0.5, {.seed = 1});
  for (L::Layer* layer :
       std::vector<L::Layer*>{flip.ptr().get(), brightness.ptr().get(), contrast.ptr().get()}) {
    EXPECT_EQ(layer->call(x, /*training=*/false).to_vector<float>(), x.to_vector<float>())
        << layer->name();
  }
}

TEST(ImagePreprocessing, RandomFlipFlipsWholeImagesAboutHalfTheTime) {
  const nr::Tensor x = nr::random_uniform({200, 3, 4, 1}, {.seed = 3});
  L::RandomFlip flip("horizontal", {.seed = 5});
  const nr::Tensor y = flip->call(x, true);
  const auto xv = x.to_vector<float>(), yv = y.to_vector<float>();
  int flipped = 0;
  for (int n = 0; n < 200; ++n) {
    bool same = true, mirrored = true;
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 4; ++j) {
        const float out = yv[static_cast<std::size_t>(n * 12 + i * 4 + j)];
        same = same && out == xv[static_cast<std::size_t>(n * 12 + i * 4 + j)];
        mirrored = mirrored && out == xv[static_cast<std::size_t>(n * 12 + i * 4 + (3 - j))];
      }
    }
    ASSERT_TRUE(same || mirrored) << "image " << n << " is neither itself nor its mirror";
    flipped += mirrored && !same;
  }
  EXPECT_GT(flipped, 70);
  EXPECT_LT(flipped, 130);
  // The same seed gives the same flips; a second call draws new ones.
  L::RandomFlip again("horizontal", {.seed = 5});
  EXPECT_EQ(again->call(x, true).to_vector<float>(), yv);
  EXPECT_NE(again->call(x, true).to_vector<float>(), yv);
  // Upside down: rows reversed.
  L::RandomFlip vertical("vertical", {.seed = 2});
  const auto v = vertical->call(x, true).to_vector<float>();
  for (int n = 0; n < 200; ++n) {
    const float first_row = v[static_cast<std::size_t>(n * 12)];
    EXPECT_TRUE(first_row == xv[static_cast<std::size_t>(n * 12)] ||
                first_row == xv[static_cast<std::size_t>(n * 12 + 8)]);
  }
}

TEST(ImagePreprocessing, RandomBrightnessShiftsEachImageByOneDeltaInRange) {
  const nr::Tensor x = nr::random_uniform({64, 4, 4, 3}, {.minval = 50, .maxval = 200, .seed = 4});
  L::RandomBrightness brightness({-0.1, 0.2}, {.seed = 3});
  const auto xv = x.to_vector<float>(), yv = brightness->call(x, true).to_vector<float>();
  std::set<float> deltas;
  for (int n = 0; n < 64; ++n) {
    const float d = yv[static_cast<std::size_t>(n * 48)] - xv[static_cast<std::size_t>(n * 48)];
    EXPECT_GE(d, -0.1f * 255 - 1e-3f);
    EXPECT_LE(d, 0.2f * 255 + 1e-3f);
    for (int i = 0; i < 48; ++i) {
      const auto k = static_cast<std::size_t>(n * 48 + i);
      const float want = std::min(255.0f, std::max(0.0f, xv[k] + d));
      ASSERT_NEAR(yv[k], want, 1e-3) << "image " << n;
    }
    deltas.insert(d);
  }
  EXPECT_GT(deltas.size(), 60u);
  EXPECT_THROW(L::RandomBrightness(1.5), nr::ValueError);
}

TEST(ImagePreprocessing, RandomContrastScalesAboutEachImagesChannelMeans) {
  const nr::Tensor x = nr::random_uniform({64, 4, 4, 2}, {.minval = 100, .maxval = 150, .seed = 6});
  L::RandomContrast contrast(0.5, {.seed = 8});
  const nr::Tensor y = contrast->call(x, true);
  // The channel means stay (nothing reaches the clip), and each image's deviations from them are
  // scaled by one factor in [0.5, 1.5], below 1 for some images and above for others.
  const nr::Tensor mx = nr::mean(x, {1, 2}, true), my = nr::mean(y, {1, 2}, true);
  const auto mxv = mx.to_vector<float>(), myv = my.to_vector<float>();
  for (std::size_t i = 0; i < mxv.size(); ++i) EXPECT_NEAR(myv[i], mxv[i], 1e-3);
  const auto dx = (x - mx).to_vector<float>(), dy = (y - my).to_vector<float>();
  int below = 0, above = 0;
  for (int n = 0; n < 64; ++n) {
    const auto k0 = static_cast<std::size_t>(n * 32);
    const float c = dy[k0] / dx[k0];
    EXPECT_GE(c, 0.5f - 1e-3f);
    EXPECT_LE(c, 1.5f + 1e-3f);
    for (int i = 1; i < 32; ++i) {
      const auto k = k0 + static_cast<std::size_t>(i);
      ASSERT_NEAR(dy[k], c * dx[k], 1e-2) << "image " << n;
    }
    below += c < 1;
    above += c > 1;
  }
  EXPECT_GT(below, 10);
  EXPECT_GT(above, 10);
}

TEST(ImagePreprocessing, ConfigsRoundTripThroughFromConfig) {
  const L::Rescaling rescaling(0.5, {.offset = 1});
  EXPECT_EQ(L::Rescaling::from_config(rescaling->get_config())->get_config(),
            rescaling->get_config());
  const L::Resizing resizing(3, 4, {.interpolation = "nearest", .crop_to_aspect_ratio = true});
  EXPECT_EQ(L::Resizing::from_config(resizing->get_config())->get_config(), resizing->get_config());
  const L::CenterCrop crop(3, 4);
  EXPECT_EQ(L::CenterCrop::from_config(crop->get_config())->get_config(), crop->get_config());
  const L::RandomFlip flip("vertical", {.seed = 3});
  EXPECT_EQ(L::RandomFlip::from_config(flip->get_config())->get_config(), flip->get_config());
  const L::RandomBrightness brightness({-0.2, 0.1}, {.value_range = {0, 1}, .seed = 2});
  EXPECT_EQ(L::RandomBrightness::from_config(brightness->get_config())->get_config(),
            brightness->get_config());
  const L::RandomContrast contrast(0.3);
  EXPECT_EQ(L::RandomContrast::from_config(contrast->get_config())->get_config(),
            contrast->get_config());
  EXPECT_THROW(L::RandomFlip("diagonal"), nr::ValueError);
  EXPECT_THROW(L::Resizing(3, 4, {.interpolation = "cubic"}), nr::ValueError);
}

TEST(ImagePreprocessing, AugmentationInADatasetMapIsTheSameWhateverTheWorkers) {
  // RandomFlip inside Dataset.map draws from each element's stream, not the layer's generator.
  L::RandomFlip flip("horizontal", {.seed = 1});
  L::RandomBrightness brightness(0.2, {.seed = 1});
  const nr::Tensor x = nr::random_uniform({32, 3, 4, 1}, {.minval = 0, .maxval = 255, .seed = 2});
  const auto run = [&](int workers) {
    std::vector<float> out;
    const auto ds = nr::data::Dataset::from_tensor_slices({x}).map(
        [&](const nr::data::Element& e) {
          return nr::data::Element{brightness->call(flip->call(e[0], true), true)};
        },
        {.num_parallel_calls = workers, .seed = 7});
    for (const auto& e : ds.batch(8)) {
      for (float v : e[0].to_vector<float>()) out.push_back(v);
    }
    return out;
  };
  const std::vector<float> one = run(1);
  EXPECT_EQ(run(3), one);
  EXPECT_NE(one, x.to_vector<float>());
}
