// The image preprocessing layers over existing ops (elementwise, narrow, image_resize,
// affine_transform), so that they run on every device and inside captured steps without kernels
// of their own: the random ones draw on the device and build their transforms there.
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

// Integer images (uint8) in the layer's compute dtype. operator() casts them already (the
// layers promote integer inputs, so that the symbolic dtype is the one a call returns: Keras's
// symbolic calls say the compute dtype too); this serves a direct call().
Tensor as_float(const Tensor& x, DType compute_dtype) {
  return is_floating(x.dtype()) ? x : cast(x, compute_dtype);
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
  const ImageBox b = crop_to_aspect_box(x.shape()[h_axis], x.shape()[w_axis], th, tw);
  return narrow(narrow(x, w_axis, b.left, b.width), h_axis, b.top, b.height);
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
  // Keras casts the inputs to the compute dtype (uint8 images under mixed_float16: float16).
  set_promote_integer_inputs(true);
}

Tensor RescalingLayer::call(const Tensor& inputs, bool /*training*/) {
  const Tensor x = as_float(inputs, compute_dtype());
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
  set_promote_integer_inputs(true);  // uint8 images come out in the compute dtype
  NEURONA_CHECK(height > 0 && width > 0, ValueError, describe(),
                ": height and width must be positive, got (", height, ", ", width, ")");
  (void)interpolation_from_string(options_.interpolation);  // ValueError listing the names
  NEURONA_CHECK(!(options_.crop_to_aspect_ratio && options_.pad_to_aspect_ratio), ValueError,
                describe(),
                ": Only one of `pad_to_aspect_ratio` & `crop_to_aspect_ratio` can be True.");
  NEURONA_CHECK(options_.fill_mode == "constant", ValueError, describe(),
                ": Invalid value for argument `fill_mode`. Only `'constant'` is supported. "
                "Received: fill_mode=",
                options_.fill_mode);
  NEURONA_CHECK(std::isfinite(options_.fill_value), ValueError, describe(),
                ": fill_value must be finite, got ", options_.fill_value);
}

Tensor ResizingLayer::call(const Tensor& inputs, bool /*training*/) {
  (void)image_axes(inputs.shape(), describe());  // channels_last images of rank 3 or 4
  return image_resize(as_float(inputs, compute_dtype()), {height_, width_},
                      {.interpolation = interpolation_from_string(options_.interpolation),
                       .crop_to_aspect_ratio = options_.crop_to_aspect_ratio,
                       .pad_to_aspect_ratio = options_.pad_to_aspect_ratio,
                       .fill_value = options_.fill_value,
                       .antialias = options_.antialias});
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
  config.set("pad_to_aspect_ratio", options_.pad_to_aspect_ratio);
  config.set("fill_mode", options_.fill_mode);
  config.set("fill_value", options_.fill_value);
  config.set("antialias", options_.antialias);
  config.set("data_format", "channels_last");
  return config;
}

Resizing::Resizing(std::int64_t height, std::int64_t width, ResizingOptions options)
    : LayerHandle(std::make_shared<ResizingLayer>(height, width, std::move(options))) {}

Resizing Resizing::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Resizing");
  only_channels_last(r);
  return Resizing(r.integer("height"), r.integer("width"),
                  {.interpolation = r.string("interpolation", "bilinear"),
                   .crop_to_aspect_ratio = r.boolean("crop_to_aspect_ratio", false),
                   .pad_to_aspect_ratio = r.boolean("pad_to_aspect_ratio", false),
                   .fill_mode = r.string("fill_mode", "constant"),
                   .fill_value = r.number("fill_value", 0.0),
                   .antialias = r.boolean("antialias", false),
                   .name = r.string("name", "")});
}

// ---- CenterCrop -------------------------------------------------------------------------------

CenterCropLayer::CenterCropLayer(std::int64_t height, std::int64_t width, CenterCropOptions options)
    : Layer("CenterCrop", {.name = options.name}), height_(height), width_(width) {
  set_promote_integer_inputs(true);  // uint8 images come out in the compute dtype
  NEURONA_CHECK(height > 0 && width > 0, ValueError, describe(),
                ": height and width must be positive, got (", height, ", ", width, ")");
}

