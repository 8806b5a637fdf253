// The arguments SimpleRNN, LSTM and GRU share, moved into the RecurrentOptions that RNNLayer
// takes and read from Keras configs, once for the three classes. A field is handled when the
// class's options struct has it (Keras's class has the argument): recurrent_activation
// (LSTM, GRU), unit_forget_bias (LSTM), reset_after (GRU), use_cudnn (LSTM, GRU).
#pragma once

#include <utility>

#include "neurona/layers/config_reader.h"
#include "neurona/layers/rnn.h"

namespace neurona::layers::detail {

template <typename O>
RecurrentOptions to_recurrent_options(O o) {
  RecurrentOptions r;
  r.activation = std::move(o.activation);
  if constexpr (requires { o.recurrent_activation; }) {
    r.recurrent_activation = std::move(o.recurrent_activation);
  }
  r.use_bias = o.use_bias;
  r.kernel_initializer = std::move(o.kernel_initializer);
  r.recurrent_initializer = std::move(o.recurrent_initializer);
  r.bias_initializer = std::move(o.bias_initializer);
  if constexpr (requires { o.unit_forget_bias; }) r.unit_forget_bias = o.unit_forget_bias;
  r.kernel_regularizer = std::move(o.kernel_regularizer);
  r.recurrent_regularizer = std::move(o.recurrent_regularizer);
  r.bias_regularizer = std::move(o.bias_regularizer);
  r.activity_regularizer = std::move(o.activity_regularizer);
  r.kernel_constraint = std::move(o.kernel_constraint);
  r.recurrent_constraint = std::move(o.recurrent_constraint);
  r.bias_constraint = std::move(o.bias_constraint);
  r.dropout = o.dropout;
  r.recurrent_dropout = o.recurrent_dropout;
  if constexpr (requires { o.reset_after; }) r.reset_after = o.reset_after;
  r.seed = o.seed;
  r.return_sequences = o.return_sequences;
  r.return_state = o.return_state;
  r.go_backwards = o.go_backwards;
  r.stateful = o.stateful;
  r.unroll = o.unroll;
  r.zero_output_for_mask = o.zero_output_for_mask;
  if constexpr (requires { o.use_cudnn; }) r.use_cudnn = o.use_cudnn;
  r.input_shape = std::move(o.input_shape);
  r.name = std::move(o.name);
  r.trainable = o.trainable;
  r.dtype = std::move(o.dtype);
  return r;
}

/// The options a Keras config of the class gives (Keras's defaults for absent keys).
template <typename O>
O read_recurrent_options(const ConfigValue& config, const LayerConfigReader& r) {
  O o;
  if constexpr (requires { o.use_cudnn; }) {
    r.only("use_cudnn", true, "use_cudnn in a config (Keras does not write it)");
  }
  auto activation = [&](const char* key, const char* def) -> activations::Activation {
    const ConfigValue* v = config.find(key);
    if (v == nullptr) return def;
    if (v->is_null()) return "linear";
    return r.typed(key, *v, [](const ConfigValue& a) { return activations::get(a.as_string()); });
  };
  o.activation = activation("activation", "tanh");
  if constexpr (requires { o.recurrent_activation; }) {
    o.recurrent_activation = activation("recurrent_activation", "sigmoid");
  }
  o.use_bias = r.boolean("use_bias", true);
  o.kernel_initializer = r.initializer("kernel_initializer", "glorot_uniform");
  o.recurrent_initializer = r.initializer("recurrent_initializer", "orthogonal");
  o.bias_initializer = r.initializer("bias_initializer", "zeros");
  if constexpr (requires { o.unit_forget_bias; }) {
    o.unit_forget_bias = r.boolean("unit_forget_bias", true);
  }
  o.kernel_regularizer = r.regularizer("kernel_regularizer");
  o.recurrent_regularizer = r.regularizer("recurrent_regularizer");
  o.bias_regularizer = r.regularizer("bias_regularizer");
  o.activity_regularizer = r.regularizer("activity_regularizer");
  o.kernel_constraint = r.constraint("kernel_constraint");
  o.recurrent_constraint = r.constraint("recurrent_constraint");
  o.bias_constraint = r.constraint("bias_constraint");
  o.dropout = r.number("dropout", 0.0);
  o.recurrent_dropout = r.number("recurrent_dropout", 0.0);
  if constexpr (requires { o.reset_after; }) o.reset_after = r.boolean("reset_after", true);
  o.seed = r.seed();
  o.return_sequences = r.boolean("return_sequences", false);
  o.return_state = r.boolean("return_state", false);
  o.go_backwards = r.boolean("go_backwards", false);
  o.stateful = r.boolean("stateful", false);
  o.unroll = r.boolean("unroll", false);
  o.zero_output_for_mask = r.boolean("zero_output_for_mask", false);
  o.name = r.string("name", "");
  o.trainable = r.boolean("trainable", true);
  o.dtype = r.dtype();
  return o;
}

}  // namespace neurona::layers::detail
