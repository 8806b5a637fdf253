// conv2d, pooling and zero padding against direct float64 loops written from Keras's
// definitions (TensorFlow's 'same': ceil(in / stride) outputs, odd padding pixel last).
#include <neurona/neurona.h>

#include <cmath>
#include <cstring>

#include "neurona/kernels/conv.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::random_tensor;

namespace {

struct Geometry {
  std::int64_t oh, ow, top, left;
};

Geometry same_or_valid(std::int64_t h, std::int64_t w, std::int64_t kh, std::int64_t kw,
                       std::int64_t sh, std::int64_t sw, std::int64_t dh, std::int64_t dw,
                       nr::Padding p) {
  const std::int64_t eh = (kh - 1) * dh + 1, ew = (kw - 1) * dw + 1;
  if (p == nr::Padding::Valid) return {(h - eh) / sh + 1, (w - ew) / sw + 1, 0, 0};
  const std::int64_t oh = (h + sh - 1) / sh, ow = (w + sw - 1) / sw;
  const std::int64_t ph = std::max<std::int64_t>((oh - 1) * sh + eh - h, 0);
  const std::int64_t pw = std::max<std::int64_t>((ow - 1) * sw + ew - w, 0);
  return {oh, ow, ph / 2, pw / 2};
}

// out[n, oh, ow, f] = sum over (i, j, c) of x[n, oh*sh - top + i*dh, ow*sw - left + j*dw,
// group(f)*cg + c] * k[i, j, c, f]
std::vector<double> reference_conv(const nr::Tensor& xt, const nr::Tensor& kt,
                                   const nr::ConvOptions& o, nr::Shape* out_shape) {
  const auto x = xt.to_vector<double>(), k = kt.to_vector<double>();
  const std::int64_t n = xt.shape()[0], h = xt.shape()[1], w = xt.shape()[2], c = xt.shape()[3];
  const std::int64_t kh = kt.shape()[0], kw = kt.shape()[1], cg = kt.shape()[2], f = kt.shape()[3];
  const std::int64_t fg = f / o.groups;
  const Geometry g = same_or_valid(h, w, kh, kw, o.strides[0], o.strides[1], o.dilation_rate[0],
                                   o.dilation_rate[1], o.padding);
  *out_shape = nr::Shape({n, g.oh, g.ow, f});
  std::vector<double> out(static_cast<std::size_t>(n * g.oh * g.ow * f), 0.0);
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t oy = 0; oy < g.oh; ++oy)
      for (std::int64_t ox = 0; ox < g.ow; ++ox)
        for (std::int64_t ff = 0; ff < f; ++ff) {
          double acc = 0;
          const std::int64_t grp = ff / fg;
          for (std::int64_t i = 0; i < kh; ++i)
            for (std::int64_t j = 0; j < kw; ++j)
              for (std::int64_t cc = 0; cc < cg; ++cc) {
                const std::int64_t iy = oy * o.strides[0] - g.top + i * o.dilation_rate[0];
                const std::int64_t ix = ox * o.strides[1] - g.left + j * o.dilation_rate[1];
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                acc += x[static_cast<std::size_t>(((b * h + iy) * w + ix) * c + grp * cg + cc)] *
                       k[static_cast<std::size_t>(((i * kw + j) * cg + cc) * f + ff)];
              }
          out[static_cast<std::size_t>(((b * g.oh + oy) * g.ow + ox) * f + ff)] = acc;
        }
  return out;
}

std::vector<double> reference_pool(const nr::Tensor& xt, bool max, std::int64_t ph, std::int64_t pw,
                                   std::int64_t sh, std::int64_t sw, nr::Padding p,
                                   nr::Shape* out_shape) {
  const auto x = xt.to_vector<double>();
  const std::int64_t n = xt.shape()[0], h = xt.shape()[1], w = xt.shape()[2], c = xt.shape()[3];
  const Geometry g = same_or_valid(h, w, ph, pw, sh, sw, 1, 1, p);
  *out_shape = nr::Shape({n, g.oh, g.ow, c});
  std::vector<double> out;
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t oy = 0; oy < g.oh; ++oy)
      for (std::int64_t ox = 0; ox < g.ow; ++ox)
        for (std::int64_t cc = 0; cc < c; ++cc) {
          double best = -INFINITY, sum = 0;
          int count = 0;
          for (std::int64_t i = 0; i < ph; ++i)
            for (std::int64_t j = 0; j < pw; ++j) {
              const std::int64_t iy = oy * sh - g.top + i, ix = ox * sw - g.left + j;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              const double v = x[static_cast<std::size_t>(((b * h + iy) * w + ix) * c + cc)];
              best = std::max(best, v);
              sum += v;
              ++count;
            }
          out.push_back(max ? best : sum / count);
        }
  return out;
}

