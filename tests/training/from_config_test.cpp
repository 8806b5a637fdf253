// from_config of optimizers, learning-rate schedules, losses and metrics: each inverts
// class_name() and config() (what `.keras` files record), and rejects what neurona cannot
// honour with a ValueError that names the class and the key.
#include <sstream>

#include "support/test_util.h"

namespace nr = neurona;
namespace opt = nr::optimizers;

namespace {

using Schedule = std::shared_ptr<const opt::schedules::LearningRateSchedule>;

std::string describe(const opt::Config& config);

std::string describe(const nr::ConfigValue& v) {
  std::ostringstream os;
  os.precision(17);
  switch (v.kind()) {
    case nr::ConfigValue::Kind::Null:
      os << "None";
      break;
    case nr::ConfigValue::Kind::Bool:
      os << (v.as_bool() ? "True" : "False");
      break;
    case nr::ConfigValue::Kind::Int:
      os << v.as_int();
      break;
    case nr::ConfigValue::Kind::Float:
      os << v.as_double() << "f";
      break;
    case nr::ConfigValue::Kind::String:
      os << "'" << v.as_string() << "'";
      break;
    case nr::ConfigValue::Kind::List:
      for (const nr::ConfigValue& x : v.as_list()) os << describe(x) << ",";
      break;
    case nr::ConfigValue::Kind::Dict:  // a serialized schedule
      os << describe(v.as_dict());
      break;
  }
  return os.str();
}

// The config as text, types included, schedules as their serialized dicts.
std::string describe(const opt::Config& config) {
  std::string out = "{";
  for (const auto& [k, v] : config) out += k + ": " + describe(v) + "; ";
  return out + "}";
}

}  // namespace

TEST(OptimizerFromConfig, EveryOptimizerConfigRoundTrips) {
  const std::vector<std::shared_ptr<opt::Optimizer>> optimizers = {
      opt::SGD(0.05, {.momentum = 0.8, .nesterov = true, .weight_decay = 0.01, .name = "s"}).ptr(),
      opt::SGD(opt::schedules::ExponentialDecay(0.1, 10, 0.5, {.staircase = true}),
               {.clipvalue = 0.5})
          .ptr(),
      opt::Adam(2e-3,
                {.beta_1 = 0.8, .beta_2 = 0.99, .epsilon = 1e-6, .amsgrad = true, .clipnorm = 1.0})
          .ptr(),
      opt::Adam(
          opt::schedules::CosineDecay(
              0.1, 100, {.alpha = 0.1, .warmup_target = 0.2, .warmup_steps = 10, .name = "cos"}))
          .ptr(),
      opt::AdamW(1e-3, {.weight_decay = 0.02, .beta_1 = 0.85, .global_clipnorm = 2.0}).ptr(),
      opt::RMSprop(1e-2, {.rho = 0.8, .momentum = 0.5, .epsilon = 1e-6, .centered = true}).ptr(),
      opt::RMSprop(opt::schedules::PiecewiseConstantDecay({10, 20}, {0.1, 0.01, 0.001})).ptr(),
      opt::Adagrad(0.1, {.initial_accumulator_value = 0.2, .epsilon = 1e-6, .clipvalue = 1.0})
          .ptr(),
      opt::Adagrad(opt::schedules::InverseTimeDecay(0.1, 10, 0.5)).ptr(),
      opt::Adamax(2e-3, {.beta_1 = 0.7, .beta_2 = 0.9, .epsilon = 1e-5, .weight_decay = 0.1}).ptr(),
      opt::Nadam(3e-3, {.beta_1 = 0.85, .beta_2 = 0.95, .epsilon = 1e-8, .clipnorm = 0.5}).ptr(),
  };
  for (const auto& o : optimizers) {
    SCOPED_TRACE(describe(o->config()));
    const auto copy = opt::from_config(o->class_name(), o->config());
    EXPECT_EQ(copy->class_name(), o->class_name());
    EXPECT_EQ(describe(copy->config()), describe(o->config()));
    EXPECT_EQ(copy->learning_rate(), o->learning_rate());
  }
}

