// nr::image_resize against an independent dense reference written the way jax.image.resize
// computes it (a weight matrix per axis: kernel(|s - j|) over every input j, each column
// renormalised), for upsizing, downsizing and odd sizes, both data formats, every
// interpolation; its gradient and second derivative numerically in float64; bad arguments.
// nr::affine_transform against Keras 3's keras.ops.image.affine_transform (JAX backend) for every
// interpolation and fill mode (tests/reference/make_keras_preprocessing_references.py), the fill
// modes' definitions on a row by hand, its output size, dtypes, gradients, bad arguments.
#include <neurona/neurona.h>

#include <cmath>

#include "support/gradcheck.h"
#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::random_tensor;

namespace {

constexpr double kPi = 3.14159265358979323846;

// jax/_src/image/scale.py's kernels.
double kernel(nr::Interpolation m, double x) {
  switch (m) {
    case nr::Interpolation::Bilinear:
      return std::max(0.0, 1 - x);
    case nr::Interpolation::Bicubic:
      if (x >= 2) return 0;
      if (x >= 1) return ((-0.5 * x + 2.5) * x - 4) * x + 2;
      return ((1.5 * x - 2.5) * x) * x + 1;
    default: {
      const double r = m == nr::Interpolation::Lanczos3 ? 3 : 5;
      if (x > r) return 0;
      if (x <= 1e-3) return 1;
      return r * std::sin(kPi * x) * std::sin(kPi * x / r) / (kPi * kPi * x * x);
    }
  }
}

// W[o][j]: the weight of input j in output o along one axis, as jax computes it; with
// antialias, a shrinking axis's kernel is stretched by in / out (compute_weight_mat's
// kernel_scale).
std::vector<std::vector<double>> weights(nr::Interpolation m, std::int64_t in, std::int64_t out,
                                         bool antialias = false) {
  std::vector<std::vector<double>> w(static_cast<std::size_t>(out),
                                     std::vector<double>(static_cast<std::size_t>(in), 0.0));
  for (std::int64_t o = 0; o < out; ++o) {
    auto& row = w[static_cast<std::size_t>(o)];
    if (in == out) {  // JAX skips an axis that keeps its size
      row[static_cast<std::size_t>(o)] = 1;
      continue;
    }
    if (m == nr::Interpolation::Nearest) {
      row[static_cast<std::size_t>(
          std::floor((o + 0.5) * static_cast<double>(in) / static_cast<double>(out)))] = 1;
      continue;
    }
    const double inv_scale = static_cast<double>(in) / static_cast<double>(out);
    const double stretch = antialias ? std::max(inv_scale, 1.0) : 1.0;
    const double s = (o + 0.5) * inv_scale - 0.5;
    double total = 0;
    for (std::int64_t j = 0; j < in; ++j) {
      row[static_cast<std::size_t>(j)] = kernel(m, std::abs(s - static_cast<double>(j)) / stretch);
      total += row[static_cast<std::size_t>(j)];
    }
    for (double& v : row) v = std::abs(total) > 1000 * 1.1920929e-7 ? v / total : 0;
  }
  return w;
}

// The resize of a channels_last (n, h, w, c) tensor by the dense weights.
std::vector<double> dense_resize(const nr::Tensor& x, std::int64_t oh, std::int64_t ow,
                                 nr::Interpolation m, bool antialias = false) {
  const nr::Shape& s = x.shape();
  const auto wy = weights(m, s[1], oh, antialias), wx = weights(m, s[2], ow, antialias);
  const std::vector<double> v = x.to_vector<double>();
  std::vector<double> out;
  for (std::int64_t n = 0; n < s[0]; ++n) {
    for (std::int64_t y = 0; y < oh; ++y) {
      for (std::int64_t xo = 0; xo < ow; ++xo) {
        for (std::int64_t c = 0; c < s[3]; ++c) {
          double acc = 0;
          for (std::int64_t i = 0; i < s[1]; ++i) {
            for (std::int64_t j = 0; j < s[2]; ++j) {
              acc += wy[static_cast<std::size_t>(y)][static_cast<std::size_t>(i)] *
                     wx[static_cast<std::size_t>(xo)][static_cast<std::size_t>(j)] *
                     v[static_cast<std::size_t>(((n * s[1] + i) * s[2] + j) * s[3] + c)];
            }
          }
          out.push_back(acc);
        }
      }
    }
  }
  return out;
}

const nr::Interpolation kAll[] = {nr::Interpolation::Nearest, nr::Interpolation::Bilinear,
                                  nr::Interpolation::Bicubic, nr::Interpolation::Lanczos3,
                                  nr::Interpolation::Lanczos5};

}  // namespace

