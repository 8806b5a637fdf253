// Model: a Layer that groups layers, with predict() and summary(), as keras.Model. Made from
// symbolic inputs and outputs it is a functional model (Keras's Functional):
//   auto x = nr::Input({784});
//   auto h = nr::layers::Dense(64, {.activation = "relu"})(x);
//   nr::Model model(x, nr::layers::Dense(10)(h));
// Subclass it for a model with its own call(); register each layer with track() so that its
// weights belong to the model:
//   class SubclassModel : public nr::Model {
//    public:
//     SubclassModel()
//         : nr::Model("SubclassModel"), dense_(track(nr::layers::Dense(1, {.activation =
//         "sigmoid"}))) {}
//     nr::Tensor call(const nr::Tensor& x, bool training) override { return dense_(x, training); }
//    private:
//     nr::layers::Dense dense_;
//   };
#pragma once

#include <cstdint>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "neurona/data/dataset.h"
#include "neurona/layers/layer.h"
#include "neurona/models/callbacks.h"
#include "neurona/models/structure.h"
#include "neurona/training/losses.h"
#include "neurona/training/metrics.h"
#include "neurona/training/optimizers.h"

namespace neurona {

namespace mixed_precision {
class LossScaleOptimizer;
}

struct PredictOptions {
  std::int64_t batch_size = 32;
  /// With a Dataset: the batches to predict (all of one pass when not given; required for an
  /// infinite dataset).
  std::optional<std::int64_t> steps = std::nullopt;
};

/// model.compile's arguments (Keras's names and defaults).
struct CompileOptions {
  optimizers::OptimizerRef optimizer = "rmsprop";
  /// Required before fit/evaluate: a Keras name ("sparse_categorical_crossentropy") or a Loss;
  /// for a model with several outputs one loss for all of them, a list by position or a dict by
  /// output name ({{"digits", "sparse_categorical_crossentropy"}, {"size", "mse"}}), where
  /// std::nullopt leaves an output without a loss.
  CompileLoss loss = {};
  /// Keras's names ("accuracy" resolves to binary, categorical or sparse accuracy from the loss
  /// and the output shape, as Keras does) or Metric objects; per output as CompileMetrics says.
  /// As Keras's `metrics` (not `weighted_metrics`), they ignore sample and class weights.
  CompileMetrics metrics = {};
  /// The weight of each output's loss in the total: one for all, or per output.
  LossWeights loss_weights = 1.0;
  /// Keras's auto_scale_loss: under the "mixed_float16" policy the optimizer is wrapped in a
  /// mixed_precision::LossScaleOptimizer (training/loss_scale.h). Such steps are not captured
  /// into CUDA graphs (each decides on the host whether to apply the update).
  bool auto_scale_loss = true;
};

/// Inputs and targets held out for validation at the end of every epoch: tensors, or a Dataset
/// of batches as fit takes one (`nr::ValidationData{.dataset = val}`).
struct ValidationData {
  Tensors x = {};
  Tensors y = {};
  std::optional<Tensors> sample_weight = std::nullopt;
  std::optional<data::Dataset> dataset = std::nullopt;
};

/// Keras's verbose="auto": the progress bar (redrawn on a terminal, one line per epoch
/// otherwise).
inline constexpr int kVerboseAuto = -1;

/// model.fit's arguments (Keras's names and defaults).
struct FitOptions {
  std::int64_t batch_size = 32;
  int epochs = 1;
  /// 0 silent, 1 progress bar, 2 one line per epoch, kVerboseAuto.
  int verbose = kVerboseAuto;
  std::vector<callbacks::CallbackRef> callbacks = {};
  /// The last fraction of the samples (taken before shuffling), held out for validation.
  double validation_split = 0.0;
  std::optional<ValidationData> validation_data = std::nullopt;
  /// Reshuffle the training samples before every epoch.
  bool shuffle = true;
  /// Per-class weights of the loss, by class index.
  std::map<std::int64_t, double> class_weight = {};
  /// Per-sample weights of the loss, shape (N,): one for every output's loss, or per output.
  std::optional<Tensors> sample_weight = std::nullopt;
  /// The epoch to start at (0-based), to resume a previous run.
  int initial_epoch = 0;
  /// With a Dataset: the batches of an epoch. Without it an epoch is one pass over the dataset;
  /// with it the passes continue from one epoch into the next (an infinite dataset needs it).
  std::optional<std::int64_t> steps_per_epoch = std::nullopt;
  /// With a validation Dataset: the batches of each validation (one pass when not given).
  std::optional<std::int64_t> validation_steps = std::nullopt;
};

/// model.evaluate's arguments.
struct EvaluateOptions {
  std::int64_t batch_size = 32;
  int verbose = kVerboseAuto;
  std::optional<Tensors> sample_weight = std::nullopt;
  std::vector<callbacks::CallbackRef> callbacks = {};
  /// With a Dataset: the batches to evaluate (one pass when not given).
  std::optional<std::int64_t> steps = std::nullopt;
};

struct SummaryOptions {
  /// Total width of the table; 0 for Keras's default: 88 for a sequence of layers, 108 with the
  /// "Connected to" column of a functional model that is not one.
  int line_length = 0;
};

class FunctionalGraph;

/// The inputs or outputs of a functional model: one KerasTensor or a list of them.
struct KerasTensors {
  KerasTensors(const layers::KerasTensor& t) : list{t} {}  // NOLINT: implicit by design
  KerasTensors(std::vector<layers::KerasTensor> l) : list(std::move(l)) {}  // NOLINT: implicit
  KerasTensors(std::initializer_list<layers::KerasTensor> l) : list(l) {}   // NOLINT: implicit
  std::vector<layers::KerasTensor> list;
};

class Model : public layers::Layer {
 public:
  /// A functional model from its inputs (each made by nr::Input) to its outputs, with every
  /// layer that leads from the ones to the others (keras.Model(inputs, outputs)). Named
  /// "functional", "functional_1", ... unless `options.name` says otherwise. ValueError for a
  /// graph that does not connect the outputs to the inputs given.
  Model(KerasTensors inputs, KerasTensors outputs, layers::LayerOptions options = {});

