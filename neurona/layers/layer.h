// Layer: the base of every layer and model, as keras.Layer. A layer owns its weights
// (Variables), creates them in build() on its first call, names itself uniquely per class
// (dense, dense_1, ...), and is held through a shared handle so that a model and the user
// refer to the same layer:
//   auto dense = nr::layers::Dense(3, {.activation = "relu"});
//   nr::Tensor y = dense(x);                 // builds on the first call: kernel (x.shape[-1], 3)
//   dense->trainable_weights();              // {dense/kernel, dense/bias}
// Shapes given to build() and compute_output_shape() include the batch dimension, as in
// Keras; an unknown dimension (Keras's None) is -1.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "neurona/autograd/variable.h"
#include "neurona/core/random.h"
#include "neurona/core/tensor.h"
#include "neurona/layers/activations.h"
#include "neurona/layers/config.h"
#include "neurona/layers/constraints.h"
#include "neurona/layers/dtype_policy.h"
#include "neurona/layers/initializers.h"
#include "neurona/layers/keras_tensor.h"
#include "neurona/layers/regularizers.h"
#include "neurona/layers/remat_scope.h"

namespace neurona {

/// Forgets the names given so far, so that the next Dense is "dense" again
/// (keras.backend.clear_session()).
void clear_session();

}  // namespace neurona

namespace neurona::layers {

/// The arguments every Keras layer takes.
struct LayerOptions {
  /// Empty: a unique name from the class name (Dense -> dense, dense_1, ...).
  std::string name = "";
  bool trainable = true;
  /// The dtype policy: a dtype (`DType::float64`, "float32") or a mixed policy
  /// ("mixed_bfloat16": compute in bfloat16, float32 weights). Not given: the global policy
  /// (nr::mixed_precision::set_global_policy) at the time the layer is made.
  DTypePolicy dtype = {};
  /// Keras's `input_shape` argument (batch dimension excluded): the first layer of a
  /// Sequential model that has one starts the model with Input(input_shape).
  std::optional<Shape> input_shape = std::nullopt;
};

/// How add_weight makes a weight.
struct WeightOptions {
  initializers::Initializer initializer = "glorot_uniform";
  bool trainable = true;
  regularizers::Regularizer regularizer = {};
  constraints::Constraint constraint = {};
  /// The weight's dtype when it is not the layer's variable dtype (Keras's add_weight(dtype=...):
  /// Normalization's int32 `count`).
  std::optional<DType> dtype = std::nullopt;
};

/// Keras's shape printing, with None for an unknown (-1) dimension: (None, 10).
std::string shape_str(const Shape& shape);

/// Keras's to_snake_case: "Dense" -> "dense", "InputLayer" -> "input_layer".
std::string to_snake_case(const std::string& class_name);

/// While alive, caps the tensor elements that building layers on this thread may allocate:
/// every weight add_weight makes, and every input a model runs through a layer to learn its
/// output shape (see charge). A loader of untrusted files sets one, so that a config asking
/// for any `units`, `filters` or `batch_shape` is refused before the memory is taken:
///   nr::layers::WeightBudget budget(1 << 30, "LoadOptions::max_params");
///   auto model = build_from(config);   // ValueError past 2^30 elements, naming the layer
/// Budgets nest; only the innermost counts. Not copyable; destroy on the thread that made it.
class WeightBudget {
 public:
  /// `limit_name` says, in the error, which setting raises the limit.
  WeightBudget(std::int64_t max_elements, std::string limit_name);
  ~WeightBudget();
  WeightBudget(const WeightBudget&) = delete;
  WeightBudget& operator=(const WeightBudget&) = delete;

  /// Counts the elements of `shape` against this thread's innermost budget, if there is one,
  /// before they are allocated. Throws ValueError naming `what`, the shape, the total so far
  /// and the limit when the total would exceed it.
  static void charge(const Shape& shape, const std::string& what);