TEST(ImageResize, MatchesJaxWeightMatricesForEverySizeAndInterpolation) {
  const nr::Tensor x = random_tensor({2, 5, 7, 3}, nr::float64, -1, 1, 1);
  const std::pair<std::int64_t, std::int64_t> sizes[] = {{10, 14}, {15, 7}, {8, 11}, {3, 4},
                                                         {2, 9},   {1, 1},  {5, 21}, {13, 3}};
  for (nr::Interpolation m : kAll) {
    for (const auto& [oh, ow] : sizes) {
      SCOPED_TRACE(std::string(nr::interpolation_name(m)) + " to " + std::to_string(oh) + "x" +
                   std::to_string(ow));
      const nr::Tensor y = nr::image_resize(x, {oh, ow}, {.interpolation = m});
      EXPECT_EQ(y.shape(), (nr::Shape{2, oh, ow, 3}));
      EXPECT_TRUE(all_close(y, dense_resize(x, oh, ow, m), 1e-12, 1e-12));
      // channels_first resizes the same images.
      const nr::Tensor yf =
          nr::image_resize(nr::transpose(x, {0, 3, 1, 2}), {oh, ow},
                           {.interpolation = m, .data_format = nr::DataFormat::ChannelsFirst});
      EXPECT_EQ(yf.shape(), (nr::Shape{2, 3, oh, ow}));
      EXPECT_TRUE(all_close(nr::transpose(yf, {0, 2, 3, 1}), y.to_vector<double>(), 0, 0));
    }
  }
}

// Antialiasing (jax.image.resize(..., antialias=True)): a shrinking axis's kernel stretched by
// in / out, so that each output reads every input it covers; a growing axis as without it;
// nearest ignores it. Large shrink factors (19 to 2) reach far past the fixed taps.
TEST(ImageResize, AntialiasStretchesTheKernelOfAShrinkingAxisAsJax) {
  const nr::Tensor x = random_tensor({2, 19, 11, 3}, nr::float64, -1, 1, 4);
  const std::pair<std::int64_t, std::int64_t> sizes[] = {{2, 3},  {7, 11}, {19, 4}, {5, 23},
                                                         {38, 6}, {6, 5},  {1, 1},  {23, 30}};
  for (nr::Interpolation m : kAll) {
    for (const auto& [oh, ow] : sizes) {
      SCOPED_TRACE(std::string(nr::interpolation_name(m)) + " to " + std::to_string(oh) + "x" +
                   std::to_string(ow));
      const nr::Tensor y = nr::image_resize(x, {oh, ow}, {.interpolation = m, .antialias = true});
      EXPECT_EQ(y.shape(), (nr::Shape{2, oh, ow, 3}));
      EXPECT_TRUE(
          all_close(y, dense_resize(x, oh, ow, m, m != nr::Interpolation::Nearest), 1e-12, 1e-12));
      const nr::Tensor yf = nr::image_resize(
          nr::transpose(x, {0, 3, 1, 2}), {oh, ow},
          {.interpolation = m, .data_format = nr::DataFormat::ChannelsFirst, .antialias = true});
      EXPECT_TRUE(all_close(nr::transpose(yf, {0, 2, 3, 1}), y.to_vector<double>(), 1e-12, 1e-12));
    }
  }
  // Four pixels to one, by hand: plain bilinear reads pixels 1 and 2 only (at s = 1.5), the
  // antialiased triangle, stretched 4 times, all four with weights 5, 7, 7, 5 (over 24).
  const nr::Tensor row = nr::testing::make_tensor({0, 4, 8, 0}, {1, 1, 4, 1});
  EXPECT_TRUE(all_close(nr::image_resize(row, {1, 1}), {6}));
  EXPECT_TRUE(all_close(nr::image_resize(row, {1, 1}, {.antialias = true}), {3.5}));
  // A crop or padding to the aspect ratio comes first, then the antialiased resize.
  const nr::Tensor cropped =
      nr::image_resize(x, {4, 4}, {.crop_to_aspect_ratio = true, .antialias = true});
  EXPECT_TRUE(all_close(
      cropped, dense_resize(nr::narrow(x, 1, 4, 11), 4, 4, nr::Interpolation::Bilinear, true),
      1e-12, 1e-12));
}