TEST(OptimizerFromConfig, ClassNamesInAnyCaseAndKerasDefaults) {
  const auto adam = opt::from_config("adam", {});
  EXPECT_EQ(adam->class_name(), "Adam");
  EXPECT_EQ(adam->learning_rate(), static_cast<float>(1e-3));
  EXPECT_EQ(opt::from_config("SGD", {})->learning_rate(), static_cast<float>(0.01));
  // An int learning rate, None for optional keys, and Keras's ignored `decay`.
  const auto sgd = opt::from_config(
      "sgd", {{"learning_rate", std::int64_t{1}}, {"clipnorm", nullptr}, {"decay", 0.5}});
  EXPECT_EQ(sgd->learning_rate(), 1.0);
  EXPECT_FALSE(sgd->common_options().clipnorm.has_value());
  EXPECT_EQ(opt::from_config("AdamW", {})->common_options().weight_decay, 0.004);
}

TEST(OptimizerFromConfig, RejectsWhatNeuronaDoesNotImplement) {
  NEURONA_EXPECT_THROW_MSG(opt::from_config("Lion", {}), nr::ValueError, "Lion", "Adam", "Nadam");
  NEURONA_EXPECT_THROW_MSG(opt::from_config("Adam", {{"use_ema", true}}), nr::ValueError, "Adam",
                           "use_ema");
  // EMA options are irrelevant without use_ema (Keras reads them only with it).
  EXPECT_NO_THROW(opt::from_config("Adam", {{"use_ema", false}, {"ema_momentum", 0.5}}));
  NEURONA_EXPECT_THROW_MSG(opt::from_config("SGD", {{"loss_scale_factor", 128.0}}), nr::ValueError,
                           "SGD", "loss_scale_factor");
  NEURONA_EXPECT_THROW_MSG(
      opt::from_config("RMSprop", {{"gradient_accumulation_steps", std::int64_t{4}}}),
      nr::ValueError, "RMSprop", "gradient_accumulation_steps");
  NEURONA_EXPECT_THROW_MSG(opt::from_config("Adam", {{"momentum", 0.9}}), nr::ValueError, "Adam",
                           "not recognized", "'momentum'");
  NEURONA_EXPECT_THROW_MSG(opt::from_config("Adam", {{"beta_1", std::string("high")}}),
                           nr::ValueError, "Adam", "beta_1", "number", "str");
  NEURONA_EXPECT_THROW_MSG(opt::from_config("Adam", {{"amsgrad", std::int64_t{1}}}), nr::ValueError,
                           "Adam", "amsgrad", "bool");
  NEURONA_EXPECT_THROW_MSG(opt::from_config("Adam", {{"learning_rate", std::string("fast")}}),
                           nr::ValueError, "Adam", "learning_rate");
  NEURONA_EXPECT_THROW_MSG(opt::from_config("SGD", {{"clipnorm", 1.0}, {"clipvalue", 1.0}}),
                           nr::ValueError, "clipnorm", "clipvalue");
  NEURONA_EXPECT_THROW_MSG(opt::from_config("SGD", {{"momentum", 2.0}}), nr::ValueError,
                           "momentum");
}

