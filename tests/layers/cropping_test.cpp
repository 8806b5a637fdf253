// Cropping1D, Cropping2D and ZeroPadding1D: hand-checked values in every argument form and
// both data formats, output shapes, Keras's errors, configs (including Keras's forms), and
// float64 gradient checks (their values against Keras itself are in keras_reference_test.cpp).
#include <neurona/neurona.h>

#include "layers/layer_gradcheck.h"
#include "neurona/layers/layer_registry.h"

namespace nr = neurona;
namespace L = nr::layers;
using nr::testing::all_close;

namespace {
nr::Tensor arange(const nr::Shape& shape) {
  std::vector<double> v(static_cast<std::size_t>(shape.numel()));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  return nr::testing::make_tensor(v, shape);
}

L::AnyLayer rebuilt(const L::AnyLayer& layer) {
  return L::layer_registry().get(layer->class_name(), "unknown layer '",
                                 "'; known: ")(layer->get_config());
}
}  // namespace

TEST(Cropping, Cropping2DTakesKerasThreeForms) {
  nr::clear_session();
  auto none = L::Cropping2D();
  EXPECT_EQ(none->name(), "cropping2d");
  const nr::Tensor x = arange({1, 4, 5, 1});  // rows 0-4, 5-9, 10-14, 15-19
  EXPECT_TRUE(all_close(none(x), x.to_vector<double>()));
  EXPECT_TRUE(all_close(L::Cropping2D(1)(x), {6, 7, 8, 11, 12, 13}));
  EXPECT_TRUE(all_close(L::Cropping2D({1, 2})(x), {7, 12}));
  const nr::Tensor y = L::Cropping2D({{2, 0}, {0, 3}})(x);
  EXPECT_EQ(y.shape(), (nr::Shape{1, 2, 2, 1}));
  EXPECT_TRUE(all_close(y, {10, 11, 15, 16}));
}

TEST(Cropping, Cropping2DChannelsFirstCropsTheSameImages) {
  const nr::Tensor x = nr::testing::random_tensor({2, 5, 6, 3});
  auto last = L::Cropping2D({{1, 2}, {0, 3}});
  auto first = L::Cropping2D({{1, 2}, {0, 3}}, {.data_format = "channels_first"});
  const nr::Tensor y = first(nr::transpose(x, {0, 3, 1, 2}));
  EXPECT_EQ(y.shape(), (nr::Shape{2, 3, 2, 3}));
  EXPECT_TRUE(all_close(nr::transpose(y, {0, 2, 3, 1}), last(x).to_vector<double>(), 0, 0));
  EXPECT_EQ(first->compute_output_shape({-1, 3, 8, -1}), (nr::Shape{-1, 3, 5, -1}));
}

TEST(Cropping, Cropping1DRemovesStepsAtBothEnds) {
  nr::clear_session();
  auto crop = L::Cropping1D();
  EXPECT_EQ(crop->name(), "cropping1d");
  EXPECT_EQ(crop->cropping().values, (std::array<std::int64_t, 2>{1, 1}));
  const nr::Tensor x = arange({1, 5, 2});
  EXPECT_TRUE(all_close(crop(x), {2, 3, 4, 5, 6, 7}));
  EXPECT_TRUE(all_close(L::Cropping1D({0, 3})(x), {0, 1, 2, 3}));
  EXPECT_EQ(L::Cropping1D({2, 1})->compute_output_shape({-1, 10, 4}), (nr::Shape{-1, 7, 4}));
  EXPECT_EQ(L::Cropping1D({2, 1})->compute_output_shape({3, -1, 4}), (nr::Shape{3, -1, 4}));
}

TEST(Cropping, ZeroPadding1DPadsStepsInBothDataFormats) {
  nr::clear_session();
  auto pad = L::ZeroPadding1D();
  EXPECT_EQ(pad->name(), "zero_padding1d");
  const nr::Tensor x = arange({1, 2, 2});  // steps (0, 1), (2, 3)
  EXPECT_TRUE(all_close(pad(x), {0, 0, 0, 1, 2, 3, 0, 0}));
  EXPECT_TRUE(all_close(L::ZeroPadding1D({0, 2})(x), {0, 1, 2, 3, 0, 0, 0, 0}));
  // channels_first: (batch, features, steps); features (0, 1) and (2, 3) padded along steps.
  auto first = L::ZeroPadding1D({1, 2}, {.data_format = "channels_first"});
  const nr::Tensor y = first(x);
  EXPECT_EQ(y.shape(), (nr::Shape{1, 2, 5}));
  EXPECT_TRUE(all_close(y, {0, 0, 1, 0, 0, 0, 2, 3, 0, 0}));
  EXPECT_EQ(first->compute_output_shape({-1, 3, 4}), (nr::Shape{-1, 3, 7}));
  EXPECT_EQ(L::ZeroPadding1D(2)->compute_output_shape({-1, -1, 4}), (nr::Shape{-1, -1, 4}));
}