  /// The layers: a functional model's in Keras's order with its InputLayers; otherwise the
  /// tracked layers in the order they were added (without the Input).
  std::vector<std::shared_ptr<layers::Layer>> layers() const;
  /// keras.Model.get_layer(name=...): the layer of that name among layers() (ValueError naming
  /// the existing ones otherwise). Its class's handle from it:
  ///   auto dense = std::dynamic_pointer_cast<nr::layers::DenseLayer>(model.get_layer("dense"));
  std::shared_ptr<layers::Layer> get_layer(const std::string& name) const;
  /// keras.Model.get_layer(index=...): layers()[index] (ValueError past the end).
  std::shared_ptr<layers::Layer> get_layer(int index) const;
  /// A functional model's inputs and outputs (Keras's model.input / model.output); another
  /// model's are those of its first symbolic call, as any layer's.
  std::vector<layers::KerasTensor> input_list() const override;
  std::vector<layers::KerasTensor> output_list() const override;
  /// True for a model made from inputs and outputs.
  bool is_functional() const { return graph_ != nullptr; }
  /// A functional model's symbolic inputs and outputs (Keras's model.inputs, model.outputs);
  /// ValueError for other models.
  const std::vector<layers::KerasTensor>& inputs() const;
  const std::vector<layers::KerasTensor>& outputs() const;
  /// The names of the layers that make the outputs (Keras's output_names), by which compile's
  /// per-output losses and metrics are given.
  std::vector<std::string> output_names() const;
  /// A functional model's graph (null for other models).
  const FunctionalGraph* graph() const { return graph_.get(); }

