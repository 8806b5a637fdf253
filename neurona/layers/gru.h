// GRU as keras.layers.GRU, with Keras 3's arguments, defaults and weight layouts (gates z, r, h;
// reset_after with its (2, 3 * units) bias by default, reset_after = false the original form); on
// a GPU through cuDNN where Keras's conditions hold (rnn.h).
//   auto gru = nr::layers::GRU(16, {.return_state = true});
//   auto outs = gru->apply({x});   // {output, h}
#pragma once

#include "neurona/layers/rnn.h"

namespace neurona::layers {

/// keras.layers.GRU's arguments and defaults.
struct GRUOptions {
  activations::Activation activation = "tanh";
  activations::Activation recurrent_activation = "sigmoid";
  bool use_bias = true;
  initializers::Initializer kernel_initializer = "glorot_uniform";
  initializers::Initializer recurrent_initializer = "orthogonal";
  initializers::Initializer bias_initializer = "zeros";
  regularizers::Regularizer kernel_regularizer = {};
  regularizers::Regularizer recurrent_regularizer = {};
  regularizers::Regularizer bias_regularizer = {};
  regularizers::Regularizer activity_regularizer = {};
  constraints::Constraint kernel_constraint = {};
  constraints::Constraint recurrent_constraint = {};
  constraints::Constraint bias_constraint = {};
  /// Fractions of the inputs and of the recurrent state dropped in training (one mask per call,
  /// the same at every step, as Keras's).
  double dropout = 0.0;
  double recurrent_dropout = 0.0;
  /// The reset gate applied after the recurrent matrix multiplication (Keras 3's and cuDNN's
  /// form), or before it (the original).
  bool reset_after = true;
  /// Seeds the dropout masks.
  std::optional<std::uint64_t> seed = std::nullopt;
  bool return_sequences = false;
  bool return_state = false;
  /// Processes the sequence backwards; the returned sequence is in processing order.
  bool go_backwards = false;
  /// The last states of a batch are the initial states of the next (reset_states()); needs a
  /// fixed batch size.
  bool stateful = false;
  /// Accepted for Keras's sake: the loop gives the same result either way.
  bool unroll = false;
  bool zero_output_for_mask = false;
  /// Keras's use_cudnn: none is "auto", true insists (ValueError where cuDNN cannot run),
  /// false never uses it.
  std::optional<bool> use_cudnn = std::nullopt;
  /// Keras's input_shape (without the batch dimension) for the first layer of a Sequential.
  std::optional<Shape> input_shape = std::nullopt;
  std::string name = "";
  bool trainable = true;
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

/// `nr::layers::GRU(units, {...})`: a handle to an RNNLayer running a GRU cell.
class GRU : public LayerHandle<RNNLayer> {
 public:
  explicit GRU(std::int64_t units, GRUOptions options = {});
  /// The layer a config describes (get_config(), or a Keras config.json's entry), as Keras's
  /// GRU.from_config; ValueError naming the key otherwise.
  static GRU from_config(const ConfigValue& config);
  /// The options of the shared RNNLayer as this class's.
  static RecurrentOptions recurrent_options(GRUOptions options);
};

}  // namespace neurona::layers
