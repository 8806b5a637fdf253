// The image preprocessing layers over existing ops (elementwise, narrow, gather, image_resize),
// so that they run on every device and inside captured steps without kernels of their own.
#include "neurona/layers/image_preprocessing.h"

#include <cmath>

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

namespace {

using neurona::detail::str;

// The (height, width) axes of channels_last images of rank 3 or 4; ValueError naming the layer.
std::pair<int, int> image_axes(const Shape& shape, const std::string& who) {
  NEURONA_CHECK(shape.rank() == 3 || shape.rank() == 4, ValueError, who,
                ": expected images of rank 3 (height, width, channels) or 4 (batch, height, "
                "width, channels), got shape ",
                shape_str(shape));
  return {shape.rank() - 3, shape.rank() - 2};
}

Tensor as_float(const Tensor& x) {
  return is_floating(x.dtype()) ? x : cast(x, DType::float32);
}

Tensor clip(const Tensor& x, double lo, double hi) {
  return maximum(minimum(x, scalar_like(x, hi)), scalar_like(x, lo));
}

// `shape` with its images' height and width replaced.
Shape resized_shape(const Shape& shape, std::int64_t height, std::int64_t width,
                    const std::string& who) {
  const auto [h_axis, w_axis] = image_axes(shape, who);
  Shape out = shape;
  out[h_axis] = height;
  out[w_axis] = width;
  return out;
}

// The shape of a per-image draw: (batch, 1, 1, 1), or (1, 1, 1) for one image.
Shape per_image(const Shape& shape) {
  return shape.rank() == 4 ? Shape{shape[0], 1, 1, 1} : Shape{1, 1, 1};
}

// The central window of Keras's crop_to_aspect_ratio / smart_resize for a target (th, tw).
Tensor crop_to_aspect(const Tensor& x, std::int64_t th, std::int64_t tw, int h_axis, int w_axis) {
  const std::int64_t h = x.shape()[h_axis], w = x.shape()[w_axis];
  std::int64_t ch =
      static_cast<std::int64_t>(static_cast<double>(w * th) / static_cast<double>(tw));
  ch = std::max<std::int64_t>(std::min(h, ch), 1);
  std::int64_t cw =
      static_cast<std::int64_t>(static_cast<double>(h * tw) / static_cast<double>(th));
  cw = std::max<std::int64_t>(std::min(w, cw), 1);
  const auto h0 = static_cast<std::int64_t>(static_cast<double>(h - ch) / 2);
  const auto w0 = static_cast<std::int64_t>(static_cast<double>(w - cw) / 2);
  return narrow(narrow(x, w_axis, w0, cw), h_axis, h0, ch);
}

// A resize of channels_last images of rank 3 or 4 (image_resize takes both).
Tensor resize(const Tensor& x, std::int64_t h, std::int64_t w, Interpolation interpolation) {
  return image_resize(x, {h, w}, {.interpolation = interpolation});
}

ConfigValue pair_config(double a, double b) {
  return ConfigValue(ConfigValue::List{ConfigValue(a), ConfigValue(b)});
}

ConfigValue factor_config(const FactorRange& f) {
  return f.is_scalar() ? ConfigValue(f.upper()) : pair_config(f.lower(), f.upper());
}

bool is_number(const ConfigValue& v) {
  return v.kind() == ConfigValue::Kind::Int || v.kind() == ConfigValue::Kind::Float;
}

// A factor as a config holds it: a number or a list of two.
FactorRange read_factor(const LayerConfigReader& r, const char* key) {
  const ConfigValue& v = r.need(key);
  if (is_number(v)) return FactorRange(v.as_double());
  const auto& list = v.as_list();
  NEURONA_CHECK(list.size() == 2, ValueError, r.who(), ": '", key,
                "' must be a number or a list of two numbers");
  return FactorRange{list[0].as_double(), list[1].as_double()};
}

// neurona's image layers take channels_last images only.
void only_channels_last(const LayerConfigReader& r) {
  const ConfigValue* v = r.find("data_format");
  NEURONA_CHECK(v == nullptr || v->is_null() || v->as_string() == "channels_last", ValueError,
                r.who(), ": 'data_format' is ", v != nullptr ? v->as_string() : std::string(),
                ", but neurona's image layers take channels_last images only");
}

// A draw from [lo, hi) per image, or lo everywhere when the range is empty (a factor of 0).
Tensor uniform_per_image(const Tensor& x, double lo, double hi, SeedGenerator& generator) {
  if (!(hi > lo)) return fill(per_image(x.shape()), lo, {.dtype = x.dtype(), .device = x.device()});
  return random_uniform(per_image(x.shape()), {.minval = lo,
                                               .maxval = hi,
                                               .dtype = x.dtype(),
                                               .device = x.device(),
                                               .seed_generator = &generator});
}

void check_factor(const FactorRange& f, double lo, double hi, const std::string& who) {
  NEURONA_CHECK(f.lower() >= lo && f.upper() <= hi && f.lower() <= f.upper(), ValueError, who,
                ": the `factor` argument should be a number (or a list of two numbers) in the "
                "range [",
                lo, ", ", hi, "]. Received: factor=(", f.lower(), ", ", f.upper(), ")");
}

}  // namespace

