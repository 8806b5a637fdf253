// Cropping1D and Cropping2D: Cropping2D is nr::zero_pad2d with negative amounts (one pass, in
// either data format), Cropping1D a narrow of the steps axis.
#include "neurona/layers/cropping.h"

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

namespace {
std::string amounts_str(const Cropping2DAmounts& c) {
  return detail::str("((", c.top, ", ", c.bottom, "), (", c.left, ", ", c.right, "))");
}

// Keras's standardize_tuple(..., allow_zero=True) for one entry of `cropping`.
void check_entry(const std::string& who, const char* name, std::int64_t a, std::int64_t b) {
  NEURONA_CHECK(a >= 0 && b >= 0, ValueError, who, ": The `", name,
                "` argument must be a tuple of 2 integers. Received ", name, "=(", a, ", ", b,
                "), including values {", a < 0 ? a : b,
                a < 0 && b < 0 && a != b ? detail::str(", ", b) : std::string(),
                "} that do not satisfy `value >= 0`");
}
}  // namespace

Cropping2DLayer::Cropping2DLayer(Cropping2DAmounts cropping, Cropping2DOptions options)
    : Layer("Cropping2D", {.name = options.name, .dtype = options.dtype}),
      cropping_(cropping),
      data_format_(
          standardize_data_format(describe(), options.data_format.value_or("channels_last"))) {
  const Cropping2DAmounts& c = cropping_;
  const bool one_int = c.top == c.bottom && c.top == c.left && c.top == c.right;
  NEURONA_CHECK(!one_int || c.top >= 0, ValueError, describe(),
                ": `cropping` cannot be negative. Received: cropping=", c.top, ".");
  check_entry(describe(), "1st entry of cropping", c.top, c.bottom);
  check_entry(describe(), "2nd entry of cropping", c.left, c.right);
}

Shape Cropping2DLayer::compute_output_shape(const Shape& input_shape) const {
  NEURONA_CHECK(input_shape.rank() == 4, ShapeError, describe(), ": expected a 4-D input ",
                data_format_ == DataFormat::ChannelsLast ? "(batch, rows, cols, channels)"
                                                         : "(batch, channels, rows, cols)",
                ", got shape ", shape_str(input_shape));
  const auto axes = spatial_axes(data_format_);
  const std::int64_t h = input_shape[axes[0]], w = input_shape[axes[1]];
  const std::int64_t ch = cropping_.top + cropping_.bottom, cw = cropping_.left + cropping_.right;
  NEURONA_CHECK((h < 0 || ch < h) && (w < 0 || cw < w), ShapeError, describe(),
                ": Values in `cropping` argument should be smaller than the corresponding "
                "spatial dimension of the input. Received: input_shape=",
                shape_str(input_shape), ", cropping=", amounts_str(cropping_));
  Shape out = input_shape;
  out[axes[0]] = h < 0 ? -1 : h - ch;
  out[axes[1]] = w < 0 ? -1 : w - cw;
  return out;
}

Tensor Cropping2DLayer::call(const Tensor& inputs, bool /*training*/) {
  compute_output_shape(inputs.shape());
  const Cropping2DAmounts& c = cropping_;
  return zero_pad2d(inputs, -c.top, -c.bottom, -c.left, -c.right, data_format_);
}

Cropping2D::Cropping2D(Cropping2DAmounts cropping, Cropping2DOptions options)
    : LayerHandle<Cropping2DLayer>(
          std::make_shared<Cropping2DLayer>(cropping, std::move(options))) {}

ConfigValue Cropping2DLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("cropping", ConfigValue::List{ConfigValue::List{cropping_.top, cropping_.bottom},
                                           ConfigValue::List{cropping_.left, cropping_.right}});
  config.set("data_format", data_format_name(data_format_));
  return config;
}

Cropping2D Cropping2D::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Cropping2D");
  Cropping2DAmounts amounts = 0;
  if (const ConfigValue* c = r.find("cropping")) {
    if (c->kind() == ConfigValue::Kind::Int) {
      amounts = c->as_int();
    } else {
      const auto& list = r.typed("cropping", *c, [](const ConfigValue& x) { return x.as_list(); });
      NEURONA_CHECK(list.size() == 2, ValueError, r.who(),
                    ": 'cropping' must be an int, 2 ints, or 2 pairs of ints");
      // Each entry an int (symmetric) or a pair, as Keras's standardize_tuple takes.
      auto entry = [&](const ConfigValue& v) -> std::array<std::int64_t, 2> {
        if (v.kind() == ConfigValue::Kind::Int) return {v.as_int(), v.as_int()};
        const auto e = r.ints("cropping", v);
        NEURONA_CHECK(e.size() == 2, ValueError, r.who(),
                      ": 'cropping' must be ((top, bottom), (left, right))");
        return {e[0], e[1]};
      };
      amounts = Cropping2DAmounts(entry(list[0]), entry(list[1]));
    }
  }
  return Cropping2D(amounts, {.data_format = r.string("data_format", "channels_last"),
                              .name = r.string("name", ""),
                              .dtype = r.dtype()});
}

Cropping1DLayer::Cropping1DLayer(IntPair cropping, LayerOptions options)
    : Layer("Cropping1D", std::move(options)), cropping_(cropping) {
  check_entry(describe(), "cropping", cropping_[0], cropping_[1]);
}

Shape Cropping1DLayer::compute_output_shape(const Shape& input_shape) const {
  NEURONA_CHECK(input_shape.rank() == 3, ShapeError, describe(),
                ": expected a 3-D input (batch, steps, features), got shape ",
                shape_str(input_shape));
  const std::int64_t steps = input_shape[1], crop = cropping_[0] + cropping_[1];
  NEURONA_CHECK(steps < 0 || crop < steps, ShapeError, describe(),
                ": `cropping` parameter of `Cropping1D` layer must be smaller than the input "
                "length. Received: input_shape=",
                shape_str(input_shape), ", cropping=", pair_str(cropping_));
  return Shape{input_shape[0], steps < 0 ? -1 : steps - crop, input_shape[2]};
}

Tensor Cropping1DLayer::call(const Tensor& inputs, bool /*training*/) {
  const Shape out = compute_output_shape(inputs.shape());
  return narrow(inputs, 1, cropping_[0], out[1]);
}

Cropping1D::Cropping1D(IntPair cropping, LayerOptions options)
    : LayerHandle<Cropping1DLayer>(
          std::make_shared<Cropping1DLayer>(cropping, std::move(options))) {}

ConfigValue Cropping1DLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("cropping", pair_config(cropping_));
  return config;
}

Cropping1D Cropping1D::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Cropping1D");
  return Cropping1D(r.pair("cropping", 1), r.layer_options());
}

}  // namespace neurona::layers
