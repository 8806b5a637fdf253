// Pooling layers over nr::max_pool2d / avg_pool2d (both data formats) and nr::max / mean.
#include "neurona/layers/pooling2d.h"

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

namespace {
void check_rank4(const std::string& who, const Shape& input_shape, DataFormat data_format) {
  NEURONA_CHECK(input_shape.rank() == 4, ShapeError, who, ": expected a 4-D input ",
                data_format == DataFormat::ChannelsLast ? "(batch, height, width, channels)"
                                                        : "(batch, channels, height, width)",
                ", got shape ", shape_str(input_shape));
}
}  // namespace

Pooling2DLayer::Pooling2DLayer(bool max, IntPair pool_size, Pooling2DOptions options)
    : Layer(max ? "MaxPooling2D" : "AveragePooling2D",
            {.name = options.name, .dtype = options.dtype}),
      max_(max),
      pool_size_(pool_size),
      strides_(options.strides.pair.value_or(pool_size)),
      padding_(standardize_padding(describe(), options.padding)),
      data_format_(standardize_data_format(describe(), options.data_format)) {
  check_pair(describe(), "pool_size", pool_size_);
  check_pair(describe(), "strides", strides_);
}

Shape Pooling2DLayer::compute_output_shape(const Shape& input_shape) const {
  check_rank4(describe(), input_shape, data_format_);
  const auto axes = spatial_axes(data_format_);
  Shape out = input_shape;
  for (std::size_t i = 0; i < 2; ++i) {
    out[axes[i]] = window_output_size(describe(), input_shape, input_shape[axes[i]], pool_size_[i],
                                      strides_[i], 1, padding_);
  }
  return out;
}

Tensor Pooling2DLayer::call(const Tensor& inputs, bool /*training*/) {
  compute_output_shape(inputs.shape());
  const Pool2DOptions o{.pool_size = pool_size_.values,
                        .strides = strides_.values,
                        .padding = padding_,
                        .data_format = data_format_};
  return max_ ? max_pool2d(inputs, o) : avg_pool2d(inputs, o);
}

MaxPooling2D::MaxPooling2D(IntPair pool_size, Pooling2DOptions options)
    : LayerHandle<Pooling2DLayer>(
          std::make_shared<Pooling2DLayer>(true, pool_size, std::move(options))) {}

AveragePooling2D::AveragePooling2D(IntPair pool_size, Pooling2DOptions options)
    : LayerHandle<Pooling2DLayer>(
          std::make_shared<Pooling2DLayer>(false, pool_size, std::move(options))) {}

GlobalPooling2DLayer::GlobalPooling2DLayer(bool max, GlobalPooling2DOptions options)
    : Layer(max ? "GlobalMaxPooling2D" : "GlobalAveragePooling2D",
            {.name = options.name, .dtype = options.dtype}),
      max_(max),
      data_format_(standardize_data_format(describe(), options.data_format)),
      keepdims_(options.keepdims) {}

Shape GlobalPooling2DLayer::compute_output_shape(const Shape& input_shape) const {
  check_rank4(describe(), input_shape, data_format_);
  const std::int64_t c = input_shape[channel_axis(data_format_)];
  if (!keepdims_) return Shape{input_shape[0], c};
  return data_format_ == DataFormat::ChannelsLast ? Shape{input_shape[0], 1, 1, c}
                                                  : Shape{input_shape[0], c, 1, 1};
}

Tensor GlobalPooling2DLayer::call(const Tensor& inputs, bool /*training*/) {
  check_rank4(describe(), inputs.shape(), data_format_);
  const auto a = spatial_axes(data_format_);
  const Axes axes{a[0], a[1]};
  return max_ ? max(inputs, axes, keepdims_) : mean(inputs, axes, keepdims_);
}

GlobalMaxPooling2D::GlobalMaxPooling2D(GlobalPooling2DOptions options)
    : LayerHandle<GlobalPooling2DLayer>(
          std::make_shared<GlobalPooling2DLayer>(true, std::move(options))) {}

GlobalAveragePooling2D::GlobalAveragePooling2D(GlobalPooling2DOptions options)
    : LayerHandle<GlobalPooling2DLayer>(
          std::make_shared<GlobalPooling2DLayer>(false, std::move(options))) {}

ConfigValue Pooling2DLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("pool_size", pair_config(pool_size_));
  config.set("padding", padding_name(padding_));
  config.set("strides", pair_config(strides_));
  config.set("data_format", data_format_name(data_format_));
  return config;
}

namespace {
// MaxPooling2D's and AveragePooling2D's config: the pool size and Pooling2DOptions.
std::pair<IntPair, Pooling2DOptions> pooling_args(const LayerConfigReader& r) {
  return {r.pair("pool_size", 2),
          Pooling2DOptions{.strides = r.find("strides") ? OptionalIntPair(r.pair("strides", 1))
                                                        : OptionalIntPair(),
                           .padding = r.string("padding", "valid"),
                           .data_format = r.string("data_format", "channels_last"),
                           .name = r.string("name", ""),
                           .dtype = r.dtype()}};
}
}  // namespace

MaxPooling2D MaxPooling2D::from_config(const ConfigValue& config) {
  const auto [pool, options] = pooling_args(LayerConfigReader(config, "MaxPooling2D"));
  return MaxPooling2D(pool, options);
}

AveragePooling2D AveragePooling2D::from_config(const ConfigValue& config) {
  const auto [pool, options] = pooling_args(LayerConfigReader(config, "AveragePooling2D"));
  return AveragePooling2D(pool, options);
}

ConfigValue GlobalPooling2DLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("data_format", data_format_name(data_format_));
  config.set("keepdims", keepdims_);
  return config;
}

namespace {
GlobalPooling2DOptions global_pooling_options(const LayerConfigReader& r) {
  return {.data_format = r.string("data_format", "channels_last"),
          .keepdims = r.boolean("keepdims", false),
          .name = r.string("name", ""),
          .dtype = r.dtype()};
}
}  // namespace

GlobalMaxPooling2D GlobalMaxPooling2D::from_config(const ConfigValue& config) {
  return GlobalMaxPooling2D(
      global_pooling_options(LayerConfigReader(config, "GlobalMaxPooling2D")));
}

GlobalAveragePooling2D GlobalAveragePooling2D::from_config(const ConfigValue& config) {
  return GlobalAveragePooling2D(
      global_pooling_options(LayerConfigReader(config, "GlobalAveragePooling2D")));
}

}  // namespace neurona::layers