struct ConvCase {
  nr::Shape x, k;
  nr::ConvOptions o;
};

std::vector<ConvCase> conv_cases() {
  using P = nr::Padding;
  return {
      {{2, 7, 7, 3}, {3, 3, 3, 4}, {}},
      {{2, 7, 7, 3}, {3, 3, 3, 4}, {.padding = P::Same}},
      {{1, 8, 8, 2}, {2, 2, 2, 3}, {.padding = P::Same}},  // even kernel: odd pad pixel
      {{2, 9, 8, 3}, {3, 3, 3, 5}, {.strides = {2, 2}, .padding = P::Same}},
      {{2, 10, 9, 2}, {3, 2, 2, 4}, {.strides = {2, 3}}},
      {{1, 11, 11, 2}, {3, 3, 2, 3}, {.padding = P::Same, .dilation_rate = {2, 2}}},
      {{2, 6, 6, 4}, {3, 3, 2, 6}, {.padding = P::Same, .groups = 2}},
      {{1, 5, 5, 1}, {5, 5, 1, 1}, {}},
      {{3, 28, 28, 1}, {3, 3, 1, 8}, {}},
  };
}

}  // namespace

TEST(Conv2D, MatchesDirectLoopsOverStridesDilationPaddingAndGroups) {
  for (const auto& c : conv_cases()) {
    for (nr::DType dt : {nr::float32, nr::float64}) {
      const nr::Tensor x = random_tensor(c.x, dt, -1, 1, 1);
      const nr::Tensor k = random_tensor(c.k, dt, -1, 1, 2);
      nr::Shape expected_shape;
      const auto expected = reference_conv(x, k, c.o, &expected_shape);
      const nr::Tensor y = nr::conv2d(x, k, c.o);
      EXPECT_EQ(y.shape(), expected_shape) << c.x << " " << c.k;
      EXPECT_TRUE(all_close(y, expected, 1e-5, 1e-5)) << c.x << " " << c.k;
    }
  }
}

TEST(Conv2D, SamePaddingPutsOddPixelBottomRight) {
  // A 2x2 kernel of ones over a 3x3 ramp: 'same' pads one row below and one column right.
  const nr::Tensor x = nr::arange(1, 10).reshape({1, 3, 3, 1});
  const nr::Tensor k = nr::ones({2, 2, 1, 1});
  const nr::Tensor y = nr::conv2d(x, k, {.padding = nr::Padding::Same});
  EXPECT_EQ(y.shape(), nr::Shape({1, 3, 3, 1}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{12, 16, 9, 24, 28, 15, 15, 17, 9}));
}

TEST(Conv2D, ChannelsFirstMatchesChannelsLast) {
  const nr::Tensor x = random_tensor({2, 7, 6, 3}, nr::float64, -1, 1, 3);
  const nr::Tensor k = random_tensor({3, 3, 3, 4}, nr::float64, -1, 1, 4);
  const nr::ConvOptions o{.strides = {2, 1}, .padding = nr::Padding::Same};
  nr::ConvOptions cf = o;
  cf.data_format = nr::DataFormat::ChannelsFirst;
  const nr::Tensor last = nr::conv2d(x, k, o);
  const nr::Tensor first = nr::conv2d(nr::transpose(x, {0, 3, 1, 2}), k, cf);
  EXPECT_TRUE(all_close(nr::transpose(first, {0, 2, 3, 1}), last.to_vector<double>(), 1e-12, 0));
}

