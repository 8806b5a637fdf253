// fit, evaluate and predict on a data::Dataset: the same numbers as the tensor path on the same
// batches, Keras's steps_per_epoch rules, elements with sample weights, several inputs, and the
// errors that name what is wrong.
#include <gtest/gtest.h>

#include <atomic>

#include "neurona/neurona.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::data::Dataset;
using nr::data::Element;

namespace {

struct Blobs {
  nr::Tensor x;
  nr::Tensor y;
};

// Two Gaussian blobs in 4-D, labels 0 / 1.
Blobs blobs(std::int64_t n = 64) {
  nr::Tensor noise = nr::random_normal({n, 4}, {.stddev = 0.5, .seed = 3});
  std::vector<float> centres(static_cast<std::size_t>(n * 4));
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % 2);
    labels[static_cast<std::size_t>(i)] = label;
    for (int j = 0; j < 4; ++j) centres[static_cast<std::size_t>(i * 4 + j)] = label ? 1.5f : -1.5f;
  }
  return {nr::constant(centres, {n, 4}) + noise, nr::constant(labels, {n})};
}

// A classifier with the same initial weights every time.
std::unique_ptr<nr::Sequential> classifier() {
  nr::set_seed(5);
  auto model = std::make_unique<nr::Sequential>(std::vector<nr::layers::AnyLayer>{
      nr::layers::Input({4}), nr::layers::Dense(8, {.activation = "relu"}),
      nr::layers::Dense(2, {.activation = "softmax"})});
  model->compile({.optimizer = nr::optimizers::Adam(0.05),
                  .loss = "sparse_categorical_crossentropy",
                  .metrics = {"accuracy"}});
  return model;
}

void expect_near_weights(const std::vector<nr::Tensor>& a, const std::vector<nr::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto va = a[i].to_vector<float>(), vb = b[i].to_vector<float>();
    ASSERT_EQ(va.size(), vb.size());
    for (std::size_t j = 0; j < va.size(); ++j) EXPECT_NEAR(va[j], vb[j], 1e-6) << i << "," << j;
  }
}

// Counts the batches fit trains on, per epoch, and the steps fit announced.
class BatchCounter : public nr::callbacks::Callback {
 public:
  void on_train_begin(nr::callbacks::Logs&) override { announced = params().steps; }
  void on_epoch_begin(int, nr::callbacks::Logs&) override { per_epoch.push_back(0); }
  void on_train_batch_end(std::int64_t, nr::callbacks::Logs&) override { ++per_epoch.back(); }
  std::vector<int> per_epoch;
  std::int64_t announced = -1;
};

}  // namespace

TEST(FitDataset, GivesWhatFitOnTheTensorsGivesForTheSameBatches) {
  const Blobs data = blobs();
  auto a = classifier();
  const auto ha =
      a->fit(data.x, data.y, {.batch_size = 10, .epochs = 2, .verbose = 0, .shuffle = false});
  auto b = classifier();
  const auto hb =
      b->fit(Dataset::from_tensor_slices({data.x, data.y}).batch(10), {.epochs = 2, .verbose = 0});
  ASSERT_EQ(hb.history.at("loss").size(), 2u);
  for (std::size_t e = 0; e < 2; ++e) {
    EXPECT_NEAR(ha.history.at("loss")[e], hb.history.at("loss")[e], 1e-6);
    EXPECT_NEAR(ha.history.at("accuracy")[e], hb.history.at("accuracy")[e], 1e-6);
  }
  expect_near_weights(a->get_weights(), b->get_weights());
  // evaluate and predict on a dataset agree with the tensor path; predict ignores the targets.
  const auto ea = a->evaluate(data.x, data.y, {.batch_size = 16, .verbose = 0});
  const auto eb =
      a->evaluate(Dataset::from_tensor_slices({data.x, data.y}).batch(16), {.verbose = 0});
  EXPECT_NEAR(ea.at("loss"), eb.at("loss"), 1e-6);
  EXPECT_NEAR(ea.at("accuracy"), eb.at("accuracy"), 1e-6);
  const nr::Tensor pa = a->predict(data.x);
  const std::vector<nr::Tensor> pb =
      a->predict(Dataset::from_tensor_slices({data.x, data.y}).batch(7).prefetch(2));
  ASSERT_EQ(pb.size(), 1u);
  EXPECT_EQ(pb[0].shape(), pa.shape());
  EXPECT_EQ(pb[0].to_vector<float>(), pa.to_vector<float>());
}

