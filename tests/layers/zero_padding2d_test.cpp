// ZeroPadding2D: the three forms of `padding`, both data formats, output shapes, errors and
// numerical gradient checks.
#include <neurona/neurona.h>

#include "layers/layer_gradcheck.h"

namespace nr = neurona;
using nr::testing::all_close;

TEST(ZeroPadding2DLayer, AcceptsIntPairAndPairOfPairs) {
  nr::clear_session();
  auto all = nr::layers::ZeroPadding2D();
  EXPECT_EQ(all->name(), "zero_padding2d");
  const auto& p = all->padding();
  EXPECT_EQ((std::array<std::int64_t, 4>{p.top, p.bottom, p.left, p.right}),
            (std::array<std::int64_t, 4>{1, 1, 1, 1}));
  const auto q = nr::layers::ZeroPadding2D({2, 3})->padding();
  EXPECT_EQ((std::array<std::int64_t, 4>{q.top, q.bottom, q.left, q.right}),
            (std::array<std::int64_t, 4>{2, 2, 3, 3}));
  const auto r = nr::layers::ZeroPadding2D({{1, 0}, {2, 3}})->padding();
  EXPECT_EQ((std::array<std::int64_t, 4>{r.top, r.bottom, r.left, r.right}),
            (std::array<std::int64_t, 4>{1, 0, 2, 3}));
}

TEST(ZeroPadding2DLayer, PadsTopBottomLeftRight) {
  auto pad = nr::layers::ZeroPadding2D({{1, 0}, {0, 2}});
  const nr::Tensor x = nr::testing::make_tensor({1, 2, 3, 4}, {1, 2, 2, 1});
  const nr::Tensor y = pad(x);
  EXPECT_EQ(y.shape(), (nr::Shape{1, 3, 4, 1}));
  EXPECT_TRUE(all_close(y, {0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0}));
  auto first = nr::layers::ZeroPadding2D({{1, 0}, {0, 2}}, {.data_format = "CHANNELS_FIRST"});
  const nr::Tensor z = first(nr::transpose(x, {0, 3, 1, 2}));
  EXPECT_EQ(z.shape(), (nr::Shape{1, 1, 3, 4}));
  EXPECT_TRUE(all_close(z, y.to_vector<double>()));
}

TEST(ZeroPadding2DLayer, OutputShapeKeepsUnknownDimensions) {
  auto pad = nr::layers::ZeroPadding2D({1, 2});
  EXPECT_EQ(pad->compute_output_shape({-1, 5, -1, 3}), (nr::Shape{-1, 7, -1, 3}));
  auto first = nr::layers::ZeroPadding2D({1, 2}, {.data_format = "channels_first"});
  EXPECT_EQ(first->compute_output_shape({4, 3, 5, 6}), (nr::Shape{4, 3, 7, 10}));
}

TEST(ZeroPadding2DLayer, ErrorsNameLayerAndShapes) {
  nr::clear_session();
  auto pad = nr::layers::ZeroPadding2D();
  NEURONA_EXPECT_THROW_MSG(pad(nr::testing::random_tensor({2, 3, 3})), nr::ShapeError,
                           "ZeroPadding2D 'zero_padding2d'", "4-D input", "(2, 3, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::layers::ZeroPadding2D({{1, -1}, {0, 0}}), nr::ValueError,
                           "padding=((1, -1), (0, 0))");
  NEURONA_EXPECT_THROW_MSG(nr::layers::ZeroPadding2D(1, {.data_format = "last"}), nr::ValueError,
                           "data_format=last");
}

TEST(ZeroPadding2DLayer, GradientsMatchNumericalInFloat64) {
  for (const char* format : {"channels_last", "channels_first"}) {
    auto pad =
        nr::layers::ZeroPadding2D({{1, 2}, {0, 3}}, {.data_format = format, .dtype = nr::float64});
    EXPECT_TRUE(nr::testing::check_layer_gradients(
        format, pad, nr::testing::random_tensor({2, 3, 2, 2}, nr::float64, -1, 1, 8)));
  }
}

TEST(ZeroPadding2DLayer, ZeroAmountsInThePairOfPairsForm) {
  // Literal zeros must not make the call ambiguous (see ZeroPadding2DOptions::data_format).
  auto pad = nr::layers::ZeroPadding2D({{1, 1}, {0, 0}});
  EXPECT_EQ(pad->compute_output_shape({2, 3, 4, 5}), (nr::Shape{2, 5, 4, 5}));
  auto none = nr::layers::ZeroPadding2D({{0, 0}, {0, 0}});
  EXPECT_EQ(none->compute_output_shape({2, 3, 4, 5}), (nr::Shape{2, 3, 4, 5}));
}