FactorRange::FactorRange(std::initializer_list<double> range) {
  NEURONA_CHECK(range.size() == 2, ValueError, "factor: expected one number or two, got ",
                range.size());
  lower_ = std::min(*range.begin(), *(range.begin() + 1));
  upper_ = std::max(*range.begin(), *(range.begin() + 1));
}

// ---- Rescaling ------------------------------------------------------------------------------

RescalingLayer::RescalingLayer(double scale, RescalingOptions options)
    : Layer("Rescaling", {.name = options.name}), scale_(scale), offset_(options.offset) {
  set_supports_masking(true);
}

Tensor RescalingLayer::call(const Tensor& inputs, bool /*training*/) {
  const Tensor x = as_float(inputs);
  return x * scalar_like(x, scale_) + scalar_like(x, offset_);
}

ConfigValue RescalingLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("scale", scale_);
  config.set("offset", offset_);
  return config;
}

Rescaling::Rescaling(double scale, RescalingOptions options)
    : LayerHandle(std::make_shared<RescalingLayer>(scale, std::move(options))) {}

Rescaling Rescaling::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Rescaling");
  NEURONA_CHECK(is_number(r.need("scale")), ValueError,
                "Rescaling: only a single number is supported for 'scale' (not per channel)");
  return Rescaling(r.number("scale", 1.0),
                   {.offset = r.number("offset", 0.0), .name = r.string("name", "")});
}

// ---- Resizing ---------------------------------------------------------------------------------

ResizingLayer::ResizingLayer(std::int64_t height, std::int64_t width, ResizingOptions options)
    : Layer("Resizing", {.name = options.name}),
      height_(height),
      width_(width),
      options_(std::move(options)) {
  NEURONA_CHECK(height > 0 && width > 0, ValueError, describe(),
                ": height and width must be positive, got (", height, ", ", width, ")");
  (void)interpolation_from_string(options_.interpolation);  // ValueError listing the names
}

Tensor ResizingLayer::call(const Tensor& inputs, bool /*training*/) {
  const auto [h_axis, w_axis] = image_axes(inputs.shape(), describe());
  Tensor x = as_float(inputs);
  if (options_.crop_to_aspect_ratio) x = crop_to_aspect(x, height_, width_, h_axis, w_axis);
  return resize(x, height_, width_, interpolation_from_string(options_.interpolation));
}

Shape ResizingLayer::compute_output_shape(const Shape& input_shape) const {
  return resized_shape(input_shape, height_, width_, describe());
}

ConfigValue ResizingLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("height", height_);
  config.set("width", width_);
  config.set("interpolation", options_.interpolation);
  config.set("crop_to_aspect_ratio", options_.crop_to_aspect_ratio);
  config.set("pad_to_aspect_ratio", false);
  config.set("fill_mode", "constant");
  config.set("fill_value", 0.0);
  config.set("antialias", false);
  config.set("data_format", "channels_last");
  return config;
}

Resizing::Resizing(std::int64_t height, std::int64_t width, ResizingOptions options)
    : LayerHandle(std::make_shared<ResizingLayer>(height, width, std::move(options))) {}