// The antialiased path's gradient (the transposed weight matrices) and second derivative, in both
// data formats, and its 16-bit and float32 results against float64.
TEST(ImageResize, AntialiasedGradientsAndDtypesFollowTheDefinition) {
  const nr::Tensor x = random_tensor({2, 9, 4, 2}, nr::float64, -1, 1, 5);
  for (nr::Interpolation m : kAll) {
    for (nr::DataFormat f : {nr::DataFormat::ChannelsLast, nr::DataFormat::ChannelsFirst}) {
      const std::string name = std::string(nr::interpolation_name(m)) +
                               (f == nr::DataFormat::ChannelsFirst ? " channels_first" : "");
      auto fn = [&](const std::vector<nr::Tensor>& in) {
        return nr::image_resize(in[0], {3, 7},
                                {.interpolation = m, .data_format = f, .antialias = true});
      };
      EXPECT_TRUE(nr::testing::check_gradients(name, fn, {x}));
    }
    EXPECT_TRUE(nr::testing::check_second_derivative(
        nr::interpolation_name(m),
        [m](const std::vector<nr::Tensor>& in) {
          return nr::square(
              nr::image_resize(in[0], {4, 2}, {.interpolation = m, .antialias = true}));
        },
        x));
    const nr::Tensor ref = nr::image_resize(x, {2, 3}, {.interpolation = m, .antialias = true});
    for (nr::DType dt : {nr::float32, nr::DType::bfloat16, nr::DType::float16}) {
      const nr::Tensor y =
          nr::image_resize(nr::cast(x, dt), {2, 3}, {.interpolation = m, .antialias = true});
      EXPECT_EQ(y.dtype(), dt);
      const double tol = dt == nr::float32 ? 1e-6 : 2e-2;
      EXPECT_TRUE(all_close(y, ref.to_vector<double>(), tol, tol)) << nr::name(dt);
    }
  }
}

TEST(ImageResize, BilinearUsesHalfPixelCentresAndClampsAtTheEdges) {
  // [0, 1] to 4: samples at -0.25, 0.25, 0.75, 1.25 (the outer two renormalised to one pixel).
  const nr::Tensor x = nr::testing::make_tensor({0, 1}, {1, 1, 2, 1});
  EXPECT_TRUE(all_close(nr::image_resize(x, {1, 4}), {0, 0.25, 0.75, 1}));
  // Nearest repeats: floor((o + 0.5) * in / out).
  EXPECT_TRUE(all_close(nr::image_resize(x, {1, 5}, {.interpolation = nr::Interpolation::Nearest}),
                        {0, 0, 1, 1, 1}));
  // A single image (3-D) resizes as a batch of one.
  const nr::Tensor single = nr::testing::make_tensor({0, 1}, {1, 2, 1});
  EXPECT_EQ(nr::image_resize(single, {3, 4}).shape(), (nr::Shape{3, 4, 1}));
}

