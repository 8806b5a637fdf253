// 1-D pooling layers: hand-computed windows ('same' averages count only the steps inside),
// Keras's defaults and output shapes, both data formats, global poolings with keepdims and a
// mask, errors, configs (Keras writes pool_size as a list of one), and float64 gradient checks.
#include <neurona/neurona.h>

#include "layers/layer_gradcheck.h"
#include "neurona/layers/layer_registry.h"

namespace nr = neurona;
namespace L = nr::layers;
using nr::testing::all_close;

namespace {
// 0, 1, 2, ... in a (1, steps, 1) tensor.
nr::Tensor ramp(std::int64_t steps) {
  std::vector<double> v(static_cast<std::size_t>(steps));
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(i);
  return nr::testing::make_tensor(v, {1, steps, 1});
}

L::AnyLayer rebuilt(const L::AnyLayer& layer) {
  return L::layer_registry().get(layer->class_name(), "unknown layer '",
                                 "'; known: ")(layer->get_config());
}
}  // namespace

TEST(Pooling1D, MaxPoolingDefaultsToPoolSizeTwoAndStridesPoolSize) {
  nr::clear_session();
  auto pool = L::MaxPooling1D();
  EXPECT_EQ(pool->name(), "max_pooling1d");
  EXPECT_EQ(pool->pool_size(), 2);
  EXPECT_EQ(pool->strides(), 2);
  EXPECT_EQ(pool->padding(), nr::Padding::Valid);
  EXPECT_TRUE(all_close(pool(ramp(5)), {1, 3}));
  EXPECT_EQ(L::MaxPooling1D(3)->strides(), 3);
  EXPECT_TRUE(pool->weights().empty());
}

TEST(Pooling1D, AverageSamePaddingCountsOnlyStepsInside) {
  nr::clear_session();
  auto pool = L::AveragePooling1D(2, {.padding = "Same"});
  EXPECT_EQ(pool->name(), "average_pooling1d");
  EXPECT_TRUE(all_close(pool(ramp(5)), {0.5, 2.5, 4}));
  EXPECT_TRUE(all_close(L::AveragePooling1D(3, {.strides = 1})(ramp(5)), {1, 2, 3}));
  EXPECT_EQ(pool->compute_output_shape({-1, 7, 3}), (nr::Shape{-1, 4, 3}));
  EXPECT_EQ(L::MaxPooling1D(3, {.strides = 2})->compute_output_shape({2, 8, 3}),
            (nr::Shape{2, 3, 3}));
  EXPECT_EQ(L::MaxPooling1D(3)->compute_output_shape({2, -1, 3}), (nr::Shape{2, -1, 3}));
}

TEST(Pooling1D, ChannelsFirstPoolsTheSteps) {
  const nr::Tensor x = nr::testing::random_tensor({2, 7, 3});
  for (bool max : {true, false}) {
    const L::Pooling1DOptions last{.strides = 2, .padding = "same"};
    L::Pooling1DOptions first = last;
    first.data_format = "channels_first";
    L::AnyLayer a =
        max ? L::AnyLayer(L::MaxPooling1D(3, last)) : L::AnyLayer(L::AveragePooling1D(3, last));
    L::AnyLayer b =
        max ? L::AnyLayer(L::MaxPooling1D(3, first)) : L::AnyLayer(L::AveragePooling1D(3, first));
    const nr::Tensor y = b(nr::transpose(x, {0, 2, 1}));
    EXPECT_EQ(y.shape(), (nr::Shape{2, 3, 4}));
    EXPECT_EQ(b->compute_output_shape({2, 3, 7}), (nr::Shape{2, 3, 4}));
    EXPECT_TRUE(all_close(nr::transpose(y, {0, 2, 1}), a(x).to_vector<double>(), 0, 0));
  }
}

TEST(Pooling1D, GlobalPoolingReducesTheSteps) {
  nr::clear_session();
  auto gap = L::GlobalAveragePooling1D();
  auto gmp = L::GlobalMaxPooling1D({.keepdims = true});
  EXPECT_EQ(gap->name(), "global_average_pooling1d");
  EXPECT_EQ(gmp->name(), "global_max_pooling1d");
  // (1, 3, 2): feature 0 holds 1, 2, 3; feature 1 holds -1, -2, -3.
  const nr::Tensor x = nr::testing::make_tensor({1, -1, 2, -2, 3, -3}, {1, 3, 2});
  EXPECT_EQ(gap(x).shape(), (nr::Shape{1, 2}));
  EXPECT_TRUE(all_close(gap(x), {2, -2}));
  EXPECT_EQ(gmp(x).shape(), (nr::Shape{1, 1, 2}));
  EXPECT_TRUE(all_close(gmp(x), {3, -1}));
  auto first = L::GlobalMaxPooling1D({.data_format = "channels_first"});
  EXPECT_TRUE(all_close(first(nr::transpose(x, {0, 2, 1})), {3, -1}));
  EXPECT_EQ(first->compute_output_shape({-1, 4, 9}), (nr::Shape{-1, 4}));
  EXPECT_EQ(L::GlobalAveragePooling1D({.data_format = "channels_first", .keepdims = true})
                ->compute_output_shape({5, 4, 9}),
            (nr::Shape{5, 4, 1}));
}