TEST(Cropping, BadArgumentsAreRejectedWithKerasMessages) {
  nr::clear_session();
  NEURONA_EXPECT_THROW_MSG(L::Cropping2D(-1), nr::ValueError, "Cropping2D",
                           "`cropping` cannot be negative. Received: cropping=-1.");
  NEURONA_EXPECT_THROW_MSG(L::Cropping2D({{1, -1}, {0, 0}}), nr::ValueError,
                           "The `1st entry of cropping` argument must be a tuple of 2 integers",
                           "(1, -1)", "{-1}", "value >= 0");
  NEURONA_EXPECT_THROW_MSG(L::Cropping2D({{0, 0}, {-2, -3}}), nr::ValueError,
                           "2nd entry of cropping", "{-2, -3}");
  NEURONA_EXPECT_THROW_MSG(L::Cropping2D(2)(nr::testing::random_tensor({1, 4, 5, 1})),
                           nr::ShapeError, "Cropping2D",
                           "Values in `cropping` argument should be smaller than the "
                           "corresponding spatial dimension of the input",
                           "input_shape=(1, 4, 5, 1)", "cropping=((2, 2), (2, 2))");
  NEURONA_EXPECT_THROW_MSG(L::Cropping2D()(nr::testing::random_tensor({4, 5, 1})), nr::ShapeError,
                           "Cropping2D", "4-D input", "(4, 5, 1)");
  NEURONA_EXPECT_THROW_MSG(L::Cropping1D({1, -1}), nr::ValueError, "Cropping1D",
                           "The `cropping` argument must be a tuple of 2 integers");
  NEURONA_EXPECT_THROW_MSG(L::Cropping1D(2)(nr::testing::random_tensor({1, 4, 5})), nr::ShapeError,
                           "Cropping1D",
                           "`cropping` parameter of `Cropping1D` layer must be smaller than the "
                           "input length",
                           "input_shape=(1, 4, 5)", "cropping=(2, 2)");
  NEURONA_EXPECT_THROW_MSG(L::ZeroPadding1D(-1), nr::ValueError, "ZeroPadding1D",
                           "The `padding` argument must be a tuple of 2 integers", "{-1}");
  NEURONA_EXPECT_THROW_MSG(L::ZeroPadding1D(1, {.data_format = "ncw"}), nr::ValueError,
                           "ZeroPadding1D", "data_format=ncw");
  NEURONA_EXPECT_THROW_MSG(L::ZeroPadding1D()(nr::testing::random_tensor({4, 5})), nr::ShapeError,
                           "ZeroPadding1D", "3-D input", "(4, 5)");
}

TEST(Cropping, ConfigsRebuildTheSameLayersAndReadKerasForms) {
  const std::vector<L::AnyLayer> layers = {
      L::Cropping2D({{1, 0}, {2, 1}}, {.data_format = "channels_first"}),
      L::Cropping1D({1, 2}),
      L::ZeroPadding1D({2, 0}, {.data_format = "channels_first"}),
  };
  const nr::Tensor x4 = nr::testing::random_tensor({2, 3, 4, 5});
  for (const L::AnyLayer& layer : layers) {
    SCOPED_TRACE(layer->class_name());
    const nr::Tensor x = layer->class_name() == "Cropping2D" ? x4 : x4.reshape({2, 12, 5});
    const L::AnyLayer again = rebuilt(layer);
    EXPECT_EQ(again->get_config().find("name")->as_string(), layer->name());
    EXPECT_EQ(again(x).to_vector<float>(), layer(x).to_vector<float>());
  }
  // Cropping2D's config as Keras writes it, and the forms Keras's constructor also takes.
  nr::ConfigValue c = L::Cropping2D()->get_config();
  const auto read = [&](nr::ConfigValue cropping) {
    c.set("cropping", std::move(cropping));
    const auto a = L::Cropping2D::from_config(c)->cropping();
    return std::array<std::int64_t, 4>{a.top, a.bottom, a.left, a.right};
  };
  using nr::ConfigValue;
  EXPECT_EQ(read(ConfigValue::List{ConfigValue::List{1, 2}, ConfigValue::List{3, 4}}),
            (std::array<std::int64_t, 4>{1, 2, 3, 4}));
  EXPECT_EQ(read(2), (std::array<std::int64_t, 4>{2, 2, 2, 2}));
  EXPECT_EQ(read(ConfigValue::List{1, 3}), (std::array<std::int64_t, 4>{1, 1, 3, 3}));
  nr::ConfigValue p = L::ZeroPadding1D()->get_config();
  p.set("padding", 3);
  EXPECT_EQ(L::ZeroPadding1D::from_config(p)->padding().values,
            (std::array<std::int64_t, 2>{3, 3}));
}

TEST(Cropping, GradientsMatchNumericalInFloat64) {
  const nr::Tensor x4 = nr::testing::random_tensor({2, 4, 5, 4}, nr::float64, -1, 1, 3);
  const nr::Tensor x3 = nr::testing::random_tensor({2, 5, 3}, nr::float64, -1, 1, 4);
  for (const char* format : {"channels_last", "channels_first"}) {
    EXPECT_TRUE(nr::testing::check_layer_gradients(
        std::string("Cropping2D ") + format,
        L::Cropping2D({{1, 0}, {2, 1}}, {.data_format = format, .dtype = nr::float64}), x4));
    EXPECT_TRUE(nr::testing::check_layer_gradients(
        std::string("ZeroPadding1D ") + format,
        L::ZeroPadding1D({1, 2}, {.data_format = format, .dtype = nr::float64}), x3));
  }
  EXPECT_TRUE(nr::testing::check_layer_gradients(
      "Cropping1D", L::Cropping1D({2, 1}, {.dtype = nr::float64}), x3));
}