 private:
  std::int64_t max_;
  std::int64_t used_ = 0;
  std::string limit_name_;
  WeightBudget* outer_;
};

/// A keyword argument of a symbolic call that is a tensor (MultiHeadAttention's
/// attention_mask=m) or a list of them (Attention's mask=[query_mask, value_mask], where an
/// undefined tensor is None).
struct TensorKwarg {
  TensorKwarg(std::string name_, KerasTensor tensor)
      : name(std::move(name_)), tensors{std::move(tensor)} {}
  TensorKwarg(std::string name_, std::vector<KerasTensor> tensors_)
      : name(std::move(name_)), tensors(std::move(tensors_)), list(true) {}
  std::string name;
  std::vector<KerasTensor> tensors;
  bool list = false;
};

/// Keras's mask=[m1, m2, ...] of a list call on `inputs` tensors: one per input, None (an
/// undefined tensor) for those past the list, as Keras's Attention wants them (2 or 3).
TensorKwarg mask_list_kwarg(std::vector<KerasTensor> masks, std::size_t inputs);

class Layer : public std::enable_shared_from_this<Layer> {
 public:
  virtual ~Layer();
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  /// Calls the layer: casts float inputs to the layer's compute dtype, builds it for inputs.shape()
  /// on the first call, runs call(), and records the activity regularizer's loss.
  Tensor operator()(const Tensor& inputs, bool training = false);
  /// Calls the layer with an explicit mask instead of the one attached to `inputs` (Keras's
  /// layer(x, mask=m)); an undefined mask is none.
  Tensor operator()(const Tensor& inputs, const Tensor& mask, bool training = false);
  /// Calls the layer on a list of tensors (a merging layer: `Add()({a, b})`; a model with
  /// several inputs) and returns its single output; ValueError when it has several (apply()).
  Tensor operator()(const std::vector<Tensor>& inputs, bool training = false);
  /// Calls the layer on a list of tensors and returns all its outputs.
  std::vector<Tensor> apply(const std::vector<Tensor>& inputs, bool training = false);
  /// The list call given a mask per input instead of the masks they carry (Keras's
  /// layer([q, v], mask=[query_mask, value_mask]): an undefined mask, or none given for an
  /// input past the list, is None, which Attention reads as no mask and a model as the mask
  /// the input carries, as Keras's do), for the layers whose call takes a mask
  /// (call_takes_mask()). Each mask has rank 1 to its input's (the layer checks the rest). An
  /// empty list is the plain call.
  Tensor operator()(const std::vector<Tensor>& inputs, const std::vector<Tensor>& masks,
                    bool training = false);
  std::vector<Tensor> apply(const std::vector<Tensor>& inputs, const std::vector<Tensor>& masks,
                            bool training = false);

  /// The functional API: calls the layer on symbolic tensors, building it for their shapes,
  /// and returns symbolic outputs that remember the call:
  ///   auto x = nr::Input({32});
  ///   auto y = nr::layers::Dense(4)(x);              // (None, 4)
  ///   auto z = nr::layers::Add()({y, y});            // a list call
  /// `training` given here fixes the layer's mode in the model (Keras's layer(x, training=True));
  /// otherwise the model's call decides. The layer must be held by a shared_ptr (every layer
  /// handle is; a model on the stack is not).
  KerasTensor operator()(const KerasTensor& inputs, std::optional<bool> training = std::nullopt);
  /// The symbolic call given a mask (Keras's layer(x, mask=m) with m a symbolic tensor, a model
  /// input for instance): the call reads m instead of the mask `inputs` carries, and configs
  /// record it as Keras does. For the layers whose Keras call takes a mask (call_takes_mask());
  /// m has rank 1 to the input's (the layer checks the rest when it runs) and is passed on as
  /// given, as Keras does (Softmax keeps where it is > 0.5 unless it is uint8). An undefined
  /// mask is the plain call.
  KerasTensor operator()(const KerasTensor& inputs, const KerasTensor& mask,
                         std::optional<bool> training = std::nullopt);
  KerasTensor operator()(const std::vector<KerasTensor>& inputs,
                         std::optional<bool> training = std::nullopt);
  /// The symbolic list call given a mask per input (Keras's Attention()([q, v], mask=[qm, vm])
  /// with model inputs qm and vm): as the eager apply(inputs, masks), recorded as Keras does
  /// (one per input, null for None).
  KerasTensor operator()(const std::vector<KerasTensor>& inputs,
                         const std::vector<KerasTensor>& masks,
                         std::optional<bool> training = std::nullopt);
  /// The symbolic call on a list that returns all the outputs (a model with several).
  std::vector<KerasTensor> apply(const std::vector<KerasTensor>& inputs,
                                 std::optional<bool> training = std::nullopt);
  /// The same given a mask per input, as operator()(inputs, masks) records them (an empty
  /// list is the plain call): all the outputs of, say, an Attention called on [q, v] with
  /// mask=[qm, vm] and return_attention_scores (AttentionLayer::attend takes them too).
  std::vector<KerasTensor> apply(const std::vector<KerasTensor>& inputs,
                                 const std::vector<KerasTensor>& masks,
                                 std::optional<bool> training = std::nullopt);