TEST(ImageResize, Float32AndHalfPrecisionFollowFloat64) {
  const nr::Tensor x = random_tensor({1, 4, 5, 2}, nr::float64, -1, 1, 2);
  for (nr::Interpolation m : kAll) {
    const nr::Tensor ref = nr::image_resize(x, {9, 7}, {.interpolation = m});
    for (nr::DType dt : {nr::float32, nr::DType::bfloat16, nr::DType::float16}) {
      const nr::Tensor y = nr::image_resize(nr::cast(x, dt), {9, 7}, {.interpolation = m});
      EXPECT_EQ(y.dtype(), dt);
      const double tol = dt == nr::float32 ? 1e-6 : 2e-2;
      EXPECT_TRUE(all_close(y, ref.to_vector<double>(), tol, tol)) << nr::name(dt);
    }
  }
}

TEST(ImageResize, GradientsAndSecondDerivativesMatchNumerical) {
  const nr::Tensor x = random_tensor({2, 3, 4, 2}, nr::float64, -1, 1, 3);
  for (nr::Interpolation m : kAll) {
    for (const auto& [oh, ow] : {std::pair<std::int64_t, std::int64_t>{6, 8}, {7, 3}, {2, 9}}) {
      for (nr::DataFormat f : {nr::DataFormat::ChannelsLast, nr::DataFormat::ChannelsFirst}) {
        const std::string name = std::string(nr::interpolation_name(m)) + " " + std::to_string(oh) +
                                 "x" + std::to_string(ow) +
                                 (f == nr::DataFormat::ChannelsFirst ? " channels_first" : "");
        auto fn = [&](const std::vector<nr::Tensor>& in) {
          return nr::image_resize(in[0], {oh, ow}, {.interpolation = m, .data_format = f});
        };
        EXPECT_TRUE(nr::testing::check_gradients(name, fn, {x}));
      }
    }
    // The gradient is linear in the output's gradient: differentiate through it once more
    // with a nonlinearity around the resize.
    EXPECT_TRUE(nr::testing::check_second_derivative(
        nr::interpolation_name(m),
        [m](const std::vector<nr::Tensor>& in) {
          return nr::square(nr::image_resize(in[0], {5, 6}, {.interpolation = m}));
        },
        x));
  }
}

