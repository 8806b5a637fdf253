// UpSampling1D and UpSampling2D over nr::image_resize: one kernel pass each way for every
// interpolation and both data formats ("nearest" gives what Keras's ops.repeat gives).
#include "neurona/layers/up_sampling.h"

#include <algorithm>
#include <cctype>

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

namespace {
std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::int64_t times(std::int64_t dim, std::int64_t factor) {
  return dim < 0 ? -1 : dim * factor;
}
}  // namespace

UpSampling2DLayer::UpSampling2DLayer(IntPair size, UpSampling2DOptions options)
    : Layer("UpSampling2D", {.name = options.name, .dtype = options.dtype}),
      size_(size),
      data_format_(standardize_data_format(describe(), options.data_format)),
      interpolation_(Interpolation::Nearest) {
  check_pair(describe(), "size", size_);
  try {
    interpolation_ = interpolation_from_string(lower(options.interpolation));
  } catch (const ValueError& e) {
    throw ValueError(describe() + ": " + e.what());
  }
}

Shape UpSampling2DLayer::compute_output_shape(const Shape& input_shape) const {
  NEURONA_CHECK(input_shape.rank() == 4, ShapeError, describe(), ": expected a 4-D input ",
                data_format_ == DataFormat::ChannelsLast ? "(batch, rows, cols, channels)"
                                                         : "(batch, channels, rows, cols)",
                ", got shape ", shape_str(input_shape));
  const auto axes = spatial_axes(data_format_);
  Shape out = input_shape;
  out[axes[0]] = times(input_shape[axes[0]], size_[0]);
  out[axes[1]] = times(input_shape[axes[1]], size_[1]);
  return out;
}

Tensor UpSampling2DLayer::call(const Tensor& inputs, bool /*training*/) {
  const Shape out = compute_output_shape(inputs.shape());
  const auto axes = spatial_axes(data_format_);
  return image_resize(inputs, {out[axes[0]], out[axes[1]]},
                      {.interpolation = interpolation_, .data_format = data_format_});
}

UpSampling2D::UpSampling2D(IntPair size, UpSampling2DOptions options)
    : LayerHandle<UpSampling2DLayer>(
          std::make_shared<UpSampling2DLayer>(size, std::move(options))) {}

ConfigValue UpSampling2DLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("size", pair_config(size_));
  config.set("data_format", data_format_name(data_format_));
  config.set("interpolation", interpolation_name(interpolation_));
  return config;
}

UpSampling2D UpSampling2D::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "UpSampling2D");
  return UpSampling2D(r.pair("size", 2), {.data_format = r.string("data_format", "channels_last"),
                                          .interpolation = r.string("interpolation", "nearest"),
                                          .name = r.string("name", ""),
                                          .dtype = r.dtype()});
}

UpSampling1DLayer::UpSampling1DLayer(std::int64_t size, LayerOptions options)
    : Layer("UpSampling1D", std::move(options)), size_(size) {
  NEURONA_CHECK(size_ > 0, ValueError, describe(),
                ": Argument `size` should be a positive integer. Received: size=", size_);
}

Shape UpSampling1DLayer::compute_output_shape(const Shape& input_shape) const {
  NEURONA_CHECK(input_shape.rank() == 3, ShapeError, describe(),
                ": expected a 3-D input (batch, steps, features), got shape ",
                shape_str(input_shape));
  return Shape{input_shape[0], times(input_shape[1], size_), input_shape[2]};
}

Tensor UpSampling1DLayer::call(const Tensor& inputs, bool /*training*/) {
  const Shape out = compute_output_shape(inputs.shape());
  const Shape& in = inputs.shape();
  // (batch, steps, 1, features): an image one column wide, repeated down its rows.
  const Tensor image = reshape(inputs, {in[0], in[1], 1, in[2]});
  return reshape(image_resize(image, {out[1], 1}, {.interpolation = Interpolation::Nearest}), out);
}

UpSampling1D::UpSampling1D(std::int64_t size, LayerOptions options)
    : LayerHandle<UpSampling1DLayer>(
          std::make_shared<UpSampling1DLayer>(size, std::move(options))) {}

ConfigValue UpSampling1DLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("size", size_);
  return config;
}

UpSampling1D UpSampling1D::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "UpSampling1D");
  return UpSampling1D(r.integer("size", 2), r.layer_options());
}

}  // namespace neurona::layers