TEST(ScheduleFromConfig, EveryScheduleRoundTripsAndRejectsBadConfigs) {
  const std::vector<Schedule> schedules = {
      std::make_shared<opt::schedules::ExponentialDecay>(
          0.1, 100, 0.9, opt::schedules::ExponentialDecayOptions{.staircase = true, .name = "e"}),
      std::make_shared<opt::schedules::PiecewiseConstantDecay>(std::vector<std::int64_t>{5, 9},
                                                               std::vector<double>{1, 0.5, 0.1}),
      std::make_shared<opt::schedules::CosineDecay>(
          0.0, 50, opt::schedules::CosineDecayOptions{.warmup_target = 0.1, .warmup_steps = 5}),
      std::make_shared<opt::schedules::InverseTimeDecay>(0.1, 10, 0.5)};
  for (const Schedule& s : schedules) {
    const Schedule copy = opt::schedules::from_config(s->class_name(), s->config());
    EXPECT_EQ(copy->class_name(), s->class_name());
    EXPECT_EQ(describe(copy->config()), describe(s->config()));
    for (std::int64_t step : {0, 7, 60}) EXPECT_EQ((*copy)(step), (*s)(step));
  }
  NEURONA_EXPECT_THROW_MSG(opt::schedules::from_config("PolynomialDecay", {}), nr::ValueError,
                           "PolynomialDecay", "ExponentialDecay");
  NEURONA_EXPECT_THROW_MSG(
      opt::schedules::from_config("ExponentialDecay", {{"initial_learning_rate", 0.1}}),
      nr::ValueError, "ExponentialDecay", "decay_steps", "required");
  NEURONA_EXPECT_THROW_MSG(
      opt::schedules::from_config(
          "ExponentialDecay",
          {{"initial_learning_rate", 0.1}, {"decay_steps", std::int64_t{0}}, {"decay_rate", 0.5}}),
      nr::ValueError, "decay_steps");
  NEURONA_EXPECT_THROW_MSG(
      opt::schedules::from_config(
          "ExponentialDecay",
          {{"initial_learning_rate", 0.1}, {"decay_steps", 2.5}, {"decay_rate", 0.5}}),
      nr::ValueError, "decay_steps", "int");
  NEURONA_EXPECT_THROW_MSG(opt::schedules::from_config("PiecewiseConstantDecay",
                                                       {{"boundaries", std::vector<double>{1.5}},
                                                        {"values", std::vector<double>{1, 2}}}),
                           nr::ValueError, "boundaries");
}

TEST(LossFromConfig, EveryLossConfigRoundTrips) {
  namespace L = nr::losses;
  const std::vector<std::shared_ptr<L::Loss>> losses = {
      std::make_shared<L::MeanSquaredError>(L::LossOptions{.reduction = L::Reduction::sum}),
      std::make_shared<L::MeanAbsoluteError>(L::LossOptions{.name = "mae_loss"}),
      std::make_shared<L::Huber>(L::HuberOptions{.delta = 2.5}),
      std::make_shared<L::KLDivergence>(L::LossOptions{.reduction = L::Reduction::none}),
      std::make_shared<L::BinaryCrossentropy>(
          L::CrossentropyLossOptions{.from_logits = true, .label_smoothing = 0.1}),
      std::make_shared<L::CategoricalCrossentropy>(
          L::CrossentropyLossOptions{.label_smoothing = 0.2, .axis = 1}),
      std::make_shared<L::SparseCategoricalCrossentropy>(L::SparseCrossentropyLossOptions{
          .from_logits = true, .reduction = L::Reduction::mean_with_sample_weight, .axis = 1})};
  for (const auto& loss : losses) {
    SCOPED_TRACE(describe(loss->config()));
    const auto copy = L::from_config(loss->class_name(), loss->config());
    EXPECT_EQ(copy->class_name(), loss->class_name());
    EXPECT_EQ(describe(copy->config()), describe(loss->config()));
    EXPECT_EQ(copy->name(), loss->name());
  }
  // Keras's exact keys: Huber's default delta is not written (Keras 3.15 never writes it).
  EXPECT_EQ(describe(L::Huber().config()),
            "{name: 'huber_loss'; reduction: 'sum_over_batch_size'; }");
  EXPECT_EQ(describe(L::SparseCategoricalCrossentropy().config()),
            "{name: 'sparse_categorical_crossentropy'; reduction: 'sum_over_batch_size'; "
            "from_logits: False; ignore_class: None; }");
  // Keras's reduction=None leaves the values unreduced.
  EXPECT_EQ(L::from_config("MeanSquaredError", {{"reduction", nullptr}})->reduction(),
            L::Reduction::none);
}

