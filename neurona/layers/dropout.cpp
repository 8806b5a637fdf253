// Dropout through where(mask, x / keep, 0), Keras's backend.random.dropout, with the masks drawn
// from the layer's SeedGenerator (as Keras's Dropout): its state lives on the device, so that a
// training step replayed from a CUDA graph draws a new mask on every replay.
#include "neurona/layers/dropout.h"

#include <cmath>

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

DropoutLayer::DropoutLayer(double rate, DropoutOptions options)
    : Layer("Dropout", {.name = options.name}),
      rate_(rate),
      seed_(options.seed),
      seed_generator_(options.seed),
      noise_shape_(std::move(options.noise_shape)) {
  track_seed_generator(seed_generator_);
  set_supports_masking(true);
  NEURONA_CHECK(std::isfinite(rate) && rate >= 0.0 && rate <= 1.0, ValueError, describe(),
                ": invalid value received for argument `rate`. Expected a float value between 0 ",
                "and 1. Received: rate=", rate);
}

Tensor DropoutLayer::call(const Tensor& inputs, bool training) {
  if (!training || rate_ == 0.0) return inputs;
  // Everything dropped: zeros, with a zero (not NaN) gradient.
  if (rate_ == 1.0) return multiply(inputs, scalar_like(inputs, 0.0));
  Shape mask_shape = inputs.shape();
  if (noise_shape_) {
    NEURONA_CHECK(static_cast<int>(noise_shape_->size()) == inputs.rank(), ShapeError, describe(),
                  ": noise_shape has ", noise_shape_->size(), " entries for inputs of shape ",
                  inputs.shape());
    std::vector<std::int64_t> dims(noise_shape_->begin(), noise_shape_->end());
    for (int i = 0; i < inputs.rank(); ++i) {
      auto& d = dims[static_cast<std::size_t>(i)];
      if (d < 0) d = inputs.shape()[i];
      NEURONA_CHECK(d == 1 || d == inputs.shape()[i], ShapeError, describe(), ": noise_shape ",
                    Shape(dims), " does not broadcast to inputs of shape ", inputs.shape());
    }
    mask_shape = Shape(std::move(dims));
  }
  return random_dropout(inputs, rate_, seed_generator_, mask_shape);
}

Tensor random_dropout(const Tensor& x, double rate, SeedGenerator& generator,
                      const Shape& mask_shape) {
  const double keep = 1.0 - rate;
  const Tensor u = random_uniform(
      mask_shape, {.dtype = x.dtype(), .device = x.device(), .seed_generator = &generator});
  return where(less(u, scalar_like(u, keep)), divide(x, scalar_like(x, keep)), zeros_like(x));
}

Dropout::Dropout(double rate, DropoutOptions options)
    : LayerHandle<DropoutLayer>(std::make_shared<DropoutLayer>(rate, std::move(options))) {}

ConfigValue DropoutLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("rate", rate_);
  config.set("seed", seed_ ? ConfigValue(*seed_) : ConfigValue());
  if (noise_shape_) {
    ConfigValue::List dims;
    for (std::int64_t d : *noise_shape_) dims.push_back(d < 0 ? ConfigValue() : ConfigValue(d));
    config.set("noise_shape", std::move(dims));
  } else {
    config.set("noise_shape", nullptr);
  }
  return config;
}

Dropout Dropout::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Dropout");
  std::optional<std::vector<std::int64_t>> noise_shape;
  if (const ConfigValue* ns = r.find("noise_shape")) {
    noise_shape = r.shape("noise_shape", *ns).dims();
  }
  return Dropout(
      r.number("rate", 0.0),
      {.seed = r.seed(), .noise_shape = std::move(noise_shape), .name = r.string("name", "")});
}

}  // namespace neurona::layers
