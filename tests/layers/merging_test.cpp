// The merging layers: values and gradients against Keras 3 (tests/reference/layers/merge_*.txt,
// made by make_keras_layer_references.py), float64 gradient checks, output shapes, configs and
// Keras's errors.
#include <neurona/neurona.h>

#include "support/gradcheck.h"
#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;
using nr::testing::random_tensor;

namespace {

// "x3", appended rather than written "x" + std::to_string(3), which GCC 12 flags with a false
// -Wrestrict warning under -O3.
std::string indexed(const char* prefix, std::size_t i) {
  std::string k(prefix);
  k.append(std::to_string(i));
  return k;
}

// Runs `layer` on the reference inputs x0, x1, ... and checks y and the gradients of sum(y * g).
void check_keras(const std::string& name, const L::AnyLayer& layer) {
  SCOPED_TRACE(name);
  const auto ref = nr::testing::load_reference("layers", name);
  auto get = [&](const std::string& key) {
    const auto& e = ref.at(key);
    return nr::testing::make_tensor(e.values, e.shape);
  };
  std::vector<nr::Tensor> xs;
  for (std::size_t i = 0; ref.count(indexed("x", i)); ++i) xs.push_back(get(indexed("x", i)));
  nr::GradientTape tape;
  for (const auto& x : xs) tape.watch(x);
  const nr::Tensor y = layer(xs);
  ASSERT_EQ(y.shape(), ref.at("y").shape);
  EXPECT_TRUE(nr::testing::all_close(y, ref.at("y").values, 1e-5, 1e-5));
  const auto grads = tape.gradient(nr::sum(y * get("g")), xs);
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const auto& e = ref.at(indexed("grad_x", i));
    ASSERT_EQ(grads[i].shape(), e.shape) << "grad_x" << i;
    EXPECT_TRUE(nr::testing::all_close(grads[i], e.values, 1e-5, 1e-5)) << "grad_x" << i;
  }
}

const L::LayerOptions kFloat64{.dtype = nr::DType::float64};

}  // namespace

TEST(MergingKeras, AddBroadcastsOnesAndSumsThreeInputs) {
  check_keras("merge_add", L::Add());
}
TEST(MergingKeras, Subtract) {
  check_keras("merge_subtract", L::Subtract());
}
TEST(MergingKeras, MultiplyInsertsTheMissingAxesOfALowerRankInputAfterTheBatch) {
  check_keras("merge_multiply", L::Multiply());
}
TEST(MergingKeras, Average) {
  check_keras("merge_average", L::Average());
}
TEST(MergingKeras, Maximum) {
  check_keras("merge_maximum", L::Maximum());
}
TEST(MergingKeras, Minimum) {
  check_keras("merge_minimum", L::Minimum());
}
TEST(MergingKeras, ConcatenateAlongAMiddleAxis) {
  check_keras("merge_concatenate_axis1", L::Concatenate({.axis = 1}));
}
TEST(MergingKeras, DotOfVectors) {
  check_keras("merge_dot", L::Dot(1));
}
TEST(MergingKeras, DotOverDifferentAxes) {
  check_keras("merge_dot_axes", L::Dot({.axes = std::array<int, 2>{2, 1}}));
}
TEST(MergingKeras, DotNormalizedIsTheCosine) {
  check_keras("merge_dot_normalize", L::Dot(-1, /*normalize=*/true));
}

TEST(Merging, GradientsInFloat64) {
  const auto a = random_tensor({2, 3, 4}, nr::DType::float64, -1, 1, 1);
  const auto b = random_tensor({2, 3, 4}, nr::DType::float64, -1, 1, 2);
  const auto c = random_tensor({2, 1, 4}, nr::DType::float64, -1, 1, 3);
  const auto d = random_tensor({2, 4, 5}, nr::DType::float64, -1, 1, 4);
  const std::vector<std::pair<std::string, L::AnyLayer>> layers{
      {"Add", L::Add(kFloat64)},           {"Subtract", L::Subtract(kFloat64)},
      {"Multiply", L::Multiply(kFloat64)}, {"Average", L::Average(kFloat64)},
      {"Maximum", L::Maximum(kFloat64)},   {"Minimum", L::Minimum(kFloat64)}};
  for (const auto& [name, layer] : layers) {
    const std::vector<nr::Tensor> in =
        name == "Subtract" ? std::vector{a, c} : std::vector{a, b, c};
    EXPECT_TRUE(nr::testing::check_gradients(
        name, [&](const std::vector<nr::Tensor>& x) { return layer(x); }, in));
  }
  const auto concat = L::Concatenate({.axis = 1, .layer = kFloat64});
  EXPECT_TRUE(nr::testing::check_gradients(
      "Concatenate", [&](const std::vector<nr::Tensor>& x) { return concat(x); }, {a, c}));
  const auto dot = L::Dot({.axes = std::array<int, 2>{2, 1}, .normalize = true, .layer = kFloat64});
  EXPECT_TRUE(nr::testing::check_gradients(
      "Dot", [&](const std::vector<nr::Tensor>& x) { return dot(x); }, {a, d}));
}

