// compile / fit / evaluate / train_on_batch / test_on_batch: Keras 3's trainer loop
// (keras/src/trainers/trainer.py and the backend's epoch iterator) in C++. The data moves to
// the model's device once; each batch is a slice or a gather there; the loss and the metrics
// accumulate in device tensors that are read back only when a callback asks for them (the
// progress bar, a few times a second) and at the end of an epoch. On a GPU each full batch's
// step is replayed from a captured CUDA graph (models/captured_step.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <random>

#include "neurona/autograd/ops.h"
#include "neurona/autograd/tape.h"
#include "neurona/core/random.h"
#include "neurona/data/batching.h"
#include "neurona/models/captured_step.h"
#include "neurona/models/model.h"
#include "neurona/training/loss_scale.h"

namespace neurona {

struct Model::Compiled {
  explicit Compiled(CompileOptions given) : options(std::move(given)) {}
  /// The arguments as given (Keras's _compile_config), for get_compile_config().
  CompileOptions options;
  std::shared_ptr<optimizers::Optimizer> optimizer;
  std::shared_ptr<const losses::Loss> loss;
  double loss_weight = 1.0;
  std::vector<metrics::MetricRef> metric_refs;
  /// Resolved on the first batch, when the output shape is known ("accuracy" depends on it).
  std::vector<std::shared_ptr<metrics::Metric>> metrics;
  bool metrics_resolved = false;
  std::shared_ptr<metrics::Mean> loss_tracker =
      std::make_shared<metrics::Mean>(metrics::MetricOptions{.name = "loss"});
  /// Dynamic loss scaling around `optimizer` (a "mixed_float16" model, auto_scale_loss).
  std::optional<mixed_precision::LossScaleOptimizer> loss_scale;
};

void Model::compile(CompileOptions options) {
  auto state = std::make_shared<Compiled>(options);
  state->optimizer = options.optimizer.get();
  if (options.loss) state->loss = options.loss->loss();
  state->loss_weight = options.loss_weights;
  state->metric_refs = std::move(options.metrics);
  // As Keras: a float16 model's optimizer is wrapped in a LossScaleOptimizer.
  if (options.auto_scale_loss && dtype_policy().name() == "mixed_float16") {
    state->loss_scale.emplace(state->optimizer);
  }
  compiled_ = std::move(state);
}

const CompileOptions& Model::compile_options() const {
  NEURONA_CHECK(compiled_ != nullptr, ValueError, describe(),
                ".compile_options: the model has not been compiled");
  return compiled_->options;
}

bool Model::compiled() const {
  return compiled_ != nullptr;
}

Model::Compiled& Model::compiled_state(const char* caller) const {
  NEURONA_CHECK(compiled_ != nullptr, ValueError, describe(), ".", caller,
                ": you must call compile() before using the model (to set the optimizer, the "
                "loss and the metrics)");
  NEURONA_CHECK(compiled_->loss != nullptr, ValueError, describe(), ".", caller,
                ": no loss was given to compile(); pass .loss = \"...\" (for example "
                "\"sparse_categorical_crossentropy\")");
  return *compiled_;
}

const mixed_precision::LossScaleOptimizer* Model::loss_scale_optimizer() const {
  return compiled_ != nullptr && compiled_->loss_scale ? &*compiled_->loss_scale : nullptr;
}

std::shared_ptr<optimizers::Optimizer> Model::optimizer() const {
  NEURONA_CHECK(compiled_ != nullptr, ValueError, describe(),
                ".optimizer: the model has not been compiled");
  return compiled_->optimizer;
}

std::vector<std::string> Model::metrics_names() const {
  std::vector<std::string> names{"loss"};
  if (compiled_ == nullptr) return names;
  for (const auto& m : compiled_->metrics) names.push_back(m->name());
  return names;
}

namespace {

std::int64_t rows_of(const Tensor& t, const char* what, const std::string& caller) {
  NEURONA_CHECK(t.defined() && t.rank() >= 1, ValueError, caller, ": argument `", what,
                "` must have a batch dimension, got ",
                t.defined() ? layers::shape_str(t.shape()) : std::string("an undefined tensor"));
  return t.shape()[0];
}

Tensor rows(const Tensor& t, std::int64_t start, std::int64_t stop) {
  return t.slice(start, stop);
}

}  // namespace

Tensor Model::compute_loss(const Tensor& y, const Tensor& y_pred, const std::optional<Tensor>& sw) {
  Compiled& state = *compiled_;
  Tensor loss = (*state.loss)(y, y_pred, sw);
  if (state.loss_weight != 1.0) loss = loss * state.loss_weight;
  for (const Tensor& term : losses()) loss = loss + sum(term);
  return loss;
}

void Model::train_step(const Tensor& x, const Tensor& y, const std::optional<Tensor>& sw) {
  // The first step builds the model: its weights exist only after the forward pass.
  // (With loss scaling the step may be skipped: apply_gradients decides after the backward.)
  if (built() && !compiled_->loss_scale) compiled_->optimizer->prepare_step(trainable_weights());
  train_step_body(x, y, sw);
}

void Model::train_step_body(const Tensor& x, const Tensor& y, const std::optional<Tensor>& sw) {
  Compiled& state = *compiled_;
  Tensor y_pred;
  Tensor loss;
  std::vector<Tensor> grads;
  std::vector<Variable> variables;
  const bool prepared = built();
  {
    GradientTape tape;
    y_pred = (*this)(x, /*training=*/true);
    loss = compute_loss(y, y_pred, sw);
    variables = trainable_weights();
    grads = tape.gradient(state.loss_scale ? state.loss_scale->scale_loss(loss) : loss, variables);
  }
  if (state.loss_scale) {
    state.loss_scale->apply_gradients(grads, variables);
  } else if (prepared) {
    state.optimizer->apply_prepared(grads, variables);
  } else {
    state.optimizer->apply_gradients(grads, variables);
  }
  apply_constraints();
  const Tensor batch =
      fill({}, static_cast<double>(x.shape()[0]), {.dtype = loss.dtype(), .device = loss.device()});
  state.loss_tracker->update_state(loss, batch);
  if (!state.metrics_resolved) {
    for (const auto& ref : state.metric_refs) {
      state.metrics.push_back(ref.resolve(y.shape(), y_pred.shape()));
    }
    state.metrics_resolved = true;
  }
  for (auto& m : state.metrics) m->update_state(y, y_pred, sw);
}

void Model::test_step(const Tensor& x, const Tensor& y, const std::optional<Tensor>& sw) {
  Compiled& state = *compiled_;
  Tensor y_pred = (*this)(x, /*training=*/false);
  Tensor loss = compute_loss(y, y_pred, sw);
  const Tensor batch =
      fill({}, static_cast<double>(x.shape()[0]), {.dtype = loss.dtype(), .device = loss.device()});
  state.loss_tracker->update_state(loss, batch);
  if (!state.metrics_resolved) {
    for (const auto& ref : state.metric_refs) {
      state.metrics.push_back(ref.resolve(y.shape(), y_pred.shape()));
    }
    state.metrics_resolved = true;
  }
  for (auto& m : state.metrics) m->update_state(y, y_pred, sw);
}

void Model::reset_metrics() {
  if (compiled_ == nullptr) return;
  compiled_->loss_tracker->reset_state();
  for (auto& m : compiled_->metrics) m->reset_state();
}

std::map<std::string, double> Model::read_metrics(const std::string& prefix) const {
  std::map<std::string, double> logs;
  if (compiled_ == nullptr) return logs;
  logs[prefix + "loss"] = compiled_->loss_tracker->result().item<double>();
  for (const auto& m : compiled_->metrics) logs[prefix + m->name()] = m->result().item<double>();
  return logs;
}

namespace {

// The device the model computes on: its weights' (the default device before it is built).
Device model_device(const Model& model) {
  const auto weights = model.weights();
  return weights.empty() ? default_device() : weights.front().device();
}

// Keras's class_weight: each sample weighs class_weight[label] (labels sparse, or one-hot /
// probabilities by their argmax).
Tensor class_weights_for(const Tensor& y, const std::map<std::int64_t, double>& class_weight,
                         const std::string& caller) {
  const Tensor y_host = y.to(Device::cpu());
  std::vector<std::int64_t> labels;
  if (y_host.rank() >= 2 && y_host.shape()[y_host.rank() - 1] > 1) {
    labels = argmax(y_host, -1).to_vector<std::int64_t>();
  } else {
    labels = cast(y_host, DType::int64).to_vector<std::int64_t>();
  }
  std::vector<float> w(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) {
    auto it = class_weight.find(labels[i]);
    NEURONA_CHECK(it != class_weight.end(), ValueError, caller,
                  ": argument `class_weight` has no weight for class ", labels[i],
                  " (found in the labels); give every class a weight");
    w[i] = static_cast<float>(it->second);
  }
  return constant(w, {static_cast<std::int64_t>(w.size())}, Device::cpu());
}

// A random order of 0..n-1 from the global seed (so that set_seed makes fits repeatable).
std::vector<std::int64_t> shuffled_order(std::int64_t n) {
  const RandomKey key = detail::next_random_key(std::nullopt);
  std::mt19937_64 rng(key.seed * 0x9E3779B97F4A7C15ULL + key.call);
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

int resolve_verbose(int verbose) {
  return verbose == kVerboseAuto ? 1 : verbose;
}

}  // namespace

std::map<std::string, double> Model::run_evaluation(
    const Tensor& x, const Tensor& y, const std::optional<Tensor>& sw, std::int64_t batch_size,
    std::vector<std::shared_ptr<callbacks::Callback>>& cbs) {
  const std::int64_t n = x.shape()[0];
  reset_metrics();
  CapturedStep captured(*this, "evaluate", x.device(), batch_size);
  const auto nothing = [] {};
  callbacks::Logs logs;
  for (auto& cb : cbs) cb->on_test_begin(logs);
  std::int64_t batch = 0;
  for (std::int64_t start = 0; start < n; start += batch_size, ++batch) {
    const std::int64_t stop = std::min(n, start + batch_size);
    callbacks::Logs batch_logs;
    for (auto& cb : cbs) cb->on_test_batch_begin(batch, batch_logs);
    std::vector<Tensor> b{rows(x, start, stop), rows(y, start, stop)};
    if (sw) b.push_back(rows(*sw, start, stop));
    const auto step = [this](const std::vector<Tensor>& t) {
      test_step(t[0], t[1], t.size() > 2 ? std::optional<Tensor>(t[2]) : std::nullopt);
    };
    const bool replayed = captured.run(b, /*prepare=*/nothing, step);
    if (!replayed) step(b);
    bool wanted = false;
    for (auto& cb : cbs) wanted = wanted || cb->wants_batch_logs();
    if (wanted) batch_logs = read_metrics();
    for (auto& cb : cbs) cb->on_test_batch_end(batch, batch_logs);
  }
  logs = read_metrics();
  for (auto& cb : cbs) cb->on_test_end(logs);
  return logs;
}

callbacks::History Model::fit(const Tensor& x_in, const Tensor& y_in, FitOptions options) {
  const std::string caller = describe() + ".fit";
  compiled_state("fit");
  NEURONA_CHECK(options.batch_size > 0, ValueError, caller,
                ": argument `batch_size` must be positive, got ", options.batch_size);
  NEURONA_CHECK(options.epochs >= 0, ValueError, caller, ": argument `epochs` must be >= 0, got ",
                options.epochs);
  NEURONA_CHECK(options.validation_split >= 0.0 && options.validation_split < 1.0, ValueError,
                caller, ": argument `validation_split` must be in [0, 1), got ",
                options.validation_split);
  NEURONA_CHECK(!(options.validation_split > 0.0 && options.validation_data), ValueError, caller,
                ": give either `validation_split` or `validation_data`, not both");
  NEURONA_CHECK(!(options.sample_weight && !options.class_weight.empty()), ValueError, caller,
                ": give either `sample_weight` or `class_weight`, not both");
  const std::int64_t n_all = rows_of(x_in, "x", caller);
  NEURONA_CHECK(rows_of(y_in, "y", caller) == n_all, ShapeError, caller,
                ": x and y must have the same number of samples, got x ",
                layers::shape_str(x_in.shape()), " and y ", layers::shape_str(y_in.shape()));
  std::optional<Tensor> sw_all = options.sample_weight;
  if (sw_all) {
    NEURONA_CHECK(rows_of(*sw_all, "sample_weight", caller) == n_all, ShapeError, caller,
                  ": sample_weight must have one weight per sample, got ",
                  layers::shape_str(sw_all->shape()), " for ", n_all, " samples");
  } else if (!options.class_weight.empty()) {
    sw_all = class_weights_for(y_in, options.class_weight, caller);
  }

  // The model's device: build it first (on a sample batch) so that its weights exist there.
  if (!built()) (void)(*this)(rows(x_in, 0, 1).to(default_device()), false);
  const Device device = model_device(*this);

  // Keras's validation_split: the last fraction, before any shuffling; the training part is
  // floor(n * (1 - split)) samples, as Keras 3 rounds.
  std::int64_t n = n_all;
  std::optional<ValidationData> val = options.validation_data;
  if (options.validation_split > 0.0) {
    try {
      n = data::validation_split_index(n_all, options.validation_split);
    } catch (const ValueError& e) {
      throw ValueError(caller + ": " + e.what());
    }
    val = ValidationData{rows(x_in, n, n_all), rows(y_in, n, n_all),
                         sw_all ? std::optional<Tensor>(rows(*sw_all, n, n_all)) : std::nullopt};
  }
  const Tensor x = rows(x_in, 0, n).to(device);
  const Tensor y = rows(y_in, 0, n).to(device);
  const std::optional<Tensor> sw =
      sw_all ? std::optional<Tensor>(rows(*sw_all, 0, n).to(device)) : std::nullopt;
  if (val) {
    val->x = val->x.to(device);
    val->y = val->y.to(device);
    if (val->sample_weight) val->sample_weight = val->sample_weight->to(device);
  }

  const std::int64_t steps = (n + options.batch_size - 1) / options.batch_size;
  const int verbose = resolve_verbose(options.verbose);
  auto history = std::make_shared<callbacks::History>();
  std::vector<std::shared_ptr<callbacks::Callback>> cbs;
  for (const auto& ref : options.callbacks) cbs.push_back(ref.get());
  cbs.push_back(history);
  if (verbose > 0) cbs.push_back(std::make_shared<callbacks::ProgbarLogger>());
  for (auto& cb : cbs) {
    cb->set_model(this);
    cb->set_params({.epochs = options.epochs, .steps = steps, .verbose = verbose});
  }

  stop_training_ = false;
  resume_epoch_.reset();
  resumed_logs_.clear();
  CapturedStep captured(*this, "fit", device, options.batch_size);
  callbacks::Logs logs;
  for (auto& cb : cbs) cb->on_train_begin(logs);
  // A resumed run's History holds its earlier epochs too, as an uninterrupted run's would.
  for (auto& [epoch, epoch_logs] : resumed_logs_) history->on_epoch_end(epoch, epoch_logs);
  const int first_epoch = resume_epoch_.value_or(options.initial_epoch);
  for (int epoch = first_epoch; epoch < options.epochs && !stop_training_; ++epoch) {
    reset_metrics();
    callbacks::Logs epoch_logs;
    for (auto& cb : cbs) cb->on_epoch_begin(epoch, epoch_logs);
    std::optional<Tensor> order;
    if (options.shuffle) {
      const std::vector<std::int64_t> perm = shuffled_order(n);
      order = constant(perm, {n}, device);
    }
    for (std::int64_t step = 0; step < steps && !stop_training_; ++step) {
      const std::int64_t start = step * options.batch_size;
      const std::int64_t stop = std::min(n, start + options.batch_size);
      callbacks::Logs batch_logs;
      for (auto& cb : cbs) cb->on_train_batch_begin(step, batch_logs);
      Tensor xb, yb;
      std::optional<Tensor> swb;
      if (order) {
        const Tensor idx = order->slice(start, stop);
        xb = gather(x, idx);
        yb = gather(y, idx);
        if (sw) swb = gather(*sw, idx);
      } else {
        xb = rows(x, start, stop);
        yb = rows(y, start, stop);
        if (sw) swb = rows(*sw, start, stop);
      }
      std::vector<Tensor> batch{xb, yb};
      if (swb) batch.push_back(*swb);
      // A loss-scaled step decides on the host whether to apply it: it is not captured.
      const bool replayed =
          !compiled_->loss_scale &&
          captured.run(
              batch, [&] { compiled_->optimizer->prepare_step(trainable_weights()); },
              [&](const std::vector<Tensor>& b) {
                train_step_body(b[0], b[1],
                                b.size() > 2 ? std::optional<Tensor>(b[2]) : std::nullopt);
              });
      if (!replayed) train_step(xb, yb, swb);
      bool wanted = false;
      for (auto& cb : cbs) wanted = wanted || cb->wants_batch_logs();
      if (wanted) batch_logs = read_metrics();
      for (auto& cb : cbs) cb->on_train_batch_end(step, batch_logs);
    }
    epoch_logs = read_metrics();
    if (val) {
      std::vector<std::shared_ptr<callbacks::Callback>> none;
      const auto val_logs =
          run_evaluation(val->x, val->y, val->sample_weight, options.batch_size, none);
      for (const auto& [name, value] : val_logs) epoch_logs["val_" + name] = value;
    }
    for (auto& cb : cbs) cb->on_epoch_end(epoch, epoch_logs);
  }
  callbacks::Logs end_logs;
  for (auto& cb : cbs) cb->on_train_end(end_logs);
  for (auto& cb : cbs) cb->set_model(nullptr);
  return *history;
}

std::map<std::string, double> Model::evaluate(const Tensor& x_in, const Tensor& y_in,
                                              EvaluateOptions options) {
  const std::string caller = describe() + ".evaluate";
  compiled_state("evaluate");
  NEURONA_CHECK(options.batch_size > 0, ValueError, caller,
                ": argument `batch_size` must be positive, got ", options.batch_size);
  const std::int64_t n = rows_of(x_in, "x", caller);
  NEURONA_CHECK(rows_of(y_in, "y", caller) == n, ShapeError, caller,
                ": x and y must have the same number of samples, got x ",
                layers::shape_str(x_in.shape()), " and y ", layers::shape_str(y_in.shape()));
  NEURONA_CHECK(n > 0, ValueError, caller, ": the inputs have no samples");
  if (!built()) (void)(*this)(rows(x_in, 0, 1).to(default_device()), false);
  const Device device = model_device(*this);
  const int verbose = resolve_verbose(options.verbose);
  std::vector<std::shared_ptr<callbacks::Callback>> cbs;
  for (const auto& ref : options.callbacks) cbs.push_back(ref.get());
  if (verbose > 0) cbs.push_back(std::make_shared<callbacks::ProgbarLogger>());
  const std::int64_t steps = (n + options.batch_size - 1) / options.batch_size;
  for (auto& cb : cbs) {
    cb->set_model(this);
    cb->set_params({.epochs = 1, .steps = steps, .verbose = verbose});
  }
  std::optional<Tensor> sw;
  if (options.sample_weight) sw = options.sample_weight->to(device);
  auto logs = run_evaluation(x_in.to(device), y_in.to(device), sw, options.batch_size, cbs);
  for (auto& cb : cbs) cb->set_model(nullptr);
  return logs;
}

std::map<std::string, double> Model::train_on_batch(const Tensor& x, const Tensor& y,
                                                    const std::optional<Tensor>& sample_weight) {
  compiled_state("train_on_batch");
  if (!built()) (void)(*this)(x.to(default_device()), false);
  const Device device = model_device(*this);
  reset_metrics();
  train_step(x.to(device), y.to(device),
             sample_weight ? std::optional<Tensor>(sample_weight->to(device)) : std::nullopt);
  return read_metrics();
}

std::map<std::string, double> Model::test_on_batch(const Tensor& x, const Tensor& y,
                                                   const std::optional<Tensor>& sample_weight) {
  compiled_state("test_on_batch");
  if (!built()) (void)(*this)(x.to(default_device()), false);
  const Device device = model_device(*this);
  reset_metrics();
  test_step(x.to(device), y.to(device),
            sample_weight ? std::optional<Tensor>(sample_weight->to(device)) : std::nullopt);
  return read_metrics();
}

}  // namespace neurona