  /// Keras's `layer.output`: the output of the layer's first symbolic call (its node 0; here the
  /// first whose tensors still exist), e.g.
  /// a functional model's inner layer, to build a feature extractor on:
  ///   nr::Model features(base.inputs(), {base.get_layer("conv4_block6_out")->output()});
  /// A functional model's are its outputs. ValueError if the layer was never called on
  /// KerasTensors (or that call's tensors no longer exist), or gave several outputs
  /// (output_list() has them all).
  KerasTensor output() const;
  virtual std::vector<KerasTensor> output_list() const;
  /// Keras's `layer.input`: the inputs of that call (input_list() for a list call); a
  /// functional model's are its inputs.
  KerasTensor input() const;
  virtual std::vector<KerasTensor> input_list() const;

  /// Calls with keyword arguments beyond the tensors, `training` and masks (Keras's call
  /// kwargs, as a config dict in Keras's names: MultiHeadAttention's {"use_causal_mask": true}).
  /// The symbolic call records them in its Node, so that the model's call passes them back
  /// and configs write them. A layer that takes none (the default) refuses any, naming it.
  /// One tensor is a call on that tensor (Keras's layer(x, start_index=2)), several a call on
  /// the list.
  std::vector<Tensor> apply_with_kwargs(const std::vector<Tensor>& inputs,
                                        const ConfigValue& kwargs, bool training = false);
  /// Keyword arguments that are tensors (MultiHeadAttention's attention_mask) follow the
  /// positional inputs in the Node's inputs, and `kwargs` names each as {"__tensor__": index}
  /// (a list of them as a list, None as null). Keras's "mask" so given is the mask the call
  /// reads in place of the one its input carries, for the layers whose call takes one
  /// (call_takes_mask()): one tensor for a call on one tensor (a recurrent layer's
  /// sequences), a list for a list call (one per input); the eager call takes it among the
  /// inputs likewise.
  std::vector<KerasTensor> apply_with_kwargs(const std::vector<KerasTensor>& inputs,
                                             const ConfigValue& kwargs,
                                             std::optional<bool> training = std::nullopt,
                                             const std::vector<TensorKwarg>& tensor_kwargs = {});
  /// The index among a call's inputs of the tensor keyword argument `name`, if given as one
  /// tensor.
  static std::optional<std::size_t> kwarg_tensor(const ConfigValue& kwargs,
                                                 const std::string& name);
  /// The indices of the tensor keyword argument `name` given as a list (none for a None in
  /// it); empty when it is not a non-empty list of tensors and Nones.
  static std::vector<std::optional<std::size_t>> kwarg_tensor_list(const ConfigValue& kwargs,
                                                                   const std::string& name);
  /// How many of a call's `inputs` are positional (the rest are tensor keyword arguments).
  static std::size_t positional_count(const ConfigValue& kwargs, std::size_t inputs);
  /// True when Keras's call takes the tensors as separate positional arguments
  /// (MultiHeadAttention's call(query, value, key)) rather than as one list: configs write
  /// such a layer's list call as several arguments, and its one-tensor call as call(x, x).
  virtual bool takes_positional_inputs() const { return false; }

