// PositionEmbedding and SinePositionEncoding as KerasHub computes them
// (keras_hub/src/layers/modeling/position_embedding.py, sine_position_encoding.py).
#include "neurona/layers/position_embedding.h"

#include <cmath>
#include <vector>

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

// ---- shared call --------------------------------------------------------------------------------

std::int64_t PositionEncodingLayer::read_start_index(const ConfigValue& kwargs) const {
  std::int64_t start = 0;
  if (kwargs.kind() != ConfigValue::Kind::Dict) return start;
  for (const auto& [key, value] : kwargs.as_dict()) {
    if (value.is_null()) continue;
    NEURONA_CHECK(key == "start_index", ValueError, describe(),
                  ": got an unexpected keyword argument '", key, "' (it takes start_index)");
    NEURONA_CHECK(value.kind() == ConfigValue::Kind::Int && value.as_int() >= 0, ValueError,
                  describe(), ": start_index must be a non-negative integer, got ",
                  value.kind_name());
    start = value.as_int();
  }
  return start;
}

Tensor PositionEncodingLayer::encode(const Tensor& inputs, std::int64_t start_index,
                                     bool training) {
  ConfigValue kwargs = ConfigValue::Dict{};
  if (start_index != 0) kwargs.set("start_index", start_index);
  return apply_with_kwargs({inputs}, kwargs, training)[0];
}

std::vector<Tensor> PositionEncodingLayer::call_list_with_kwargs(
    const std::vector<Tensor>& inputs, const std::vector<Tensor>& /*masks*/,
    const ConfigValue& kwargs, bool /*training*/) {
  const std::int64_t start = read_start_index(kwargs);
  NEURONA_CHECK(inputs.size() == 1, ValueError, describe(),
                ": expects one tensor (batch, steps, features), got a list of ", inputs.size());
  const Tensor& x = inputs[0];
  NEURONA_CHECK(x.rank() >= 2, ShapeError, describe(),
                ": expects inputs of shape (..., steps, features), got ", shape_str(x.shape()));
  const std::int64_t steps = x.shape()[-2], features = x.shape()[-1];
  Tensor p = positions(start, steps, features, x.device());  // (steps, features)
  if (p.dtype() != compute_dtype()) p = cast(p, compute_dtype());
  return {broadcast_to(p, x.shape())};
}

Tensor PositionEncodingLayer::call(const Tensor& inputs, bool training) {
  return call_list_with_kwargs({inputs}, {}, ConfigValue(), training)[0];
}

std::vector<TensorSpec> PositionEncodingLayer::compute_output_spec_with_kwargs(
    const std::vector<TensorSpec>& inputs, const ConfigValue& kwargs) {
  read_start_index(kwargs);
  NEURONA_CHECK(inputs.size() == 1, ValueError, describe(),
                ": expects one tensor (batch, steps, features), got a list of ", inputs.size());
  return compute_output_spec(inputs, false);
}

// ---- PositionEmbedding --------------------------------------------------------------------------

PositionEmbeddingLayer::PositionEmbeddingLayer(std::int64_t sequence_length,
                                               PositionEmbeddingOptions options)
    : PositionEncodingLayer(
          "PositionEmbedding",
          {.name = options.name, .trainable = options.trainable, .dtype = options.dtype}),
      sequence_length_(sequence_length),
      options_(std::move(options)) {
  NEURONA_CHECK(sequence_length_ > 0, ValueError, describe(),
                ": `sequence_length` must be a positive integer, received ", sequence_length_);
}

void PositionEmbeddingLayer::build(const Shape& input_shape) {
  NEURONA_CHECK(input_shape.rank() >= 2 && input_shape[-1] > 0, ShapeError, describe(),
                ": expects inputs of shape (..., steps, features), got ", shape_str(input_shape));
  embeddings_ = add_weight("embeddings", Shape({sequence_length_, input_shape[-1]}),
                           {.initializer = options_.initializer});
}

