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

namespace {
// Two inputs "a" (4) and "b" (3), two outputs "label" (softmax) and "size" (linear), the same
// initial weights every time.
std::unique_ptr<nr::Model> two_by_two() {
  nr::set_seed(7);
  auto a = nr::Input({4}, {.name = "a"});
  auto b = nr::Input({3}, {.name = "b"});
  auto joined = nr::layers::Concatenate()({a, b});
  auto label = nr::layers::Dense(2, {.activation = "softmax", .name = "label"})(joined);
  auto size = nr::layers::Dense(1, {.name = "size"})(joined);
  auto model = std::make_unique<nr::Model>(std::vector{a, b}, std::vector{label, size});
  model->compile({.optimizer = nr::optimizers::Adam(0.02),
                  .loss = {{"label", "sparse_categorical_crossentropy"}, {"size", "mse"}},
                  .metrics = {{"label", {"accuracy"}}}});
  return model;
}
}  // namespace

// Keras's from_tensor_slices(({"b": ..., "a": ...}, {"size": ..., "label": ...})): the parts'
// dicts are matched to the inputs and outputs by name, whatever their order, and fit, evaluate
// and predict give what the flat dataset in the model's order gives; the structure survives
// the transformations and a map that keeps the layout.
TEST(FitDataset, DictPartsAreMatchedToTheInputsAndOutputsByName) {
  const Blobs data = blobs(48);
  const nr::Tensor extra = nr::random_normal({48, 3}, {.seed = 1});
  const nr::Tensor sizes = nr::random_normal({48, 1}, {.seed = 2});
  const Dataset flat = Dataset::from_tensor_slices({data.x, extra, data.y, sizes});
  const Dataset named = Dataset::from_tensor_slices({{"b", extra}, {"a", data.x}},
                                                    {{"size", sizes}, {"label", data.y}});
  ASSERT_NE(named.structure(), nullptr);
  EXPECT_EQ(named.structure()->str(), "(x: {b, a}, y: {size, label})");
  EXPECT_EQ(named.structure()->size(), 4u);
  EXPECT_EQ(flat.structure(), nullptr);

  auto m1 = two_by_two();
  const auto h1 = m1->fit(flat.shuffle(48, {.seed = 4}).batch(8), {.epochs = 2, .verbose = 0});
  auto m2 = two_by_two();
  // A map that keeps the layout (it scales b) keeps the structure; so do shuffle and batch.
  const auto keep_scaled = [](const Element& e) {
    Element out = e;
    out[0] = e[0] * nr::scalar_like(e[0], 1.0);
    return out;
  };
  const Dataset pipeline = named.map(keep_scaled).shuffle(48, {.seed = 4}).batch(8).prefetch(2);
  ASSERT_NE(pipeline.structure(), nullptr);
  const auto odd = [](const Element& e) { return e.size() == 4; };
  for (const Dataset& d : {named.filter(odd), named.repeat(2), named.take(5), named.skip(5),
                           named.shard(2, 1), named.cache()}) {
    ASSERT_EQ(d.structure(), named.structure()) << d.describe();
  }
  const auto h2 = m2->fit(pipeline, {.epochs = 2, .verbose = 0});
  for (const char* key : {"loss", "label_loss", "size_loss", "label_accuracy"}) {
    ASSERT_EQ(h2.history.at(key).size(), 2u) << key;
    for (std::size_t e = 0; e < 2; ++e) {
      EXPECT_NEAR(h1.history.at(key)[e], h2.history.at(key)[e], 1e-6) << key;
    }
  }
  expect_near_weights(m1->get_weights(), m2->get_weights());

  const auto e1 = m1->evaluate(flat.batch(16), {.verbose = 0});
  const auto e2 = m1->evaluate(named.batch(16), {.verbose = 0});
  EXPECT_NEAR(e1.at("loss"), e2.at("loss"), 1e-6);
  // predict reads x alone (by name), with or without y.
  const auto p1 = m1->predict(std::vector<nr::Tensor>{data.x, extra}, {.batch_size = 10});
  for (const Dataset& ds :
       {named.batch(10),
        Dataset::from_tensor_slices({{"a", data.x}, {"b", extra}}, {}).batch(10)}) {
    const auto p2 = m1->predict(ds);
    ASSERT_EQ(p2.size(), 2u);
    EXPECT_EQ(p2[0].to_vector<float>(), p1[0].to_vector<float>());
    EXPECT_EQ(p2[1].to_vector<float>(), p1[1].to_vector<float>());
  }
}

