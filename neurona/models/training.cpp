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
#include <optional>
#include <random>

#include "neurona/autograd/ops.h"
#include "neurona/autograd/tape.h"
#include "neurona/core/random.h"
#include "neurona/core/replica_context.h"
#include "neurona/data/batching.h"
#include "neurona/distribution/distribution.h"
#include "neurona/models/captured_step.h"
#include "neurona/models/model.h"
#include "neurona/training/loss_scale.h"

namespace neurona {

namespace {

// The variables' values: a GradientReducer's weights.
std::vector<Tensor> values_of(const std::vector<Variable>& variables) {
  std::vector<Tensor> values;
  values.reserve(variables.size());
  for (const Variable& v : variables) values.push_back(v.value());
  return values;
}

// What compile() gives one output of the model.
struct CompiledOutput {
  /// The output layer's name (empty for a model that is not functional).
  std::string name;
  /// Null for an output without a loss.
  std::shared_ptr<const losses::Loss> loss;
  double weight = 1.0;
  /// "<name>_loss", the unweighted loss, where several outputs have one (as Keras).
  std::shared_ptr<metrics::Mean> loss_tracker;
  std::vector<metrics::MetricRef> metric_refs;
  /// Resolved on the first batch, when the shapes are known ("accuracy" depends on them).
  std::vector<std::shared_ptr<metrics::Metric>> metrics;
  /// The names the logs give them: "<name>_<metric>" where the model has several outputs.
  std::vector<std::string> metric_names;
};

}  // namespace

struct Model::Compiled {
  explicit Compiled(CompileOptions given) : options(std::move(given)) {}
  /// The arguments as given (Keras's _compile_config), for get_compile_config().
  CompileOptions options;
  std::shared_ptr<optimizers::Optimizer> optimizer;
  /// One per model output, from the loss, loss weights and metrics given (Keras's CompileLoss
  /// and CompileMetrics, flattened).
  std::vector<CompiledOutput> outputs;
  bool metrics_resolved = false;
  /// The total loss, with the regularization terms ("loss").
  std::shared_ptr<metrics::Mean> loss_tracker =
      std::make_shared<metrics::Mean>(metrics::MetricOptions{.name = "loss"});
  /// Dynamic loss scaling around `optimizer` (a "mixed_float16" model, auto_scale_loss).
  std::optional<mixed_precision::LossScaleOptimizer> loss_scale;
};

namespace {

std::string names_str(const std::vector<std::string>& names) {
  std::string out = "[";
  for (std::size_t i = 0; i < names.size(); ++i) {
    out += neurona::detail::str(i ? ", '" : "'", names[i], "'");
  }
  return out + "]";
}

// A Structure's dict keys, for messages.
template <typename T>
std::vector<std::string> keys_of(const typename Structure<T>::Named& named) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : named) keys.push_back(key);
  return keys;
}

// The position of `name` among the output (input) names; ValueError naming `what` otherwise.
std::size_t position_of(const std::string& name, const std::vector<std::string>& names,
                        const std::string& caller, const std::string& what,
                        const char* kind = "output") {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return i;
  }
  throw ValueError(neurona::detail::str(caller, ": argument `", what, "` names '", name,
                                        "', which is not one of the model's ", kind,
                                        "s: ", names_str(names)));
}

// compile's loss, loss_weights and metrics as one entry per output (Keras's CompileLoss.build
// and CompileMetrics.build for a flat list of outputs). A model that is not functional has one
// output without a name, to which a dict of one entry applies whatever its key.
std::vector<CompiledOutput> resolve_outputs(const CompileOptions& o, std::vector<std::string> names,
                                            const std::string& caller) {
  const bool named = !names.empty();
  if (!named) names = {""};
  const std::size_t n = names.size();
  std::vector<CompiledOutput> outputs(n);
  for (std::size_t k = 0; k < n; ++k) outputs[k].name = names[k];
  // The entry of a dict for output k (a one-entry dict for an unnamed output).
  const auto dict_position = [&](const std::string& key, std::size_t entries,
                                 const std::string& what) {
    if (!named) {
      NEURONA_CHECK(entries == 1, ValueError, caller, ": argument `", what, "` has ", entries,
                    " entries by name for a model with one output");
      return std::size_t{0};
    }
    return position_of(key, names, caller, what);
  };

  // Losses.
  using LossForm = CompileLoss::Form;
  std::vector<std::optional<losses::LossRef>> loss(n);
  switch (o.loss.form()) {
    case LossForm::none:
      break;
    case LossForm::one:
      for (auto& l : loss) l = o.loss.one();
      break;
    case LossForm::list:
      NEURONA_CHECK(o.loss.list().size() == n, ValueError, caller, ": argument `loss` has ",
                    o.loss.list().size(), " entries for a model with ", n, " output",
                    n == 1 ? "" : "s", named ? " " + names_str(names) : std::string(),
                    "; give one loss per output (std::nullopt for none), or one for all");
      loss = o.loss.list();
      break;
    case LossForm::dict: {
      const auto keys = keys_of<std::optional<losses::LossRef>>(o.loss.dict());
      std::vector<std::string> sorted_keys = keys, sorted_names = names;
      std::sort(sorted_keys.begin(), sorted_keys.end());
      std::sort(sorted_names.begin(), sorted_names.end());
      // As Keras: a dict names every output (std::nullopt for one without a loss).
      NEURONA_CHECK(!named || sorted_keys == sorted_names, ValueError, caller,
                    ": argument `loss`: expected keys ", names_str(names),
                    " in loss dict, but found loss.keys()=", names_str(keys));
      for (const auto& [key, value] : o.loss.dict()) {
        loss[dict_position(key, o.loss.dict().size(), "loss")] = value;
      }
      break;
    }
  }
  for (std::size_t k = 0; k < n; ++k) {
    if (loss[k]) outputs[k].loss = loss[k]->loss();
  }

  // Loss weights.
  using WeightForm = LossWeights::Form;
  switch (o.loss_weights.form()) {
    case WeightForm::none:
      break;
    case WeightForm::one:
      for (auto& out : outputs) out.weight = o.loss_weights.one();
      break;
    case WeightForm::list:
      NEURONA_CHECK(o.loss_weights.list().size() == n, ValueError, caller,
                    ": `loss_weights` must match the number of losses, got ", n, " losses and ",
                    o.loss_weights.list().size(), " weights");
      for (std::size_t k = 0; k < n; ++k) outputs[k].weight = o.loss_weights.list()[k];
      break;
    case WeightForm::dict:
      for (const auto& [key, value] : o.loss_weights.dict()) {
        outputs[dict_position(key, o.loss_weights.dict().size(), "loss_weights")].weight = value;
      }
      break;
  }

  // Metrics.
  using MetricForm = CompileMetrics::Form;
  const CompileMetrics& m = o.metrics;
  const auto invalid = [&](const std::string& why) {
    return ValueError(neurona::detail::str(
        caller, ": invalid `metrics`: ", why,
        ". `metrics` should either be a dict or a list matching the output names of the "
        "functional model ",
        names_str(names)));
  };
  switch (m.form()) {
    case MetricForm::list:
      if (n == 1) {
        outputs[0].metric_refs = m.list();
      } else if (!m.list().empty()) {
        // As Keras: a flat list for several outputs holds one metric per output.
        if (m.list().size() != n) {
          throw invalid(neurona::detail::str("a list of ", m.list().size(),
                                             " metrics for a model with ", n, " outputs"));
        }
        for (std::size_t k = 0; k < n; ++k) outputs[k].metric_refs = {m.list()[k]};
      }
      break;
    case MetricForm::per_output:
      if (m.per_output().size() != n) {
        throw invalid(neurona::detail::str("a list of ", m.per_output().size(),
                                           " lists for a model with ", n, " output",
                                           n == 1 ? "" : "s"));
      }
      for (std::size_t k = 0; k < n; ++k) outputs[k].metric_refs = m.per_output()[k];
      break;
    case MetricForm::by_name:
      for (const auto& [key, list] : m.by_name()) {
        outputs[dict_position(key, m.by_name().size(), "metrics")].metric_refs = list;
      }
      break;
  }

  // "<output>_loss" trackers where several outputs have a loss.
  std::size_t with_loss = 0;
  for (const auto& out : outputs) with_loss += out.loss != nullptr;
  if (with_loss > 1) {
    for (auto& out : outputs) {
      if (out.loss == nullptr) continue;
      out.loss_tracker = std::make_shared<metrics::Mean>(
          metrics::MetricOptions{.name = neurona::detail::str(out.name, "_loss")});
    }
  }
  return outputs;
}

}  // namespace