// Keras's crop_to_aspect_ratio and pad_to_aspect_ratio (backend/jax/image.py's resize): the
// boxes by hand, then the resize of the cropped or padded images, from the front door and from
// the recorded op, in both data formats; the recorded op's gradient numerically. (Resizing's
// tests compare whole results with Keras's.)
TEST(ImageResize, CropsOrPadsToTheTargetsAspectRatioAsKeras) {
  using Box = nr::kernels::ImageBox;
  const auto same_box = [](const Box& a, const Box& b) {
    return a.top == b.top && a.left == b.left && a.height == b.height && a.width == b.width;
  };
  // 5 x 8 to 4 x 4: the central 5 x 5 window.
  EXPECT_TRUE(same_box(nr::kernels::crop_to_aspect_box(5, 8, 4, 4), Box{0, 1, 5, 5}));
  // 8 x 3 to 1 x 100: one row, all three columns.
  EXPECT_TRUE(same_box(nr::kernels::crop_to_aspect_box(8, 3, 1, 100), Box{3, 0, 1, 3}));
  // 7 x 10 to 4 x 4: 10 rows wanted, an odd difference: one row on each side (9 rows).
  EXPECT_TRUE(same_box(nr::kernels::pad_to_aspect_box(7, 10, 4, 4), Box{1, 0, 9, 10}));
  // 5 x 8 to 3 x 9: 15 columns wanted, three on each side (14).
  EXPECT_TRUE(same_box(nr::kernels::pad_to_aspect_box(5, 8, 3, 9), Box{0, 3, 5, 14}));
  // The aspect ratio already: nothing.
  EXPECT_TRUE(same_box(nr::kernels::pad_to_aspect_box(6, 4, 3, 2), Box{0, 0, 6, 4}));

  const nr::Tensor x = random_tensor({2, 5, 8, 3}, nr::float64, -1, 1, 21);
  const nr::Tensor crop_want = nr::kernels::resize(nr::narrow(x, 2, 1, 5), {4, 4});
  const nr::ResizeOptions crop{.crop_to_aspect_ratio = true};
  EXPECT_TRUE(all_close(nr::kernels::resize(x, {4, 4}, crop), crop_want.to_vector<double>(), 0, 0));
  EXPECT_TRUE(all_close(nr::image_resize(x, {4, 4}, crop), crop_want.to_vector<double>(), 0, 0));
  const nr::Tensor band = nr::fill({2, 5, 3, 3}, 0.5, {.dtype = nr::float64});
  const nr::Tensor pad_want = nr::kernels::resize(nr::concat({band, x, band}, 2), {3, 9});
  const nr::ResizeOptions pad{.pad_to_aspect_ratio = true, .fill_value = 0.5};
  EXPECT_TRUE(all_close(nr::kernels::resize(x, {3, 9}, pad), pad_want.to_vector<double>(), 0, 0));
  EXPECT_TRUE(all_close(nr::image_resize(x, {3, 9}, pad), pad_want.to_vector<double>(), 0, 0));
  // channels_first: the same images, transposed.
  const nr::Tensor x_cf = nr::transpose(x, {0, 3, 1, 2});
  for (nr::ResizeOptions o : {crop, pad}) {
    o.data_format = nr::DataFormat::ChannelsFirst;
    const std::array<std::int64_t, 2> size = o.crop_to_aspect_ratio
                                                 ? std::array<std::int64_t, 2>{4, 4}
                                                 : std::array<std::int64_t, 2>{3, 9};
    const nr::Tensor want = o.crop_to_aspect_ratio ? crop_want : pad_want;
    EXPECT_TRUE(all_close(nr::transpose(nr::image_resize(x_cf, size, o), {0, 2, 3, 1}),
                          want.to_vector<double>(), 0, 0));
  }
  // One image (rank 3).
  EXPECT_TRUE(all_close(nr::image_resize(nr::narrow(x, 0, 0, 1).reshape({5, 8, 3}), {3, 9}, pad),
                        nr::narrow(pad_want, 0, 0, 1).to_vector<double>(), 0, 0));

  for (const nr::ResizeOptions& o : {crop, pad}) {
    EXPECT_TRUE(nr::testing::check_gradients(
        o.crop_to_aspect_ratio ? "crop_to_aspect_ratio" : "pad_to_aspect_ratio",
        [&o](const std::vector<nr::Tensor>& in) {
          return nr::image_resize(in[0], {3, 7}, o);
        },
        {random_tensor({1, 4, 6, 2}, nr::float64, -1, 1, 22)}));
  }
  const nr::ResizeOptions both{.crop_to_aspect_ratio = true, .pad_to_aspect_ratio = true};
  NEURONA_EXPECT_THROW_MSG(nr::image_resize(x, {4, 4}, both), nr::ValueError, "image_resize",
                           "Only one of");
  NEURONA_EXPECT_THROW_MSG(nr::kernels::resize(x, {4, 4}, both), nr::ValueError, "resize",
                           "Only one of");
  NEURONA_EXPECT_THROW_MSG(nr::image_resize(random_tensor({2, 3}), {4, 4}, pad), nr::ShapeError,
                           "image_resize", "rank 3", "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::image_resize(x, {0, 4}, crop), nr::ValueError, "image_resize",
                           "(0, 4)");
}

TEST(ImageResize, RejectsBadArgumentsNamingThem) {
  NEURONA_EXPECT_THROW_MSG(nr::image_resize(random_tensor({2, 3}), {4, 4}), nr::ShapeError,
                           "resize", "rank 3", "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::image_resize(random_tensor({1, 2, 2, 1}), {0, 4}), nr::ValueError,
                           "resize", "(0, 4)");
  NEURONA_EXPECT_THROW_MSG(nr::image_resize(nr::zeros({1, 2, 2, 1}, {.dtype = nr::int32}), {4, 4}),
                           nr::ValueError, "resize", "int32");
  NEURONA_EXPECT_THROW_MSG(nr::interpolation_from_string("area"), nr::ValueError,
                           "Invalid value for argument `interpolation`", "'lanczos5'",
                           "interpolation=area");
  EXPECT_EQ(nr::interpolation_from_string("bicubic"), nr::Interpolation::Bicubic);
}