Tensor CenterCropLayer::call(const Tensor& inputs, bool /*training*/) {
  const auto [h_axis, w_axis] = image_axes(inputs.shape(), describe());
  const Tensor x = as_float(inputs, compute_dtype());
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
  set_promote_integer_inputs(true);  // uint8 images come out in the compute dtype
  track_seed_generator(generator_);
  NEURONA_CHECK(mode_ == "horizontal" || mode_ == "vertical" || mode_ == "horizontal_and_vertical",
                ValueError, describe(), ": RandomFlip layer ", name(),
                " received an unknown mode argument ", mode_,
                " (expected horizontal, vertical or horizontal_and_vertical)");
}

Tensor RandomFlipLayer::call(const Tensor& inputs, bool training) {
  (void)image_axes(inputs.shape(), describe());
  const Tensor x = as_float(inputs, compute_dtype());
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
  set_promote_integer_inputs(true);  // uint8 images come out in the compute dtype
  track_seed_generator(generator_);
  check_factor(factor_, -1.0, 1.0, describe());
}

Tensor RandomBrightnessLayer::call(const Tensor& inputs, bool training) {
  (void)image_axes(inputs.shape(), describe());
  const Tensor x = as_float(inputs, compute_dtype());
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
  set_promote_integer_inputs(true);  // uint8 images come out in the compute dtype
  track_seed_generator(generator_);
  const auto [lower, upper] = contrast_bounds(factor_);
  NEURONA_CHECK(lower >= 0 && lower <= 1 && upper >= 0 && upper <= 1, ValueError, describe(),
                ": the `factor` argument should be a number (or a list of two numbers) in the "
                "range [0, 1]. Received: factor=(",
                lower, ", ", upper, ")");
}