TEST(Merging, OutputShapesAsKerasComputesThem) {
  EXPECT_EQ(L::Add()->compute_output_shape_list({{-1, 3, 1}, {-1, 3, 5}})[0],
            nr::Shape({-1, 3, 5}));
  EXPECT_EQ(L::Add()->compute_output_shape_list({{-1, 4}, {8, 4}})[0], nr::Shape({8, 4}));
  EXPECT_EQ(L::Concatenate()->compute_output_shape_list({{-1, 2, 3}, {-1, 2, 5}})[0],
            nr::Shape({-1, 2, 8}));
  EXPECT_EQ(L::Concatenate({.axis = 1})->compute_output_shape_list({{-1, -1, 3}, {-1, 2, 3}})[0],
            nr::Shape({-1, -1, 3}));
  EXPECT_EQ(L::Dot(1)->compute_output_shape_list({{-1, 4}, {-1, 4}})[0], nr::Shape({-1, 1}));
  EXPECT_EQ(L::Dot({.axes = std::array<int, 2>{2, 1}})
                ->compute_output_shape_list({{-1, 3, 4}, {-1, 4, 5}})[0],
            nr::Shape({-1, 3, 5}));
}

TEST(Merging, RejectsBadInputsWithKerasMessages) {
  const auto x = random_tensor({2, 3});
  NEURONA_EXPECT_THROW_MSG(L::Add()(x), nr::ValueError, "should be called on a list of inputs");
  NEURONA_EXPECT_THROW_MSG(L::Subtract()({x, x, x}), nr::ValueError,
                           "A `Subtract` layer should be called on exactly 2 inputs");
  NEURONA_EXPECT_THROW_MSG(L::Add()({x, random_tensor({2, 4})}), nr::ValueError,
                           "Inputs have incompatible shapes", "(3,)", "(4,)");
  NEURONA_EXPECT_THROW_MSG(L::Add()({x, random_tensor({5, 3})}), nr::ValueError,
                           "Cannot merge tensors with different batch sizes");
  NEURONA_EXPECT_THROW_MSG(L::Concatenate()({x, random_tensor({2, 3, 1})}), nr::ValueError,
                           "requires inputs with matching shapes except for the concatenation "
                           "axis");
  NEURONA_EXPECT_THROW_MSG(L::Dot(1)({x, random_tensor({2, 4})}), nr::ValueError,
                           "Incompatible input shapes: axis values 3 (at axis 1) != 4");
  NEURONA_EXPECT_THROW_MSG(L::Dot(0)({x, x}), nr::ValueError,
                           "Cannot perform batch_dot over axis 0");
  NEURONA_EXPECT_THROW_MSG(L::Dot(1)(std::vector{x}), nr::ValueError,
                           "A `Dot` layer should be called on a list of 2 inputs");
  NEURONA_EXPECT_THROW_MSG(L::Dot(1)(x), nr::ValueError,
                           "A `Dot` layer should be called on exactly 2 inputs");
}

TEST(Merging, ConfigRoundTrips) {
  const auto concat = L::Concatenate({.axis = 2, .layer = {.name = "cat"}});
  const auto again = L::Concatenate::from_config(concat->get_config());
  EXPECT_EQ(again->axis(), 2);
  EXPECT_EQ(again->name(), "cat");
  const auto dot = L::Dot({.axes = std::array<int, 2>{1, 2}, .normalize = true});
  const auto dot2 = L::Dot::from_config(dot->get_config());
  EXPECT_TRUE(dot2->options().normalize);
  EXPECT_EQ((std::get<std::array<int, 2>>(dot2->options().axes)), (std::array<int, 2>{1, 2}));
  EXPECT_EQ(std::get<int>(L::Dot::from_config(L::Dot(-1)->get_config())->options().axes), -1);
  const auto avg = L::Average::from_config(L::Average({.name = "avg"})->get_config());
  EXPECT_EQ(avg->class_name(), "Average");
  EXPECT_EQ(avg->name(), "avg");
}
