// LSTM's handle, options and from_config; the layer itself is rnn.cpp's RNNLayer, and the
// arguments it shares with the other recurrent classes are handled in rnn_options.h.
#include "neurona/layers/lstm.h"

#include "neurona/layers/rnn_options.h"

namespace neurona::layers {

RecurrentOptions LSTM::recurrent_options(LSTMOptions options) {
  return detail::to_recurrent_options(std::move(options));
}

LSTM::LSTM(std::int64_t units, LSTMOptions options)
    : LayerHandle<RNNLayer>(std::make_shared<RNNLayer>(RNNKind::lstm, units,
                                                       recurrent_options(std::move(options)))) {}

LSTM LSTM::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "LSTM");
  return LSTM(r.integer("units"), detail::read_recurrent_options<LSTMOptions>(config, r));
}

}  // namespace neurona::layers