Tensor RandomContrastLayer::call(const Tensor& inputs, bool training) {
  const auto [h_axis, w_axis] = image_axes(inputs.shape(), describe());
  const Tensor x = as_float(inputs, compute_dtype());
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

// ---- Random geometric augmentation ---------------------------------------------------------

namespace {

constexpr double kPi = 3.14159265358979323846;

// A factor's (lower, upper): a number f is (-|f|, |f|), a pair as given (sorted), as Keras's
// _set_factor.
std::pair<double, double> symmetric_bounds(const FactorRange& f) {
  if (f.is_scalar()) return {-std::abs(f.upper()), std::abs(f.upper())};
  return {f.lower(), f.upper()};
}

// Keras's checks of a translation's or rotation's factor ([-1, 1]) and a zoom's ((-1, 1]).
void check_bounds(const FactorRange& f, const char* argument, bool zoom, const std::string& who) {
  const auto [lower, upper] = symmetric_bounds(f);
  const bool ok = zoom ? lower > -1.0 && upper <= 1.0 : lower >= -1.0 && upper <= 1.0;
  NEURONA_CHECK(ok, ValueError, who, ": the `", argument,
                "` argument should be a number (or a list of two numbers) in the range ",
                zoom ? "(-1.0, 1.0]" : "[-1.0, 1.0]", ". Received: ", argument, "=(", lower, ", ",
                upper, ")");
}

// Keras's fill modes and interpolations for these layers (it refuses "mirror" here).
AffineTransformOptions affine_options(const RandomAffineOptions& o, const std::string& who) {
  const auto& f = o.fill_mode;
  NEURONA_CHECK(f == "reflect" || f == "wrap" || f == "constant" || f == "nearest",
                NotImplementedError, who, ": Unknown `fill_mode` ", f,
                ". Expected of one ('reflect', 'wrap', 'constant', 'nearest').");
  NEURONA_CHECK(o.interpolation == "nearest" || o.interpolation == "bilinear", NotImplementedError,
                who, ": Unknown `interpolation` ", o.interpolation,
                ". Expected of one ('nearest', 'bilinear').");
  return {.interpolation = interpolation_from_string(o.interpolation),
          .fill_mode = fill_mode_from_string(f),
          .fill_value = o.fill_value};
}

// One float32 draw from [lo, hi) per image, shaped (batch, 1) ((1, 1) for one image): a column
// of the transforms.
Tensor uniform_column(const Tensor& x, double lo, double hi, SeedGenerator& generator) {
  const Shape shape{x.rank() == 4 ? x.shape()[0] : 1, 1};
  if (!(hi > lo)) return fill(shape, lo, {.dtype = DType::float32, .device = x.device()});
  return random_uniform(shape, {.minval = lo,
                                .maxval = hi,
                                .dtype = DType::float32,
                                .device = x.device(),
                                .seed_generator = &generator});
}

// The (batch, 8) transforms [a0, a1, a2, b0, b1, b2, 0, 0] from their (batch, 1) columns.
Tensor transforms(const Tensor& a0, const Tensor& a1, const Tensor& a2, const Tensor& b0,
                  const Tensor& b1, const Tensor& b2) {
  const Tensor zero = zeros_like(a0);
  return concat({a0, a1, a2, b0, b1, b2, zero, zero}, 1);
}

void read_affine_options(const LayerConfigReader& r, RandomAffineOptions& o) {
  only_channels_last(r);
  o.fill_mode = r.string("fill_mode", "reflect");
  o.interpolation = r.string("interpolation", "bilinear");
  o.seed = r.seed();
  o.fill_value = r.number("fill_value", 0.0);
  o.name = r.string("name", "");
}

void write_affine_options(ConfigValue& config, const RandomAffineOptions& o) {
  config.set("fill_mode", o.fill_mode);
  config.set("interpolation", o.interpolation);
  config.set("seed", o.seed ? ConfigValue(*o.seed) : ConfigValue());
  config.set("fill_value", o.fill_value);
  config.set("data_format", "channels_last");
}

}  // namespace

// ---- RandomTranslation ------------------------------------------------------------------------

RandomTranslationLayer::RandomTranslationLayer(FactorRange height_factor, FactorRange width_factor,
                                               RandomAffineOptions options)
    : Layer("RandomTranslation", {.name = options.name}),
      height_factor_(height_factor),
      width_factor_(width_factor),
      options_(std::move(options)),
      generator_(options_.seed) {
  set_promote_integer_inputs(true);  // uint8 images come out in the compute dtype
  track_seed_generator(generator_);
  check_bounds(height_factor_, "height_factor", false, describe());
  check_bounds(width_factor_, "width_factor", false, describe());
  (void)affine_options(options_, describe());
}

Tensor RandomTranslationLayer::call(const Tensor& inputs, bool training) {
  const auto [h_axis, w_axis] = image_axes(inputs.shape(), describe());
  const Tensor x = as_float(inputs, compute_dtype());
  if (!training) return x;
  const auto [h_lo, h_hi] = symmetric_bounds(height_factor_);
  const auto [w_lo, w_hi] = symmetric_bounds(width_factor_);
  const auto height = static_cast<double>(x.shape()[h_axis]);
  const auto width = static_cast<double>(x.shape()[w_axis]);
  // Output pixel (y, x) reads (y - dy, x - dx): the content moves by (dy, dx).
  const Tensor dy = uniform_column(x, h_lo, h_hi, generator_) * height;
  const Tensor dx = uniform_column(x, w_lo, w_hi, generator_) * width;
  const Tensor one = ones_like(dy), zero = zeros_like(dy);
  return affine_transform(x, transforms(one, zero, -dx, zero, one, -dy),
                          affine_options(options_, describe()));
}

ConfigValue RandomTranslationLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("height_factor", factor_config(height_factor_));
  config.set("width_factor", factor_config(width_factor_));
  write_affine_options(config, options_);
  return config;
}

RandomTranslation::RandomTranslation(FactorRange height_factor, FactorRange width_factor,
                                     RandomAffineOptions options)
    : LayerHandle(std::make_shared<RandomTranslationLayer>(height_factor, width_factor,
                                                           std::move(options))) {}

RandomTranslation RandomTranslation::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "RandomTranslation");
  RandomAffineOptions o;
  read_affine_options(r, o);
  return RandomTranslation(read_factor(r, "height_factor"), read_factor(r, "width_factor"),
                           std::move(o));
}

// ---- RandomRotation ---------------------------------------------------------------------------