// ---- affine_transform -----------------------------------------------------------------------

namespace {

const nr::testing::Reference& affine_reference() {
  static const nr::testing::Reference ref =
      nr::testing::parse_reference(nr::testing::reference_dir() / "preprocessing" / "affine.txt");
  return ref;
}

nr::Tensor reference_tensor(const std::string& name) {
  const auto& e = affine_reference().at(name);
  return nr::constant(std::vector<float>(e.values.begin(), e.values.end()), e.shape);
}

const nr::FillMode kFillModes[] = {nr::FillMode::Constant, nr::FillMode::Nearest,
                                   nr::FillMode::Wrap, nr::FillMode::Mirror, nr::FillMode::Reflect};

}  // namespace

TEST(AffineTransform, MatchesKerasForEveryInterpolationAndFillMode) {
  const nr::Tensor a = reference_tensor("a"), t = reference_tensor("t");
  for (nr::Interpolation m : {nr::Interpolation::Nearest, nr::Interpolation::Bilinear}) {
    for (nr::FillMode mode : kFillModes) {
      const std::string name =
          std::string("affine_") + nr::interpolation_name(m) + "_" + nr::fill_mode_name(mode);
      const nr::Tensor y =
          nr::affine_transform(a, t, {.interpolation = m, .fill_mode = mode, .fill_value = 17.5});
      const auto& want = affine_reference().at(name);
      ASSERT_EQ(y.shape(), want.shape) << name;
      // Values in [0, 255): float32's rounding of a point's coordinates (a few 1e-7 of the
      // pixel pitch) moves a bilinear value by a few 1e-5; nearest picks the same pixel.
      EXPECT_TRUE(all_close(y, want.values, 2e-4, 1e-6)) << name;
    }
  }
  // One transform for every image (JAX's Keras wants one per image: the reference tiles it),
  // channels_first.
  const nr::Tensor first = nr::affine_transform(nr::transpose(a, {0, 3, 1, 2}), t.slice(0, 1),
                                                {.data_format = nr::DataFormat::ChannelsFirst});
  const auto& want = affine_reference().at("affine_shared_channels_first");
  ASSERT_EQ(first.shape(), want.shape);
  EXPECT_TRUE(all_close(first, want.values, 2e-4, 1e-6));
  EXPECT_TRUE(
      all_close(nr::affine_transform(nr::transpose(a, {0, 3, 1, 2}), t.slice(0, 1).reshape({8}),
                                     {.data_format = nr::DataFormat::ChannelsFirst}),
                first.to_vector<double>(), 0, 0));
}

TEST(AffineTransform, FillModesExtendARowAsTheirDefinitionsSay) {
  // A row abcd = 1 2 3 4 shifted right by 3 (output x reads input x - 3): the first three
  // outputs read -3, -2, -1, outside the row.
  const nr::Tensor row = nr::constant(std::vector<double>{1, 2, 3, 4}, {1, 1, 4, 1});
  const nr::Tensor shift = nr::constant(std::vector<double>{1, 0, -3, 0, 1, 0, 0, 0}, {8});
  const std::pair<nr::FillMode, std::vector<double>> cases[] = {
      {nr::FillMode::Constant, {9, 9, 9, 1}},  // fill_value
      {nr::FillMode::Nearest, {1, 1, 1, 1}},   // aaaa|abcd
      {nr::FillMode::Wrap, {2, 3, 4, 1}},      // abcd|abcd
      {nr::FillMode::Mirror, {4, 3, 2, 1}},    // dcb|abcd: about the edge pixel's centre
      {nr::FillMode::Reflect, {3, 2, 1, 1}},   // dcba|abcd: about the edge itself
  };
  for (const auto& [mode, want] : cases) {
    for (nr::Interpolation m : {nr::Interpolation::Nearest, nr::Interpolation::Bilinear}) {
      const nr::Tensor y = nr::affine_transform(
          row, shift, {.interpolation = m, .fill_mode = mode, .fill_value = 9});
      EXPECT_TRUE(all_close(y, want, 0, 0))
          << nr::fill_mode_name(mode) << " " << nr::interpolation_name(m);
    }
  }
  // Half a pixel: bilinear averages neighbours, nearest rounds half away from zero (x + 0.5
  // reads x + 1; -0.5 reads -1, outside).
  const nr::Tensor half = nr::constant(std::vector<double>{1, 0, 0.5, 0, 1, 0, 0, 0}, {8});
  EXPECT_TRUE(all_close(nr::affine_transform(row, half, {.fill_value = 9}), {1.5, 2.5, 3.5, 6.5},
                        1e-12, 0));
  EXPECT_TRUE(
      all_close(nr::affine_transform(row, half, {.interpolation = nr::Interpolation::Nearest}),
                {2, 3, 4, 0}, 0, 0));
  // A projective transform (c0 != 0) divides by k = c0 x + c1 y + 1: x' = 2x / (x + 1).
  const nr::Tensor projective = nr::constant(std::vector<double>{2, 0, 0, 0, 1, 0, 1, 0}, {8});
  EXPECT_TRUE(all_close(nr::affine_transform(row, projective), {1, 2, 1 + 4.0 / 3, 2.5}, 1e-12, 0));
}

