// GRU's handle, options and from_config; the layer itself is rnn.cpp's RNNLayer, and the
// arguments it shares with the other recurrent classes are handled in rnn_options.h.
#include "neurona/layers/gru.h"

#include "neurona/layers/rnn_options.h"

namespace neurona::layers {

RecurrentOptions GRU::recurrent_options(GRUOptions options) {
  return detail::to_recurrent_options(std::move(options));
}

GRU::GRU(std::int64_t units, GRUOptions options)
    : LayerHandle<RNNLayer>(
          std::make_shared<RNNLayer>(RNNKind::gru, units, recurrent_options(std::move(options)))) {}

GRU GRU::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "GRU");
  return GRU(r.integer("units"), detail::read_recurrent_options<GRUOptions>(config, r));
}

}  // namespace neurona::layers