  /// The computation; `training` is true inside fit (Dropout uses it). The default throws
  /// NotImplementedError: a layer implements call(), or call_list() for several inputs.
  virtual Tensor call(const Tensor& inputs, bool training);
  /// The computation on a list of inputs. The default takes a one-element list to call();
  /// merging layers and models with several inputs or outputs override it.
  virtual std::vector<Tensor> call_list(const std::vector<Tensor>& inputs, bool training);

  /// Masks, as Keras 3 propagates them: a layer's call reads the mask attached to its input
  /// (Tensor::keras_mask) and receives it here; the default ignores it and calls call().
  /// A layer that uses the mask (Softmax, GlobalAveragePooling1D, recurrent layers) overrides
  /// this; `mask` is undefined when there is none.
  virtual Tensor call_with_mask(const Tensor& inputs, const Tensor& mask, bool training);
  /// The list call with the inputs' masks (one per input, undefined for none); the default
  /// takes a one-element list with a mask to call_with_mask() and anything else to
  /// call_list(), ignoring the masks.
  virtual std::vector<Tensor> call_list_with_masks(const std::vector<Tensor>& inputs,
                                                   const std::vector<Tensor>& masks, bool training);
  /// The list call with keyword arguments (apply with kwargs): the default refuses any
  /// (ValueError naming it) and calls call_list_with_masks(). A layer that takes some
  /// overrides this and compute_output_spec_with_kwargs().
  virtual std::vector<Tensor> call_list_with_kwargs(const std::vector<Tensor>& inputs,
                                                    const std::vector<Tensor>& masks,
                                                    const ConfigValue& kwargs, bool training);
  /// Whether the layer passes a mask on: after a call, the output gets compute_mask()'s mask
  /// (unless call() attached one). A layer that does not support masking drops the mask, as
  /// Keras's do (Keras warns; neurona says nothing).
  bool supports_masking() const { return supports_masking_; }
  /// Whether the call takes Keras's `mask` argument (set_call_takes_mask).
  bool call_takes_mask() const { return call_takes_mask_; }
  /// Whether the list call is [sequences, initial states...] (set_call_takes_initial_state).
  bool call_takes_initial_state() const { return call_takes_initial_state_; }
  /// The mask of the output for `inputs` carrying `mask` (Keras's compute_mask); the default
  /// passes the input's mask on. Embedding (mask_zero) and Masking make one from the inputs.
  virtual Tensor compute_mask(const Tensor& inputs, const Tensor& mask) const;
  /// The masks of the outputs of a list call, one per output (fewer: none for the rest); the
  /// default takes a one-element list to compute_mask() and passes the masks on otherwise.
  virtual std::vector<Tensor> compute_mask_list(const std::vector<Tensor>& inputs,
                                                const std::vector<Tensor>& masks) const;

  /// The output shape for an input shape (batch dimension included, -1 for unknown).
  /// The default throws NotImplementedError; a model then learns the shape by running the layer.
  virtual Shape compute_output_shape(const Shape& input_shape) const;
  /// The output shapes for a list of input shapes; the default takes a one-element list to
  /// compute_output_shape().
  virtual std::vector<Shape> compute_output_shape_list(
      const std::vector<Shape>& input_shapes) const;
  /// The outputs' shapes and dtypes for inputs of `inputs` (Keras's compute_output_spec): from
  /// compute_output_shape_list, else by running the layer once on zeros (batch 1).
  virtual std::vector<TensorSpec> compute_output_spec(const std::vector<TensorSpec>& inputs,
                                                      bool list_call);
  /// The outputs' specs of a list call with keyword arguments; the default refuses any and
  /// calls compute_output_spec().
  virtual std::vector<TensorSpec> compute_output_spec_with_kwargs(
      const std::vector<TensorSpec>& inputs, const ConfigValue& kwargs);