TEST(AffineTransform, OutputSizeCropsAndNonFinitePointsReadTheFill) {
  const nr::Tensor x = random_tensor({2, 6, 7, 3}, nr::float32, -1, 1, 4);
  // An integer shift with a smaller output is a crop, exactly, under either interpolation.
  const nr::Tensor shift = nr::constant(std::vector<float>{1, 0, 2, 0, 1, 1, 0, 0}, {1, 8});
  for (nr::Interpolation m : {nr::Interpolation::Nearest, nr::Interpolation::Bilinear}) {
    const nr::Tensor y =
        nr::affine_transform(x, shift, {.interpolation = m, .output_size = {{4, 3}}});
    EXPECT_EQ(y.shape(), (nr::Shape{2, 4, 3, 3}));
    EXPECT_TRUE(
        all_close(y, nr::narrow(nr::narrow(x, 1, 1, 4), 2, 2, 3).to_vector<double>(), 0, 0));
  }
  const float nan = std::nanf("");
  const nr::Tensor bad =
      nr::constant(std::vector<float>{nan, 0, 0, 0, 1, 0, 0, 0, 1, 0, 3e9f, 0, 1, 0, 0, 0}, {2, 8});
  for (nr::FillMode mode : kFillModes) {
    const nr::Tensor y = nr::affine_transform(x, bad, {.fill_mode = mode, .fill_value = 5});
    EXPECT_TRUE(all_close(y, std::vector<double>(static_cast<std::size_t>(y.numel()), 5), 0, 0))
        << nr::fill_mode_name(mode);
  }
}

TEST(AffineTransform, Float32AndHalfPrecisionFollowFloat64) {
  const nr::Tensor x = random_tensor({2, 5, 6, 3}, nr::float64, -1, 1, 5);
  const nr::Tensor t = nr::constant(std::vector<double>{0.9, 0.2, 0.37, -0.3, 1.1, -0.63, 0, 0, 1.2,
                                                        0, -0.47, 0.13, 0.8, 0.317, 0, 0},
                                    {2, 8});
  // (No point lands half-way between pixels, where float32's and float64's rounding of the
  // coordinates would pick different pixels.)
  for (nr::Interpolation m : {nr::Interpolation::Nearest, nr::Interpolation::Bilinear}) {
    const nr::Tensor ref = nr::affine_transform(x, t, {.interpolation = m, .fill_value = 0.5});
    for (nr::DType dt : {nr::float32, nr::DType::bfloat16, nr::DType::float16}) {
      const nr::Tensor y = nr::affine_transform(nr::cast(x, dt), nr::cast(t, nr::float32),
                                                {.interpolation = m, .fill_value = 0.5});
      EXPECT_EQ(y.dtype(), dt);
      const double tol = dt == nr::float32 ? 1e-5 : 2e-2;
      EXPECT_TRUE(all_close(y, ref.to_vector<double>(), tol, tol)) << nr::name(dt);
    }
  }
}