TEST(FitDataset, StepsPerEpochRunsOnThroughAnInfiniteDataset) {
  const Blobs data = blobs();
  auto model = classifier();
  auto counter = std::make_shared<BatchCounter>();
  std::atomic<int> batches{0};
  const Dataset ds = Dataset::from_tensor_slices({data.x, data.y})
                         .batch(16)
                         .map([&batches](const Element& e) {
                           ++batches;
                           return e;
                         })
                         .repeat();
  const auto h =
      model->fit(ds, {.epochs = 3, .verbose = 0, .callbacks = {counter}, .steps_per_epoch = 3});
  EXPECT_EQ(h.history.at("loss").size(), 3u);
  EXPECT_EQ(counter->announced, 3);
  EXPECT_EQ(counter->per_epoch, (std::vector<int>{3, 3, 3}));
  EXPECT_EQ(batches.load(), 9);  // one pass continued across epochs, nothing read ahead
  EXPECT_THROW(model->fit(ds, {.epochs = 1, .verbose = 0}), nr::ValueError);
  EXPECT_THROW((void)model->evaluate(ds, {.verbose = 0}), nr::ValueError);
  EXPECT_NO_THROW((void)model->evaluate(ds, {.verbose = 0, .steps = 2}));
}

TEST(FitDataset, AnEpochEndsWhereTheDataRunsOutAndTheNextStartsANewPass) {
  // Keras 3: with steps_per_epoch larger than what a pass holds, the epoch is cut short (with a
  // warning) and the next epoch starts from a fresh pass.
  const Blobs data = blobs();
  auto model = classifier();
  auto counter = std::make_shared<BatchCounter>();
  const Dataset ds = Dataset::from_tensor_slices({data.x, data.y}).batch(16);  // 4 batches
  (void)model->fit(ds, {.epochs = 3, .verbose = 0, .callbacks = {counter}, .steps_per_epoch = 3});
  EXPECT_EQ(counter->per_epoch, (std::vector<int>{3, 1, 3}));
}

TEST(FitDataset, ADatasetOfUnknownLengthTrainsOnePassAnEpoch) {
  const Blobs data = blobs();
  auto model = classifier();
  auto counter = std::make_shared<BatchCounter>();
  const Dataset ds = Dataset::from_tensor_slices({data.x, data.y})
                         .filter([](const Element&) { return true; })  // length unknown
                         .batch(16);
  ASSERT_EQ(ds.cardinality(), nr::data::kUnknownCardinality);
  (void)model->fit(ds, {.epochs = 2, .verbose = 0, .callbacks = {counter}});
  EXPECT_EQ(counter->announced, 0);  // unknown: the progress bar counts without a total
  EXPECT_EQ(counter->per_epoch, (std::vector<int>{4, 4}));
}