  /// Builds the layer for inputs of `input_shape` unless it is built already (what the first
  /// call does; Keras's layer.build(input_shape) from outside).
  void ensure_built(const Shape& input_shape);
  /// Builds the layer for a list of inputs (a merging layer) unless it is built already.
  void ensure_built(const std::vector<Shape>& input_shapes);
  bool built() const { return built_; }
  /// The shape the layer was built for. Throws ValueError when it is not built, or was built
  /// for a list of inputs (build_input_shapes()).
  const Shape& build_input_shape() const;
  /// The shapes the layer was built for: one, or those of the list it was built for.
  std::vector<Shape> build_input_shapes() const;
  /// True when the layer was built for a list of inputs (Keras records a list in build_config).
  bool built_for_list() const { return build_input_list_.has_value(); }
  /// Keras's get_build_config: how a `.keras` file records what the layer was built for, None
  /// before it is built. The default is {"input_shape": shape}, or a list of shapes for a layer
  /// built for a list; a layer whose Keras build takes named shapes (MultiHeadAttention's
  /// query_shape, value_shape) overrides it with Keras's {"shapes_dict": ...}.
  virtual ConfigValue get_build_config() const;
  /// The output shape for build_input_shape(); throws ValueError naming the layer when unknown.
  Shape output_shape() const;
  /// The output shape when known (built, and computed or seen in a call).
  const std::optional<Shape>& known_output_shape() const { return output_shape_; }

  const std::string& name() const { return name_; }
  /// The `input_shape` option the layer was made with, if any.
  const std::optional<Shape>& input_shape_arg() const { return input_shape_arg_; }
  /// The C++ class's Keras name: "Dense", "Sequential", ...
  const std::string& class_name() const { return class_name_; }
  /// The dtype of the weights (Keras's layer.dtype: the policy's variable dtype).
  DType dtype() const { return policy_.variable_dtype(); }
  /// The dtype the layer computes in and returns (float inputs are cast to it).
  DType compute_dtype() const { return policy_.compute_dtype(); }
  const DTypePolicy& dtype_policy() const { return policy_; }
  /// The layer as error messages name it: "Dense 'dense_1'".
  std::string describe() const;

  /// How the layer rematerializes its calls under a tape (Keras's layer._remat_mode): the
  /// RematScope it was made in, none outside one. A call that rematerializes keeps only its
  /// inputs and outputs for the gradient and runs again in the backward pass.
  const std::optional<RematOptions>& remat_mode() const { return remat_mode_; }
  /// Sets it after construction (a loaded model, an application built by a function).
  void set_remat_mode(std::optional<RematOptions> mode) { remat_mode_ = std::move(mode); }

  bool trainable() const { return trainable_; }
  /// Freezing a layer makes all its weights (and its sublayers') non-trainable: they leave
  /// trainable_weights and the tape no longer watches them.
  void set_trainable(bool trainable);

  /// Own weights (those made trainable first, in creation order), then the sublayers'.
  std::vector<Variable> weights() const;
  std::vector<Variable> trainable_weights() const;
  std::vector<Variable> non_trainable_weights() const;
  /// The number of weight elements. Throws ValueError, as Keras, when the layer is not built.
  std::int64_t count_params() const;
  /// Copies of the weights' values, in weights() order.
  std::vector<Tensor> get_weights() const;
  /// Assigns the weights in weights() order; the count and every shape must match.
  void set_weights(const std::vector<Tensor>& weights);

  /// Activity regularization losses of the last call (of this layer and its sublayers) and
  /// the weight regularizers' penalties of the trainable weights, computed now (so that a
  /// tape recording now differentiates them).
  std::vector<Tensor> losses() const;
  /// Records the activity regularizer's loss of `outputs`, as a call does for each output:
  /// for a layer that runs this one's computation without calling it (Bidirectional runs its
  /// recurrent layers' run(), where Keras calls them).
  void record_activity_loss(const Tensor& outputs) { add_activity_loss(outputs); }
  /// Replaces every weight that has a constraint with the constraint's projection of it
  /// (what an optimizer does after each update).
  void apply_constraints();

  /// The layers this one tracks (a model's layers).
  std::vector<std::shared_ptr<Layer>> sublayers() const { return sublayers_; }

  /// The SeedGenerators this layer draws from in call() (Dropout's), then its sublayers', each
  /// once, as Keras tracks a layer's seed generators (BackupAndRestore saves their states).
  std::vector<SeedGenerator*> seed_generators() const;

