// SimpleRNN: h_t = activation(x_t kernel + h_{t-1} recurrent_kernel + bias), as
// keras.layers.SimpleRNN with Keras 3's arguments and defaults (rnn.h runs it).
//   auto rnn = nr::layers::SimpleRNN(8, {.return_sequences = true});
//   nr::Tensor y = rnn(x);   // x (batch, 10, 4) -> y (batch, 10, 8)
#pragma once

#include "neurona/layers/rnn.h"

namespace neurona::layers {

/// keras.layers.SimpleRNN's arguments and defaults.
struct SimpleRNNOptions {
  activations::Activation activation = "tanh";
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
  /// Keras's input_shape (without the batch dimension) for the first layer of a Sequential.
  std::optional<Shape> input_shape = std::nullopt;
  std::string name = "";
  bool trainable = true;
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

/// `nr::layers::SimpleRNN(units, {...})`: a handle to an RNNLayer running a SimpleRNN cell.
class SimpleRNN : public LayerHandle<RNNLayer> {
 public:
  explicit SimpleRNN(std::int64_t units, SimpleRNNOptions options = {});
  /// The layer a config describes (get_config(), or a Keras config.json's entry), as Keras's
  /// SimpleRNN.from_config; ValueError naming the key otherwise.
  static SimpleRNN from_config(const ConfigValue& config);
  /// The options of the shared RNNLayer as this class's.
  static RecurrentOptions recurrent_options(SimpleRNNOptions options);
};

}  // namespace neurona::layers