TEST(LossFromConfig, RejectsWhatNeuronaDoesNotImplement) {
  namespace L = nr::losses;
  NEURONA_EXPECT_THROW_MSG(L::from_config("Poisson", {}), nr::ValueError, "Poisson", "Huber");
  NEURONA_EXPECT_THROW_MSG(
      L::from_config("SparseCategoricalCrossentropy", {{"ignore_class", std::int64_t{0}}}),
      nr::ValueError, "SparseCategoricalCrossentropy", "ignore_class");
  NEURONA_EXPECT_THROW_MSG(L::from_config("MeanSquaredError", {{"reduction", std::string("avg")}}),
                           nr::ValueError, "MeanSquaredError", "reduction");
  NEURONA_EXPECT_THROW_MSG(L::from_config("Huber", {{"dtype", std::string("float16")}}),
                           nr::ValueError, "Huber", "dtype");
  NEURONA_EXPECT_THROW_MSG(L::from_config("Huber", {{"from_logits", true}}), nr::ValueError,
                           "Huber", "from_logits", "not recognized");
  NEURONA_EXPECT_THROW_MSG(
      L::from_config("CategoricalCrossentropy", {{"axis", std::int64_t{1000}}}), nr::ValueError,
      "axis");
}

TEST(MetricFromConfig, EveryMetricConfigRoundTrips) {
  namespace M = nr::metrics;
  const std::vector<std::shared_ptr<M::Metric>> metrics = {
      std::make_shared<M::Mean>(M::MetricOptions{.name = "avg"}),
      std::make_shared<M::Accuracy>(),
      std::make_shared<M::BinaryAccuracy>(M::BinaryAccuracyOptions{.threshold = 0.7}),
      std::make_shared<M::CategoricalAccuracy>(M::MetricOptions{.name = "cat_acc"}),
      std::make_shared<M::SparseCategoricalAccuracy>(),
      std::make_shared<M::TopKCategoricalAccuracy>(M::TopKOptions{.k = 3}),
      std::make_shared<M::SparseTopKCategoricalAccuracy>(M::TopKOptions{.k = 2}),
      std::make_shared<M::MeanSquaredError>(),
      std::make_shared<M::MeanAbsoluteError>(),
      std::make_shared<M::Precision>(M::ThresholdOptions{.thresholds = 0.3}),
      std::make_shared<M::Recall>(),
      std::make_shared<M::AUC>(M::AUCOptions{.num_thresholds = 50, .from_logits = true})};
  for (const auto& m : metrics) {
    SCOPED_TRACE(describe(m->config()));
    const auto copy = M::from_config(m->class_name(), m->config());
    EXPECT_EQ(copy->class_name(), m->class_name());
    EXPECT_EQ(describe(copy->config()), describe(m->config()));
    EXPECT_EQ(copy->name(), m->name());
  }
  // Keras writes Precision()'s default threshold as None, and may write one in a list.
  EXPECT_EQ(describe(M::Recall().config()),
            "{name: 'recall'; dtype: 'float32'; thresholds: None; top_k: None; class_id: None; }");
  EXPECT_NO_THROW(M::from_config("Precision", {{"thresholds", std::vector<double>{0.4}}}));
}