RandomRotationLayer::RandomRotationLayer(FactorRange factor, RandomAffineOptions options)
    : Layer("RandomRotation", {.name = options.name}),
      factor_(factor),
      options_(std::move(options)),
      generator_(options_.seed) {
  set_promote_integer_inputs(true);  // uint8 images come out in the compute dtype
  track_seed_generator(generator_);
  check_bounds(factor_, "factor", false, describe());
  (void)affine_options(options_, describe());
}

Tensor RandomRotationLayer::call(const Tensor& inputs, bool training) {
  const auto [h_axis, w_axis] = image_axes(inputs.shape(), describe());
  const Tensor x = as_float(inputs, compute_dtype());
  if (!training) return x;
  const auto [lower, upper] = symmetric_bounds(factor_);
  // Keras draws degrees, then converts; the rotation is about the centre (cx, cy).
  const Tensor angle = uniform_column(x, lower * 360.0, upper * 360.0, generator_) * (kPi / 180.0);
  const double cx = 0.5 * static_cast<double>(x.shape()[w_axis] - 1);
  const double cy = 0.5 * static_cast<double>(x.shape()[h_axis] - 1);
  const Tensor c = cos(angle), s = sin(angle);
  const Tensor a0 = c, a1 = -s, b0 = s, b1 = c;
  const Tensor a2 = (a0 * -cx - a1 * cy) + cx;
  const Tensor b2 = (b0 * -cx - b1 * cy) + cy;
  return affine_transform(x, transforms(a0, a1, a2, b0, b1, b2),
                          affine_options(options_, describe()));
}

ConfigValue RandomRotationLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  const auto [lower, upper] = symmetric_bounds(factor_);
  config.set("factor", pair_config(lower, upper));  // Keras keeps the (lower, upper) it made
  write_affine_options(config, options_);
  return config;
}

RandomRotation::RandomRotation(FactorRange factor, RandomAffineOptions options)
    : LayerHandle(std::make_shared<RandomRotationLayer>(factor, std::move(options))) {}

RandomRotation RandomRotation::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "RandomRotation");
  RandomAffineOptions o;
  read_affine_options(r, o);
  return RandomRotation(read_factor(r, "factor"), std::move(o));
}

// ---- RandomZoom -------------------------------------------------------------------------------

RandomZoomLayer::RandomZoomLayer(FactorRange height_factor, RandomZoomOptions options)
    : Layer("RandomZoom", {.name = options.name}),
      height_factor_(height_factor),
      width_factor_(options.width_factor),
      options_{.fill_mode = std::move(options.fill_mode),
               .interpolation = std::move(options.interpolation),
               .seed = options.seed,
               .fill_value = options.fill_value,
               .name = std::move(options.name)},
      generator_(options_.seed) {
  set_promote_integer_inputs(true);  // uint8 images come out in the compute dtype
  track_seed_generator(generator_);
  check_bounds(height_factor_, "height_factor", true, describe());
  if (width_factor_) check_bounds(*width_factor_, "width_factor", true, describe());
  (void)affine_options(options_, describe());
}

Tensor RandomZoomLayer::call(const Tensor& inputs, bool training) {
  const auto [h_axis, w_axis] = image_axes(inputs.shape(), describe());
  const Tensor x = as_float(inputs, compute_dtype());
  if (!training) return x;
  const auto [h_lo, h_hi] = symmetric_bounds(height_factor_);
  const Tensor zy = uniform_column(x, 1.0 + h_lo, 1.0 + h_hi, generator_);
  Tensor zx = zy;
  if (width_factor_) {
    const auto [w_lo, w_hi] = symmetric_bounds(*width_factor_);
    zx = uniform_column(x, 1.0 + w_lo, 1.0 + w_hi, generator_);
  }
  // Scaled about the centre: x' = zx x + (w - 1) / 2 (1 - zx).
  const double half_w = static_cast<double>(x.shape()[w_axis] - 1) / 2.0;
  const double half_h = static_cast<double>(x.shape()[h_axis] - 1) / 2.0;
  const Tensor zero = zeros_like(zy);
  return affine_transform(x,
                          transforms(zx, zero, (1.0 - zx) * half_w, zero, zy, (1.0 - zy) * half_h),
                          affine_options(options_, describe()));
}