// A list x with a dict y, and sample weights as a third part: as fit(x, y, sample_weight).
TEST(FitDataset, ListAndDictPartsWithSampleWeightsMatchFitOnTheTensors) {
  const Blobs data = blobs(40);
  const nr::Tensor extra = nr::random_normal({40, 3}, {.seed = 1});
  const nr::Tensor sizes = nr::random_normal({40, 1}, {.seed = 2});
  const nr::Tensor weights = nr::random_uniform({40}, {.minval = 0.5, .maxval = 2.0, .seed = 3});
  auto m1 = two_by_two();
  const auto h1 = m1->fit(
      {data.x, extra}, {{"label", data.y}, {"size", sizes}},
      {.batch_size = 8, .epochs = 1, .verbose = 0, .shuffle = false, .sample_weight = weights});
  auto m2 = two_by_two();
  const auto h2 = m2->fit(
      Dataset::from_tensor_slices({data.x, extra}, {{"label", data.y}, {"size", sizes}}, weights)
          .batch(8),
      {.epochs = 1, .verbose = 0});
  EXPECT_NEAR(h1.history.at("loss")[0], h2.history.at("loss")[0], 1e-6);
  expect_near_weights(m1->get_weights(), m2->get_weights());
}

// A generator's elements given their layout (tf.data's output_signature): fit and predict
// match the dicts to the inputs and outputs by name as for from_tensor_slices' parts, and a
// flat dataset given a structure later reads the same.
TEST(FitDataset, WithStructureGivesAGeneratorsElementsTheirLayout) {
  using S = nr::data::ElementStructure;
  const Blobs data = blobs(48);
  const nr::Tensor extra = nr::random_normal({48, 3}, {.seed = 1});
  const nr::Tensor sizes = nr::random_normal({48, 1}, {.seed = 2});
  const Dataset named = Dataset::from_tensor_slices({{"b", extra}, {"a", data.x}},
                                                    {{"size", sizes}, {"label", data.y}});
  // Rows in the named dataset's order (b, a, size, label), from C++ code.
  const Dataset rows = Dataset::from_tensor_slices({extra, data.x, sizes, data.y});
  const Dataset generated =
      Dataset::from_generator([rows] {
        return [it = std::make_shared<nr::data::Iterator>(rows.iterator())] { return it->next(); };
      }).with_structure(S(S::dict({"b", "a"}), S::dict({"size", "label"})));
  ASSERT_NE(generated.structure(), nullptr);
  EXPECT_EQ(generated.structure()->str(), "(x: {b, a}, y: {size, label})");
  // A flat dataset in the model's order (a, b, label, size), given its layout as lists.
  const Dataset relaid = Dataset::from_tensor_slices({data.x, extra, data.y, sizes})
                             .with_structure(S(S::list(2), S::list(2)));
  EXPECT_EQ(relaid.structure()->str(), "(x: a list of 2, y: a list of 2)");

  auto m1 = two_by_two();
  const auto h1 = m1->fit(named.batch(8), {.epochs = 2, .verbose = 0});
  for (const Dataset& ds : {generated, relaid}) {
    auto m2 = two_by_two();
    const auto h2 = m2->fit(ds.batch(8).prefetch(2), {.epochs = 2, .verbose = 0});
    for (std::size_t e = 0; e < 2; ++e) {
      EXPECT_NEAR(h1.history.at("loss")[e], h2.history.at("loss")[e], 1e-6) << ds.describe();
    }
    expect_near_weights(m1->get_weights(), m2->get_weights());
    const auto p1 = m1->predict(named.batch(12));
    const auto p2 = m2->predict(ds.batch(12));
    ASSERT_EQ(p2.size(), 2u);
    EXPECT_EQ(p2[0].to_vector<float>(), p1[0].to_vector<float>()) << ds.describe();
  }
  // with_structure replaces the layout a dataset had.
  EXPECT_EQ(named.with_structure(S(S::list(4))).structure()->str(), "(x: a list of 4, y: none)");
}

