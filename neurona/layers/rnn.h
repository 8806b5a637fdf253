// The recurrent layers' common machinery, as Keras 3's RNN and its cells: a cell (SimpleRNNCell,
// LSTMCell, GRUCell) tracked as the sublayer "cell" holds kernel, recurrent_kernel and bias in
// Keras's layouts, and RNNLayer runs it over the time steps. The generic path is a loop of
// differentiable ops (the inputs of all steps projected by one GEMM first); on a GPU, where
// Keras's cuDNN conditions hold, one fused cuDNN op (nr::rnn_fused) runs the whole sequence.
// SimpleRNN, LSTM and GRU (simple_rnn.h, lstm.h, gru.h) are handles to an RNNLayer.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "neurona/layers/activations.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

/// The cell a recurrent layer runs.
enum class RNNKind { simple_rnn, lstm, gru };

/// Every argument of Keras's SimpleRNN, LSTM and GRU (each takes the ones its Keras class has;
/// see SimpleRNNOptions, LSTMOptions, GRUOptions).
struct RecurrentOptions {
  activations::Activation activation = "tanh";
  activations::Activation recurrent_activation = "sigmoid";  // LSTM, GRU
  bool use_bias = true;
  initializers::Initializer kernel_initializer = "glorot_uniform";
  initializers::Initializer recurrent_initializer = "orthogonal";
  initializers::Initializer bias_initializer = "zeros";
  bool unit_forget_bias = true;  // LSTM
  regularizers::Regularizer kernel_regularizer = {};
  regularizers::Regularizer recurrent_regularizer = {};
  regularizers::Regularizer bias_regularizer = {};
  regularizers::Regularizer activity_regularizer = {};
  constraints::Constraint kernel_constraint = {};
  constraints::Constraint recurrent_constraint = {};
  constraints::Constraint bias_constraint = {};
  double dropout = 0.0;
  double recurrent_dropout = 0.0;
  bool reset_after = true;  // GRU
  std::optional<std::uint64_t> seed = std::nullopt;
  bool return_sequences = false;
  bool return_state = false;
  bool go_backwards = false;
  bool stateful = false;
  bool unroll = false;
  /// Masked steps output zeros instead of the previous output (Keras's RNN argument; Bidirectional
  /// sets it to return_sequences).
  bool zero_output_for_mask = false;
  /// Keras's use_cudnn: none is "auto" (cuDNN on a GPU where the arguments allow it), true
  /// insists (ValueError where it cannot be used), false never uses it. LSTM and GRU only.
  std::optional<bool> use_cudnn = std::nullopt;
  std::optional<Shape> input_shape = std::nullopt;
  std::string name = "";
  bool trainable = true;
  DTypePolicy dtype = {};
};

/// The cell: one time step's weights, as keras.layers.SimpleRNNCell / LSTMCell / GRUCell.
/// kernel (input_dim, gates * units), recurrent_kernel (units, gates * units) and bias (gates *
/// units), or (2, 3 * units) for a GRU with reset_after (input and recurrent biases); gates are
/// LSTM's i, f, c, o and GRU's z, r, h.
class RNNCellLayer : public Layer {
 public:
  RNNCellLayer(RNNKind kind, std::int64_t units, const RecurrentOptions& options, std::string name);

  RNNKind kind() const { return kind_; }
  std::int64_t units() const { return units_; }
  /// 1 (SimpleRNN), 4 (LSTM) or 3 (GRU).
  std::int64_t gates() const;
  /// The units of each state: {units} or, for an LSTM, {units, units} (h and c).
  std::vector<std::int64_t> state_size() const;
  const RecurrentOptions& options() const { return options_; }
  /// The weights once built (ValueError before; bias() also without use_bias).
  const Variable& kernel() const;
  const Variable& recurrent_kernel() const;
  const Variable& bias() const;
  bool has_bias() const { return bias_.has_value(); }
  /// The generator the dropout masks are drawn from.
  SeedGenerator& seed_generator() { return seed_generator_; }
  /// A weight in the compute dtype, as call() reads it.
  Tensor read_weight(const Variable& w) const { return read(w); }

  ConfigValue get_config() const override;

 protected:
  void build(const Shape& input_shape) override;

