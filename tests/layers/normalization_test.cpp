// Normalization against Keras 3 (tests/reference/make_keras_preprocessing_references.py): adapt's
// mean and variance and the outputs for kept axes -1, (1, 2) and none; adapting on batches;
// given values inverted; Keras's weights (count int32) through a save and a load.
#include "neurona/layers/normalization.h"

#include <gtest/gtest.h>

#include "data/data_test_util.h"
#include "neurona/neurona.h"
#include "support/reference_file.h"

namespace nr = neurona;
namespace L = nr::layers;

namespace {

const nr::testing::Reference& keras() {
  static const nr::testing::Reference ref = nr::testing::parse_reference(
      nr::testing::reference_dir() / "preprocessing" / "normalization.txt");
  return ref;
}

nr::Tensor tensor_of(const std::string& name) {
  const auto& e = keras().at(name);
  std::vector<float> v(e.values.begin(), e.values.end());
  return nr::constant(v, e.shape);
}

void expect_near(const nr::Tensor& got, const std::string& name, double tol = 1e-5) {
  const auto& want = keras().at(name);
  ASSERT_EQ(got.numel(), want.shape.numel()) << name;
  const auto g = got.to_vector<double>();
  for (std::size_t i = 0; i < g.size(); ++i) {
    ASSERT_NEAR(g[i], want.values[i], tol * (1 + std::abs(want.values[i]))) << name << " at " << i;
  }
}

}  // namespace

TEST(Normalization, AdaptLearnsKerasMeanAndVarianceForEachChoiceOfAxes) {
  const nr::Tensor d = tensor_of("d");
  const std::pair<std::string, std::vector<int>> cases[] = {
      {"last_axis", {-1}}, {"axes_1_2", {1, 2}}, {"no_axis", {}}};
  for (const auto& [name, axis] : cases) {
    SCOPED_TRACE(name);
    L::Normalization norm({.axis = axis});
    norm->adapt(d);
    expect_near(norm->weights()[0].value(), name + "_mean");
    expect_near(norm->weights()[1].value(), name + "_variance");
    expect_near(norm(d), name + "_y");
  }
}

TEST(Normalization, AdaptingOnBatchesGivesWhatAdaptingOnTheWholeGives) {
  const nr::Tensor d = tensor_of("d");
  L::Normalization norm;
  const auto ds = nr::data::Dataset::from_tensor_slices({d}).batch(4);  // 4, 4 and 2 rows
  nr::data::Iterator it = ds.iterator();
  norm->adapt_batches([&]() -> std::optional<nr::Tensor> {
    std::optional<nr::data::Element> e = it.next();
    if (!e) return std::nullopt;
    return (*e)[0];
  });
  expect_near(norm->weights()[0].value(), "last_axis_mean");
  expect_near(norm->weights()[1].value(), "last_axis_variance");
  expect_near(norm(d), "last_axis_y");
}

TEST(Normalization, GivenValuesInvertAsKeras) {
  L::Normalization norm({.mean = std::vector<double>{1, 2, 3},
                         .variance = std::vector<double>{4, 1, 0.25},
                         .invert = true});
  expect_near(norm(tensor_of("d")), "invert_given_y");
  EXPECT_TRUE(norm->weights().empty());
  EXPECT_THROW(L::Normalization({.mean = std::vector<double>{1}}), nr::ValueError);
}

TEST(Normalization, KeepsKerasWeightsThroughSaveAndLoad) {
  const nr::Tensor d = tensor_of("d");
  nr::testing::ScratchDir dir("normalization");
  L::Normalization norm;
  norm->adapt(d);
  const auto w = norm->weights();
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].name(), norm->name() + "/mean");
  EXPECT_EQ(w[2].name(), norm->name() + "/count");
  EXPECT_EQ(w[2].value().dtype(), nr::int32);
  EXPECT_FALSE(w[0].trainable());
  EXPECT_EQ(norm->trainable_weights().size(), 0u);

  nr::Sequential model({nr::layers::Input({4, 3}), norm, nr::layers::Dense(2)});
  model.save(dir.file("m.keras"));
  auto loaded = nr::models::load_model(dir.file("m.keras"));
  EXPECT_EQ(loaded->predict(d).template to_vector<float>(), model.predict(d).to_vector<float>());
  EXPECT_EQ(L::Normalization::from_config(norm->get_config())->get_config(), norm->get_config());

  L::Normalization other;
  other->adapt(d);
  EXPECT_THROW(other->adapt(nr::zeros({5, 4, 2})), nr::ShapeError);
}