  /// The layer's own weights, without its sublayers', in the order Keras saves them as
  /// `vars/0`, `vars/1`, ...: those created trainable first, then the others, each in
  /// creation order (Dense: kernel, bias; BatchNormalization: gamma, beta, moving_mean,
  /// moving_variance).
  std::vector<Variable> own_weights() const;

  /// A tracked sublayer with the attribute name it is saved under in a `.weights.h5`
  /// (Keras saves a subclassed model's layers under their Python attribute names).
  struct TrackedLayer {
    std::string attribute;
    std::shared_ptr<Layer> layer;
  };
  /// The sublayers in tracking order, each with its attribute name.
  std::vector<TrackedLayer> tracked_layers() const;

  /// Keras's get_config(): the arguments that rebuild the layer, with Keras's names (what
  /// `model.save()` writes into a `.keras` file). The base gives name, trainable and dtype;
  /// each layer adds its own. A custom layer that is saved to `.keras` overrides it and
  /// registers a factory with nr::models::register_layer.
  virtual ConfigValue get_config() const;

 protected:
  /// `class_name` is the Keras class name ("Dense"); the unique name comes from it.
  explicit Layer(std::string class_name, LayerOptions options = {});

  /// Creates the weights for inputs of `input_shape`. Called once, by ensure_built().
  virtual void build(const Shape& input_shape);
  /// Creates the weights for a list of inputs. Called once, by ensure_built(list); the default
  /// takes a one-element list to build() and builds nothing for longer ones.
  virtual void build_list(const std::vector<Shape>& input_shapes);

  /// A weight named `name` (the Variable is named "<layer>/<name>"), made by the initializer
  /// in the layer's (variable) dtype on the default device.
  Variable add_weight(const std::string& name, const Shape& shape, WeightOptions options = {});

  /// A weight's value in the compute dtype, as call() uses it: under a mixed policy a
  /// (differentiable) cast of the float32 weight, otherwise the value itself. Keras casts
  /// variables read in call() the same way (its autocast scope).
  Tensor read(const Variable& weight) const;

  /// `activation(y)`, rematerialized when the layer's remat mode is "activations": what a
  /// layer with an `activation` argument calls on its pre-activation.
  Tensor apply_activation(const activations::Activation& activation, const Tensor& y) const;

  /// Whether operator() casts float inputs to the compute dtype (Keras's autocast). Models
  /// turn it off: their layers cast what they need, and the Input keeps the data's dtype.
  void set_autocast_inputs(bool autocast) { autocast_inputs_ = autocast; }

  /// Whether operator() casts integer and bool inputs to the compute dtype too (float inputs
  /// as set_autocast_inputs says), eagerly and in the symbolic output spec: for the layers that
  /// multiply their inputs by float weights (Dense, the convolutions, ...) or compute in floats
  /// (the normalizations, attention, the image preprocessing layers), where Keras's ops promote
  /// int32 x float32 to float32, so that uint8 images or int32 features go in as they are;
  /// docs/architecture.md lists the built-in layers that do. Layers that read integers
  /// (Embedding) or pass them on (Flatten) leave it off.
  void set_promote_integer_inputs(bool promote) { promote_integer_inputs_ = promote; }
  /// The input cast to the compute dtype when the layer autocasts it (a float input, or an
  /// integer one where the layer promotes them), keeping its mask; ValueError if undefined.
  /// What operator() does to each input, for a layer's entry point that bypasses it
  /// (MultiHeadAttention's attend, a recurrent layer run by Bidirectional).
  Tensor autocast(const Tensor& x) const;

  /// Tracks a sublayer for weights(), losses() and trainable, and returns the handle:
  /// `dense_ = track(nr::layers::Dense(4));`. `attribute` is the name its weights are saved
  /// under in a `.weights.h5`: give the Python attribute name (`track(Dense(4), "dense")` for
  /// `self.dense = Dense(4)`) to exchange weights with a Keras subclassed model. Without one
  /// it is Keras's name for a layer in a list: the snake_case class name, with _1, _2, ... for
  /// repeats (dense, dense_1, conv2d). ValueError when the attribute is taken.
  template <typename Handle>
  Handle track(Handle handle, std::string attribute = "") {
    track_layer(handle.ptr(), std::move(attribute));
    return handle;
  }
  void track_layer(std::shared_ptr<Layer> layer, std::string attribute = "");
  void untrack_layer(const std::shared_ptr<Layer>& layer);

