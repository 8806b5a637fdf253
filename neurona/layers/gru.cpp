// GRU's handle, options and from_config; the layer itself is rnn.cpp's RNNLayer.
#include "neurona/layers/gru.h"

#include "neurona/layers/config_reader.h"

namespace neurona::layers {

RecurrentOptions GRU::recurrent_options(GRUOptions o) {
  RecurrentOptions r;
  r.activation = std::move(o.activation);
  r.recurrent_activation = std::move(o.recurrent_activation);
  r.use_bias = o.use_bias;
  r.kernel_initializer = std::move(o.kernel_initializer);
  r.recurrent_initializer = std::move(o.recurrent_initializer);
  r.bias_initializer = std::move(o.bias_initializer);
  r.kernel_regularizer = std::move(o.kernel_regularizer);
  r.recurrent_regularizer = std::move(o.recurrent_regularizer);
  r.bias_regularizer = std::move(o.bias_regularizer);
  r.activity_regularizer = std::move(o.activity_regularizer);
  r.kernel_constraint = std::move(o.kernel_constraint);
  r.recurrent_constraint = std::move(o.recurrent_constraint);
  r.bias_constraint = std::move(o.bias_constraint);
  r.dropout = o.dropout;
  r.recurrent_dropout = o.recurrent_dropout;
  r.reset_after = o.reset_after;
  r.seed = o.seed;
  r.return_sequences = o.return_sequences;
  r.return_state = o.return_state;
  r.go_backwards = o.go_backwards;
  r.stateful = o.stateful;
  r.unroll = o.unroll;
  r.zero_output_for_mask = o.zero_output_for_mask;
  r.use_cudnn = o.use_cudnn;
  r.input_shape = std::move(o.input_shape);
  r.name = std::move(o.name);
  r.trainable = o.trainable;
  r.dtype = std::move(o.dtype);
  return r;
}

GRU::GRU(std::int64_t units, GRUOptions options)
    : LayerHandle<RNNLayer>(
          std::make_shared<RNNLayer>(RNNKind::gru, units, recurrent_options(std::move(options)))) {}

GRU GRU::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "GRU");
  r.only("use_cudnn", true, "use_cudnn in a config (Keras does not write it)");
  auto activation = [&](const char* key, const char* def) -> activations::Activation {
    const ConfigValue* v = config.find(key);
    if (v == nullptr) return def;
    if (v->is_null()) return "linear";
    return r.typed(key, *v, [](const ConfigValue& a) { return activations::get(a.as_string()); });
  };
  GRUOptions o;
  o.activation = activation("activation", "tanh");
  o.recurrent_activation = activation("recurrent_activation", "sigmoid");
  o.use_bias = r.boolean("use_bias", true);
  o.kernel_initializer = r.initializer("kernel_initializer", "glorot_uniform");
  o.recurrent_initializer = r.initializer("recurrent_initializer", "orthogonal");
  o.bias_initializer = r.initializer("bias_initializer", "zeros");
  o.kernel_regularizer = r.regularizer("kernel_regularizer");
  o.recurrent_regularizer = r.regularizer("recurrent_regularizer");
  o.bias_regularizer = r.regularizer("bias_regularizer");
  o.activity_regularizer = r.regularizer("activity_regularizer");
  o.kernel_constraint = r.constraint("kernel_constraint");
  o.recurrent_constraint = r.constraint("recurrent_constraint");
  o.bias_constraint = r.constraint("bias_constraint");
  o.dropout = r.number("dropout", 0.0);
  o.recurrent_dropout = r.number("recurrent_dropout", 0.0);
  o.reset_after = r.boolean("reset_after", true);
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
  return GRU(r.integer("units"), std::move(o));
}

}  // namespace neurona::layers