TEST(FitDataset, WithStructureRefusesLayoutsFitCannotRead) {
  using S = nr::data::ElementStructure;
  NEURONA_EXPECT_THROW_MSG(S(S::none(), S::one()), nr::ValueError,
                           "ElementStructure: argument `x` is empty");
  NEURONA_EXPECT_THROW_MSG(S(S::one(), S::none(), S::one()), nr::ValueError,
                           "ElementStructure: argument `y` is empty (only y may be left out, "
                           "and then no sample_weight)");
  NEURONA_EXPECT_THROW_MSG(S(S::list(0), S::one()), nr::ValueError,
                           "ElementStructure: argument `x` is an empty list");
  NEURONA_EXPECT_THROW_MSG(S(S::one(), S::dict({})), nr::ValueError,
                           "ElementStructure: argument `y` is an empty dict");
  NEURONA_EXPECT_THROW_MSG(S(S::dict({"a", "b", "a"}), S::one()), nr::ValueError,
                           "ElementStructure: argument `x` names 'a' twice");
  // A Part made by hand that says another count than its form has.
  NEURONA_EXPECT_THROW_MSG(
      S(S::Part{.form = nr::Tensors::Form::dict, .names = {"a"}, .count = 2}, S::one()),
      nr::ValueError, "ElementStructure: argument `x` has a count of 2 and 1 names");
  NEURONA_EXPECT_THROW_MSG(
      S(S::one(), S::Part{.form = nr::Tensors::Form::one, .names = {}, .count = 3}), nr::ValueError,
      "argument `y` has a count of 3 and 0 names");
  NEURONA_EXPECT_THROW_MSG((void)Dataset::from_tensor_slices(
                               {{"a", nr::ones({4, 2})}, {"a", nr::ones({4, 2})}}, nr::ones({4})),
                           nr::ValueError,
                           "Dataset.from_tensor_slices: argument `x` names 'a' twice");
  // Elements of another size than the layout's are refused when fit reads them.
  auto model = two_by_two();
  const Dataset short_rows =
      Dataset::from_tensor_slices({nr::ones({8, 4}), nr::ones({8, 3}), nr::zeros({8})})
          .with_structure(S(S::dict({"a", "b"}), S::dict({"label", "size"})));
  NEURONA_EXPECT_THROW_MSG((void)model->fit(short_rows.batch(4), {.verbose = 0}), nr::ValueError,
                           "a dataset element has 3 tensors where the dataset's structure (x: {a, "
                           "b}, y: {label, size}) has 4 (the layout that from_tensor_slices or "
                           "with_structure gave it; a map must keep it)");
}

// What is wrong with a structured dataset is named: an unknown input, a map that changed the
// layout, training on data without targets, parts that cannot be made.
TEST(FitDataset, StructuredDatasetErrorsNameTheProblem) {
  const Blobs data = blobs(16);
  const nr::Tensor extra = nr::random_normal({16, 3}, {.seed = 1});
  auto model = two_by_two();
  NEURONA_EXPECT_THROW_MSG(
      (void)model->fit(
          Dataset::from_tensor_slices({{"a", data.x}, {"c", extra}}, {data.y, data.y}).batch(8),
          {.verbose = 0}),
      nr::ValueError, "'c'");
  const Dataset named = Dataset::from_tensor_slices({{"a", data.x}, {"b", extra}},
                                                    {{"label", data.y}, {"size", data.y}});
  const auto drop_last = [](const Element& e) { return Element(e.begin(), e.end() - 1); };
  NEURONA_EXPECT_THROW_MSG(
      (void)model->fit(named.map(drop_last).batch(8), {.verbose = 0}), nr::ValueError,
      "a dataset element has 3 tensors where the dataset's structure (x: {a, b}, y: {label, "
      "size}) has 4");
  NEURONA_EXPECT_THROW_MSG(
      (void)model->fit(Dataset::from_tensor_slices({{"a", data.x}, {"b", extra}}, {}).batch(8),
                       {.verbose = 0}),
      nr::ValueError, "the dataset has no targets");
  NEURONA_EXPECT_THROW_MSG((void)Dataset::from_tensor_slices({}, data.y), nr::ValueError,
                           "Dataset.from_tensor_slices: argument `x` is empty");
  NEURONA_EXPECT_THROW_MSG((void)Dataset::from_tensor_slices(data.x, {}, data.y), nr::ValueError,
                           "argument `y` is empty");
  NEURONA_EXPECT_THROW_MSG((void)Dataset::from_tensor_slices({{"a", data.x}}, nr::ones({5})),
                           nr::ShapeError,
                           "every tensor needs the same first dimension; x['a'] has shape (16, "
                           "4), y (5,)");
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
