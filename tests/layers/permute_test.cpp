// Permute and RepeatVector: values against nr::transpose and by hand, output shapes, Keras's
// errors, configs, and float64 gradient checks.
#include <neurona/neurona.h>

#include "layers/layer_gradcheck.h"
#include "neurona/layers/layer_registry.h"

namespace nr = neurona;
namespace L = nr::layers;
using nr::testing::all_close;

namespace {
L::AnyLayer rebuilt(const L::AnyLayer& layer) {
  return L::layer_registry().get(layer->class_name(), "unknown layer '",
                                 "'; known: ")(layer->get_config());
}
}  // namespace

TEST(Permute, PermutesTheNonBatchDimensions) {
  nr::clear_session();
  auto permute = L::Permute({2, 1});
  EXPECT_EQ(permute->name(), "permute");
  const nr::Tensor x = nr::testing::random_tensor({3, 10, 64});
  const nr::Tensor y = permute(x);
  EXPECT_EQ(y.shape(), (nr::Shape{3, 64, 10}));
  EXPECT_TRUE(all_close(y, nr::transpose(x, {0, 2, 1}).to_vector<double>(), 0, 0));
  auto three = L::Permute({3, 1, 2});
  EXPECT_EQ(three->compute_output_shape({-1, 2, 3, 4}), (nr::Shape{-1, 4, 2, 3}));
  EXPECT_EQ(three(nr::zeros({5, 2, 3, 4})).shape(), (nr::Shape{5, 4, 2, 3}));
}

TEST(Permute, RepeatVectorRepeatsTheFeatures) {
  nr::clear_session();
  auto repeat = L::RepeatVector(3);
  EXPECT_EQ(repeat->name(), "repeat_vector");
  EXPECT_EQ(repeat->n(), 3);
  const nr::Tensor y = repeat(nr::testing::make_tensor({1, 2, 3, 4}, {2, 2}));
  EXPECT_EQ(y.shape(), (nr::Shape{2, 3, 2}));
  EXPECT_TRUE(all_close(y, {1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4}));
  EXPECT_EQ(repeat->compute_output_shape({-1, 32}), (nr::Shape{-1, 3, 32}));
}

TEST(Permute, BadArgumentsAreRejectedWithKerasMessages) {
  nr::clear_session();
  NEURONA_EXPECT_THROW_MSG(L::Permute({1, 3}), nr::ValueError, "Permute",
                           "Invalid permutation argument `dims` for Permute Layer. The set of "
                           "indices in `dims` must be consecutive and start from 1. Received "
                           "dims=(1, 3)");
  NEURONA_EXPECT_THROW_MSG(L::Permute({0, 1}), nr::ValueError, "dims=(0, 1)");
  NEURONA_EXPECT_THROW_MSG(L::Permute({2, 1})(nr::testing::random_tensor({4, 5})), nr::ShapeError,
                           "Permute", "expected ndim=3, found ndim=2",
                           "Full shape received: (4, 5)");
  NEURONA_EXPECT_THROW_MSG(L::RepeatVector(0), nr::ValueError, "RepeatVector",
                           "Argument `n` should be a positive integer. Received: n=0");
  NEURONA_EXPECT_THROW_MSG(L::RepeatVector(2)(nr::testing::random_tensor({1, 4, 3})),
                           nr::ShapeError, "RepeatVector", "expected ndim=2, found ndim=3",
                           "(1, 4, 3)");
}

TEST(Permute, ConfigsRebuildTheSameLayers) {
  auto permute = L::Permute({3, 1, 2});
  const nr::ConfigValue config = permute->get_config();
  EXPECT_EQ(config.find("dims")->as_list().size(), 3u);
  const nr::Tensor x = nr::testing::random_tensor({2, 3, 4, 5});
  const L::AnyLayer again = rebuilt(permute);
  EXPECT_EQ(again(x).to_vector<float>(), permute(x).to_vector<float>());
  auto repeat = L::RepeatVector(4);
  const nr::Tensor v = nr::testing::random_tensor({2, 5});
  EXPECT_EQ(rebuilt(repeat)(v).to_vector<float>(), repeat(v).to_vector<float>());
  EXPECT_EQ(L::RepeatVector::from_config(repeat->get_config())->n(), 4);
}

TEST(Permute, GradientsMatchNumericalInFloat64) {
  EXPECT_TRUE(nr::testing::check_layer_gradients(
      "Permute", L::Permute({3, 1, 2}, {.dtype = nr::float64}),
      nr::testing::random_tensor({2, 3, 2, 4}, nr::float64, -1, 1, 3)));
  EXPECT_TRUE(nr::testing::check_layer_gradients(
      "RepeatVector", L::RepeatVector(3, {.dtype = nr::float64}),
      nr::testing::random_tensor({2, 4}, nr::float64, -1, 1, 4)));
}
