// Subclassed models: tracked layers own the weights; call() is the user's (the notebook's
// SubclassModel and IdentityModel).
#include <neurona/neurona.h>

#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;

namespace {

class SubclassModel : public nr::Model {
 public:
  SubclassModel()
      : nr::Model("SubclassModel"), dense_(track(L::Dense(1, {.activation = "sigmoid"}))) {}
  nr::Tensor call(const nr::Tensor& inputs, bool training) override {
    return dense_(inputs, training);
  }
  const L::Dense& dense() const { return dense_; }

 private:
  L::Dense dense_;
};

// Returns its inputs unchanged when `isidentity`, else a Dense of them.
class IdentityModel : public nr::Model {
 public:
  explicit IdentityModel(bool isidentity)
      : nr::Model("IdentityModel"), isidentity_(isidentity), dense_(track(L::Dense(2))) {}
  nr::Tensor call(const nr::Tensor& inputs, bool training) override {
    return isidentity_ ? inputs : dense_(inputs, training);
  }

 private:
  bool isidentity_;
  L::Dense dense_;
};

}  // namespace

TEST(Model, SubclassTracksLayerWeights) {
  nr::clear_session();
  SubclassModel model;
  EXPECT_EQ(model.name(), "subclass_model");
  EXPECT_EQ(model.class_name(), "SubclassModel");
  EXPECT_TRUE(model.weights().empty());
  const nr::Tensor y = model(nr::testing::random_tensor({4, 3}));
  EXPECT_EQ(y.shape(), (nr::Shape{4, 1}));
  for (double v : y.to_vector<double>()) {
    EXPECT_GT(v, 0.0);
    EXPECT_LT(v, 1.0);
  }
  ASSERT_EQ(model.weights().size(), 2u);
  EXPECT_TRUE(model.weights()[0].is_same(model.dense()->kernel()));
  EXPECT_EQ(model.count_params(), 4);
  ASSERT_EQ(model.layers().size(), 1u);
  EXPECT_EQ(model.layers()[0]->name(), "dense");
  EXPECT_EQ(SubclassModel().name(), "subclass_model_1");
}

TEST(Model, SubclassTrainsThroughTheTape) {
  SubclassModel model;
  const nr::Tensor x = nr::testing::random_tensor({16, 3});
  model(x);
  const float before = nr::mean(nr::square(model(x) - 1.0)).item<float>();
  for (int step = 0; step < 50; ++step) {
    nr::GradientTape tape;
    const nr::Tensor loss = nr::mean(nr::square(model(x) - 1.0));
    const std::vector<nr::Tensor> grads = tape.gradient(loss, model.trainable_weights());
    std::vector<nr::Variable> ws = model.trainable_weights();
    for (std::size_t i = 0; i < ws.size(); ++i) ws[i].assign_sub(grads[i] * 0.5);
  }
  EXPECT_LT(nr::mean(nr::square(model(x) - 1.0)).item<float>(), 0.5f * before);
}

TEST(Model, IdentityModelReturnsInputsUnchanged) {
  IdentityModel identity(true);
  const nr::Tensor x = nr::testing::random_tensor({3, 2});
  const nr::Tensor y = identity(x);
  EXPECT_EQ(y.to_vector<float>(), x.to_vector<float>());
  EXPECT_TRUE(identity.built());
  EXPECT_EQ(identity.count_params(), 0);  // its Dense was never called
  IdentityModel dense(false);
  EXPECT_EQ(dense(x).shape(), (nr::Shape{3, 2}));
  EXPECT_EQ(dense.count_params(), 6);
  EXPECT_TRUE(identity.predict(x).is_same(x) ||
              identity.predict(x).to_vector<float>() == x.to_vector<float>());
}

TEST(Model, FreezingAModelFreezesItsLayers) {
  SubclassModel model;
  model(nr::ones({1, 3}));
  model.set_trainable(false);
  EXPECT_TRUE(model.trainable_weights().empty());
  EXPECT_FALSE(model.dense()->trainable());
  EXPECT_EQ(model.non_trainable_weights().size(), 2u);
}