 private:
  RNNKind kind_;
  std::int64_t units_;
  RecurrentOptions options_;
  SeedGenerator seed_generator_;
  std::optional<Variable> kernel_, recurrent_kernel_, bias_;
};

/// A recurrent layer (Keras's RNN with one of the cells above): inputs (batch, timesteps,
/// features) give (batch, units), or (batch, timesteps, units) with return_sequences, and with
/// return_state the final states after the output (apply() returns them all):
///   auto lstm = nr::layers::LSTM(8, {.return_sequences = true, .return_state = true});
///   auto outs = lstm->apply({x});            // {sequences, h, c}
///   auto outs2 = lstm->apply({x, h0, c0});   // with an initial state (Keras's initial_state)
class RNNLayer : public Layer {
 public:
  RNNLayer(RNNKind kind, std::int64_t units, RecurrentOptions options);

  RNNKind kind() const { return cell_->kind(); }
  std::int64_t units() const { return cell_->units(); }
  const RecurrentOptions& options() const { return options_; }
  bool return_sequences() const { return options_.return_sequences; }
  bool return_state() const { return options_.return_state; }
  bool go_backwards() const { return options_.go_backwards; }
  bool stateful() const { return options_.stateful; }
  RNNCellLayer& cell() const { return *cell_; }
  /// Sets zero_output_for_mask (Bidirectional does, as Keras's).
  void set_zero_output_for_mask(bool zero) { options_.zero_output_for_mask = zero; }

  /// A stateful layer's states (copies; empty before it is built).
  std::vector<Tensor> states() const;
  /// Sets a stateful layer's states to zeros (Keras's reset_states / reset_state).
  void reset_states();

  /// The output alone; ValueError with return_state (use apply()).
  Tensor call(const Tensor& inputs, bool training) override;
  /// inputs: the sequences, then the initial states (none, or one per state); returns the
  /// output, then the final states with return_state.
  std::vector<Tensor> call_list(const std::vector<Tensor>& inputs, bool training) override;
  /// call() and call_list() with the mask of the sequences (Keras passes it on: a masked step
  /// keeps the states).
  Tensor call_with_mask(const Tensor& inputs, const Tensor& mask, bool training) override;
  std::vector<Tensor> call_list_with_masks(const std::vector<Tensor>& inputs,
                                           const std::vector<Tensor>& masks,
                                           bool training) override;
  /// The sequences' mask on the output with return_sequences, else none (and none on the
  /// states), as Keras's RNN.compute_mask.
  Tensor compute_mask(const Tensor& inputs, const Tensor& mask) const override;
  std::vector<Tensor> compute_mask_list(const std::vector<Tensor>& inputs,
                                        const std::vector<Tensor>& masks) const override;
  /// The computation, with a mask (batch, timesteps) of bool or 0/1 (undefined: none) and
  /// initial states (empty: zeros, or a stateful layer's states). A masked step keeps the
  /// previous states and outputs the previous output (zeros with zero_output_for_mask).
  std::vector<Tensor> run(const Tensor& sequences, std::vector<Tensor> initial_state,
                          const Tensor& mask, bool training);

  Shape compute_output_shape(const Shape& input_shape) const override;
  std::vector<Shape> compute_output_shape_list(
      const std::vector<Shape>& input_shapes) const override;
  ConfigValue get_config() const override;
  /// The sequences' shape, as Keras's build(sequences_shape) takes it back (a call with
  /// initial states is built for the list [sequences, states...]).
  ConfigValue get_build_config() const override;

 protected:
  void build(const Shape& input_shape) override;
  void build_list(const std::vector<Shape>& input_shapes) override;

 private:
  void check_sequences(const Shape& shape) const;
  bool use_fused(const Tensor& sequences, const Tensor& mask) const;
  std::vector<Tensor> run_generic(const Tensor& sequences, std::vector<Tensor> states,
                                  const Tensor& mask, bool training);
  std::vector<Tensor> run_fused(const Tensor& sequences, std::vector<Tensor> states,
                                const Tensor& mask, bool training);

  RecurrentOptions options_;
  std::shared_ptr<RNNCellLayer> cell_;
  std::vector<Variable> states_;  // stateful: not weights (Keras does not save them)
};

}  // namespace neurona::layers
