// SimpleRNN's handle, options and from_config; the layer itself is rnn.cpp's RNNLayer, and the
// arguments it shares with the other recurrent classes are handled in rnn_options.h.
#include "neurona/layers/simple_rnn.h"

#include "neurona/layers/rnn_options.h"

namespace neurona::layers {

RecurrentOptions SimpleRNN::recurrent_options(SimpleRNNOptions options) {
  return detail::to_recurrent_options(std::move(options));
}

SimpleRNN::SimpleRNN(std::int64_t units, SimpleRNNOptions options)
    : LayerHandle<RNNLayer>(std::make_shared<RNNLayer>(RNNKind::simple_rnn, units,
                                                       recurrent_options(std::move(options)))) {}

SimpleRNN SimpleRNN::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "SimpleRNN");
  return SimpleRNN(r.integer("units"), detail::read_recurrent_options<SimpleRNNOptions>(config, r));
}

}  // namespace neurona::layers
