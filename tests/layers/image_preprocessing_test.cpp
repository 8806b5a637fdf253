// The image preprocessing layers: Rescaling, Resizing and CenterCrop against Keras 3's outputs
// (tests/reference/make_keras_preprocessing_references.py), and RandomTranslation,
// RandomRotation, RandomZoom and RandomCrop against them with one-valued factors; the random
// layers by what each image must satisfy, their seeds, and configs that round-trip.
#include "neurona/layers/image_preprocessing.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "data/data_test_util.h"
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
  L::Resizing pad(4, 4, {.pad_to_aspect_ratio = true});
  expect_matches_keras(*pad, "resizing_pad_to_aspect", 1e-4);
  L::Resizing wide(3, 9, {.pad_to_aspect_ratio = true, .fill_value = 7.0});
  expect_matches_keras(*wide, "resizing_pad_to_aspect_wide", 1e-4);
  // antialias: the shrinking axes low-pass filtered, as jax.image.resize(antialias=True).
  L::Resizing antialias(3, 4, {.antialias = true});
  expect_matches_keras(*antialias, "resizing_antialias_down", 1e-4);
  L::Resizing antialias_bicubic(2, 13, {.interpolation = "bicubic", .antialias = true});
  expect_matches_keras(*antialias_bicubic, "resizing_antialias_bicubic", 3e-4);
  L::Resizing antialias_lanczos(4, 3, {.interpolation = "lanczos3", .antialias = true});
  expect_matches_keras(*antialias_lanczos, "resizing_antialias_lanczos3", 3e-4);
  L::Resizing antialias_crop(2, 2, {.crop_to_aspect_ratio = true, .antialias = true});
  expect_matches_keras(*antialias_crop, "resizing_antialias_crop", 1e-4);
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

// Keras's symbolic call of every image layer says the compute dtype for uint8 images (float32,
// float16 under mixed_float16); the layers here return it too, eagerly (in and out of training)
// and symbolically, with the values of the same images given as floats.
TEST(ImagePreprocessing, IntegerImagesComeOutInTheComputeDtypeEagerlyAndSymbolically) {
  const nr::Tensor pixels = nr::cast(images(), nr::uint8);
  const nr::Tensor floats = nr::cast(pixels, nr::float32);
  // Each layer made twice with one seed: the second call draws as the first did.
  const std::vector<std::function<L::AnyLayer()>> makers{
      [] { return L::Rescaling(1.0 / 255); },
      [] { return L::Resizing(3, 4); },
      [] { return L::CenterCrop(3, 4); },
      [] { return L::RandomFlip("horizontal_and_vertical", {.seed = 1}); },
      [] { return L::RandomBrightness(0.5, {.seed = 1}); },
      [] { return L::RandomContrast(0.5, {.seed = 1}); },
      [] { return L::RandomTranslation(0.2, 0.2, {.seed = 1}); },
      [] { return L::RandomRotation(0.1, {.seed = 1}); },
      [] { return L::RandomZoom(0.2, {.seed = 1}); },
      [] { return L::RandomCrop(3, 4, {.seed = 1}); },
  };
  struct GlobalPolicy {  // set for the layers made in one pass, float32 again after it
    explicit GlobalPolicy(const char* name) { nr::mixed_precision::set_global_policy(name); }
    ~GlobalPolicy() { nr::mixed_precision::set_global_policy(nr::float32); }
  };
  for (const char* policy : {"float32", "mixed_float16"}) {
    const GlobalPolicy scope(policy);
    const nr::DType compute = nr::DTypePolicy(policy).compute_dtype();
    for (const auto& make : makers) {
      L::AnyLayer layer = make();
      SCOPED_TRACE(layer->describe() + " under " + policy);
      for (const bool training : {false, true}) {
        const nr::Tensor y = layer(pixels, training);
        EXPECT_EQ(y.dtype(), compute);
        L::AnyLayer again = make();
        EXPECT_EQ(y.to_vector<double>(), again(floats, training).to_vector<double>());
      }
      const L::KerasTensor in = nr::Input({5, 6, 2}, {.dtype = nr::uint8});
      EXPECT_EQ(make()(in).dtype(), compute);
    }
  }
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
  const L::Resizing padding(3, 4, {.pad_to_aspect_ratio = true, .fill_value = 0.5});
  EXPECT_EQ(L::Resizing::from_config(padding->get_config())->get_config(), padding->get_config());
  const L::Resizing antialias(3, 4, {.interpolation = "lanczos5", .antialias = true});
  EXPECT_EQ(antialias->get_config().at("antialias").as_bool(), true);
  EXPECT_EQ(L::Resizing::from_config(antialias->get_config())->get_config(),
            antialias->get_config());
  EXPECT_EQ(padding->get_config().at("fill_value").as_double(), 0.5);
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
  NEURONA_EXPECT_THROW_MSG(
      L::Resizing(3, 4, {.crop_to_aspect_ratio = true, .pad_to_aspect_ratio = true}),
      nr::ValueError, "Resizing", "Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio`");
  NEURONA_EXPECT_THROW_MSG(L::Resizing(3, 4, {.pad_to_aspect_ratio = true, .fill_mode = "reflect"}),
                           nr::ValueError, "fill_mode", "reflect");
}