  void add_loss(const Tensor& loss) { losses_.push_back(loss); }
  void set_activity_regularizer(regularizers::Regularizer r) {
    activity_regularizer_ = std::move(r);
  }
  /// Marks the layer built for `input_shape` (layers built at construction, like InputLayer).
  void mark_built(const Shape& input_shape);
  /// Marks the layer built for a list of inputs.
  void mark_built(const std::vector<Shape>& input_shapes);

  /// Records a symbolic call of this layer: a Node with these inputs and output specs, and its
  /// outputs. InputLayer makes its one node this way.
  std::vector<KerasTensor> add_node(std::vector<KerasTensor> inputs, bool list_call,
                                    std::optional<bool> training, std::vector<TensorSpec> outputs,
                                    ConfigValue kwargs = {});

  /// Declares that the layer passes masks on (Keras's `self.supports_masking = True`), in the
  /// constructor. A layer that overrides compute_mask() sets it too, as Keras infers it.
  void set_supports_masking(bool supports) { supports_masking_ = supports; }
  /// Declares that the layer's call takes Keras's `mask` argument (its call(inputs, mask=None):
  /// the recurrent layers, Bidirectional, TimeDistributed, GlobalAveragePooling1D, Softmax,
  /// BatchNormalization, Attention, AdditiveAttention, models), in the constructor: only such a
  /// layer is given a mask as a keyword argument (layer(x, m) on symbolic tensors), as only such a
  /// Keras layer accepts one.
  void set_call_takes_mask(bool takes) { call_takes_mask_ = takes; }
  /// Declares that the list call takes initial states after the sequences (the recurrent layers
  /// and Bidirectional), in the constructor: Keras records those as the call's
  /// `initial_state` keyword, which the `.keras` reader and writer translate to and from the
  /// list call, and a mask given as a keyword argument applies to the sequences.
  void set_call_takes_initial_state(bool takes) { call_takes_initial_state_ = takes; }

  /// Tracks a generator this layer owns and draws from in call() (in the constructor).
  void track_seed_generator(SeedGenerator& generator) { seed_generators_.push_back(&generator); }

 private:
  /// The list call's core: runs call_list_with_kwargs on `inputs` read with `masks` (one per
  /// input, undefined for none) and attaches the outputs' masks.
  std::vector<Tensor> list_call(const std::vector<Tensor>& inputs, std::vector<Tensor> masks,
                                const ConfigValue& kwargs, bool training);
  void add_activity_loss(const Tensor& outputs);
  /// Runs call_with_mask and attaches the output's mask (the core of both operator()s).
  Tensor call_one(const Tensor& inputs, const Tensor& mask, bool training);
  std::vector<KerasTensor> symbolic_call(const std::vector<KerasTensor>& inputs, bool list_call,
                                         std::optional<bool> training,
                                         const ConfigValue& kwargs = {});
  /// Whether this call rematerializes as a whole: a tape records, and the remat mode is
  /// "full", names this layer, or ("larger_than") the outputs for inputs of `input_shapes`
  /// are larger than the threshold.
  bool remats_call(const std::vector<Shape>& input_shapes, bool list_call) const;
  /// Runs `call` (the layer's computation on `inputs`) rematerialized: the losses it adds to
  /// this layer and its sublayers come out of the rematerialized function too, so that the
  /// tape reaches them, and its recomputation adds none.
  std::vector<Tensor> remat_call(
      const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& call,
      const std::vector<Tensor>& inputs);
  /// The losses lists of this layer and its sublayers (each once), with their lengths now.
  std::vector<std::pair<Layer*, std::size_t>> loss_marks();
  /// ValueError naming the first keyword argument when `kwargs` holds any that is not None.
  void refuse_kwargs(const ConfigValue& kwargs) const;
  /// Whether operator() casts an input of this dtype to the compute dtype (autocast).
  bool casts_to_compute_dtype(DType input) const;

