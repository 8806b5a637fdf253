// ZeroPadding2D over nr::zero_pad2d; Keras rejects negative amounts (nr::zero_pad2d would
// crop), so the layer does too.
#include "neurona/layers/zero_padding2d.h"

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

ZeroPadding2DLayer::ZeroPadding2DLayer(Padding2DAmounts padding, ZeroPadding2DOptions options)
    : Layer("ZeroPadding2D", {.name = options.name, .dtype = options.dtype}),
      padding_(padding),
      data_format_(
          standardize_data_format(describe(), options.data_format.value_or("channels_last"))) {
  const Padding2DAmounts& p = padding_;
  NEURONA_CHECK(p.top >= 0 && p.bottom >= 0 && p.left >= 0 && p.right >= 0, ValueError, describe(),
                ": `padding` values must be >= 0. Received: padding=((", p.top, ", ", p.bottom,
                "), (", p.left, ", ", p.right, "))");
}

Shape ZeroPadding2DLayer::compute_output_shape(const Shape& input_shape) const {
  NEURONA_CHECK(input_shape.rank() == 4, ShapeError, describe(), ": expected a 4-D input ",
                data_format_ == DataFormat::ChannelsLast ? "(batch, height, width, channels)"
                                                         : "(batch, channels, height, width)",
                ", got shape ", shape_str(input_shape));
  const auto axes = spatial_axes(data_format_);
  Shape out = input_shape;
  if (out[axes[0]] >= 0) out[axes[0]] += padding_.top + padding_.bottom;
  if (out[axes[1]] >= 0) out[axes[1]] += padding_.left + padding_.right;
  return out;
}

Tensor ZeroPadding2DLayer::call(const Tensor& inputs, bool /*training*/) {
  compute_output_shape(inputs.shape());
  return zero_pad2d(inputs, padding_.top, padding_.bottom, padding_.left, padding_.right,
                    data_format_);
}

ZeroPadding2D::ZeroPadding2D(Padding2DAmounts padding, ZeroPadding2DOptions options)
    : LayerHandle<ZeroPadding2DLayer>(
          std::make_shared<ZeroPadding2DLayer>(padding, std::move(options))) {}

ConfigValue ZeroPadding2DLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("padding", ConfigValue::List{ConfigValue::List{padding_.top, padding_.bottom},
                                          ConfigValue::List{padding_.left, padding_.right}});
  config.set("data_format", data_format_name(data_format_));
  return config;
}

ZeroPadding2D ZeroPadding2D::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "ZeroPadding2D");
  Padding2DAmounts amounts = 1;
  if (const ConfigValue* p = r.find("padding")) {
    if (p->kind() == ConfigValue::Kind::Int) {
      amounts = p->as_int();
    } else {
      const auto& list = r.typed("padding", *p, [](const ConfigValue& x) { return x.as_list(); });
      NEURONA_CHECK(list.size() == 2, ValueError, r.who(),
                    ": 'padding' must be an int, 2 ints, or 2 pairs of ints");
      if (list[0].kind() == ConfigValue::Kind::Int) {
        amounts =
            Padding2DAmounts(r.integer_of("padding", list[0]), r.integer_of("padding", list[1]));
      } else {
        const auto h = r.ints("padding", list[0]), w = r.ints("padding", list[1]);
        NEURONA_CHECK(h.size() == 2 && w.size() == 2, ValueError, r.who(),
                      ": 'padding' must be ((top, bottom), (left, right))");
        amounts = Padding2DAmounts(std::array<std::int64_t, 2>{h[0], h[1]},
                                   std::array<std::int64_t, 2>{w[0], w[1]});
      }
    }
  }
  return ZeroPadding2D(amounts, {.data_format = r.string("data_format", "channels_last"),
                                 .name = r.string("name", ""),
                                 .dtype = r.dtype()});
}

}  // namespace neurona::layers