TEST(Conv2D, BadArgumentsNameOpAndShapes) {
  const nr::Tensor x = nr::zeros({1, 5, 5, 3});
  NEURONA_EXPECT_THROW_MSG(nr::conv2d(x, nr::zeros({3, 3, 2, 4})), nr::ShapeError, "conv2d",
                           "(3, 3, 2, 4)", "(1, 5, 5, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::conv2d(nr::zeros({5, 5, 3}), nr::zeros({3, 3, 3, 4})),
                           nr::ShapeError, "conv2d", "4-D", "(5, 5, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::conv2d(x, nr::zeros({7, 7, 3, 4})), nr::ShapeError, "conv2d",
                           "smaller than", "valid");
  NEURONA_EXPECT_THROW_MSG(nr::conv2d(x, nr::zeros({3, 3, 1, 4}), {.groups = 2}), nr::ValueError,
                           "divisible by groups");
  NEURONA_EXPECT_THROW_MSG(nr::conv2d(x, nr::zeros({3, 3, 3, 4}), {.strides = {0, 1}}),
                           nr::ValueError, "strides");
  NEURONA_EXPECT_THROW_MSG(nr::padding_from_string("full"), nr::ValueError, "'valid', 'same'");
  // Absurd strides, dilations and windows are refused: their window arithmetic would wrap int64
  // to a small output (a dilation of 2^62 gave the (1, 5, 5, 1) of a 1 x 1 window).
  const std::int64_t huge = std::int64_t{1} << 62;
  NEURONA_EXPECT_THROW_MSG(nr::conv2d(x, nr::zeros({5, 5, 3, 1}), {.dilation_rate = {huge, huge}}),
                           nr::ValueError, "conv2d", "dilation_rate", "at most 2147483647");
  NEURONA_EXPECT_THROW_MSG(nr::conv2d(x, nr::zeros({3, 3, 3, 1}),
                                      {.strides = {INT64_MAX, 1}, .padding = nr::Padding::Same}),
                           nr::ValueError, "conv2d", "strides");
  NEURONA_EXPECT_THROW_MSG(
      nr::max_pool2d(x, {.pool_size = {INT64_MAX, 2}, .padding = nr::Padding::Same}),
      nr::ValueError, "at most 2147483647");
  NEURONA_EXPECT_THROW_MSG(nr::conv2d_transpose(x, nr::zeros({2, 2, 1, 3}), {.strides = {huge, 1}}),
                           nr::ValueError, "conv2d_transpose", "strides");
  // A stride as large as allowed still gives Keras's sizes: one output pixel per axis.
  EXPECT_EQ(nr::conv2d(x, nr::zeros({3, 3, 3, 1}),
                       {.strides = {INT32_MAX, INT32_MAX}, .padding = nr::Padding::Same})
                .shape(),
            nr::Shape({1, 1, 1, 1}));
}

TEST(Pooling, MaxAndAverageMatchDirectLoops) {
  struct Case {
    nr::Shape x;
    std::int64_t ph, pw, sh, sw;
    nr::Padding p;
  };
  const std::vector<Case> cases = {{{2, 6, 6, 3}, 2, 2, 2, 2, nr::Padding::Valid},
                                   {{2, 7, 7, 3}, 2, 2, 2, 2, nr::Padding::Valid},
                                   {{2, 7, 7, 3}, 2, 2, 2, 2, nr::Padding::Same},
                                   {{1, 9, 8, 2}, 3, 3, 2, 2, nr::Padding::Same},
                                   {{1, 9, 8, 2}, 3, 2, 1, 1, nr::Padding::Same},
                                   {{1, 5, 5, 1}, 3, 3, 1, 2, nr::Padding::Valid}};
  for (const auto& c : cases) {
    const nr::Tensor x = random_tensor(c.x, nr::float64, -3, 3, 5);
    const nr::Pool2DOptions o{.pool_size = {c.ph, c.pw},
                              .strides = std::array<std::int64_t, 2>{c.sh, c.sw},
                              .padding = c.p};
    for (bool max : {true, false}) {
      nr::Shape shape;
      const auto expected = reference_pool(x, max, c.ph, c.pw, c.sh, c.sw, c.p, &shape);
      const nr::Tensor y = max ? nr::max_pool2d(x, o) : nr::avg_pool2d(x, o);
      EXPECT_EQ(y.shape(), shape) << c.x;
      EXPECT_TRUE(all_close(y, expected, 1e-12, 1e-12)) << c.x << (max ? " max" : " avg");
    }
  }
}