  struct Weight {
    Variable variable;
    bool trainable;  // as created; freezing the layer overrides it
    regularizers::Regularizer regularizer;
    constraints::Constraint constraint;
  };
  void collect_weights(std::vector<const Weight*>& out) const;
  void clear_losses();

  std::string class_name_;
  std::string name_;
  std::optional<Shape> input_shape_arg_;
  DTypePolicy policy_;  // resolved: never the unset policy
  bool autocast_inputs_ = true;
  bool promote_integer_inputs_ = false;
  bool supports_masking_ = false;
  bool call_takes_mask_ = false;
  bool call_takes_initial_state_ = false;
  bool trainable_ = true;
  bool built_ = false;
  std::optional<Shape> build_input_shape_;
  std::optional<std::vector<Shape>> build_input_list_;  // when built for a list of inputs
  std::optional<Shape> output_shape_;
  // The symbolic calls so far (the next Node's index is their count), held weakly: a Node
  // holds its layer.
  std::vector<std::weak_ptr<Node>> inbound_nodes_;
  std::vector<Weight> weights_;
  std::vector<std::shared_ptr<Layer>> sublayers_;
  std::vector<std::string> sublayer_attributes_;  // parallel to sublayers_
  // For track_layer's naming in O(1) amortised (a Sequential of thousands of layers): the
  // attributes in use, and per base name the smallest n for which base_n may be free.
  std::unordered_set<std::string> attributes_taken_;
  std::unordered_map<std::string, int> next_suffix_;
  std::vector<SeedGenerator*> seed_generators_;  // members of the layer
  std::vector<Tensor> losses_;
  regularizers::Regularizer activity_regularizer_;
  std::optional<RematOptions> remat_mode_;
};

/// A shared handle to a layer of type T: `->` reaches the layer, `handle(x)` calls it, and it
/// converts to a handle of any base (LayerHandle<Layer>) for models.
template <typename T>
class LayerHandle {
 public:
  LayerHandle(std::shared_ptr<T> layer) : layer_(std::move(layer)) {  // NOLINT: implicit
    NEURONA_CHECK(layer_ != nullptr, ValueError, "LayerHandle: null layer");
  }
  template <typename U>
  requires std::derived_from<U, T> LayerHandle(
      std::shared_ptr<U> layer)  // NOLINT: implicit by design
      : LayerHandle(std::shared_ptr<T>(std::move(layer))) {}
  template <typename U>
  requires std::derived_from<U, T> LayerHandle(const LayerHandle<U>& other)
      : layer_(other.ptr()) {}  // NOLINT: implicit

  T* operator->() const { return layer_.get(); }
  T& operator*() const { return *layer_; }
  const std::shared_ptr<T>& ptr() const { return layer_; }
  Tensor operator()(const Tensor& inputs, bool training = false) const {
    return (*layer_)(inputs, training);
  }
  Tensor operator()(const std::vector<Tensor>& inputs, bool training = false) const {
    return (*layer_)(inputs, training);
  }
  Tensor operator()(const Tensor& inputs, const Tensor& mask, bool training = false) const {
    return (*layer_)(inputs, mask, training);
  }
  KerasTensor operator()(const KerasTensor& inputs,
                         std::optional<bool> training = std::nullopt) const {
    return (*layer_)(inputs, training);
  }
  KerasTensor operator()(const KerasTensor& inputs, const KerasTensor& mask,
                         std::optional<bool> training = std::nullopt) const {
    return (*layer_)(inputs, mask, training);
  }
  KerasTensor operator()(const std::vector<KerasTensor>& inputs,
                         std::optional<bool> training = std::nullopt) const {
    return (*layer_)(inputs, training);
  }
  Tensor operator()(const std::vector<Tensor>& inputs, const std::vector<Tensor>& masks,
                    bool training = false) const {
    return (*layer_)(inputs, masks, training);
  }
  KerasTensor operator()(const std::vector<KerasTensor>& inputs,
                         const std::vector<KerasTensor>& masks,
                         std::optional<bool> training = std::nullopt) const {
    return (*layer_)(inputs, masks, training);
  }

 private:
  std::shared_ptr<T> layer_;
};

using AnyLayer = LayerHandle<Layer>;

}  // namespace neurona::layers
