// Mixed precision as Keras has it: dtype policies, the global policy, layers that compute in
// 16 bits with float32 weights, losses in float32, training that keeps float32 master weights,
// and dynamic loss scaling for float16.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "neurona/neurona.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;

namespace {

// Sets the global policy for one test and puts float32 back after it.
struct GlobalPolicy {
  explicit GlobalPolicy(const char* name) { nr::mixed_precision::set_global_policy(name); }
  ~GlobalPolicy() { nr::mixed_precision::set_global_policy(nr::DType::float32); }
  GlobalPolicy(const GlobalPolicy&) = delete;
  GlobalPolicy& operator=(const GlobalPolicy&) = delete;
};

TEST(DTypePolicy, NamesGiveTheComputeAndVariableDtypes) {
  const nr::DTypePolicy mixed("mixed_bfloat16");
  EXPECT_EQ(mixed.compute_dtype(), nr::DType::bfloat16);
  EXPECT_EQ(mixed.variable_dtype(), nr::DType::float32);
  EXPECT_EQ(nr::DTypePolicy("mixed_float16").compute_dtype(), nr::DType::float16);
  EXPECT_EQ(nr::DTypePolicy("bfloat16").variable_dtype(), nr::DType::bfloat16);
  EXPECT_EQ(nr::DTypePolicy(nr::DType::float64).name(), "float64");
  NEURONA_EXPECT_THROW_MSG(nr::DTypePolicy("mixed_int8"), nr::ValueError, "mixed_int8",
                           "mixed_bfloat16");
  NEURONA_EXPECT_THROW_MSG(nr::DTypePolicy(nr::DType::int32), nr::ValueError, "int32");
  EXPECT_EQ(nr::mixed_precision::global_policy().name(), "float32");
}

TEST(DTypePolicy, LayersTakeTheGlobalPolicyWhenMade) {
  L::Dense before(3);
  const GlobalPolicy policy("mixed_bfloat16");
  L::Dense after(3);
  L::Dense own(3, {.dtype = "float32"});
  EXPECT_EQ(before->compute_dtype(), nr::DType::float32);
  EXPECT_EQ(after->dtype_policy().name(), "mixed_bfloat16");
  EXPECT_EQ(own->compute_dtype(), nr::DType::float32);

  const nr::Tensor x = nr::testing::random_tensor({2, 5});
  const nr::Tensor y = after(x);
  EXPECT_EQ(y.dtype(), nr::DType::bfloat16);
  EXPECT_EQ(after->dtype(), nr::DType::float32);  // Keras's layer.dtype: the variables'
  for (const nr::Variable& v : after->weights()) EXPECT_EQ(v.dtype(), nr::DType::float32);
  // The output is the float32 layer's on the same weights, computed in bfloat16.
  own(x);
  own->set_weights(after->get_weights());
  const nr::Tensor reference = own(x);
  EXPECT_TRUE(nr::testing::all_close(y, reference.to_vector<double>(), 0.02, 0.02));
  // Saved as Keras saves it.
  const nr::layers::ConfigValue config = after->get_config();
  EXPECT_EQ(config.find("dtype")->find("config")->find("name")->as_string(), "mixed_bfloat16");
}

TEST(DTypePolicy, BatchNormalizationNormalisesIn32Bits) {
  const GlobalPolicy policy("mixed_float16");
  L::BatchNormalization bn;
  const nr::Tensor x = nr::testing::random_tensor({8, 3}, nr::DType::float32, 10, 12);
  const nr::Tensor y = bn(x, /*training=*/true);
  EXPECT_EQ(y.dtype(), nr::DType::float16);
  for (const nr::Variable& v : bn->weights()) EXPECT_EQ(v.dtype(), nr::DType::float32);
  // Normalised: mean 0, variance 1 per column (float16 keeps ~3 decimal digits).
  const nr::Tensor m = nr::mean(nr::cast(y, nr::DType::float32), {0});
  EXPECT_TRUE(nr::testing::all_close(m, {0, 0, 0}, 0.01, 0));
}

nr::Tensor blob_images(std::int64_t n, nr::Tensor* labels) {
  // Two classes of 6x6 images: a bright top half or a bright bottom half, with noise.
  std::vector<float> px(static_cast<std::size_t>(n * 36));
  std::vector<std::int32_t> lab(static_cast<std::size_t>(n));
  const std::vector<double> noise = nr::testing::uniform_values(n * 36, -0.5, 0.5, 3);
  for (std::int64_t i = 0; i < n; ++i) {
    lab[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(i % 2);
    for (int p = 0; p < 36; ++p) {
      const bool top = p < 18;
      const auto idx = static_cast<std::size_t>(i * 36 + p);
      px[idx] = static_cast<float>((top == (i % 2 == 0) ? 1.0 : 0.0) + noise[idx]);
    }
  }
  *labels = nr::constant(lab, {n});
  return nr::constant(px, {n, 6, 6, 1});
}

std::unique_ptr<nr::Sequential> small_cnn() {
  return std::make_unique<nr::Sequential>(std::vector<L::AnyLayer>{
      L::Input({6, 6, 1}), L::Conv2D(4, 3, {.activation = "relu"}), L::MaxPooling2D(2),
      L::Flatten(), L::Dense(2), L::Activation("softmax", {.dtype = "float32"})});
}

TEST(MixedPrecisionFit, BFloat16TrainsWithFloat32MasterWeights) {
  nr::Tensor y;
  const nr::Tensor x = blob_images(256, &y);
  std::vector<double> accuracy;
  for (const char* name : {"float32", "mixed_bfloat16"}) {
    const GlobalPolicy policy(name);
    nr::set_seed(5);
    auto model = small_cnn();
    model->compile({.optimizer = nr::optimizers::Adam(0.01),
                    .loss = "sparse_categorical_crossentropy",
                    .metrics = {"accuracy"}});
    const auto history = model->fit(x, y, {.batch_size = 32, .epochs = 4, .verbose = 0});
    EXPECT_EQ(model->loss_scale_optimizer(), nullptr);  // bfloat16 needs no loss scaling
    for (const nr::Variable& v : model->weights()) EXPECT_EQ(v.dtype(), nr::DType::float32);
    EXPECT_EQ(model->predict(x).dtype(), nr::DType::float32);  // float32 softmax
    const auto& loss = history.history.at("loss");
    EXPECT_LT(loss.back(), loss.front()) << name;
    accuracy.push_back(history.history.at("accuracy").back());
  }
  EXPECT_GT(accuracy[0], 0.95);
  EXPECT_NEAR(accuracy[1], accuracy[0], 0.03);
}

TEST(MixedPrecisionFit, Float16ScalesTheLossAndSkipsOverflowingSteps) {
  nr::Tensor y;
  const nr::Tensor x = blob_images(128, &y);
  const GlobalPolicy policy("mixed_float16");
  nr::set_seed(5);
  auto model = small_cnn();
  auto adam = nr::optimizers::Adam(0.01);
  model->compile({.optimizer = adam, .loss = "sparse_categorical_crossentropy"});
  const nr::mixed_precision::LossScaleOptimizer* scale = model->loss_scale_optimizer();
  ASSERT_NE(scale, nullptr);
  EXPECT_EQ(scale->scale(), 32768.0);
  const auto history = model->fit(x, y, {.batch_size = 32, .epochs = 3, .verbose = 0});
  const auto& loss = history.history.at("loss");
  EXPECT_LT(loss.back(), loss.front());
  // Every step was finite at 2^15 here (small logits): 12 applied, none skipped.
  EXPECT_EQ(adam->iterations(), 12);
  EXPECT_EQ(scale->step_counter(), 12);
  EXPECT_EQ(scale->scale(), 32768.0);
}

TEST(LossScaleOptimizer, SkipsNonFiniteStepsHalvesAndGrows) {
  nr::Variable w(nr::testing::make_tensor({1, 2}, {2}), {.name = "w"});
  auto sgd = nr::optimizers::SGD(0.5);
  nr::mixed_precision::LossScaleOptimizer opt(sgd, {.initial_scale = 8, .dynamic_growth_steps = 2});
  const nr::Tensor loss = nr::testing::make_tensor({3}, {});
  EXPECT_EQ(opt.scale_loss(loss).item<double>(), 24);
  // Gradients of the scaled loss: divided by 8 before the update.
  EXPECT_TRUE(opt.apply_gradients({nr::testing::make_tensor({8, 16}, {2})}, {w}));
  EXPECT_EQ(w.value().to_vector<double>(), (std::vector<double>{0.5, 1.0}));
  EXPECT_EQ(opt.step_counter(), 1);
  // An infinite gradient: skipped, scale halved, counter reset, optimizer untouched.
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_FALSE(opt.apply_gradients({nr::testing::make_tensor({inf, 1}, {2})}, {w}));
  EXPECT_FALSE(opt.apply_gradients({nr::testing::make_tensor({std::nan(""), 1}, {2})}, {w}));
  EXPECT_EQ(opt.scale(), 2);
  EXPECT_EQ(opt.step_counter(), 0);
  EXPECT_EQ(sgd->iterations(), 1);
  EXPECT_EQ(w.value().to_vector<double>(), (std::vector<double>{0.5, 1.0}));
  // Two good steps in a row double it.
  EXPECT_TRUE(opt.apply_gradients({nr::testing::make_tensor({0, 0}, {2})}, {w}));
  EXPECT_TRUE(opt.apply_gradients({nr::testing::make_tensor({0, 0}, {2})}, {w}));
  EXPECT_EQ(opt.scale(), 4);
  NEURONA_EXPECT_THROW_MSG(nr::mixed_precision::LossScaleOptimizer(sgd, {.initial_scale = 0}),
                           nr::ValueError, "initial_scale");
}

TEST(DTypePolicy, KerasConfigsWithMixedPoliciesLoad) {
  const nr::layers::ConfigValue config = nr::layers::ConfigValue::Dict{
      {"name", "dense_mixed"},
      {"units", 4},
      {"dtype", nr::layers::ConfigValue::Dict{
                    {"module", "keras"},
                    {"class_name", "DTypePolicy"},
                    {"config", nr::layers::ConfigValue::Dict{{"name", "mixed_float16"}}},
                    {"registered_name", nullptr}}}};
  const L::AnyLayer layer = nr::models::deserialize_layer(
      nr::layers::ConfigValue::Dict{{"class_name", "Dense"}, {"config", config}});
  EXPECT_EQ(layer->dtype_policy().name(), "mixed_float16");
  EXPECT_EQ(layer->compute_dtype(), nr::DType::float16);
}

}  // namespace