TEST(Pooling1D, GlobalAveragePoolingAveragesOnlyTheMaskedInSteps) {
  auto gap = L::GlobalAveragePooling1D();
  const nr::Tensor x = nr::testing::make_tensor({1, -1, 2, -2, 3, -3}, {1, 3, 2});
  EXPECT_TRUE(all_close(gap(x, nr::testing::make_tensor({1, 0, 1}, {1, 3})), {2, -2}));
  EXPECT_TRUE(all_close(gap(x, nr::testing::make_tensor({0, 1, 1}, {1, 3})), {2.5, -2.5}));
  auto first = L::GlobalAveragePooling1D({.data_format = "channels_first", .keepdims = true});
  const nr::Tensor y =
      first(nr::transpose(x, {0, 2, 1}), nr::testing::make_tensor({1, 1, 0}, {1, 3}, nr::uint8));
  EXPECT_EQ(y.shape(), (nr::Shape{1, 2, 1}));
  EXPECT_TRUE(all_close(y, {1.5, -1.5}));
  NEURONA_EXPECT_THROW_MSG(gap(x, nr::testing::make_tensor({1, 0}, {1, 2})), nr::ShapeError,
                           "GlobalAveragePooling1D", "mask of shape (batch, steps) = (1, 3)",
                           "mask.shape=(1, 2)");
}

TEST(Pooling1D, ErrorsNameLayerArgumentsAndShapes) {
  nr::clear_session();
  NEURONA_EXPECT_THROW_MSG(L::MaxPooling1D(3)(nr::testing::random_tensor({2, 4, 4, 1})),
                           nr::ShapeError, "MaxPooling1D 'max_pooling1d'", "3-D input",
                           "(2, 4, 4, 1)");
  NEURONA_EXPECT_THROW_MSG(L::MaxPooling1D(5)(nr::testing::random_tensor({1, 4, 3})),
                           nr::ShapeError, "MaxPooling1D", "(1, 4, 3)", "not positive");
  NEURONA_EXPECT_THROW_MSG(L::AveragePooling1D(0), nr::ValueError,
                           "The `pool_size` argument must be a tuple of 1 integers", "pool_size=0");
  NEURONA_EXPECT_THROW_MSG(L::AveragePooling1D(2, {.strides = 0}), nr::ValueError, "strides=0");
  NEURONA_EXPECT_THROW_MSG(L::MaxPooling1D(2, {.padding = "causal"}), nr::ValueError,
                           "padding=causal");
  NEURONA_EXPECT_THROW_MSG(L::GlobalAveragePooling1D({.data_format = "ncw"}), nr::ValueError,
                           "data_format=ncw");
  NEURONA_EXPECT_THROW_MSG(L::GlobalMaxPooling1D()(nr::testing::random_tensor({2, 3})),
                           nr::ShapeError, "GlobalMaxPooling1D", "3-D input", "(2, 3)");
}

TEST(Pooling1D, ConfigsRebuildTheSameLayers) {
  auto max = L::MaxPooling1D(3, {.strides = 2, .padding = "same", .data_format = "channels_first"});
  const nr::ConfigValue config = max->get_config();
  // Keras writes the 1-tuples as lists of one.
  EXPECT_EQ(config.find("pool_size")->as_list().size(), 1u);
  EXPECT_EQ(config.find("strides")->as_list()[0].as_int(), 2);
  const nr::Tensor x = nr::testing::random_tensor({2, 6, 5});
  const std::vector<L::AnyLayer> layers = {
      max,
      L::AveragePooling1D(2, {.padding = "same"}),
      L::GlobalMaxPooling1D({.keepdims = true}),
      L::GlobalAveragePooling1D({.data_format = "channels_first"}),
  };
  for (const L::AnyLayer& layer : layers) {
    SCOPED_TRACE(layer->class_name());
    const L::AnyLayer again = rebuilt(layer);
    EXPECT_EQ(again->get_config().find("name")->as_string(), layer->name());
    EXPECT_EQ(again(x).to_vector<float>(), layer(x).to_vector<float>());
  }
  nr::ConfigValue c = L::AveragePooling1D(2)->get_config();
  c.set("pool_size", 4);
  c.set("strides", nullptr);
  EXPECT_EQ(L::AveragePooling1D::from_config(c)->strides(), 4);
  c.set("pool_size", nullptr);
  NEURONA_EXPECT_THROW_MSG(L::AveragePooling1D::from_config(c), nr::ValueError, "pool_size");
}

TEST(Pooling1D, GradientsMatchNumericalInFloat64) {
  const nr::Tensor x = nr::testing::random_tensor({2, 7, 3}, nr::float64, -1, 1, 3);
  for (const char* format : {"channels_last", "channels_first"}) {
    const L::Pooling1DOptions o{
        .strides = 2, .padding = "same", .data_format = format, .dtype = nr::float64};
    EXPECT_TRUE(
        nr::testing::check_layer_gradients(std::string("max ") + format, L::MaxPooling1D(3, o), x));
    EXPECT_TRUE(nr::testing::check_layer_gradients(std::string("average ") + format,
                                                   L::AveragePooling1D(3, o), x));
    for (bool keepdims : {false, true}) {
      const L::GlobalPooling1DOptions g{
          .data_format = format, .keepdims = keepdims, .dtype = nr::float64};
      EXPECT_TRUE(nr::testing::check_layer_gradients(std::string("global max ") + format,
                                                     L::GlobalMaxPooling1D(g), x));
      EXPECT_TRUE(nr::testing::check_layer_gradients(std::string("global average ") + format,
                                                     L::GlobalAveragePooling1D(g), x));
    }
  }
}
