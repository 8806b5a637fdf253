// Pooling layers: hand-computed windows (including 'same' averages that count only the
// pixels inside the input), Keras's defaults and output shapes, both data formats, global
// poolings with keepdims, errors, and numerical gradient checks.
#include <neurona/neurona.h>

#include "layers/layer_gradcheck.h"

namespace nr = neurona;
using nr::testing::all_close;

namespace {
nr::Tensor f64(const nr::Shape& s, std::uint32_t seed) {
  return nr::testing::random_tensor(s, nr::float64, -1, 1, seed);
}
// 0, 1, 2, ... in a (1, h, w, 1) tensor.
nr::Tensor ramp(std::int64_t h, std::int64_t w) {
  std::vector<double> v(static_cast<std::size_t>(h * w));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  return nr::testing::make_tensor(v, {1, h, w, 1});
}
}  // namespace

TEST(PoolingLayers, MaxPoolingDefaultsToPoolSizeTwoAndStridesPoolSize) {
  nr::clear_session();
  auto pool = nr::layers::MaxPooling2D();
  EXPECT_EQ(pool->name(), "max_pooling2d");
  EXPECT_EQ(pool->pool_size().values, (std::array<std::int64_t, 2>{2, 2}));
  EXPECT_EQ(pool->strides().values, (std::array<std::int64_t, 2>{2, 2}));
  EXPECT_EQ(pool->padding(), nr::Padding::Valid);
  EXPECT_TRUE(all_close(pool(ramp(4, 4)), {5, 7, 13, 15}));
  EXPECT_TRUE(pool->weights().empty());
  EXPECT_EQ(nr::layers::MaxPooling2D(3)->strides().values, (std::array<std::int64_t, 2>{3, 3}));
}

TEST(PoolingLayers, AverageSamePaddingCountsOnlyPixelsInside) {
  nr::clear_session();
  auto pool = nr::layers::AveragePooling2D(2, {.padding = "Same"});
  EXPECT_EQ(pool->name(), "average_pooling2d");
  // 3x3 ramp, windows of 2 with stride 2: the last row and column are averaged alone.
  EXPECT_TRUE(all_close(pool(ramp(3, 3)), {2, 3.5, 6.5, 8}));
}

TEST(PoolingLayers, StridesAndPaddingGiveKerasOutputShapes) {
  struct Case {
    bool max;
    nr::layers::IntPair pool, strides;
    const char* padding;
    nr::Shape in, out;
  };
  const std::vector<Case> cases = {
      {true, 2, 2, "valid", {2, 5, 5, 3}, {2, 2, 2, 3}},
      {true, 2, 2, "same", {2, 5, 5, 3}, {2, 3, 3, 3}},
      {false, 3, 1, "valid", {2, 5, 6, 3}, {2, 3, 4, 3}},
      {false, {3, 2}, {2, 1}, "same", {2, 5, 6, 3}, {2, 3, 6, 3}},
      {true, 3, 2, "valid", {-1, 7, -1, 3}, {-1, 3, -1, 3}},
  };
  for (const Case& c : cases) {
    const nr::layers::Pooling2DOptions o{.strides = c.strides, .padding = c.padding};
    nr::layers::AnyLayer pool = c.max
                                    ? nr::layers::AnyLayer(nr::layers::MaxPooling2D(c.pool, o))
                                    : nr::layers::AnyLayer(nr::layers::AveragePooling2D(c.pool, o));
    EXPECT_EQ(pool->compute_output_shape(c.in), c.out) << c.in;
    if (c.in[0] > 0 && c.in[2] > 0) {
      EXPECT_EQ(pool(nr::ones(c.in, {.device = nr::Device::cpu()})).shape(), c.out) << c.in;
    }
  }
}

TEST(PoolingLayers, ChannelsFirstPoolsHeightAndWidth) {
  auto first = nr::layers::MaxPooling2D(2, {.strides = 1, .data_format = "channels_first"});
  auto last = nr::layers::MaxPooling2D(2, {.strides = 1});
  const nr::Tensor x = nr::testing::random_tensor({2, 4, 5, 3});
  const nr::Tensor y = first(nr::transpose(x, {0, 3, 1, 2}));
  EXPECT_EQ(y.shape(), (nr::Shape{2, 3, 3, 4}));
  EXPECT_TRUE(all_close(nr::transpose(y, {0, 2, 3, 1}), last(x).to_vector<double>()));
}