TEST(ImagePreprocessing, AugmentationInADatasetMapIsTheSameWhateverTheWorkers) {
  // RandomFlip inside Dataset.map draws from each element's stream, not the layer's generator.
  L::RandomFlip flip("horizontal", {.seed = 1});
  L::RandomBrightness brightness(0.2, {.seed = 1});
  L::RandomTranslation translation(0.2, 0.2, {.seed = 1});
  const nr::Tensor x = nr::random_uniform({32, 3, 4, 1}, {.minval = 0, .maxval = 255, .seed = 2});
  const auto run = [&](int workers) {
    std::vector<float> out;
    const auto ds = nr::data::Dataset::from_tensor_slices({x}).map(
        [&](const nr::data::Element& e) {
          return nr::data::Element{
              translation->call(brightness->call(flip->call(e[0], true), true), true)};
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

// ---- RandomTranslation, RandomRotation, RandomZoom, RandomCrop --------------------------------

namespace {

const nr::testing::Reference& keras_affine() {
  static const nr::testing::Reference ref =
      nr::testing::parse_reference(nr::testing::reference_dir() / "preprocessing" / "affine.txt");
  return ref;
}

// The layer in training on the reference images against Keras's output `name`. Absolute
// tolerance: values in [0, 255) whose sampling points float32 places within ~1e-6 of a pixel.
void expect_affine_matches_keras(L::Layer& layer, const std::string& name) {
  const nr::Tensor a = tensor_of(keras_affine().at("a"));
  const auto& want = keras_affine().at(name);
  const nr::Tensor y = layer.call(a, /*training=*/true);
  ASSERT_EQ(y.shape(), want.shape) << name;
  EXPECT_TRUE(nr::testing::all_close(y, want.values, 5e-4, 1e-6)) << name;
}

}  // namespace

TEST(ImagePreprocessing, RandomAffineLayersMatchKerasWithOneValuedFactors) {
  L::RandomTranslation translation({0.2, 0.2}, {-0.3, -0.3});
  expect_affine_matches_keras(*translation, "translation");
  L::RandomTranslation constant(
      {-0.25, -0.25}, {0.15, 0.15},
      {.fill_mode = "constant", .interpolation = "nearest", .fill_value = 3.0});
  expect_affine_matches_keras(*constant, "translation_constant_nearest");
  L::RandomRotation rotation({0.1, 0.1});
  expect_affine_matches_keras(*rotation, "rotation");
  L::RandomRotation wrap({-0.3, -0.3}, {.fill_mode = "wrap"});
  expect_affine_matches_keras(*wrap, "rotation_wrap");
  L::RandomZoom zoom({-0.3, -0.3}, {.width_factor = L::FactorRange{0.2, 0.2}});
  expect_affine_matches_keras(*zoom, "zoom");
  L::RandomZoom height_only({0.4, 0.4}, {.fill_mode = "nearest"});
  expect_affine_matches_keras(*height_only, "zoom_height_only");
  // An image smaller than the window: the largest central window of the target's aspect
  // ratio, resized, as Keras documents (and Resizing(crop_to_aspect_ratio=True) computes; Keras
  // 3.15's RandomCrop code stretches a window of the target's size instead). The same at
  // inference.
  L::RandomCrop crop(8, 5);
  expect_affine_matches_keras(*crop, "crop_to_aspect_8x5");
  const nr::Tensor a = tensor_of(keras_affine().at("a"));
  EXPECT_TRUE(nr::testing::all_close(crop->call(a, false),
                                     keras_affine().at("crop_to_aspect_8x5").values, 5e-4, 1e-6));
}

TEST(ImagePreprocessing, RandomAffineLayersAreTheIdentityOutsideTraining) {
  const nr::Tensor x = images();
  L::RandomTranslation translation(0.5, 0.5, {.seed = 1});
  L::RandomRotation rotation(0.5, {.seed = 1});
  L::RandomZoom zoom(0.5, {.width_factor = 0.5, .seed = 1});
  for (L::Layer* layer :
       std::vector<L::Layer*>{translation.ptr().get(), rotation.ptr().get(), zoom.ptr().get()}) {
    EXPECT_EQ(layer->call(x, false).to_vector<float>(), x.to_vector<float>()) << layer->name();
    EXPECT_NE(layer->call(x, true).to_vector<float>(), x.to_vector<float>()) << layer->name();
  }
}

TEST(ImagePreprocessing, RandomTranslationShiftsEachImageByWholePixelsWithNearest) {
  // With nearest interpolation and a constant fill, each image is itself shifted by a whole
  // number of pixels (sy, sx) within the factors' reach, the vacated pixels filled.
  const std::int64_t n = 48, h = 6, w = 8;
  const nr::Tensor x = nr::random_uniform({n, h, w, 1}, {.minval = 1, .maxval = 2, .seed = 3});
  L::RandomTranslation layer({-0.5, 0.5}, {0.0, 0.25},
                             {.fill_mode = "constant", .interpolation = "nearest", .seed = 4});
  const auto xv = x.to_vector<float>(), yv = layer->call(x, true).to_vector<float>();
  std::set<std::pair<int, int>> shifts;
  for (std::int64_t k = 0; k < n; ++k) {
    const auto at = [&](const std::vector<float>& v, std::int64_t i, std::int64_t j) {
      return v[static_cast<std::size_t>((k * h + i) * w + j)];
    };
    bool found = false;
    for (int sy = -3; sy <= 3 && !found; ++sy) {
      for (int sx = 0; sx <= 2 && !found; ++sx) {
        bool match = true;
        for (std::int64_t i = 0; i < h && match; ++i) {
          for (std::int64_t j = 0; j < w && match; ++j) {
            const std::int64_t si = i - sy, sj = j - sx;
            const bool inside = si >= 0 && si < h && sj >= 0 && sj < w;
            match = at(yv, i, j) == (inside ? at(xv, si, sj) : 0.0f);
          }
        }
        if (match) {
          found = true;
          shifts.insert({sy, sx});
        }
      }
    }
    EXPECT_TRUE(found) << "image " << k << " is not a shift of its input within reach";
  }
  EXPECT_GT(shifts.size(), 8u);  // 7 x 3 reachable shifts, drawn at random
}

TEST(ImagePreprocessing, RandomRotationByAQuarterTurnTurnsTheImage) {
  // factor 0.25 = 90 degrees counter-clockwise: output (y, x) reads input (x, n - 1 - y).
  const std::int64_t n = 5;
  const nr::Tensor x = nr::random_uniform({2, n, n, 2}, {.seed = 8});
  L::RandomRotation quarter({0.25, 0.25}, {.interpolation = "nearest"});
  const auto xv = x.to_vector<float>(), yv = quarter->call(x, true).to_vector<float>();
  for (std::int64_t b = 0; b < 2; ++b) {
    for (std::int64_t y = 0; y < n; ++y) {
      for (std::int64_t i = 0; i < n; ++i) {
        for (std::int64_t c = 0; c < 2; ++c) {
          EXPECT_EQ(yv[static_cast<std::size_t>(((b * n + y) * n + i) * 2 + c)],
                    xv[static_cast<std::size_t>(((b * n + i) * n + (n - 1 - y)) * 2 + c)]);
        }
      }
    }
  }
  // Random angles: each image its own; the same seed the same images.
  const nr::Tensor many = nr::random_uniform({16, 6, 6, 1}, {.seed = 9});
  L::RandomRotation random(0.5, {.seed = 3}), same(0.5, {.seed = 3});
  const auto r = random->call(many, true).to_vector<float>();
  EXPECT_EQ(same->call(many, true).to_vector<float>(), r);
  std::set<float> corners;
  for (std::size_t k = 0; k < 16; ++k) corners.insert(r[k * 36 + 14]);  // pixel (2, 2)
  EXPECT_GT(corners.size(), 10u);
}

TEST(ImagePreprocessing, RandomZoomScalesAboutTheCentre) {
  // A ramp along the width: zooming by z about the centre maps value v to c + (v - c) z in the
  // interior (bilinear reproduces a ramp exactly), so each image's slope is its zoom, drawn
  // from [1 + lower, 1 + upper]; without width_factor the height's draw.
  const std::int64_t w = 9;
  std::vector<float> ramp;
  for (int k = 0; k < 32; ++k) {
    for (int i = 0; i < 5; ++i) {
      for (std::int64_t j = 0; j < w; ++j) ramp.push_back(static_cast<float>(j));
    }
  }
  const nr::Tensor x = nr::constant(ramp, {32, 5, w, 1});
  L::RandomZoom zoom({-0.5, -0.2}, {.fill_mode = "nearest", .seed = 2});
  const auto y = zoom->call(x, true).to_vector<float>();
  std::set<float> slopes;
  for (std::size_t k = 0; k < 32; ++k) {
    const float slope = y[k * 45 + 2 * w + 5] - y[k * 45 + 2 * w + 4];  // row 2, centre
    EXPECT_GE(slope, 0.5f - 1e-4f);
    EXPECT_LE(slope, 0.8f + 1e-4f);
    slopes.insert(slope);
  }
  EXPECT_GT(slopes.size(), 20u);
}

TEST(ImagePreprocessing, RandomCropTakesOneWindowPerBatchAnywhere) {
  const std::int64_t h = 5, w = 6;
  const nr::Tensor x =
      nr::reshape(nr::arange(0, 2 * h * w, 1, {.dtype = nr::float32}), {2, h, w, 1});
  L::RandomCrop crop(3, 4, {.seed = 6});
  std::set<std::pair<int, int>> corners;
  for (int call = 0; call < 60; ++call) {
    const nr::Tensor y = crop->call(x, true);
    ASSERT_EQ(y.shape(), (nr::Shape{2, 3, 4, 1}));
    const auto v = y.to_vector<float>();
    // Values are their own positions: the first says where the window starts.
    const int start = static_cast<int>(v[0]);
    const int y0 = start / static_cast<int>(w), x0 = start % static_cast<int>(w);
    ASSERT_LE(y0, 2);
    ASSERT_LE(x0, 2);
    for (int b = 0; b < 2; ++b) {
      for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 4; ++j) {
          ASSERT_EQ(v[static_cast<std::size_t>((b * 3 + i) * 4 + j)],
                    static_cast<float>(b * h * w + (y0 + i) * w + x0 + j));
        }
      }
    }
    corners.insert({y0, x0});
  }
  EXPECT_EQ(corners.size(), 9u);  // every corner of the 3 x 3 possible ones comes up
  EXPECT_EQ(crop->compute_output_shape(nr::Shape{7, 10, 12, 3}), (nr::Shape{7, 3, 4, 3}));
}

TEST(ImagePreprocessing, RandomAffineConfigsRoundTripAndBadArgumentsAreRefused) {
  const L::RandomTranslation translation({-0.1, 0.2}, 0.3,
                                         {.fill_mode = "wrap", .seed = 4, .fill_value = 1.5});
  EXPECT_EQ(L::RandomTranslation::from_config(translation->get_config())->get_config(),
            translation->get_config());
  const L::RandomRotation rotation(0.2, {.interpolation = "nearest"});
  EXPECT_EQ(L::RandomRotation::from_config(rotation->get_config())->get_config(),
            rotation->get_config());
  const L::RandomZoom zoom(0.2);
  EXPECT_TRUE(zoom->get_config().at("width_factor").is_null());
  EXPECT_EQ(L::RandomZoom::from_config(zoom->get_config())->get_config(), zoom->get_config());
  const L::RandomZoom both({-0.3, 0.1}, {.width_factor = 0.4, .fill_mode = "constant"});
  EXPECT_EQ(L::RandomZoom::from_config(both->get_config())->get_config(), both->get_config());
  const L::RandomCrop crop(3, 4, {.seed = 2});
  EXPECT_EQ(L::RandomCrop::from_config(crop->get_config())->get_config(), crop->get_config());

  NEURONA_EXPECT_THROW_MSG(L::RandomTranslation(1.5, 0.1), nr::ValueError, "height_factor",
                           "[-1.0, 1.0]");
  NEURONA_EXPECT_THROW_MSG(L::RandomZoom({-1.0, 0.5}), nr::ValueError, "height_factor",
                           "(-1.0, 1.0]");
  NEURONA_EXPECT_THROW_MSG(L::RandomRotation(0.1, {.fill_mode = "mirror"}), nr::NotImplementedError,
                           "fill_mode", "mirror");
  NEURONA_EXPECT_THROW_MSG(L::RandomZoom(0.1, {.interpolation = "bicubic"}),
                           nr::NotImplementedError, "interpolation", "bicubic");
  NEURONA_EXPECT_THROW_MSG(L::RandomCrop(0, 3), nr::ValueError, "RandomCrop", "(0, 3)");
  NEURONA_EXPECT_THROW_MSG(L::RandomRotation(0.1)(nr::zeros({4, 4})), nr::ValueError,
                           "RandomRotation", "rank 3", "(4, 4)");
}

// A Sequential of the preprocessing layers before a small classifier, as Keras 3 saved it
// (tests/reference/make_keras_preprocessing_references.py: Rescaling, Normalization with a given
// mean and variance, Resizing with pad_to_aspect_ratio, the random layers, CenterCrop): it loads
// and predicts what Keras predicted (the random layers pass through in inference), and saved by
// neurona it loads back to the same predictions. With NEURONA_WRITE_SAVING_FIXTURES=DIR it also
// writes neurona's preprocessing_model.keras and .io.txt there, which the script's --check
// loads into Keras (a stored copy: tests/reference/preprocessing/from_neurona/).
TEST(ImagePreprocessing, AKerasFileOfThePreprocessingLayersLoadsAndPredictsAsKeras) {
  const auto io = nr::testing::load_reference("preprocessing", "preprocessing_model.io");
  const nr::Tensor x = tensor_of(io.at("x"));
  auto model = nr::models::load_model(
      (nr::testing::reference_dir() / "preprocessing" / "preprocessing_model.keras").string());
  const nr::Tensor y = model->predict(x);
  ASSERT_EQ(y.shape(), io.at("y").shape);
  EXPECT_TRUE(nr::testing::all_close(y, io.at("y").values, 1e-5, 1e-5));
  nr::testing::ScratchDir dir("preprocessing_model");
  model->save(dir.file("m.keras"));
  auto again = nr::models::load_model(dir.file("m.keras"));
  EXPECT_EQ(again->predict(x).to_vector<float>(), y.to_vector<float>());
  if (const char* out = std::getenv("NEURONA_WRITE_SAVING_FIXTURES"); out && *out) {
    std::filesystem::create_directories(out);
    model->save((std::filesystem::path(out) / "preprocessing_model.keras").string());
    std::ofstream file(std::filesystem::path(out) / "preprocessing_model.io.txt");
    nr::testing::write_reference_line(file, "x", x);
    nr::testing::write_reference_line(file, "y", y);
  }
}
