// LSTM as keras.layers.LSTM, with Keras 3's arguments, defaults and weight layouts (gates i, f,
// c, o; unit_forget_bias); on a GPU through cuDNN where Keras's conditions hold (rnn.h).
//   auto lstm = nr::layers::LSTM(16, {.return_sequences = true});
//   nr::Tensor y = lstm(x);   // x (batch, 20, 8) -> y (batch, 20, 16)
#pragma once

#include "neurona/layers/rnn.h"

namespace neurona::layers {

/// keras.layers.LSTM's arguments and defaults.
struct LSTMOptions {
  activations::Activation activation = "tanh";
  activations::Activation recurrent_activation = "sigmoid";
  bool use_bias = true;
  initializers::Initializer kernel_initializer = "glorot_uniform";
  initializers::Initializer recurrent_initializer = "orthogonal";
  initializers::Initializer bias_initializer = "zeros";
  /// Adds 1 to the forget gate's bias at initialization.
  bool unit_forget_bias = true;
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

/// `nr::layers::LSTM(units, {...})`: a handle to an RNNLayer running a LSTM cell.
class LSTM : public LayerHandle<RNNLayer> {
 public:
  explicit LSTM(std::int64_t units, LSTMOptions options = {});
  /// The layer a config describes (get_config(), or a Keras config.json's entry), as Keras's
  /// LSTM.from_config; ValueError naming the key otherwise.
  static LSTM from_config(const ConfigValue& config);
  /// The options of the shared RNNLayer as this class's.
  static RecurrentOptions recurrent_options(LSTMOptions options);
};

}  // namespace neurona::layers