TEST(Pooling, StridesDefaultToPoolSize) {
  const nr::Tensor y = nr::max_pool2d(nr::zeros({1, 28, 28, 32}), {.pool_size = {2, 2}});
  EXPECT_EQ(y.shape(), nr::Shape({1, 14, 14, 32}));
}

TEST(Pooling, Max2x2WindowsMatchTheGeneralLoopBitForBitForwardAndBackward) {
  // The CPU's vectorised 2x2/2 float32 max pooling, both directions, against the general loops
  // (which the float64 path runs): the first maximum of ties, NaNs (first NaN wins), -0.0
  // against +0.0, NaN and -0.0 gradients, odd sizes whose last row/column belongs to no window,
  // and 'same' padding on odd sizes (the general loops: the window hangs over the edge).
  for (const nr::Padding padding : {nr::Padding::Valid, nr::Padding::Same}) {
    for (const nr::Shape& shape : {nr::Shape{2, 6, 8, 8}, nr::Shape{3, 7, 5, 4},
                                   nr::Shape{1, 4, 4, 12}, nr::Shape{2, 5, 7, 3}}) {
      SCOPED_TRACE(shape.str() + (padding == nr::Padding::Same ? " same" : " valid"));
      // Few distinct values, so that windows hold ties; a NaN and signed zeros here and there.
      std::vector<float> xv(static_cast<std::size_t>(shape.numel()));
      for (std::size_t i = 0; i < xv.size(); ++i) {
        const std::size_t k = (i * 7919) % 13;
        xv[i] =
            k == 0 ? std::nanf("") : (k == 1 ? -0.0f : (k == 2 ? 0.0f : static_cast<float>(k % 4)));
      }
      const nr::Pool2DOptions o{.padding = padding};
      const nr::Tensor x = nr::constant(xv, shape, nr::Device::cpu());
      const nr::Tensor x64 = nr::cast(x, nr::float64);
      const nr::Tensor y = nr::kernels::max_pool2d(x, o);
      const nr::Tensor y_general = nr::cast(nr::kernels::max_pool2d(x64, o), nr::float32);
      const std::vector<float> ya = y.to_vector<float>(), yb = y_general.to_vector<float>();
      ASSERT_EQ(ya.size(), yb.size());
      EXPECT_EQ(std::memcmp(ya.data(), yb.data(), ya.size() * sizeof(float)), 0);

      std::vector<float> gv(static_cast<std::size_t>(y.numel()));
      for (std::size_t i = 0; i < gv.size(); ++i) {
        gv[i] = i % 11 == 5 ? std::nanf("") : (i % 7 == 3 ? -0.0f : static_cast<float>(i) - 9.5f);
      }
      const nr::Tensor g = nr::constant(gv, y.shape(), nr::Device::cpu());
      const nr::Tensor fast = nr::kernels::pool2d_backward(true, x, g, o);
      const nr::Tensor general = nr::cast(
          nr::kernels::pool2d_backward(true, x64, nr::cast(g, nr::float64), o), nr::float32);
      const std::vector<float> a = fast.to_vector<float>(), b = general.to_vector<float>();
      ASSERT_EQ(a.size(), b.size());
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
    }
  }
}

TEST(ZeroPadding, PadsAndCropsAroundTheImage) {
  const nr::Tensor x = nr::arange(1, 5).reshape({1, 2, 2, 1});
  const nr::Tensor y = nr::zero_pad2d(x, 1, 0, 0, 2);
  EXPECT_EQ(y.shape(), nr::Shape({1, 3, 4, 1}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0}));
  EXPECT_EQ(nr::zero_pad2d(y, -1, 0, 0, -2).to_vector<float>(), x.to_vector<float>());
  const nr::Tensor cf =
      nr::zero_pad2d(nr::ones({1, 2, 3, 3}), 1, 1, 2, 2, nr::DataFormat::ChannelsFirst);
  EXPECT_EQ(cf.shape(), nr::Shape({1, 2, 5, 7}));
  NEURONA_EXPECT_THROW_MSG(nr::zero_pad2d(x, -3, 0, 0, 0), nr::ShapeError, "pad2d", "(1, 2, 2, 1)");
  // Padding that overflows int64 (it wrapped to a small height) is refused.
  NEURONA_EXPECT_THROW_MSG(nr::zero_pad2d(x, INT64_MAX, INT64_MAX, 0, 0), nr::ShapeError, "pad2d",
                           "overflows int64");
}