TEST(AffineTransform, GradientsAndSecondDerivativesMatchNumerical) {
  const nr::Tensor x = random_tensor({2, 4, 5, 2}, nr::float64, -1, 1, 6);
  const nr::Tensor t = nr::constant(std::vector<double>{0.8, -0.45, 1.3, 0.45, 0.8, -0.9, 0, 0, 1.3,
                                                        0.2, -2.4, -0.1, 1.1, 0.6, 0.02, -0.01},
                                    {2, 8});
  for (nr::Interpolation m : {nr::Interpolation::Nearest, nr::Interpolation::Bilinear}) {
    for (nr::FillMode mode : kFillModes) {
      for (nr::DataFormat f : {nr::DataFormat::ChannelsLast, nr::DataFormat::ChannelsFirst}) {
        const std::string name = std::string(nr::interpolation_name(m)) + " " +
                                 nr::fill_mode_name(mode) +
                                 (f == nr::DataFormat::ChannelsFirst ? " channels_first" : "");
        const nr::AffineTransformOptions o{.interpolation = m,
                                           .fill_mode = mode,
                                           .fill_value = 0.7,
                                           .data_format = f,
                                           .output_size = {{3, 6}}};
        EXPECT_TRUE(nr::testing::check_gradients(
            name, [&](const auto& in) { return nr::affine_transform(in[0], t, o); }, {x}));
      }
    }
    EXPECT_TRUE(nr::testing::check_second_derivative(
        nr::interpolation_name(m),
        [&](const std::vector<nr::Tensor>& in) {
          return nr::square(nr::affine_transform(
              in[0], t,
              {.interpolation = m, .fill_mode = nr::FillMode::Constant, .fill_value = 2}));
        },
        x));
  }
}

TEST(AffineTransform, RejectsBadArgumentsNamingThem) {
  const nr::Tensor x = random_tensor({2, 3, 3, 1});
  const nr::Tensor t = nr::zeros({2, 8});
  NEURONA_EXPECT_THROW_MSG(nr::affine_transform(random_tensor({3, 3}), t), nr::ShapeError,
                           "affine_transform", "rank 3", "(3, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::affine_transform(x, nr::zeros({3, 8})), nr::ShapeError,
                           "affine_transform", "(3, 8)", "(2, 3, 3, 1)", "(2, 8)");
  NEURONA_EXPECT_THROW_MSG(nr::affine_transform(x, nr::zeros({2, 6})), nr::ShapeError,
                           "affine_transform", "(2, 6)");
  NEURONA_EXPECT_THROW_MSG(nr::affine_transform(x, nr::zeros({1, 2, 8})), nr::ShapeError,
                           "affine_transform", "transform rank", "(1, 2, 8)");
  NEURONA_EXPECT_THROW_MSG(
      nr::affine_transform(x, t, {.interpolation = nr::Interpolation::Bicubic}), nr::ValueError,
      "affine_transform", "interpolation=bicubic");
  NEURONA_EXPECT_THROW_MSG(nr::affine_transform(nr::zeros({2, 3, 3, 1}, {.dtype = nr::int32}), t),
                           nr::ValueError, "affine_transform", "images", "int32");
  NEURONA_EXPECT_THROW_MSG(nr::affine_transform(x, nr::zeros({2, 8}, {.dtype = nr::int32})),
                           nr::ValueError, "affine_transform", "transform", "int32");
  NEURONA_EXPECT_THROW_MSG(nr::affine_transform(x, t, {.output_size = {{0, 2}}}), nr::ValueError,
                           "affine_transform", "(0, 2)");
  NEURONA_EXPECT_THROW_MSG(nr::fill_mode_from_string("edge"), nr::ValueError,
                           "Invalid value for argument `fill_mode`", "'reflect'", "fill_mode=edge");
  EXPECT_EQ(nr::fill_mode_from_string("mirror"), nr::FillMode::Mirror);
}