TEST(PoolingLayers, GlobalPoolingReducesHeightAndWidth) {
  nr::clear_session();
  auto gap = nr::layers::GlobalAveragePooling2D();
  auto gmp = nr::layers::GlobalMaxPooling2D({.keepdims = true});
  EXPECT_EQ(gap->name(), "global_average_pooling2d");
  EXPECT_EQ(gmp->name(), "global_max_pooling2d");
  // (1, 2, 2, 2): channel 0 holds 1..4, channel 1 holds -1..-4.
  const nr::Tensor x = nr::testing::make_tensor({1, -1, 2, -2, 3, -3, 4, -4}, {1, 2, 2, 2});
  const nr::Tensor a = gap(x);
  EXPECT_EQ(a.shape(), (nr::Shape{1, 2}));
  EXPECT_TRUE(all_close(a, {2.5, -2.5}));
  const nr::Tensor m = gmp(x);
  EXPECT_EQ(m.shape(), (nr::Shape{1, 1, 1, 2}));
  EXPECT_TRUE(all_close(m, {4, -1}));

  auto first = nr::layers::GlobalMaxPooling2D({.data_format = "channels_first"});
  EXPECT_EQ(first->compute_output_shape({-1, 3, 8, 8}), (nr::Shape{-1, 3}));
  EXPECT_TRUE(all_close(first(nr::transpose(x, {0, 3, 1, 2})), {4, -1}));
  auto first_keep =
      nr::layers::GlobalAveragePooling2D({.data_format = "channels_first", .keepdims = true});
  EXPECT_EQ(first_keep->compute_output_shape({5, 3, 8, 7}), (nr::Shape{5, 3, 1, 1}));
}

TEST(PoolingLayers, ErrorsNameLayerArgumentsAndShapes) {
  nr::clear_session();
  auto pool = nr::layers::MaxPooling2D(3);
  NEURONA_EXPECT_THROW_MSG(pool(nr::testing::random_tensor({2, 4, 4})), nr::ShapeError,
                           "MaxPooling2D 'max_pooling2d'", "4-D input", "(2, 4, 4)");
  NEURONA_EXPECT_THROW_MSG(pool(nr::testing::random_tensor({1, 2, 4, 1})), nr::ShapeError,
                           "MaxPooling2D 'max_pooling2d'", "(1, 2, 4, 1)", "not positive");
  NEURONA_EXPECT_THROW_MSG(nr::layers::AveragePooling2D({2, 0}), nr::ValueError,
                           "pool_size=(2, 0)");
  NEURONA_EXPECT_THROW_MSG(nr::layers::AveragePooling2D(2, {.strides = 0}), nr::ValueError,
                           "strides=(0, 0)");
  NEURONA_EXPECT_THROW_MSG(nr::layers::MaxPooling2D(2, {.padding = "causal"}), nr::ValueError,
                           "padding=causal");
  NEURONA_EXPECT_THROW_MSG(nr::layers::GlobalAveragePooling2D({.data_format = "nchw"}),
                           nr::ValueError, "data_format=nchw");
  NEURONA_EXPECT_THROW_MSG(nr::layers::GlobalMaxPooling2D()(nr::testing::random_tensor({2, 3})),
                           nr::ShapeError, "GlobalMaxPooling2D", "4-D input", "(2, 3)");
}

TEST(PoolingLayers, GradientsMatchNumericalInFloat64) {
  struct Case {
    const char* what;
    bool max;
    nr::layers::IntPair pool;
    nr::layers::Pooling2DOptions options;
    nr::Shape in;
  };
  const std::vector<Case> cases = {
      {"max valid", true, 2, {}, {2, 4, 5, 2}},
      {"max same strides 2", true, 2, {.padding = "same"}, {1, 5, 5, 2}},
      {"max overlapping strides 1", true, 3, {.strides = 1}, {1, 4, 5, 2}},
      {"max same (3, 2) strides (2, 1)",
       true,
       {3, 2},
       {.strides = {2, 1}, .padding = "same"},
       {1, 5, 4, 2}},
      {"max channels_first",
       true,
       2,
       {.padding = "same", .data_format = "channels_first"},
       {1, 2, 5, 3}},
      {"avg valid", false, 2, {}, {2, 4, 5, 2}},
      {"avg same strides 2", false, 2, {.padding = "same"}, {1, 5, 5, 2}},
      {"avg same strides 1", false, 3, {.strides = 1, .padding = "same"}, {1, 4, 5, 2}},
      {"avg channels_first",
       false,
       {2, 3},
       {.strides = 2, .data_format = "channels_first"},
       {1, 2, 5, 7}},
  };
  for (const Case& c : cases) {
    nr::layers::Pooling2DOptions o = c.options;
    o.dtype = nr::float64;
    nr::layers::AnyLayer pool = c.max
                                    ? nr::layers::AnyLayer(nr::layers::MaxPooling2D(c.pool, o))
                                    : nr::layers::AnyLayer(nr::layers::AveragePooling2D(c.pool, o));
    EXPECT_TRUE(nr::testing::check_layer_gradients(c.what, pool, f64(c.in, 3)));
  }
  for (bool keepdims : {false, true}) {
    for (const char* format : {"channels_last", "channels_first"}) {
      const nr::layers::GlobalPooling2DOptions o{
          .data_format = format, .keepdims = keepdims, .dtype = nr::float64};
      EXPECT_TRUE(nr::testing::check_layer_gradients(std::string("global max ") + format,
                                                     nr::layers::GlobalMaxPooling2D(o),
                                                     f64({2, 3, 4, 2}, 4)));
      EXPECT_TRUE(nr::testing::check_layer_gradients(std::string("global average ") + format,
                                                     nr::layers::GlobalAveragePooling2D(o),
                                                     f64({2, 3, 4, 2}, 5)));
    }
  }
}
