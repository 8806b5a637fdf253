// 1-D pooling layers over the 2-D pooling kernels (the steps as an image one pixel wide, so
// neither data format transposes) and nr::max / mean.
#include "neurona/layers/pooling1d.h"

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

namespace {
void check_rank3(const std::string& who, const Shape& input_shape, DataFormat data_format) {
  NEURONA_CHECK(input_shape.rank() == 3, ShapeError, who, ": expected a 3-D input ",
                data_format == DataFormat::ChannelsLast ? "(batch, steps, features)"
                                                        : "(batch, features, steps)",
                ", got shape ", shape_str(input_shape));
}

int steps_axis(DataFormat data_format) {
  return data_format == DataFormat::ChannelsLast ? 1 : 2;
}

// Keras's standardize_tuple(value, 1, name): a positive int.
void check_positive(const std::string& who, const char* name, std::int64_t v) {
  NEURONA_CHECK(v > 0, ValueError, who, ": The `", name,
                "` argument must be a tuple of 1 integers. Received ", name, "=", v,
                ", including values {", v, "} that do not satisfy `value > 0`");
}
}  // namespace

Pooling1DLayer::Pooling1DLayer(bool max, std::int64_t pool_size, Pooling1DOptions options)
    : Layer(max ? "MaxPooling1D" : "AveragePooling1D",
            {.name = options.name, .dtype = options.dtype}),
      max_(max),
      pool_size_(pool_size),
      strides_(options.strides.value_or(pool_size)),
      padding_(standardize_padding(describe(), options.padding)),
      data_format_(standardize_data_format(describe(), options.data_format)) {
  check_positive(describe(), "pool_size", pool_size_);
  check_positive(describe(), "strides", strides_);
}

Shape Pooling1DLayer::compute_output_shape(const Shape& input_shape) const {
  check_rank3(describe(), input_shape, data_format_);
  const int axis = steps_axis(data_format_);
  Shape out = input_shape;
  out[axis] = window_output_size(describe(), input_shape, input_shape[axis], pool_size_, strides_,
                                 1, padding_);
  return out;
}

Tensor Pooling1DLayer::call(const Tensor& inputs, bool /*training*/) {
  const Shape out = compute_output_shape(inputs.shape());
  const Shape& in = inputs.shape();
  // channels_last (b, steps, f) -> (b, steps, 1, f); channels_first (b, f, steps) -> (b * f,
  // steps, 1, 1): NHWC images one pixel wide either way, pooled down their rows.
  const Tensor image = data_format_ == DataFormat::ChannelsLast
                           ? reshape(inputs, {in[0], in[1], 1, in[2]})
                           : reshape(inputs, {in[0] * in[1], in[2], 1, 1});
  const Pool2DOptions o{
      .pool_size = {pool_size_, 1}, .strides = {{strides_, 1}}, .padding = padding_};
  return reshape(max_ ? max_pool2d(image, o) : avg_pool2d(image, o), out);
}

MaxPooling1D::MaxPooling1D(std::int64_t pool_size, Pooling1DOptions options)
    : LayerHandle<Pooling1DLayer>(
          std::make_shared<Pooling1DLayer>(true, pool_size, std::move(options))) {}

AveragePooling1D::AveragePooling1D(std::int64_t pool_size, Pooling1DOptions options)
    : LayerHandle<Pooling1DLayer>(
          std::make_shared<Pooling1DLayer>(false, pool_size, std::move(options))) {}

ConfigValue Pooling1DLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("pool_size", ConfigValue::List{pool_size_});
  config.set("padding", padding_name(padding_));
  config.set("strides", ConfigValue::List{strides_});
  config.set("data_format", data_format_name(data_format_));
  return config;
}

namespace {
// An int or a list of one int (Keras writes the tuple (2,) as [2]).
std::int64_t one_int(const LayerConfigReader& r, const char* key, const ConfigValue& v) {
  if (v.kind() == ConfigValue::Kind::Int) return v.as_int();
  const std::vector<std::int64_t> list = r.ints(key, v);
  NEURONA_CHECK(list.size() == 1, ValueError, r.who(), ": '", key,
                "' must be an int or a list of 1 int, got ", list.size(), " values");
  return list[0];
}

// MaxPooling1D's and AveragePooling1D's config: the pool size and Pooling1DOptions.
std::pair<std::int64_t, Pooling1DOptions> pooling_args(const LayerConfigReader& r,
                                                       std::optional<std::int64_t> default_pool) {
  const ConfigValue* pool = r.find("pool_size");
  NEURONA_CHECK(pool != nullptr || default_pool.has_value(), ValueError, r.who(),
                ": the config lacks 'pool_size'");
  const ConfigValue* strides = r.find("strides");
  return {pool ? one_int(r, "pool_size", *pool) : *default_pool,
          Pooling1DOptions{
              .strides = strides ? std::optional<std::int64_t>(one_int(r, "strides", *strides))
                                 : std::nullopt,
              .padding = r.string("padding", "valid"),
              .data_format = r.string("data_format", "channels_last"),
              .name = r.string("name", ""),
              .dtype = r.dtype()}};
}
}  // namespace

