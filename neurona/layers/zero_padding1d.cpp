// ZeroPadding1D over nr::zero_pad2d: the sequence seen as an image one pixel wide
// (channels_last) or one pixel high (channels_first), so either format pads in one pass.
#include "neurona/layers/zero_padding1d.h"

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

ZeroPadding1DLayer::ZeroPadding1DLayer(IntPair padding, ZeroPadding1DOptions options)
    : Layer("ZeroPadding1D", {.name = options.name, .dtype = options.dtype}),
      padding_(padding),
      data_format_(standardize_data_format(describe(), options.data_format)) {
  NEURONA_CHECK(padding_[0] >= 0 && padding_[1] >= 0, ValueError, describe(),
                ": The `padding` argument must be a tuple of 2 integers. Received padding=",
                pair_str(padding_), ", including values {",
                padding_[0] < 0 ? padding_[0] : padding_[1],
                padding_[0] < 0 && padding_[1] < 0 && padding_[0] != padding_[1]
                    ? detail::str(", ", padding_[1])
                    : std::string(),
                "} that do not satisfy `value >= 0`");
}

Shape ZeroPadding1DLayer::compute_output_shape(const Shape& input_shape) const {
  NEURONA_CHECK(input_shape.rank() == 3, ShapeError, describe(), ": expected a 3-D input ",
                data_format_ == DataFormat::ChannelsLast ? "(batch, steps, features)"
                                                         : "(batch, features, steps)",
                ", got shape ", shape_str(input_shape));
  const int axis = data_format_ == DataFormat::ChannelsLast ? 1 : 2;
  Shape out = input_shape;
  if (out[axis] >= 0) out[axis] += padding_[0] + padding_[1];
  return out;
}

Tensor ZeroPadding1DLayer::call(const Tensor& inputs, bool /*training*/) {
  const Shape out = compute_output_shape(inputs.shape());
  const Shape& in = inputs.shape();
  if (data_format_ == DataFormat::ChannelsLast) {
    const Tensor image = reshape(inputs, {in[0], in[1], 1, in[2]});  // rows are steps
    return reshape(zero_pad2d(image, padding_[0], padding_[1], 0, 0), out);
  }
  const Tensor image = reshape(inputs, {in[0] * in[1], 1, in[2], 1});  // columns are steps
  return reshape(zero_pad2d(image, 0, 0, padding_[0], padding_[1]), out);
}

ZeroPadding1D::ZeroPadding1D(IntPair padding, ZeroPadding1DOptions options)
    : LayerHandle<ZeroPadding1DLayer>(
          std::make_shared<ZeroPadding1DLayer>(padding, std::move(options))) {}

ConfigValue ZeroPadding1DLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("padding", pair_config(padding_));
  config.set("data_format", data_format_name(data_format_));
  return config;
}

ZeroPadding1D ZeroPadding1D::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "ZeroPadding1D");
  return ZeroPadding1D(r.pair("padding", 1),
                       {.data_format = r.string("data_format", "channels_last"),
                        .name = r.string("name", ""),
                        .dtype = r.dtype()});
}

}  // namespace neurona::layers