void Model::compile(CompileOptions options) {
  auto state = std::make_shared<Compiled>(options);
  state->optimizer = options.optimizer.get();
  state->outputs = resolve_outputs(options, output_names(), describe() + ".compile");
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
  bool any_loss = false;
  for (const auto& out : compiled_->outputs) any_loss = any_loss || out.loss != nullptr;
  NEURONA_CHECK(any_loss, ValueError, describe(), ".", caller,
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
  // Keras's order: the total loss, the compiled metrics, then each output's loss.
  std::vector<std::string> names{"loss"};
  if (compiled_ == nullptr) return names;
  for (const auto& out : compiled_->outputs) {
    names.insert(names.end(), out.metric_names.begin(), out.metric_names.end());
  }
  for (const auto& out : compiled_->outputs) {
    if (out.loss_tracker) names.push_back(out.loss_tracker->name());
  }
  return names;
}

// A step's tensors in one list, so that a batch is sliced, gathered, moved and captured as a
// whole: the inputs, the targets, then the sample weights given.
struct Model::StepData {
  std::vector<Tensor> tensors;
  std::size_t num_inputs = 0;
  /// Per output: the index of its target in `tensors`, or -1 for none.
  std::vector<std::ptrdiff_t> target;
  /// Per output: the index of its sample weights in `tensors`, or -1 for none (one tensor
  /// given for every output is held once).
  std::vector<std::ptrdiff_t> weight;

  std::vector<Tensor> inputs() const {
    return {tensors.begin(), tensors.begin() + static_cast<std::ptrdiff_t>(num_inputs)};
  }
  const Tensor& y(std::size_t k) const { return tensors[static_cast<std::size_t>(target[k])]; }
  std::optional<Tensor> sample_weight(std::size_t k) const {
    if (weight[k] < 0) return std::nullopt;
    return tensors[static_cast<std::size_t>(weight[k])];
  }
  std::int64_t rows() const { return tensors.front().shape()[0]; }
  /// The same layout over other tensors (a batch of these, on another device).
  StepData with(std::vector<Tensor> others) const {
    StepData out = *this;
    out.tensors = std::move(others);
    return out;
  }
  template <typename F>
  StepData map(F f) const {
    std::vector<Tensor> out;
    for (const Tensor& t : tensors) out.push_back(f(t));
    return with(std::move(out));
  }
};

namespace {

std::int64_t rows_of(const Tensor& t, const std::string& what, const std::string& caller) {
  NEURONA_CHECK(t.defined() && t.rank() >= 1, ValueError, caller, ": argument `", what,
                "` must have a batch dimension, got ",
                t.defined() ? layers::shape_str(t.shape()) : std::string("an undefined tensor"));
  return t.shape()[0];
}

// A Structure of tensors as a list in the order of `names`: one tensor, a list of as many, or
// a dict by name (every name given once). An empty `names` stands for one unnamed entry.
std::vector<Tensor> ordered(const Tensors& t, const std::vector<std::string>& names,
                            const std::string& what, const std::string& caller, const char* kind) {
  const std::size_t n = std::max<std::size_t>(1, names.size());
  switch (t.form()) {
    case Tensors::Form::none:
      throw ValueError(neurona::detail::str(caller, ": argument `", what, "` is empty"));
    case Tensors::Form::one:
      NEURONA_CHECK(n == 1, ValueError, caller, ": the model has ", n, " ", kind, "s ",
                    names_str(names), "; give `", what, "` as a list of ", n,
                    " tensors or a dict by ", kind, " name");
      return {t.one()};
    case Tensors::Form::list:
      NEURONA_CHECK(t.list().size() == n, ValueError, caller, ": argument `", what, "` has ",
                    t.list().size(), " tensors for a model with ", n, " ", kind, n == 1 ? "" : "s",
                    names.empty() ? std::string() : " " + names_str(names));
      return t.list();
    case Tensors::Form::dict: {
      std::vector<Tensor> out(n);
      if (names.empty()) {
        NEURONA_CHECK(t.dict().size() == 1, ValueError, caller, ": argument `", what, "` has ",
                      t.dict().size(), " tensors by name for a model with one ", kind);
        return {t.dict().front().second};
      }
      for (const auto& [key, value] : t.dict()) {
        const std::size_t k = position_of(key, names, caller, what, kind);
        NEURONA_CHECK(!out[k].defined(), ValueError, caller, ": argument `", what, "` gives '", key,
                      "' twice");
        out[k] = value;
      }
      for (std::size_t k = 0; k < n; ++k) {
        NEURONA_CHECK(out[k].defined(), ValueError, caller, ": argument `", what,
                      "` has no tensor for ", kind, " '", names[k], "'");
      }
      return out;
    }
  }
  return {};
}

}  // namespace

std::vector<Tensor> Model::input_tensors(const Tensors& x, const std::string& caller) const {
  std::vector<std::string> input_names;
  if (graph_) {
    for (const auto& t : inputs()) input_names.push_back(t.layer().name());
    if (input_names.size() == 1) input_names.clear();  // one input: no name needed
  }
  // By input (a single-input model also takes a one-entry dict).
  return ordered(x, input_names, "x", caller, "input");
}

Model::StepData Model::step_data(const Tensors& x, const Tensors& y,
                                 const std::optional<Tensors>& sw, const std::string& caller) {
  const Compiled& state = *compiled_;
  StepData data;
  data.tensors = input_tensors(x, caller);
  data.num_inputs = data.tensors.size();
  for (std::size_t i = 0; i < data.num_inputs; ++i) {
    rows_of(data.tensors[i], data.num_inputs > 1 ? neurona::detail::str("x[", i, "]") : "x",
            caller);
  }

  // y: one target per output, or only for the outputs that have a loss (Keras's partial y).
  const std::size_t n = state.outputs.size();
  std::vector<std::string> names;
  for (const auto& out : state.outputs) names.push_back(out.name);
  std::vector<std::size_t> with_loss;
  for (std::size_t k = 0; k < n; ++k) {
    if (state.outputs[k].loss) with_loss.push_back(k);
  }
  data.target.assign(n, -1);
  const auto add_target = [&](std::size_t k, const Tensor& t) {
    data.target[k] = static_cast<std::ptrdiff_t>(data.tensors.size());
    data.tensors.push_back(t);
  };
  if (n == 1) {
    add_target(0, ordered(y, {}, "y", caller, "output")[0]);
  } else if (y.form() == Tensors::Form::dict) {
    for (const auto& [key, value] : y.dict()) {
      const std::size_t k = position_of(key, names, caller, "y");
      NEURONA_CHECK(data.target[k] < 0, ValueError, caller, ": argument `y` gives '", key,
                    "' twice");
      add_target(k, value);
    }
  } else {
    const std::vector<Tensor> given =
        y.form() == Tensors::Form::one ? std::vector<Tensor>{y.one()} : y.list();
    if (given.size() == n) {
      for (std::size_t k = 0; k < n; ++k) add_target(k, given[k]);
    } else if (given.size() == with_loss.size()) {
      for (std::size_t i = 0; i < given.size(); ++i) add_target(with_loss[i], given[i]);
    } else {
      throw ValueError(neurona::detail::str(
          caller, ": argument `y` has ", given.size(), " tensor", given.size() == 1 ? "" : "s",
          " for a model with ", n, " outputs ", names_str(names), ", ", with_loss.size(),
          " of them with a loss; give one target per output, one per output with a loss, or a "
          "dict by output name"));
    }
  }
  for (std::size_t k = 0; k < n; ++k) {
    const auto& out = state.outputs[k];
    NEURONA_CHECK(data.target[k] >= 0 || (out.loss == nullptr && out.metric_refs.empty()),
                  ValueError, caller, ": argument `y` has no target for output '", out.name,
                  "', which has a ", out.loss ? "loss" : "metric");
  }

  // sample_weight: one for all outputs, or per output as y is given (a list of one per output
  // with a loss where y is), or by output name.
  data.weight.assign(n, -1);
  if (sw && sw->form() == Tensors::Form::one) {
    const auto at = static_cast<std::ptrdiff_t>(data.tensors.size());
    data.tensors.push_back(sw->one());
    data.weight.assign(n, at);
  } else if (sw && sw->form() == Tensors::Form::list && n > 1 &&
             sw->list().size() == with_loss.size() && with_loss.size() < n) {
    for (std::size_t i = 0; i < with_loss.size(); ++i) {
      data.weight[with_loss[i]] = static_cast<std::ptrdiff_t>(data.tensors.size());
      data.tensors.push_back(sw->list()[i]);
    }
  } else if (sw) {
    const std::vector<Tensor> per = ordered(*sw, n == 1 ? std::vector<std::string>{} : names,
                                            "sample_weight", caller, "output");
    for (std::size_t k = 0; k < n; ++k) {
      data.weight[k] = static_cast<std::ptrdiff_t>(data.tensors.size());
      data.tensors.push_back(per[k]);
    }
  }

  // Every tensor has a row per sample.
  const std::int64_t samples = data.tensors.front().shape()[0];
  for (std::size_t k = 0; k < n; ++k) {
    const std::string suffix = n > 1 ? neurona::detail::str("['", names[k], "']") : "";
    if (data.target[k] >= 0) {
      NEURONA_CHECK(rows_of(data.y(k), neurona::detail::str("y", suffix), caller) == samples,
                    ShapeError, caller, ": x and y", suffix,
                    " must have the same number of samples, got x ",
                    layers::shape_str(data.tensors.front().shape()), " and y", suffix, " ",
                    layers::shape_str(data.y(k).shape()));
    }
    if (data.weight[k] >= 0) {
      const Tensor w = *data.sample_weight(k);
      NEURONA_CHECK(rows_of(w, neurona::detail::str("sample_weight", suffix), caller) == samples,
                    ShapeError, caller, ": sample_weight", suffix,
                    " must have one weight per sample, got ", layers::shape_str(w.shape()), " for ",
                    samples, " samples");
    }
  }
  for (std::size_t i = 1; i < data.num_inputs; ++i) {
    NEURONA_CHECK(data.tensors[i].shape()[0] == samples, ShapeError, caller,
                  ": all inputs need the same number of samples; x[0] has ", samples, ", x[", i,
                  "] has ", data.tensors[i].shape()[0]);
  }
  return data;
}

Tensor Model::compute_loss(const StepData& data, const std::vector<Tensor>& y_pred,
                           std::vector<Tensor>& per_output) {
  Compiled& state = *compiled_;
  NEURONA_CHECK(y_pred.size() == state.outputs.size(), ValueError, describe(), ": the model gave ",
                y_pred.size(), " outputs where compile() expected ", state.outputs.size());
  per_output.assign(y_pred.size(), Tensor());
  Tensor total;
  for (std::size_t k = 0; k < y_pred.size(); ++k) {
    const auto& out = state.outputs[k];
    if (out.loss == nullptr) continue;
    per_output[k] = (*out.loss)(data.y(k), y_pred[k], data.sample_weight(k));
    Tensor weighted = out.weight != 1.0 ? per_output[k] * out.weight : per_output[k];
    total = total.defined() ? total + weighted : weighted;
  }
  for (const Tensor& term : losses()) total = total + sum(term);
  return total;
}

void Model::update_metrics(const StepData& data, const std::vector<Tensor>& y_pred,
                           const Tensor& loss, const std::vector<Tensor>& per_output) {
  Compiled& state = *compiled_;
  const auto batch = [&](const Tensor& like) {
    return fill({}, static_cast<double>(data.rows()),
                {.dtype = like.dtype(), .device = like.device()});
  };
  state.loss_tracker->update_state(loss, batch(loss));
  for (std::size_t k = 0; k < state.outputs.size(); ++k) {
    auto& out = state.outputs[k];
    if (out.loss_tracker) out.loss_tracker->update_state(per_output[k], batch(per_output[k]));
  }
  if (!state.metrics_resolved) {
    // As Keras's CompileMetrics.result: "<output>_<metric>" for several outputs, and a repeated
    // name numbered "_1", "_2", ...
    std::map<std::string, int> seen;
    for (std::size_t k = 0; k < state.outputs.size(); ++k) {
      auto& out = state.outputs[k];
      for (const auto& ref : out.metric_refs) {
        out.metrics.push_back(ref.resolve(data.y(k).shape(), y_pred[k].shape()));
        std::string name = out.metrics.back()->name();
        if (state.outputs.size() > 1) name = neurona::detail::str(out.name, "_", name);
        const int count = seen[name]++;
        if (count > 0) name = neurona::detail::str(name, "_", count);
        out.metric_names.push_back(name);
      }
    }
    state.metrics_resolved = true;
  }
  // Keras's `metrics` are not weighted by the sample weights (its `weighted_metrics` are).
  for (std::size_t k = 0; k < state.outputs.size(); ++k) {
    for (auto& m : state.outputs[k].metrics) m->update_state(data.y(k), y_pred[k]);
  }
}

void Model::train_step(const StepData& data, bool stand_in) {
  // The first step builds the model: its weights exist only after the forward pass.
  // (With loss scaling the step may be skipped: apply_gradients decides after the backward.)
  if (built() && !compiled_->loss_scale) compiled_->optimizer->prepare_step(trainable_weights());
  train_step_body(data, stand_in);
}

void Model::train_step_body(const StepData& data, bool stand_in) {
  Compiled& state = *compiled_;
  std::vector<Tensor> y_pred;
  std::vector<Tensor> per_output;
  Tensor loss;
  std::vector<Tensor> grads;
  std::vector<Variable> variables;
  const bool prepared = built();
  // Under a DataParallel distribution the gradients' all-reduce starts bucket by bucket during
  // the backward pass, as the tape finishes them.
  const auto dist = distribution::distribution();
  std::optional<distribution::GradientReducer> reducer;
  {
    GradientTape tape;
    y_pred = forward(data.inputs(), /*training=*/true);
    loss = compute_loss(data, y_pred, per_output);
    variables = trainable_weights();
    GradientOptions options;
    if (dist) {
      // This replica's rows over the global batch's: its gradients' weight in the sum.
      const detail::ReplicaContext* replica = detail::current_replica_context();
      reducer.emplace(dist->communicator(), values_of(variables),
                      replica != nullptr ? replica->share : 1.0, dist->bucket_bytes());
      options.on_gradient = [&](std::size_t i, const Tensor& g) { reducer->ready(i, g); };
    }
    grads = tape.gradient(state.loss_scale ? state.loss_scale->scale_loss(loss) : loss, variables,
                          options);
  }
  if (reducer) grads = reducer->finish();
  apply_step_gradients(grads, variables, prepared);
  if (!stand_in) update_metrics(data, y_pred, loss, per_output);
}

void Model::apply_step_gradients(std::vector<Tensor>& grads, const std::vector<Variable>& variables,
                                 bool prepared) {
  Compiled& state = *compiled_;
  if (state.loss_scale) {
    state.loss_scale->apply_gradients(grads, variables);
  } else if (prepared) {
    state.optimizer->apply_prepared(grads, variables);
  } else {
    state.optimizer->apply_gradients(grads, variables);
  }
  apply_constraints();
}

void Model::test_step(const StepData& data) {
  const std::vector<Tensor> y_pred = forward(data.inputs(), /*training=*/false);
  std::vector<Tensor> per_output;
  const Tensor loss = compute_loss(data, y_pred, per_output);
  update_metrics(data, y_pred, loss, per_output);
}

void Model::reset_metrics() {
  if (compiled_ == nullptr) return;
  compiled_->loss_tracker->reset_state();
  for (auto& out : compiled_->outputs) {
    if (out.loss_tracker) out.loss_tracker->reset_state();
    for (auto& m : out.metrics) m->reset_state();
  }
}

std::map<std::string, double> Model::read_metrics(const std::string& prefix) const {
  std::map<std::string, double> logs;
  if (compiled_ == nullptr) return logs;
  // Under a DataParallel distribution every replica reads the global values: the metrics'
  // states summed across replicas (one all-reduce), the results read, the local states put back.
  const auto dist = distribution::distribution();
  std::vector<Variable> states;
  std::vector<Tensor> local;
  if (dist) {
    const auto add = [&](const metrics::Metric& m) {
      for (const Variable& v : m.variables()) {
        states.push_back(v);
        local.push_back(v.value().clone());
      }
    };
    add(*compiled_->loss_tracker);
    for (const auto& out : compiled_->outputs) {
      if (out.loss_tracker) add(*out.loss_tracker);
      for (const auto& m : out.metrics) add(*m);
    }
    std::vector<Tensor> sums = local;
    dist->communicator().all_reduce_sum(sums);
    for (std::size_t i = 0; i < states.size(); ++i) states[i].assign(sums[i]);
  }
  logs[prefix + "loss"] = compiled_->loss_tracker->result().item<double>();
  for (const auto& out : compiled_->outputs) {
    if (out.loss_tracker)
      logs[prefix + out.loss_tracker->name()] = out.loss_tracker->result().item<double>();
    for (std::size_t i = 0; i < out.metrics.size(); ++i) {
      logs[prefix + out.metric_names[i]] = out.metrics[i]->result().item<double>();
    }
  }
  for (std::size_t i = 0; i < states.size(); ++i) states[i].assign(local[i]);
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

Device Model::built_device(const StepData& data, std::int64_t rows, bool global_batch) {
  if (built()) return model_device(*this);
  const std::vector<Tensor> inputs = data.inputs();
  rows = std::min(std::max<std::int64_t>(rows, 1), inputs.front().shape()[0]);
  if (inputs.size() == 1 && builds_from_shape()) {
    Shape shape = inputs.front().shape();
    shape[0] = rows;
    ensure_built(shape);
    return model_device(*this);
  }
  if (const auto dist = distribution::distribution(); dist && global_batch) {
    const auto [begin, end] = dist->shard(rows);
    rows = std::max<std::int64_t>(end - begin, 1);
  }
  std::vector<Tensor> sample;
  for (const Tensor& t : inputs) {
    sample.push_back(t.slice(0, std::min(rows, t.shape()[0])).to(default_device()));
  }
  (void)forward(sample, /*training=*/false);
  return model_device(*this);
}

// Where the batches of fit and evaluate come from, one epoch at a time.
struct Model::BatchSource {
  virtual ~BatchSource() = default;
  /// Batches per epoch; 0 when unknown (a dataset of unknown length without steps).
  virtual std::int64_t steps() const = 0;
  /// Called at the start of every epoch (after the callbacks' on_epoch_begin).
  virtual void begin_epoch() {}
  /// The epoch's next batch on the model's device; none at the end of the epoch.
  virtual std::optional<StepData> next() = 0;
  /// fit's validation_data as batches (a Dataset's, or the tensors' on the model's device); null
  /// without it.
  static std::unique_ptr<BatchSource> validation(Model& model, const FitOptions& options,
                                                 const std::string& caller);
};

// Slices (or, shuffled, gathers) of tensors already on the device: the device-resident path.
struct Model::TensorBatches final : Model::BatchSource {
  TensorBatches(StepData on_device, std::int64_t batch, bool shuffled)
      : data(std::move(on_device)), batch_size(batch), shuffle(shuffled) {}
  std::int64_t steps() const override {
    return data.rows() / batch_size + (data.rows() % batch_size != 0);  // no rows + batch - 1
  }
  void begin_epoch() override {
    step = 0;
    if (shuffle) {
      const std::int64_t n = data.rows();
      order = constant(shuffled_order(n), {n}, data.tensors.front().device());
    }
  }
  std::optional<StepData> next() override {
    if (step >= steps()) return std::nullopt;
    const std::int64_t start = step * batch_size;
    const std::int64_t stop = std::min(data.rows(), start + batch_size);
    ++step;
    if (order) {
      return data.map(
          [idx = order->slice(start, stop)](const Tensor& t) { return gather(t, idx); });
    }
    return data.map([&](const Tensor& t) { return t.slice(start, stop); });
  }

  StepData data;
  std::int64_t batch_size;
  bool shuffle;
  std::int64_t step = 0;
  std::optional<Tensor> order;
};

// The elements of a Dataset, each a batch, moved to the model's device. With `steps` the passes
// run on from one epoch into the next, and an epoch ends after that many batches, or earlier,
// with Keras's warning, where a pass runs out (the next epoch starts a new one).
struct Model::DatasetBatches final : Model::BatchSource {
  DatasetBatches(Model& m, data::Dataset ds, std::optional<std::int64_t> steps_given,
                 std::string call, std::map<std::int64_t, double> weights = {})
      : model(m),
        dataset(std::move(ds)),
        steps_per_epoch(steps_given),
        caller(std::move(call)),
        class_weight(std::move(weights)) {
    NEURONA_CHECK(!steps_per_epoch || *steps_per_epoch > 0, ValueError, caller,
                  ": the number of steps must be positive, got ", *steps_per_epoch);
    NEURONA_CHECK(steps_per_epoch || dataset.cardinality() != data::kInfiniteCardinality,
                  ValueError, caller, ": the dataset is infinite (", dataset.describe(),
                  "); give the number of steps (steps_per_epoch, validation_steps or steps)");
  }
  std::int64_t steps() const override {
    if (steps_per_epoch) return *steps_per_epoch;
    return std::max<std::int64_t>(dataset.cardinality(), 0);
  }
  void begin_epoch() override {
    taken = 0;
    if (!steps_per_epoch || !iterator) iterator.emplace(dataset.iterator());
  }
  std::optional<StepData> next() override {
    if (steps_per_epoch && taken >= *steps_per_epoch) return std::nullopt;
    std::optional<data::Element> e = iterator->next();
    if (!e) {
      iterator.reset();
      if (steps_per_epoch) {
        std::fprintf(stderr,
                     "neurona: %s: your input ran out of data; interrupting the epoch. Make sure "
                     "that your dataset can generate at least `steps_per_epoch * epochs` batches; "
                     "you may need .repeat() when building it.\n",
                     caller.c_str());
      }
      return std::nullopt;
    }
    ++taken;
    StepData batch = split(*e);
    if (first_batch) {
      device = model.built_device(batch, batch.rows());
      first_batch = false;
    }
    return batch.map([&](const Tensor& t) { return t.to(device); });
  }

  // An element as x, y and sample weights: the model's inputs, a target per output, then one
  // sample weight for all outputs or one per output.
  StepData split(const data::Element& e) const {
    if (const data::ElementStructure* s = dataset.structure()) {
      // Made from parts (from_tensor_slices(x, y[, sample_weight])): as fit(x, y) reads them.
      std::vector<Tensors> parts = s->group(e, caller);
      NEURONA_CHECK(parts[1].given(), ValueError, caller,
                    ": the dataset has no targets (it was made without y) ", s->str());
      std::optional<Tensors> sw;
      if (parts.size() > 2) sw = std::move(parts[2]);
      return with_class_weight(model.step_data(parts[0], parts[1], sw, caller), sw.has_value());
    }
    const std::size_t inputs = model.graph_ ? model.inputs().size() : 1;
    const std::size_t outputs = model.compiled_->outputs.size();
    const std::size_t n = e.size();
    const auto part = [&](std::size_t from, std::size_t count) -> Tensors {
      if (count == 1) return e[from];
      return std::vector<Tensor>(e.begin() + static_cast<std::ptrdiff_t>(from),
                                 e.begin() + static_cast<std::ptrdiff_t>(from + count));
    };
    std::optional<Tensors> sw;
    if (n == inputs + outputs + 1) {
      sw = Tensors(e.back());
    } else if (outputs > 1 && n == inputs + 2 * outputs) {
      sw = part(inputs + outputs, outputs);
    } else if (n != inputs + outputs) {
      std::string shapes;
      for (std::size_t i = 0; i < n; ++i) {
        shapes += neurona::detail::str(i ? ", " : "", layers::shape_str(e[i].shape()));
      }
      throw ValueError(neurona::detail::str(
          caller, ": a dataset element has ", n, " tensors (", shapes, ") for a model with ",
          inputs, " input", inputs == 1 ? "" : "s", " and ", outputs, " output",
          outputs == 1 ? "" : "s", "; give (x, y) or (x, y, sample_weight): ", inputs + outputs,
          " or ", inputs + outputs + 1,
          outputs > 1 ? neurona::detail::str(" or ", inputs + 2 * outputs) : std::string(),
          " tensors"));
    }
    return with_class_weight(model.step_data(part(0, inputs), part(inputs, outputs), sw, caller),
                             sw.has_value());
  }

  // fit's class_weight as the step's sample weights (the dataset's own exclude it).
  StepData with_class_weight(StepData out, bool has_sample_weight) const {
    NEURONA_CHECK(!(has_sample_weight && !class_weight.empty()), ValueError, caller,
                  ": give either sample weights in the dataset or `class_weight`, not both");
    if (!class_weight.empty()) {
      const Tensor w = class_weights_for(out.y(0), class_weight, caller);
      out.weight.assign(1, static_cast<std::ptrdiff_t>(out.tensors.size()));
      out.tensors.push_back(w);
    }
    return out;
  }

  Model& model;
  data::Dataset dataset;
  std::optional<std::int64_t> steps_per_epoch;
  std::string caller;
  std::map<std::int64_t, double> class_weight;
  std::optional<data::Iterator> iterator;
  std::int64_t taken = 0;
  bool first_batch = true;
  Device device = Device::cpu();
};

std::unique_ptr<Model::BatchSource> Model::BatchSource::validation(Model& model,
                                                                   const FitOptions& options,
                                                                   const std::string& caller) {
  if (!options.validation_data) return nullptr;
  const std::string who = caller + " (validation_data)";
  const ValidationData& v = *options.validation_data;
  if (v.dataset) {
    return std::make_unique<DatasetBatches>(model, *v.dataset, options.validation_steps, who);
  }
  const StepData data = model.step_data(v.x, v.y, v.sample_weight, who);
  const Device device = model.built_device(data, options.batch_size);
  return std::make_unique<TensorBatches>(data.map([&](const Tensor& t) { return t.to(device); }),
                                         options.batch_size, false);
}

std::map<std::string, double> Model::run_evaluation(
    BatchSource& batches, std::vector<std::shared_ptr<callbacks::Callback>>& cbs) {
  reset_metrics();
  std::unique_ptr<CapturedStep> captured;
  const auto nothing = [] {};
  const auto dist = distribution::distribution();
  callbacks::Logs logs;
  for (auto& cb : cbs) cb->on_test_begin(logs);
  batches.begin_epoch();
  for (std::int64_t batch = 0;; ++batch) {
    callbacks::Logs batch_logs;
    for (auto& cb : cbs) cb->on_test_batch_begin(batch, batch_logs);
    std::optional<StepData> b = batches.next();
    if (!b) break;
    // Replays serve batches of the first one's size.
    if (!captured) {
      captured =
          std::make_unique<CapturedStep>(*this, "evaluate", b->tensors.front().device(), b->rows());
    }
    if (dist) {
      // This replica's rows of the global batch; the metrics are summed when read.
      // (Not a structured binding: clang before 16 cannot capture one in a lambda.)
      const std::pair<std::int64_t, std::int64_t> rows = dist->shard(b->rows());
      const std::int64_t begin = rows.first, end = rows.second;
      if (end > begin) test_step(b->map([&](const Tensor& t) { return t.slice(begin, end); }));
    } else {
      const auto step = [&](const std::vector<Tensor>& t) { test_step(b->with(t)); };
      const bool replayed = captured->run(b->tensors, /*prepare=*/nothing, step);
      if (!replayed) test_step(*b);
    }
    bool wanted = false;
    for (auto& cb : cbs) wanted = wanted || cb->wants_batch_logs();
    if (dist) {
      auto global_logs = read_metrics();  // a collective: as fit's loop
      if (wanted) batch_logs = std::move(global_logs);
    } else if (wanted) {
      batch_logs = read_metrics();
    }
    for (auto& cb : cbs) cb->on_test_batch_end(batch, batch_logs);
  }
  NEURONA_CHECK(captured != nullptr, ValueError, describe(),
                ".evaluate: the data gave no batches to evaluate");
  logs = read_metrics();
  for (auto& cb : cbs) cb->on_test_end(logs);
  return logs;
}

namespace {

void check_fit_options(const FitOptions& options, const std::string& caller) {
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
}

}  // namespace

callbacks::History Model::fit(const Tensors& x_in, const Tensors& y_in, FitOptions options) {
  const std::string caller = describe() + ".fit";
  compiled_state("fit");
  check_fit_options(options, caller);
  NEURONA_CHECK(options.class_weight.empty() || compiled_->outputs.size() == 1, ValueError, caller,
                ": `class_weight` is only supported for Models with a single output.");
  NEURONA_CHECK(!options.steps_per_epoch, ValueError, caller,
                ": `steps_per_epoch` applies to a Dataset; with tensors an epoch is every batch of "
                "batch_size samples");
  StepData all = step_data(x_in, y_in, options.sample_weight, caller);
  if (!options.class_weight.empty()) {
    const Tensor w = class_weights_for(all.y(0), options.class_weight, caller);
    all.weight.assign(1, static_cast<std::ptrdiff_t>(all.tensors.size()));
    all.tensors.push_back(w);
  }
  const std::int64_t n_all = all.rows();

  // Keras's validation_split: the last fraction, before any shuffling; the training part is
  // floor(n * (1 - split)) samples, as Keras 3 rounds.
  std::int64_t n = n_all;
  if (options.validation_split > 0.0) {
    try {
      n = data::validation_split_index(n_all, options.validation_split);
    } catch (const ValueError& e) {
      throw ValueError(caller + ": " + e.what());
    }
  }
  const Device device = built_device(all, std::min(options.batch_size, n));
  std::unique_ptr<BatchSource> val = BatchSource::validation(*this, options, caller);
  if (options.validation_split > 0.0) {
    val = std::make_unique<TensorBatches>(
        all.map([&](const Tensor& t) { return t.slice(n, n_all).to(device); }), options.batch_size,
        false);
  }
  TensorBatches train(all.map([&](const Tensor& t) { return t.slice(0, n).to(device); }),
                      options.batch_size, options.shuffle);
  return fit_loop(train, val.get(), options, device);
}

callbacks::History Model::fit(const data::Dataset& dataset, FitOptions options) {
  const std::string caller = describe() + ".fit";
  compiled_state("fit");
  check_fit_options(options, caller);
  NEURONA_CHECK(options.validation_split == 0.0, ValueError, caller,
                ": `validation_split` is only supported for tensors, not a Dataset; give "
                "`validation_data` (a Dataset of its own, or dataset.take/skip)");
  NEURONA_CHECK(!options.sample_weight, ValueError, caller,
                ": with a Dataset the sample weights come in its elements, (x, y, sample_weight)");
  NEURONA_CHECK(options.class_weight.empty() || compiled_->outputs.size() == 1, ValueError, caller,
                ": `class_weight` is only supported for Models with a single output.");
  DatasetBatches train(*this, dataset, options.steps_per_epoch, caller, options.class_weight);
  std::unique_ptr<BatchSource> val = BatchSource::validation(*this, options, caller);
  return fit_loop(train, val.get(), options, model_device(*this));
}

callbacks::History Model::fit_loop(BatchSource& train, BatchSource* val, const FitOptions& options,
                                   Device device) {
  const int verbose = resolve_verbose(options.verbose);
  auto history = std::make_shared<callbacks::History>();
  std::vector<std::shared_ptr<callbacks::Callback>> cbs;
  for (const auto& ref : options.callbacks) cbs.push_back(ref.get());
  cbs.push_back(history);
  if (verbose > 0) cbs.push_back(std::make_shared<callbacks::ProgbarLogger>());
  for (auto& cb : cbs) {
    cb->set_model(this);
    cb->set_params({.epochs = options.epochs, .steps = train.steps(), .verbose = verbose});
  }

  stop_training_ = false;
  resume_epoch_.reset();
  resumed_logs_.clear();
  std::unique_ptr<CapturedStep> captured;
  callbacks::Logs logs;
  for (auto& cb : cbs) cb->on_train_begin(logs);
  // Every replica starts from rank 0's weights (after BackupAndRestore, which every replica
  // reads, has restored them).
  const auto dist = distribution::distribution();
  if (dist) {
    std::vector<Variable> all = weights();
    std::vector<Tensor> values;
    for (const Variable& v : all) values.push_back(v.value());
    dist->communicator().broadcast(values, 0);
    for (std::size_t i = 0; i < all.size(); ++i) all[i].assign(values[i]);
  }
  // A resumed run's History holds its earlier epochs too, as an uninterrupted run's would.
  for (auto& [epoch, epoch_logs] : resumed_logs_) history->on_epoch_end(epoch, epoch_logs);
  const int first_epoch = resume_epoch_.value_or(options.initial_epoch);
  for (int epoch = first_epoch; epoch < options.epochs && !stop_training_; ++epoch) {
    reset_metrics();
    callbacks::Logs epoch_logs;
    for (auto& cb : cbs) cb->on_epoch_begin(epoch, epoch_logs);
    train.begin_epoch();
    std::int64_t step = 0;
    for (; !stop_training_; ++step) {
      callbacks::Logs batch_logs;
      std::optional<StepData> batch = train.next();
      if (!batch) break;
      for (auto& cb : cbs) cb->on_train_batch_begin(step, batch_logs);
      if (dist) {
        // This replica's rows of the global batch, run eagerly (the all-reduce goes through the
        // host).
        const std::pair<std::int64_t, std::int64_t> rows = dist->shard(batch->rows());
        const double share =
            static_cast<double>(rows.second - rows.first) / static_cast<double>(batch->rows());
        // A replica with no rows of a short last batch runs the step on a stand-in row (the
        // batch's first) with a share of 0: it makes the collective calls that the others make
        // (the gradients' buckets, synchronized statistics), its random layers draw as theirs
        // do, and it adds nothing to the sums or the metrics.
        const bool stand_in = rows.first == rows.second;
        const std::int64_t begin = stand_in ? 0 : rows.first, end = stand_in ? 1 : rows.second;
        // Its random layers draw its rows of the global batch's masks, its synchronized layers
        // sum over the replicas (core/replica_context.h).
        distribution::Communicator& communicator = dist->communicator();
        const detail::ScopedReplicaContext replica(
            {.num_replicas = dist->num_replicas(),
             .rank = dist->replica(),
             .share = share,
             .all_reduce_sum =
                 [&communicator](std::vector<Tensor>& t) { communicator.all_reduce_sum(t); },
             .shard = {.rows = batch->rows(), .begin = begin, .end = end}});
        train_step(batch->map([&](const Tensor& t) { return t.slice(begin, end); }), stand_in);
      } else {
        // Replays serve batches of the first one's size.
        if (!captured) {
          captured = std::make_unique<CapturedStep>(*this, "fit", device, batch->rows());
        }
        // A loss-scaled step decides on the host whether to apply it: it is not captured.
        const bool replayed =
            !compiled_->loss_scale &&
            captured->run(
                batch->tensors, [&] { compiled_->optimizer->prepare_step(trainable_weights()); },
                [&](const std::vector<Tensor>& b) { train_step_body(batch->with(b)); });
        if (!replayed) train_step(*batch);
      }
      bool wanted = false;
      for (auto& cb : cbs) wanted = wanted || cb->wants_batch_logs();
      // Under DataParallel reading the metrics is a collective, and whether a callback wants
      // them can depend on the clock (the progress bar's): every replica reads them every step,
      // and passes them on where wanted, as one process does.
      if (dist) {
        auto global_logs = read_metrics();
        if (wanted) batch_logs = std::move(global_logs);
      } else if (wanted) {
        batch_logs = read_metrics();
      }
      for (auto& cb : cbs) cb->on_train_batch_end(step, batch_logs);
    }
    NEURONA_CHECK(step > 0 || stop_training_, ValueError, describe(),
                  ".fit: the training data gave no batches in epoch ", epoch + 1);
    epoch_logs = read_metrics();
    if (val) {
      std::vector<std::shared_ptr<callbacks::Callback>> none;
      const auto val_logs = run_evaluation(*val, none);
      for (const auto& [name, value] : val_logs) epoch_logs["val_" + name] = value;
    }
    for (auto& cb : cbs) cb->on_epoch_end(epoch, epoch_logs);
  }
  callbacks::Logs end_logs;
  for (auto& cb : cbs) cb->on_train_end(end_logs);
  for (auto& cb : cbs) cb->set_model(nullptr);
  return *history;
}

std::map<std::string, double> Model::evaluate_with_callbacks(BatchSource& batches,
                                                             const EvaluateOptions& options) {
  const int verbose = resolve_verbose(options.verbose);
  std::vector<std::shared_ptr<callbacks::Callback>> cbs;
  for (const auto& ref : options.callbacks) cbs.push_back(ref.get());
  if (verbose > 0) cbs.push_back(std::make_shared<callbacks::ProgbarLogger>());
  for (auto& cb : cbs) {
    cb->set_model(this);
    cb->set_params({.epochs = 1, .steps = batches.steps(), .verbose = verbose});
  }
  auto logs = run_evaluation(batches, cbs);
  for (auto& cb : cbs) cb->set_model(nullptr);
  return logs;
}

std::map<std::string, double> Model::evaluate(const Tensors& x_in, const Tensors& y_in,
                                              EvaluateOptions options) {
  const std::string caller = describe() + ".evaluate";
  compiled_state("evaluate");
  NEURONA_CHECK(options.batch_size > 0, ValueError, caller,
                ": argument `batch_size` must be positive, got ", options.batch_size);
  NEURONA_CHECK(!options.steps, ValueError, caller,
                ": `steps` applies to a Dataset; with tensors every batch is evaluated");
  const StepData data = step_data(x_in, y_in, options.sample_weight, caller);
  const std::int64_t n = data.rows();
  NEURONA_CHECK(n > 0, ValueError, caller, ": the inputs have no samples");
  const Device device = built_device(data, options.batch_size);
  TensorBatches batches(data.map([&](const Tensor& t) { return t.to(device); }), options.batch_size,
                        false);
  return evaluate_with_callbacks(batches, options);
}

std::map<std::string, double> Model::evaluate(const data::Dataset& dataset,
                                              EvaluateOptions options) {
  const std::string caller = describe() + ".evaluate";
  compiled_state("evaluate");
  NEURONA_CHECK(!options.sample_weight, ValueError, caller,
                ": with a Dataset the sample weights come in its elements, (x, y, sample_weight)");
  DatasetBatches batches(*this, dataset, options.steps, caller);
  return evaluate_with_callbacks(batches, options);
}

std::map<std::string, double> Model::train_on_batch(const Tensors& x, const Tensors& y,
                                                    const std::optional<Tensors>& sample_weight) {
  compiled_state("train_on_batch");
  const StepData data = step_data(x, y, sample_weight, describe() + ".train_on_batch");
  const Device device = built_device(data, data.rows(), /*global_batch=*/false);
  reset_metrics();
  // Under a DataParallel distribution each replica gives its own batch: the step takes the
  // mean of their gradients.
  const auto dist = distribution::distribution();
  // Synchronized layers sum over the replicas' batches (core/replica_context.h).
  std::optional<detail::ScopedReplicaContext> replica;
  if (dist) {
    distribution::Communicator& communicator = dist->communicator();
    replica.emplace(detail::ReplicaContext{
        .num_replicas = dist->num_replicas(),
        .rank = dist->replica(),
        .share = 1.0 / dist->num_replicas(),
        .all_reduce_sum =
            [&communicator](std::vector<Tensor>& t) { communicator.all_reduce_sum(t); },
        .shard = {}});
  }
  train_step(data.map([&](const Tensor& t) { return t.to(device); }));
  return read_metrics();
}

std::map<std::string, double> Model::test_on_batch(const Tensors& x, const Tensors& y,
                                                   const std::optional<Tensors>& sample_weight) {
  compiled_state("test_on_batch");
  const StepData data = step_data(x, y, sample_weight, describe() + ".test_on_batch");
  const Device device = built_device(data, data.rows(), /*global_batch=*/false);
  reset_metrics();
  test_step(data.map([&](const Tensor& t) { return t.to(device); }));
  return read_metrics();
}

}  // namespace neurona