MaxPooling1D MaxPooling1D::from_config(const ConfigValue& config) {
  const auto [pool, options] = pooling_args(LayerConfigReader(config, "MaxPooling1D"), 2);
  return MaxPooling1D(pool, options);
}

AveragePooling1D AveragePooling1D::from_config(const ConfigValue& config) {
  const auto [pool, options] =
      pooling_args(LayerConfigReader(config, "AveragePooling1D"), std::nullopt);
  return AveragePooling1D(pool, options);
}

GlobalPooling1DLayer::GlobalPooling1DLayer(bool max, GlobalPooling1DOptions options)
    : Layer(max ? "GlobalMaxPooling1D" : "GlobalAveragePooling1D",
            {.name = options.name, .dtype = options.dtype}),
      max_(max),
      data_format_(standardize_data_format(describe(), options.data_format)),
      keepdims_(options.keepdims) {
  set_supports_masking(!max_);  // as Keras: the average pools over the unmasked steps
  set_call_takes_mask(!max_);   // Keras's GlobalMaxPooling1D.call takes no mask
}

Shape GlobalPooling1DLayer::compute_output_shape(const Shape& input_shape) const {
  check_rank3(describe(), input_shape, data_format_);
  const bool last = data_format_ == DataFormat::ChannelsLast;
  const std::int64_t features = input_shape[last ? 2 : 1];
  if (!keepdims_) return Shape{input_shape[0], features};
  return last ? Shape{input_shape[0], 1, features} : Shape{input_shape[0], features, 1};
}

Tensor GlobalPooling1DLayer::call(const Tensor& inputs, bool /*training*/) {
  check_rank3(describe(), inputs.shape(), data_format_);
  const int axis = steps_axis(data_format_);
  return max_ ? max(inputs, axis, keepdims_) : mean(inputs, axis, keepdims_);
}

Tensor GlobalPooling1DLayer::call_with_mask(const Tensor& inputs, const Tensor& mask,
                                            bool training) {
  if (max_ || !mask.defined()) return call(inputs, training);
  check_rank3(describe(), inputs.shape(), data_format_);
  const Shape& in = inputs.shape();
  const int axis = steps_axis(data_format_);
  NEURONA_CHECK(mask.shape() == Shape({in[0], in[axis]}), ShapeError, describe(),
                ": expected a mask of shape (batch, steps) = ", shape_str(Shape({in[0], in[axis]})),
                " for inputs of shape ", shape_str(in),
                ", got mask.shape=", shape_str(mask.shape()));
  // As Keras: the mask cast to bool (nonzero), expanded over the features.
  const Shape expanded =
      data_format_ == DataFormat::ChannelsLast ? Shape{in[0], in[1], 1} : Shape{in[0], 1, in[2]};
  const Tensor keep = reshape(not_equal(mask, scalar_like(mask, 0.0)), expanded);
  const Tensor kept = where(keep, inputs, scalar_like(inputs, 0.0));
  return divide(sum(kept, axis, keepdims_), sum(cast(keep, inputs.dtype()), axis, keepdims_));
}

GlobalMaxPooling1D::GlobalMaxPooling1D(GlobalPooling1DOptions options)
    : LayerHandle<GlobalPooling1DLayer>(
          std::make_shared<GlobalPooling1DLayer>(true, std::move(options))) {}

GlobalAveragePooling1D::GlobalAveragePooling1D(GlobalPooling1DOptions options)
    : LayerHandle<GlobalPooling1DLayer>(
          std::make_shared<GlobalPooling1DLayer>(false, std::move(options))) {}

ConfigValue GlobalPooling1DLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("data_format", data_format_name(data_format_));
  config.set("keepdims", keepdims_);
  return config;
}

namespace {
GlobalPooling1DOptions global_pooling_options(const LayerConfigReader& r) {
  return {.data_format = r.string("data_format", "channels_last"),
          .keepdims = r.boolean("keepdims", false),
          .name = r.string("name", ""),
          .dtype = r.dtype()};
}
}  // namespace

GlobalMaxPooling1D GlobalMaxPooling1D::from_config(const ConfigValue& config) {
  return GlobalMaxPooling1D(
      global_pooling_options(LayerConfigReader(config, "GlobalMaxPooling1D")));
}

GlobalAveragePooling1D GlobalAveragePooling1D::from_config(const ConfigValue& config) {
  return GlobalAveragePooling1D(
      global_pooling_options(LayerConfigReader(config, "GlobalAveragePooling1D")));
}

}  // namespace neurona::layers