Resizing Resizing::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Resizing");
  r.only("pad_to_aspect_ratio", false, "pad_to_aspect_ratio=True");
  r.only("antialias", false, "antialias=True");
  only_channels_last(r);
  return Resizing(r.integer("height"), r.integer("width"),
                  {.interpolation = r.string("interpolation", "bilinear"),
                   .crop_to_aspect_ratio = r.boolean("crop_to_aspect_ratio", false),
                   .name = r.string("name", "")});
}

// ---- CenterCrop -------------------------------------------------------------------------------

CenterCropLayer::CenterCropLayer(std::int64_t height, std::int64_t width, CenterCropOptions options)
    : Layer("CenterCrop", {.name = options.name}), height_(height), width_(width) {
  NEURONA_CHECK(height > 0 && width > 0, ValueError, describe(),
                ": height and width must be positive, got (", height, ", ", width, ")");
}

Tensor CenterCropLayer::call(const Tensor& inputs, bool /*training*/) {
  const auto [h_axis, w_axis] = image_axes(inputs.shape(), describe());
  const Tensor x = as_float(inputs);
  const std::int64_t h_diff = x.shape()[h_axis] - height_;
  const std::int64_t w_diff = x.shape()[w_axis] - width_;
  if (h_diff >= 0 && w_diff >= 0) {
    return narrow(narrow(x, w_axis, w_diff / 2, width_), h_axis, h_diff / 2, height_);
  }
  return resize(crop_to_aspect(x, height_, width_, h_axis, w_axis), height_, width_,
                Interpolation::Bilinear);
}

Shape CenterCropLayer::compute_output_shape(const Shape& input_shape) const {
  return resized_shape(input_shape, height_, width_, describe());
}

ConfigValue CenterCropLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("height", height_);
  config.set("width", width_);
  config.set("data_format", "channels_last");
  return config;
}

CenterCrop::CenterCrop(std::int64_t height, std::int64_t width, CenterCropOptions options)
    : LayerHandle(std::make_shared<CenterCropLayer>(height, width, std::move(options))) {}

CenterCrop CenterCrop::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "CenterCrop");
  only_channels_last(r);
  return CenterCrop(r.integer("height"), r.integer("width"), {.name = r.string("name", "")});
}

// ---- RandomFlip -------------------------------------------------------------------------------

RandomFlipLayer::RandomFlipLayer(std::string mode, RandomFlipOptions options)
    : Layer("RandomFlip", {.name = options.name}),
      mode_(std::move(mode)),
      seed_(options.seed),
      generator_(options.seed) {
  track_seed_generator(generator_);
  NEURONA_CHECK(mode_ == "horizontal" || mode_ == "vertical" || mode_ == "horizontal_and_vertical",
                ValueError, describe(), ": RandomFlip layer ", name(),
                " received an unknown mode argument ", mode_,
                " (expected horizontal, vertical or horizontal_and_vertical)");
}

Tensor RandomFlipLayer::call(const Tensor& inputs, bool training) {
  (void)image_axes(inputs.shape(), describe());
  const Tensor x = as_float(inputs);
  if (!training) return x;
  const Tensor u = uniform_per_image(x, 0.0, 1.0, generator_);
  const Tensor flips = less_equal(u, scalar_like(u, 0.5));
  const Tensor batched =
      x.rank() == 3 ? reshape(x, Shape{1, x.shape()[0], x.shape()[1], x.shape()[2]}) : x;
  Tensor out = batched;
  if (mode_ != "vertical") out = where(flips, reverse(out, 2), out);
  if (mode_ != "horizontal") out = where(flips, reverse(out, 1), out);
  return x.rank() == 3 ? reshape(out, x.shape()) : out;
}

ConfigValue RandomFlipLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("mode", mode_);
  config.set("seed", seed_ ? ConfigValue(*seed_) : ConfigValue());
  config.set("data_format", "channels_last");
  return config;
}

RandomFlip::RandomFlip(std::string mode, RandomFlipOptions options)
    : LayerHandle(std::make_shared<RandomFlipLayer>(std::move(mode), std::move(options))) {}

RandomFlip RandomFlip::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "RandomFlip");
  only_channels_last(r);
  return RandomFlip(r.string("mode", "horizontal_and_vertical"),
                    {.seed = r.seed(), .name = r.string("name", "")});
}

