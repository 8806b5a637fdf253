// UpSampling1D and UpSampling2D: Keras's documented examples, every interpolation in both data
// formats, output shapes, bad arguments, configs, and float64 gradient checks (their values
// and gradients against Keras itself are in keras_reference_test.cpp).
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

const char* const kInterpolations[] = {"nearest", "bilinear", "bicubic", "lanczos3", "lanczos5"};
}  // namespace

TEST(UpSampling, UpSampling2DRepeatsRowsAndColumnsAsKerasDocuments) {
  nr::clear_session();
  auto up = L::UpSampling2D({1, 2});
  EXPECT_EQ(up->name(), "up_sampling2d");
  EXPECT_EQ(up->interpolation(), nr::Interpolation::Nearest);
  EXPECT_EQ(up->data_format(), nr::DataFormat::ChannelsLast);
  EXPECT_EQ(L::UpSampling2D()->size().values, (std::array<std::int64_t, 2>{2, 2}));
  // keras.layers.UpSampling2D's docstring: (2, 2, 1, 3) -> (2, 2, 2, 3).
  const nr::Tensor y = up(arange({2, 2, 1, 3}));
  EXPECT_EQ(y.shape(), (nr::Shape{2, 2, 2, 3}));
  EXPECT_TRUE(
      all_close(y, {0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7, 8, 6, 7, 8, 9, 10, 11, 9, 10, 11}));
  EXPECT_TRUE(up->weights().empty());
}

TEST(UpSampling, BilinearInterpolatesBetweenHalfPixelCentres) {
  // Rows [0, 1] and [2, 3] doubled: columns at -0.25, 0.25, 0.75, 1.25 of the input.
  auto up = L::UpSampling2D({1, 2}, {.interpolation = "Bilinear"});
  EXPECT_EQ(up->interpolation(), nr::Interpolation::Bilinear);
  EXPECT_TRUE(all_close(up(arange({1, 2, 2, 1})), {0, 0.25, 0.75, 1, 2, 2.25, 2.75, 3}));
}

TEST(UpSampling, ChannelsFirstUpsamplesTheSameImages) {
  const nr::Tensor x = nr::testing::random_tensor({2, 3, 4, 5});
  for (const char* interpolation : kInterpolations) {
    SCOPED_TRACE(interpolation);
    auto last = L::UpSampling2D({2, 3}, {.interpolation = interpolation});
    auto first =
        L::UpSampling2D({2, 3}, {.data_format = "channels_first", .interpolation = interpolation});
    const nr::Tensor y = first(nr::transpose(x, {0, 3, 1, 2}));
    EXPECT_EQ(y.shape(), (nr::Shape{2, 5, 6, 12}));
    EXPECT_TRUE(all_close(nr::transpose(y, {0, 2, 3, 1}), last(x).to_vector<double>(), 0, 0));
  }
}

TEST(UpSampling, OutputShapesKeepUnknownDimensions) {
  EXPECT_EQ(L::UpSampling2D({2, 3})->compute_output_shape({-1, 4, -1, 3}),
            (nr::Shape{-1, 8, -1, 3}));
  EXPECT_EQ(
      L::UpSampling2D(2, {.data_format = "channels_first"})->compute_output_shape({-1, 3, 4, 5}),
      (nr::Shape{-1, 3, 8, 10}));
  EXPECT_EQ(L::UpSampling1D(3)->compute_output_shape({-1, 5, 2}), (nr::Shape{-1, 15, 2}));
  EXPECT_EQ(L::UpSampling1D(3)->compute_output_shape({2, -1, 2}), (nr::Shape{2, -1, 2}));
}

TEST(UpSampling, UpSampling1DRepeatsStepsAsKerasDocuments) {
  nr::clear_session();
  auto up = L::UpSampling1D();
  EXPECT_EQ(up->name(), "up_sampling1d");
  EXPECT_EQ(up->size(), 2);
  // keras.layers.UpSampling1D's docstring: (2, 2, 3) -> (2, 4, 3).
  const nr::Tensor y = up(arange({2, 2, 3}));
  EXPECT_EQ(y.shape(), (nr::Shape{2, 4, 3}));
  EXPECT_TRUE(
      all_close(y, {0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7, 8, 6, 7, 8, 9, 10, 11, 9, 10, 11}));
}