Tensor PositionEmbeddingLayer::positions(std::int64_t start, std::int64_t steps,
                                         std::int64_t features, Device /*device*/) {
  const Tensor table = read(*embeddings_);
  NEURONA_CHECK(features == table.shape()[1], ShapeError, describe(), ": built for ",
                table.shape()[1], " features, got inputs with ", features);
  NEURONA_CHECK(start + steps <= sequence_length_, ValueError, describe(), ": positions ", start,
                " to ", start + steps - 1, " are beyond sequence_length ", sequence_length_);
  return narrow(table, 0, start, steps);
}

ConfigValue PositionEmbeddingLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("sequence_length", sequence_length_);
  config.set("initializer", serialize(options_.initializer));
  return config;
}

PositionEmbedding::PositionEmbedding(std::int64_t sequence_length, PositionEmbeddingOptions options)
    : LayerHandle<PositionEmbeddingLayer>(
          std::make_shared<PositionEmbeddingLayer>(sequence_length, std::move(options))) {}

PositionEmbedding PositionEmbedding::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "PositionEmbedding");
  const LayerOptions base = r.layer_options();
  return PositionEmbedding(r.integer("sequence_length"),
                           {.initializer = r.initializer("initializer", "glorot_uniform"),
                            .name = base.name,
                            .trainable = base.trainable,
                            .dtype = base.dtype});
}

// ---- SinePositionEncoding -----------------------------------------------------------------------

SinePositionEncodingLayer::SinePositionEncodingLayer(SinePositionEncodingOptions options)
    : PositionEncodingLayer(
          "SinePositionEncoding",
          {.name = options.name, .trainable = options.trainable, .dtype = options.dtype}),
      max_wavelength_(options.max_wavelength) {
  NEURONA_CHECK(std::isfinite(max_wavelength_) && max_wavelength_ > 0, ValueError, describe(),
                ": max_wavelength must be positive, got ", max_wavelength_);
}

Tensor SinePositionEncodingLayer::positions(std::int64_t start, std::int64_t steps,
                                            std::int64_t features, Device device) {
  if (table_.defined() && table_start_ == start && table_.shape() == Shape({steps, features}) &&
      table_.device() == device) {
    return table_;
  }
  // A constant of the shape: computed on the host in double, as float32.
  std::vector<float> values(static_cast<std::size_t>(steps * features));
  const double min_freq = 1.0 / max_wavelength_;
  for (std::int64_t j = 0; j < features; ++j) {
    const double timescale =
        std::pow(min_freq, static_cast<double>(2 * (j / 2)) / static_cast<double>(features));
    for (std::int64_t p = 0; p < steps; ++p) {
      const double angle = static_cast<double>(start + p) * timescale;
      values[static_cast<std::size_t>(p * features + j)] =
          static_cast<float>(j % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
  }
  table_ = constant(values, Shape({steps, features}), device);
  table_start_ = start;
  return table_;
}

ConfigValue SinePositionEncodingLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  // KerasHub keeps the integer it was given.
  if (max_wavelength_ == std::floor(max_wavelength_) && std::abs(max_wavelength_) < 9e15) {
    config.set("max_wavelength", static_cast<std::int64_t>(max_wavelength_));
  } else {
    config.set("max_wavelength", max_wavelength_);
  }
  return config;
}

SinePositionEncoding::SinePositionEncoding(SinePositionEncodingOptions options)
    : LayerHandle<SinePositionEncodingLayer>(
          std::make_shared<SinePositionEncodingLayer>(std::move(options))) {}

SinePositionEncoding SinePositionEncoding::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "SinePositionEncoding");
  const LayerOptions base = r.layer_options();
  return SinePositionEncoding({.max_wavelength = r.number("max_wavelength", 10000.0),
                               .name = base.name,
                               .trainable = base.trainable,
                               .dtype = base.dtype});
}

}  // namespace neurona::layers