  /// The outputs for `x` computed in batches of `batch_size` rows (training = false) and
  /// joined along the first axis.
  Tensor predict(const Tensor& x, PredictOptions options = {});
  /// predict for a model with several inputs (one tensor each, rows matching) or outputs: the
  /// outputs, each joined along the first axis.
  std::vector<Tensor> predict(const std::vector<Tensor>& x, PredictOptions options = {});
  /// predict over the batches of a Dataset: each element's first tensors are the inputs (one
  /// per model input; targets after them are ignored, as Keras does). The outputs, each joined
  /// along the first axis (a list of one for a model with one output).
  std::vector<Tensor> predict(const data::Dataset& dataset, PredictOptions options = {});

  // A functional model runs its graph; others override call().
  Tensor call(const Tensor& inputs, bool training) override;
  std::vector<Tensor> call_list(const std::vector<Tensor>& inputs, bool training) override;
  /// A model's layers read the masks attached to the inputs: a mask given to the call (Keras's
  /// model(x, mask=m)) is attached to its input first, then call() / call_list().
  Tensor call_with_mask(const Tensor& inputs, const Tensor& mask, bool training) override;
  std::vector<Tensor> call_list_with_masks(const std::vector<Tensor>& inputs,
                                           const std::vector<Tensor>& masks,
                                           bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;
  std::vector<Shape> compute_output_shape_list(
      const std::vector<Shape>& input_shapes) const override;
  std::vector<layers::TensorSpec> compute_output_spec(const std::vector<layers::TensorSpec>& inputs,
                                                      bool list_call) override;

  /// Prints the table Keras 3's model.summary() prints: the layers with their output shapes
  /// ("?" before the model is built) and parameter counts, then the totals with their sizes.
  void summary(std::ostream& os = std::cout, SummaryOptions options = {}) const;
  std::string summary_string(SummaryOptions options = {}) const;

  // Training (models/training.cpp), as keras.Model.
  /// Sets the optimizer, the loss and the metrics for fit/evaluate. Throws ValueError for an
  /// unknown name (listing the valid ones).
  void compile(CompileOptions options = {});
  bool compiled() const;
  /// Trains for `epochs` on (x, y), on the device of the model's weights (the default device):
  /// the data is copied there once, batches are gathered there, and the forward pass, the
  /// loss, the gradients and the update all run there. Returns the per-epoch logs. A model with
  /// several inputs takes x as a list (or a dict by input name), one with several outputs y as
  /// a list or a dict by output name (only the outputs that have a loss need a target); the
  /// logs then hold the total "loss", each output's "<name>_loss" and its metrics as
  /// "<name>_<metric>", as Keras names them.
  callbacks::History fit(const Tensors& x, const Tensors& y, FitOptions options = {});
  /// fit on a Dataset whose elements are batches (Keras's fit(dataset)): the model's inputs
  /// first (one tensor per input), then one target per output, then optionally the sample
  /// weights (one tensor for every output, or one per output). Batches go to the model's device
  /// as they come (prefetch(n, device) copies them there ahead of the step). batch_size,
  /// shuffle and validation_split do not apply (shuffle and batch the dataset instead);
  /// sample_weight is given in the elements. ValueError for an element of another length or an
  /// infinite dataset without steps_per_epoch.
  ///
  ///   auto ds = nr::data::Dataset::from_tensor_slices({x, y}).shuffle(60000).batch(128);
  ///   model.fit(ds, {.epochs = 5, .validation_data = nr::ValidationData{.dataset = val}});
  callbacks::History fit(const data::Dataset& dataset, FitOptions options = {});
  /// The loss and metrics over (x, y), in batches: {"loss": ..., "accuracy": ...}.
  std::map<std::string, double> evaluate(const Tensors& x, const Tensors& y,
                                         EvaluateOptions options = {});
  /// evaluate over the batches of a Dataset, given as fit takes them.
  std::map<std::string, double> evaluate(const data::Dataset& dataset,
                                         EvaluateOptions options = {});
  /// One optimisation step on one batch; the loss and metrics of that batch.
  std::map<std::string, double> train_on_batch(
      const Tensors& x, const Tensors& y,
      const std::optional<Tensors>& sample_weight = std::nullopt);
  /// The loss and metrics of one batch, without training.
  std::map<std::string, double> test_on_batch(
      const Tensors& x, const Tensors& y,
      const std::optional<Tensors>& sample_weight = std::nullopt);
  /// The compiled optimizer (ValueError before compile).
  std::shared_ptr<optimizers::Optimizer> optimizer() const;
  /// The LossScaleOptimizer that compile() put around optimizer() (a "mixed_float16" model with
  /// auto_scale_loss), or null.
  const mixed_precision::LossScaleOptimizer* loss_scale_optimizer() const;
  /// The arguments compile() was given, the optimizer resolved to the object the model uses
  /// (ValueError before compile).
  const CompileOptions& compile_options() const;
  /// Keras's get_compile_config() (models/compile_config.cpp): the compile() arguments as
  /// Keras 3 serializes them into a `.keras` file's compile_config: the optimizer as
  /// {"module": "keras.optimizers", "class_name", "config", "registered_name"} (a schedule as
  /// learning_rate likewise), loss and metrics given as strings as those strings and as
  /// objects serialized the same way (keras.losses / keras.metrics), loss_weights (None for
  /// 1), and Keras's execution options at their JAX values. An empty dict before compile.
  ConfigValue get_compile_config() const;
  /// Keras's compile_from_config(): compiles the model from a compile_config (as
  /// get_compile_config() or Keras 3 writes it; the optimizer and the loss may also be Keras
  /// names; loss, loss_weights and metrics per output as lists or dicts), then builds the
  /// optimizer's variables when the model is built. Throws ValueError for a value of the wrong
  /// type, an unknown optimizer, loss or metric class (naming it), and options neurona does not
  /// implement (weighted_metrics, use_ema, ...).
  void compile_from_config(const ConfigValue& config);
  /// The names fit logs: "loss", then the metrics' names.
  std::vector<std::string> metrics_names() const;
  /// Set by a callback to end fit after the current batch or epoch (Keras's stop_training).
  bool stop_training() const { return stop_training_; }
  void set_stop_training(bool stop) { stop_training_ = stop; }
  /// The epoch the next fit starts at, when a callback (BackupAndRestore) resumes a run from its
  /// on_train_begin, and the logs of the epochs the run completed before it ((epoch, logs) in
  /// order), which the History that fit returns starts with.
  void set_initial_epoch(int epoch, std::vector<std::pair<int, callbacks::Logs>> completed = {}) {
    resume_epoch_ = epoch;
    resumed_logs_ = std::move(completed);
  }

  // Saving and loading (models/saving.cpp), in Keras 3's formats.
  /// Writes the weights as Keras 3's `.weights.h5` (atomically).
  void save_weights(const std::string& path) const;
  /// Reads weights written by save_weights or by Keras 3; the model is unchanged on failure.
  void load_weights(const std::string& path);
  /// Writes the `.keras` archive: config.json, metadata.json, model.weights.h5 (atomically).
  void save(const std::string& path) const;

 protected:
  /// `class_name` names the model: "SubclassModel" -> subclass_model, subclass_model_1, ...
  explicit Model(std::string class_name = "Model", layers::LayerOptions options = {});
  /// Whether build(input_shape) builds every layer from the shape alone, without running the
  /// model (a Sequential's symbolic graph). fit and evaluate build such a model so; any other
  /// unbuilt model is built by a call on its first batch (built_device).
  virtual bool builds_from_shape() const { return false; }

 private:
  struct Compiled;
  /// The model on a batch of inputs: through operator()(Tensor) for one input and one output,
  /// apply() otherwise.
  std::vector<Tensor> forward(const std::vector<Tensor>& inputs, bool training);
  struct CapturedStep;
  /// Where fit's and evaluate's batches come from (training.cpp): tensors on the device, or a
  /// Dataset's elements.
  struct BatchSource;
  struct TensorBatches;
  struct DatasetBatches;
  /// fit's loop over `train` (and `val` after each epoch) with the callbacks set up.
  callbacks::History fit_loop(BatchSource& train, BatchSource* val, const FitOptions& options,
                              Device device);
  /// predict's loop: `next` gives the batches of inputs (on any device) until it gives none.
  std::vector<Tensor> predict_batches(
      const std::function<std::optional<std::vector<Tensor>>()>& next, const std::string& caller);
  /// A step's tensors (inputs, targets, sample weights) in one list (training.cpp).
  struct StepData;
  /// x, y and sample_weight as fit and evaluate take them, checked against the model's inputs
  /// and the compiled outputs and put in one StepData (on the device they are on).
  StepData step_data(const Tensors& x, const Tensors& y, const std::optional<Tensors>& sw,
                     const std::string& caller);
  /// x as one tensor per model input, in the inputs' order (a dict matched by input name).
  std::vector<Tensor> input_tensors(const Tensors& x, const std::string& caller) const;
  /// The device the model computes on (its weights'), built first if it is not built yet, so
  /// that its weights exist there: as Keras builds a model at its first batch, of `rows` rows
  /// of `data`'s inputs. A model that builds_from_shape() (a Sequential without an Input) is
  /// built from that batch shape without running it, and records it (under DataParallel the
  /// global batch's, as Keras does, although a replica trains on its part); any other is called
  /// once on those rows, under DataParallel on this replica's part of them only (a call on the
  /// whole global batch would be a peak of memory that no step reaches; a Sequential without an
  /// Input inside it then records that part's rows). `global_batch` false: the batch is this
  /// replica's own already (train_on_batch, test_on_batch), used whole.
  Device built_device(const StepData& data, std::int64_t rows, bool global_batch = true);
  /// The loss of a batch with the regularization terms, as the tape sees it; each output's
  /// (unweighted) loss goes to `per_output` (undefined for an output without one).
  Tensor compute_loss(const StepData& data, const std::vector<Tensor>& y_pred,
                      std::vector<Tensor>& per_output);
  /// One training step on `data`. `stand_in`: under a DataParallel distribution, the step of a
  /// replica whose part of a short global batch is empty, run on a stand-in row with a share of
  /// 0 for the collective calls' sake: its metrics are not updated.
  void train_step(const StepData& data, bool stand_in = false);
  /// train_step after the optimizer's prepare_step: the device's half, which fit captures.
  void train_step_body(const StepData& data, bool stand_in = false);
  /// Applies the step's gradients (under a DataParallel distribution, already summed across
  /// the replicas by train_step_body's GradientReducer) with the compiled optimizer (prepared:
  /// after prepare_step), then the constraints.
  void apply_step_gradients(std::vector<Tensor>& grads, const std::vector<Variable>& variables,
                            bool prepared);
  void test_step(const StepData& data);
  /// The loss trackers and the metrics after a step.
  void update_metrics(const StepData& data, const std::vector<Tensor>& y_pred, const Tensor& loss,
                      const std::vector<Tensor>& per_output);
  Compiled& compiled_state(const char* caller) const;
  std::map<std::string, double> read_metrics(const std::string& prefix = "") const;
  void reset_metrics();
  std::map<std::string, double> run_evaluation(
      BatchSource& batches, std::vector<std::shared_ptr<callbacks::Callback>>& callbacks);
  /// evaluate's run over `batches` with its callbacks and progress bar set up.
  std::map<std::string, double> evaluate_with_callbacks(BatchSource& batches,
                                                        const EvaluateOptions& options);

  std::shared_ptr<const FunctionalGraph> graph_;
  std::shared_ptr<Compiled> compiled_;
  bool stop_training_ = false;
  std::optional<int> resume_epoch_;
  std::vector<std::pair<int, callbacks::Logs>> resumed_logs_;
};

}  // namespace neurona