ConfigValue RandomZoomLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("height_factor", factor_config(height_factor_));
  config.set("width_factor", width_factor_ ? factor_config(*width_factor_) : ConfigValue());
  write_affine_options(config, options_);
  return config;
}

RandomZoom::RandomZoom(FactorRange height_factor, RandomZoomOptions options)
    : LayerHandle(std::make_shared<RandomZoomLayer>(height_factor, std::move(options))) {}

RandomZoom RandomZoom::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "RandomZoom");
  RandomAffineOptions a;
  read_affine_options(r, a);
  RandomZoomOptions o{.fill_mode = a.fill_mode,
                      .interpolation = a.interpolation,
                      .seed = a.seed,
                      .fill_value = a.fill_value,
                      .name = a.name};
  const ConfigValue* width = r.find("width_factor");
  if (width != nullptr && !width->is_null()) o.width_factor = read_factor(r, "width_factor");
  return RandomZoom(read_factor(r, "height_factor"), std::move(o));
}

// ---- RandomCrop -------------------------------------------------------------------------------

RandomCropLayer::RandomCropLayer(std::int64_t height, std::int64_t width, RandomCropOptions options)
    : Layer("RandomCrop", {.name = options.name}),
      height_(height),
      width_(width),
      seed_(options.seed),
      generator_(options.seed) {
  set_promote_integer_inputs(true);  // uint8 images come out in the compute dtype
  track_seed_generator(generator_);
  NEURONA_CHECK(height > 0 && width > 0, ValueError, describe(),
                ": height and width must be positive, got (", height, ", ", width, ")");
}

Tensor RandomCropLayer::call(const Tensor& inputs, bool training) {
  const auto [h_axis, w_axis] = image_axes(inputs.shape(), describe());
  const Tensor x = as_float(inputs, compute_dtype());
  const std::int64_t h = x.shape()[h_axis], w = x.shape()[w_axis];
  if (training && h > height_ && w > width_) {
    // One window for the batch, its corner drawn on the device: a shift read with nearest
    // interpolation is an exact copy. (The min guards float32 rounding a draw up to the bound.)
    const Shape one{1, 1};
    const auto corner = [&](std::int64_t room) {
      const Tensor u = random_uniform(one, {.minval = 0.0,
                                            .maxval = static_cast<double>(room + 1),
                                            .dtype = DType::float32,
                                            .device = x.device(),
                                            .seed_generator = &generator_});
      return minimum(floor(u), fill(one, static_cast<double>(room),
                                    {.dtype = DType::float32, .device = x.device()}));
    };
    const Tensor y0 = corner(h - height_), x0 = corner(w - width_);
    const Tensor unit = ones_like(y0), zero = zeros_like(y0);
    return affine_transform(x, transforms(unit, zero, x0, zero, unit, y0),
                            {.interpolation = Interpolation::Nearest,
                             .fill_mode = FillMode::Constant,
                             .output_size = {{height_, width_}}});
  }
  const Tensor window = crop_to_aspect(x, height_, width_, h_axis, w_axis);
  if (window.shape()[h_axis] == height_ && window.shape()[w_axis] == width_) return window;
  return resize(window, height_, width_, Interpolation::Bilinear);
}

Shape RandomCropLayer::compute_output_shape(const Shape& input_shape) const {
  return resized_shape(input_shape, height_, width_, describe());
}

ConfigValue RandomCropLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("height", height_);
  config.set("width", width_);
  config.set("seed", seed_ ? ConfigValue(*seed_) : ConfigValue());
  config.set("data_format", "channels_last");
  return config;
}

RandomCrop::RandomCrop(std::int64_t height, std::int64_t width, RandomCropOptions options)
    : LayerHandle(std::make_shared<RandomCropLayer>(height, width, std::move(options))) {}

RandomCrop RandomCrop::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "RandomCrop");
  only_channels_last(r);
  return RandomCrop(r.integer("height"), r.integer("width"),
                    {.seed = r.seed(), .name = r.string("name", "")});
}

}  // namespace neurona::layers