TEST(FitDataset, ElementsCarrySampleWeightsAndClassWeightsApply) {
  const Blobs data = blobs();
  std::vector<float> w(64, 1.0f);
  for (std::size_t i = 0; i < w.size(); i += 3) w[i] = 0.0f;
  const nr::Tensor sw = nr::constant(w, {64});
  auto a = classifier();
  const auto ha = a->fit(data.x, data.y,
                         {.batch_size = 16,
                          .epochs = 1,
                          .verbose = 0,
                          .shuffle = false,
                          .sample_weight = nr::Tensors(sw)});
  auto b = classifier();
  const auto hb = b->fit(Dataset::from_tensor_slices({data.x, data.y, sw}).batch(16),
                         {.epochs = 1, .verbose = 0});
  EXPECT_NEAR(ha.history.at("loss")[0], hb.history.at("loss")[0], 1e-6);
  expect_near_weights(a->get_weights(), b->get_weights());

  const std::map<std::int64_t, double> class_weight{{0, 0.5}, {1, 2.0}};
  auto c = classifier();
  const auto hc = c->fit(data.x, data.y,
                         {.batch_size = 16,
                          .epochs = 1,
                          .verbose = 0,
                          .shuffle = false,
                          .class_weight = class_weight});
  auto d = classifier();
  const auto hd = d->fit(Dataset::from_tensor_slices({data.x, data.y}).batch(16),
                         {.epochs = 1, .verbose = 0, .class_weight = class_weight});
  EXPECT_NEAR(hc.history.at("loss")[0], hd.history.at("loss")[0], 1e-6);
}

TEST(FitDataset, ValidationDataMayBeADataset) {
  const Blobs data = blobs();
  auto model = classifier();
  const Dataset train = Dataset::from_tensor_slices({data.x, data.y}).batch(16);
  const auto h = model->fit(
      train.take(3),
      {.epochs = 2, .verbose = 0, .validation_data = nr::ValidationData{.dataset = train.skip(3)}});
  ASSERT_EQ(h.history.at("val_loss").size(), 2u);
  const auto val =
      model->evaluate(data.x.slice(48, 64), data.y.slice(48, 64), {.batch_size = 16, .verbose = 0});
  EXPECT_NEAR(h.history.at("val_loss").back(), val.at("loss"), 1e-6);
  EXPECT_NEAR(h.history.at("val_accuracy").back(), val.at("accuracy"), 1e-6);
}

TEST(FitDataset, AModelWithTwoInputsTakesThemFirstInEachElement) {
  nr::set_seed(2);
  auto a = nr::Input({4}, {.name = "a"});
  auto b = nr::Input({3}, {.name = "b"});
  auto joined = nr::layers::Concatenate()({a, b});
  auto out = nr::layers::Dense(2, {.activation = "softmax"})(joined);
  nr::Model model({a, b}, out);
  model.compile({.optimizer = "sgd", .loss = "sparse_categorical_crossentropy"});
  const Blobs data = blobs(32);
  const nr::Tensor extra = nr::random_normal({32, 3}, {.seed = 1});
  const auto h = model.fit(Dataset::from_tensor_slices({data.x, extra, data.y}).batch(8),
                           {.epochs = 1, .verbose = 0});
  EXPECT_EQ(h.history.at("loss").size(), 1u);
  const auto p = model.predict(Dataset::from_tensor_slices({data.x, extra}).batch(8));
  EXPECT_EQ(p.at(0).shape(), (nr::Shape{32, 2}));
}

TEST(FitDataset, ErrorsNameTheProblem) {
  const Blobs data = blobs();
  auto model = classifier();
  const Dataset three = Dataset::from_tensor_slices({data.x, data.y, data.y, data.y}).batch(8);
  try {
    (void)model->fit(three, {.verbose = 0});
    FAIL() << "expected a ValueError";
  } catch (const nr::ValueError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("4 tensors"), std::string::npos) << what;
    EXPECT_NE(what.find("(8, 4)"), std::string::npos) << what;
  }
  const Dataset ds = Dataset::from_tensor_slices({data.x, data.y}).batch(8);
  EXPECT_THROW((void)model->fit(ds, {.validation_split = 0.2}), nr::ValueError);
  EXPECT_THROW((void)model->fit(ds.take(0), {.verbose = 0}), nr::ValueError);
  EXPECT_THROW((void)model->fit(data.x, data.y, {.verbose = 0, .steps_per_epoch = 2}),
               nr::ValueError);
}