// ---- RandomBrightness and RandomContrast ------------------------------------------------------

RandomBrightnessLayer::RandomBrightnessLayer(FactorRange factor, RandomColorOptions options)
    : Layer("RandomBrightness", {.name = options.name}),
      factor_(factor),
      options_(std::move(options)),
      generator_(options_.seed) {
  track_seed_generator(generator_);
  check_factor(factor_, -1.0, 1.0, describe());
}

Tensor RandomBrightnessLayer::call(const Tensor& inputs, bool training) {
  (void)image_axes(inputs.shape(), describe());
  const Tensor x = as_float(inputs);
  if (!training) return x;
  const double lo = options_.value_range.lower(), hi = options_.value_range.upper();
  // Keras draws from [lower, upper) of the factor, then scales by the value range's width.
  const Tensor delta =
      uniform_per_image(x, factor_.lower() * (hi - lo), factor_.upper() * (hi - lo), generator_);
  return clip(x + delta, lo, hi);
}

ConfigValue RandomBrightnessLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("factor", factor_config(factor_));
  config.set("value_range",
             pair_config(options_.value_range.lower(), options_.value_range.upper()));
  config.set("seed", options_.seed ? ConfigValue(*options_.seed) : ConfigValue());
  return config;
}

RandomBrightness::RandomBrightness(FactorRange factor, RandomColorOptions options)
    : LayerHandle(std::make_shared<RandomBrightnessLayer>(factor, std::move(options))) {}

namespace {
RandomColorOptions read_color_options(const LayerConfigReader& r) {
  RandomColorOptions o{.seed = r.seed(), .name = r.string("name", "")};
  if (r.find("value_range") != nullptr) o.value_range = read_factor(r, "value_range");
  return o;
}
}  // namespace

RandomBrightness RandomBrightness::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "RandomBrightness");
  return RandomBrightness(read_factor(r, "factor"), read_color_options(r));
}

namespace {
// RandomContrast's (lower, upper): a number f is (|f|, |f|), a pair as given (sorted).
std::pair<double, double> contrast_bounds(const FactorRange& f) {
  if (f.is_scalar()) return {std::abs(f.upper()), std::abs(f.upper())};
  return {f.lower(), f.upper()};
}
}  // namespace

RandomContrastLayer::RandomContrastLayer(FactorRange factor, RandomColorOptions options)
    : Layer("RandomContrast", {.name = options.name}),
      factor_(factor),
      options_(std::move(options)),
      generator_(options_.seed) {
  track_seed_generator(generator_);
  const auto [lower, upper] = contrast_bounds(factor_);
  NEURONA_CHECK(lower >= 0 && lower <= 1 && upper >= 0 && upper <= 1, ValueError, describe(),
                ": the `factor` argument should be a number (or a list of two numbers) in the "
                "range [0, 1]. Received: factor=(",
                lower, ", ", upper, ")");
}

Tensor RandomContrastLayer::call(const Tensor& inputs, bool training) {
  const auto [h_axis, w_axis] = image_axes(inputs.shape(), describe());
  const Tensor x = as_float(inputs);
  if (!training) return x;
  const auto [lower, upper] = contrast_bounds(factor_);
  const Tensor c = uniform_per_image(x, 1.0 - lower, 1.0 + upper, generator_);
  const Tensor m = mean(mean(x, {h_axis}, true), {w_axis}, true);
  return clip((x - m) * c + m, options_.value_range.lower(), options_.value_range.upper());
}

ConfigValue RandomContrastLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("factor", factor_config(factor_));
  config.set("value_range",
             pair_config(options_.value_range.lower(), options_.value_range.upper()));
  config.set("seed", options_.seed ? ConfigValue(*options_.seed) : ConfigValue());
  return config;
}

RandomContrast::RandomContrast(FactorRange factor, RandomColorOptions options)
    : LayerHandle(std::make_shared<RandomContrastLayer>(factor, std::move(options))) {}

RandomContrast RandomContrast::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "RandomContrast");
  return RandomContrast(read_factor(r, "factor"), read_color_options(r));
}

}  // namespace neurona::layers