TEST(UpSampling, BadArgumentsAreRejectedNamingThem) {
  nr::clear_session();
  NEURONA_EXPECT_THROW_MSG(L::UpSampling2D({0, 2}), nr::ValueError, "UpSampling2D", "size=(0, 2)");
  NEURONA_EXPECT_THROW_MSG(L::UpSampling2D(2, {.interpolation = "area"}), nr::ValueError,
                           "UpSampling2D 'up_sampling2d",
                           "Invalid value for argument "
                           "`interpolation`",
                           "interpolation=area");
  NEURONA_EXPECT_THROW_MSG(L::UpSampling2D(2, {.data_format = "nhwc"}), nr::ValueError,
                           "UpSampling2D", "data_format=nhwc");
  NEURONA_EXPECT_THROW_MSG(L::UpSampling2D()(nr::testing::random_tensor({2, 3, 4})), nr::ShapeError,
                           "UpSampling2D", "4-D input", "(2, 3, 4)");
  NEURONA_EXPECT_THROW_MSG(L::UpSampling1D(0), nr::ValueError, "UpSampling1D",
                           "Argument `size` should be a positive integer. Received: size=0");
  NEURONA_EXPECT_THROW_MSG(L::UpSampling1D()(nr::testing::random_tensor({2, 3})), nr::ShapeError,
                           "UpSampling1D", "3-D input", "(2, 3)");
}

TEST(UpSampling, ConfigsRebuildTheSameLayers) {
  auto up = L::UpSampling2D({2, 3}, {.data_format = "channels_first", .interpolation = "BICUBIC"});
  const nr::ConfigValue config = up->get_config();
  EXPECT_EQ(config.find("interpolation")->as_string(), "bicubic");
  EXPECT_EQ(config.find("data_format")->as_string(), "channels_first");
  EXPECT_EQ(config.find("size")->as_list().size(), 2u);
  const nr::Tensor x = nr::testing::random_tensor({1, 2, 3, 4});
  for (const L::AnyLayer& layer : {L::AnyLayer(up), L::AnyLayer(L::UpSampling1D(3))}) {
    SCOPED_TRACE(layer->class_name());
    const nr::Tensor in = layer->class_name() == "UpSampling1D" ? x.reshape({2, 3, 4}) : x;
    const L::AnyLayer again = rebuilt(layer);
    EXPECT_EQ(again->get_config().find("name")->as_string(), layer->name());
    EXPECT_EQ(again(in).to_vector<float>(), layer(in).to_vector<float>());
  }
  // Keras writes size as a list; an int is read too.
  nr::ConfigValue c = L::UpSampling2D()->get_config();
  c.set("size", 3);
  EXPECT_EQ(L::UpSampling2D::from_config(c)->size().values, (std::array<std::int64_t, 2>{3, 3}));
  EXPECT_EQ(L::UpSampling1D::from_config(L::UpSampling1D(4)->get_config())->size(), 4);
}

TEST(UpSampling, GradientsMatchNumericalInFloat64) {
  const nr::Tensor x = nr::testing::random_tensor({2, 3, 4, 2}, nr::float64, -1, 1, 3);
  for (const char* interpolation : kInterpolations) {
    for (const char* format : {"channels_last", "channels_first"}) {
      EXPECT_TRUE(nr::testing::check_layer_gradients(
          std::string(interpolation) + " " + format,
          L::UpSampling2D(
              {2, 3},
              {.data_format = format, .interpolation = interpolation, .dtype = nr::float64}),
          x));
    }
  }
  EXPECT_TRUE(nr::testing::check_layer_gradients(
      "UpSampling1D", L::UpSampling1D(3, {.dtype = nr::float64}),
      nr::testing::random_tensor({2, 3, 4}, nr::float64, -1, 1, 4)));
}