TEST(MetricFromConfig, RejectsWhatNeuronaDoesNotImplement) {
  namespace M = nr::metrics;
  NEURONA_EXPECT_THROW_MSG(M::from_config("F1Score", {}), nr::ValueError, "F1Score", "AUC");
  NEURONA_EXPECT_THROW_MSG(M::from_config("AUC", {{"curve", std::string("PR")}}), nr::ValueError,
                           "AUC", "curve");
  NEURONA_EXPECT_THROW_MSG(M::from_config("AUC", {{"multi_label", true}}), nr::ValueError, "AUC",
                           "multi_label");
  NEURONA_EXPECT_THROW_MSG(M::from_config("AUC", {{"num_thresholds", std::int64_t{1} << 40}}),
                           nr::ValueError, "AUC", "num_thresholds");
  NEURONA_EXPECT_THROW_MSG(M::from_config("Precision", {{"top_k", std::int64_t{3}}}),
                           nr::ValueError, "Precision", "top_k");
  NEURONA_EXPECT_THROW_MSG(
      M::from_config("Recall", {{"thresholds", std::vector<double>{0.2, 0.8}}}), nr::ValueError,
      "Recall", "thresholds");
  NEURONA_EXPECT_THROW_MSG(M::from_config("Accuracy", {{"dtype", std::string("float64")}}),
                           nr::ValueError, "Accuracy", "dtype");
  NEURONA_EXPECT_THROW_MSG(M::from_config("Accuracy", {{"k", std::int64_t{3}}}), nr::ValueError,
                           "Accuracy", "not recognized");
  NEURONA_EXPECT_THROW_MSG(M::from_config("TopKCategoricalAccuracy", {{"k", true}}), nr::ValueError,
                           "TopKCategoricalAccuracy", "'k'", "int");
}

TEST(FromConfig, EachClassHasItsOwnFromConfig) {
  namespace L = nr::losses;
  namespace M = nr::metrics;
  EXPECT_EQ(opt::AdamOptimizer::from_config({{"beta_1", 0.8}})->options().beta_1, 0.8);
  EXPECT_EQ(opt::SGDOptimizer::from_config({})->learning_rate(), static_cast<float>(0.01));
  EXPECT_EQ(opt::schedules::CosineDecay::from_config(
                {{"initial_learning_rate", 0.1}, {"decay_steps", std::int64_t{10}}})
                ->class_name(),
            "CosineDecay");
  EXPECT_EQ(L::Huber::from_config({{"delta", 2.0}})->delta(), 2.0);
  EXPECT_EQ(M::AUC::from_config({{"num_thresholds", std::int64_t{50}}})->num_thresholds(), 50);
  // The class's own from_config rejects what its family's does.
  NEURONA_EXPECT_THROW_MSG(L::Huber::from_config({{"from_logits", true}}), nr::ValueError, "Huber",
                           "from_logits");
}

TEST(FromConfig, UnknownClassesListEveryImplementedClass) {
  NEURONA_EXPECT_THROW_MSG(
      opt::from_config("Lion", {}), nr::ValueError,
      "unknown optimizer class 'Lion'; neurona implements Adagrad, Adam, AdamW, Adamax, Nadam, "
      "RMSprop and SGD");
  NEURONA_EXPECT_THROW_MSG(
      opt::schedules::from_config("PolynomialDecay", {}), nr::ValueError,
      "unknown learning rate schedule class 'PolynomialDecay'; neurona implements CosineDecay, "
      "ExponentialDecay, InverseTimeDecay and PiecewiseConstantDecay");
  NEURONA_EXPECT_THROW_MSG(nr::losses::from_config("Poisson", {}), nr::ValueError,
                           "unknown loss class 'Poisson'; neurona implements BinaryCrossentropy, "
                           "CategoricalCrossentropy, Huber, KLDivergence, MeanAbsoluteError, "
                           "MeanSquaredError, SparseCategoricalCrossentropy");
  NEURONA_EXPECT_THROW_MSG(
      nr::metrics::from_config("F1Score", {}), nr::ValueError,
      "unknown metric class 'F1Score'; neurona implements AUC, Accuracy, BinaryAccuracy, "
      "CategoricalAccuracy, Mean, MeanAbsoluteError, MeanSquaredError, Precision, Recall, "
      "SparseCategoricalAccuracy, SparseTopKCategoricalAccuracy, TopKCategoricalAccuracy");
}
