// Keras 3's initializers (keras/src/initializers), drawn through neurona's counter-based
// generator so that a seed gives the same weights on every device.
#include "neurona/layers/initializers.h"

#include <algorithm>
#include <cmath>

#include "neurona/autograd/ops.h"
#include "neurona/core/registry.h"
#include "neurona/layers/config_reader.h"

namespace neurona::initializers {

Fans compute_fans(const Shape& shape) {
  const int rank = shape.rank();
  if (rank < 1) return {1, 1};
  if (rank == 1) return {shape[0], shape[0]};
  if (rank == 2) return {shape[0], shape[1]};
  std::int64_t receptive_field = 1;
  for (int i = 0; i < rank - 2; ++i) receptive_field *= shape[i];
  return {shape[-2] * receptive_field, shape[-1] * receptive_field};
}

Initializer::Initializer(Fn fn, std::string name, ConfigValue config)
    : fn_(std::move(fn)), name_(std::move(name)), config_(std::move(config)) {
  if (config_.is_null()) config_ = ConfigValue::Dict{};
  NEURONA_CHECK(fn_ != nullptr, ValueError, "Initializer '", name_, "': the function is empty");
}

Initializer::Initializer(const char* identifier) : Initializer(std::string(identifier)) {}

Initializer::Initializer(const std::string& identifier) : Initializer(get(identifier)) {}

Tensor Initializer::operator()(const Shape& shape, TensorOptions options) const {
  shape.check_valid(name_.c_str());
  return fn_(shape, options);
}

namespace {

// A typed initializer's state lives in its function; the derived classes only construct it.
Initializer make(Initializer::Fn fn, std::string name, ConfigValue config = {}) {
  return Initializer(std::move(fn), std::move(name), std::move(config));
}

ConfigValue seed_config(std::optional<std::uint64_t> seed) {
  return seed ? ConfigValue(*seed) : ConfigValue();
}

Initializer variance_scaling(VarianceScalingOptions o, std::string name, bool full_config) {
  NEURONA_CHECK(
      o.scale > 0.0, ValueError,
      "VarianceScaling: argument `scale` must be positive float. Received: scale=", o.scale);
  NEURONA_CHECK(o.mode == "fan_in" || o.mode == "fan_out" || o.mode == "fan_avg", ValueError,
                "VarianceScaling: invalid `mode` argument: '", o.mode,
                "'. Please use one of fan_in, fan_out, fan_avg");
  std::string dist = o.distribution;
  std::transform(dist.begin(), dist.end(), dist.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (dist == "normal") dist = "truncated_normal";
  NEURONA_CHECK(dist == "truncated_normal" || dist == "untruncated_normal" || dist == "uniform",
                ValueError, "VarianceScaling: invalid `distribution` argument: '", o.distribution,
                "'. Please use one of uniform, truncated_normal, untruncated_normal");
  return make(
      [scale0 = o.scale, mode = o.mode, dist, seed = o.seed](const Shape& shape,
                                                             const TensorOptions& t) {
        const Fans f = compute_fans(shape);
        const double fan_in = static_cast<double>(f.fan_in);
        const double fan_out = static_cast<double>(f.fan_out);
        double scale = scale0;
        if (mode == "fan_in") {
          scale /= std::max(1.0, fan_in);
        } else if (mode == "fan_out") {
          scale /= std::max(1.0, fan_out);
        } else {
          scale /= std::max(1.0, (fan_in + fan_out) / 2.0);
        }
        if (dist == "truncated_normal") {
          const double stddev = std::sqrt(scale) / .87962566103423978;
          return truncated_normal(
              shape,
              {.mean = 0.0, .stddev = stddev, .dtype = t.dtype, .device = t.device, .seed = seed});
        }
        if (dist == "untruncated_normal") {
          return random_normal(shape, {.mean = 0.0,
                                       .stddev = std::sqrt(scale),
                                       .dtype = t.dtype,
                                       .device = t.device,
                                       .seed = seed});
        }
        const double limit = std::sqrt(3.0 * scale);
        return random_uniform(shape, {.minval = -limit,
                                      .maxval = limit,
                                      .dtype = t.dtype,
                                      .device = t.device,
                                      .seed = seed});
      },
      std::move(name),
      full_config ? ConfigValue(ConfigValue::Dict{{"scale", o.scale},
                                                  {"mode", o.mode},
                                                  {"distribution", o.distribution},
                                                  {"seed", seed_config(o.seed)}})
                  : ConfigValue(ConfigValue::Dict{{"seed", seed_config(o.seed)}}));
}

// Q of the QR decomposition of `a` (rows x cols, rows >= cols, row-major) with R's diagonal
// made positive: modified Gram-Schmidt in float64, run twice for orthogonality to rounding.
// The QR with a positive diagonal is unique, so this equals Keras's q * sign(diag(r)).
std::vector<double> orthonormal_columns(std::vector<double> a, std::int64_t rows,
                                        std::int64_t cols) {
  auto at = [&](std::int64_t r, std::int64_t c) -> double& {
    return a[static_cast<std::size_t>(r * cols + c)];
  };
  for (std::int64_t j = 0; j < cols; ++j) {
    for (int pass = 0; pass < 2; ++pass) {
      for (std::int64_t k = 0; k < j; ++k) {
        double dot = 0.0;
        for (std::int64_t r = 0; r < rows; ++r) dot += at(r, k) * at(r, j);
        for (std::int64_t r = 0; r < rows; ++r) at(r, j) -= dot * at(r, k);
      }
    }
    double norm = 0.0;
    for (std::int64_t r = 0; r < rows; ++r) norm += at(r, j) * at(r, j);
    norm = std::sqrt(norm);
    NEURONA_CHECK(norm > 0.0, ValueError, "Orthogonal: the random matrix is rank deficient");
    for (std::int64_t r = 0; r < rows; ++r) at(r, j) /= norm;
  }
  return a;
}

using Factory = Initializer (*)();
const Registry<Factory>& registry() {
  // Never destroyed: outlives static layers destroyed late.
  static const auto* r = new Registry<Factory>{
      {{"Constant", "constant"}, [] { return Initializer(Constant()); }},
      {{"GlorotNormal", "glorot_normal"}, [] { return Initializer(GlorotNormal()); }},
      {{"GlorotUniform", "glorot_uniform"}, [] { return Initializer(GlorotUniform()); }},
      {{"HeNormal", "he_normal"}, [] { return Initializer(HeNormal()); }},
      {{"HeUniform", "he_uniform"}, [] { return Initializer(HeUniform()); }},
      {{"Identity", "identity", "IdentityInitializer"}, [] { return Initializer(Identity()); }},
      {{"LecunNormal", "lecun_normal"}, [] { return Initializer(LecunNormal()); }},
      {{"LecunUniform", "lecun_uniform"}, [] { return Initializer(LecunUniform()); }},
      {{"Ones", "ones", "one"}, [] { return Initializer(Ones()); }},
      {{"Orthogonal", "orthogonal", "OrthogonalInitializer"},
       [] { return Initializer(Orthogonal()); }},
      {{"RandomNormal", "random_normal", "normal"}, [] { return Initializer(RandomNormal()); }},
      {{"RandomUniform", "random_uniform", "uniform"}, [] { return Initializer(RandomUniform()); }},
      {{"TruncatedNormal", "truncated_normal"}, [] { return Initializer(TruncatedNormal()); }},
      {{"VarianceScaling", "variance_scaling"}, [] { return Initializer(VarianceScaling()); }},
      {{"Zeros", "zeros", "zero"}, [] { return Initializer(Zeros()); }},
  };
  return *r;
}

}  // namespace

std::vector<std::string> names() {
  return registry().names();
}

Initializer get(const std::string& identifier) {
  return registry().get(identifier, "Could not interpret initializer identifier: '",
                        "'. Valid names: ")();
}

using layers::LayerConfigReader;

VarianceScaling::VarianceScaling(VarianceScalingOptions options)
    : Initializer(variance_scaling(options, "VarianceScaling", true)) {}
VarianceScaling VarianceScaling::from_config(const LayerConfigReader& c) {
  return VarianceScaling({.scale = c.number("scale", 1.0),
                          .mode = c.string("mode", "fan_in"),
                          .distribution = c.string("distribution", "truncated_normal"),
                          .seed = c.seed()});
}

GlorotUniform::GlorotUniform(std::optional<std::uint64_t> seed)
    : Initializer(variance_scaling({1.0, "fan_avg", "uniform", seed}, "GlorotUniform", false)) {}
GlorotUniform GlorotUniform::from_config(const LayerConfigReader& c) {
  return GlorotUniform(c.seed());
}
GlorotNormal::GlorotNormal(std::optional<std::uint64_t> seed)
    : Initializer(
          variance_scaling({1.0, "fan_avg", "truncated_normal", seed}, "GlorotNormal", false)) {}
GlorotNormal GlorotNormal::from_config(const LayerConfigReader& c) {
  return GlorotNormal(c.seed());
}
HeUniform::HeUniform(std::optional<std::uint64_t> seed)
    : Initializer(variance_scaling({2.0, "fan_in", "uniform", seed}, "HeUniform", false)) {}
HeUniform HeUniform::from_config(const LayerConfigReader& c) {
  return HeUniform(c.seed());
}
HeNormal::HeNormal(std::optional<std::uint64_t> seed)
    : Initializer(variance_scaling({2.0, "fan_in", "truncated_normal", seed}, "HeNormal", false)) {}
HeNormal HeNormal::from_config(const LayerConfigReader& c) {
  return HeNormal(c.seed());
}
LecunUniform::LecunUniform(std::optional<std::uint64_t> seed)
    : Initializer(variance_scaling({1.0, "fan_in", "uniform", seed}, "LecunUniform", false)) {}
LecunUniform LecunUniform::from_config(const LayerConfigReader& c) {
  return LecunUniform(c.seed());
}
LecunNormal::LecunNormal(std::optional<std::uint64_t> seed)
    : Initializer(
          variance_scaling({1.0, "fan_in", "truncated_normal", seed}, "LecunNormal", false)) {}
LecunNormal LecunNormal::from_config(const LayerConfigReader& c) {
  return LecunNormal(c.seed());
}

RandomUniform::RandomUniform(RandomUniformOptions o)
    : Initializer(make(
          [o](const Shape& shape, const TensorOptions& t) {
            return random_uniform(shape, {.minval = o.minval,
                                          .maxval = o.maxval,
                                          .dtype = t.dtype,
                                          .device = t.device,
                                          .seed = o.seed});
          },
          "RandomUniform",
          ConfigValue::Dict{
              {"seed", seed_config(o.seed)}, {"minval", o.minval}, {"maxval", o.maxval}})) {}
RandomUniform RandomUniform::from_config(const LayerConfigReader& c) {
  return RandomUniform(
      {.minval = c.number("minval", -0.05), .maxval = c.number("maxval", 0.05), .seed = c.seed()});
}

namespace {
// RandomNormal's and TruncatedNormal's arguments.
RandomNormalOptions random_normal_options_of(const LayerConfigReader& c) {
  return {.mean = c.number("mean", 0.0), .stddev = c.number("stddev", 0.05), .seed = c.seed()};
}
}  // namespace

RandomNormal::RandomNormal(RandomNormalOptions o)
    : Initializer(make(
          [o](const Shape& shape, const TensorOptions& t) {
            return random_normal(shape, {.mean = o.mean,
                                         .stddev = o.stddev,
                                         .dtype = t.dtype,
                                         .device = t.device,
                                         .seed = o.seed});
          },
          "RandomNormal",
          ConfigValue::Dict{
              {"seed", seed_config(o.seed)}, {"mean", o.mean}, {"stddev", o.stddev}})) {}
RandomNormal RandomNormal::from_config(const LayerConfigReader& c) {
  return RandomNormal(random_normal_options_of(c));
}

TruncatedNormal::TruncatedNormal(RandomNormalOptions o)
    : Initializer(make(
          [o](const Shape& shape, const TensorOptions& t) {
            return truncated_normal(shape, {.mean = o.mean,
                                            .stddev = o.stddev,
                                            .dtype = t.dtype,
                                            .device = t.device,
                                            .seed = o.seed});
          },
          "TruncatedNormal",
          ConfigValue::Dict{
              {"seed", seed_config(o.seed)}, {"mean", o.mean}, {"stddev", o.stddev}})) {}
TruncatedNormal TruncatedNormal::from_config(const LayerConfigReader& c) {
  return TruncatedNormal(random_normal_options_of(c));
}

Orthogonal::Orthogonal(OrthogonalOptions o)
    : Initializer(make(
          [o](const Shape& shape, const TensorOptions& t) {
            NEURONA_CHECK(shape.rank() >= 2, ValueError,
                          "Orthogonal: the tensor to initialize must be at least two-dimensional. "
                          "Received: shape=",
                          shape, " of rank ", shape.rank());
            const std::int64_t cols = shape[-1];
            const std::int64_t rows = shape.numel() / std::max<std::int64_t>(cols, 1);
            const std::int64_t tall = std::max(rows, cols), wide = std::min(rows, cols);
            if (tall * wide == 0) return zeros(shape, t);
            const Tensor a = random_normal(
                {tall, wide}, {.dtype = DType::float64, .device = Device::cpu(), .seed = o.seed});
            std::vector<double> q = orthonormal_columns(a.to_vector<double>(), tall, wide);
            Tensor result = constant(q, Shape{tall, wide}, Device::cpu());
            if (rows < cols) result = transpose(result);
            result = multiply(result.reshape(shape), scalar_like(result, o.gain));
            return cast(result, t.dtype).to(t.resolved_device());
          },
          "Orthogonal", ConfigValue::Dict{{"seed", seed_config(o.seed)}, {"gain", o.gain}})) {}
Orthogonal Orthogonal::from_config(const LayerConfigReader& c) {
  return Orthogonal({.gain = c.number("gain", 1.0), .seed = c.seed()});
}

Identity::Identity(double gain)
    : Initializer(make(
          [gain](const Shape& shape, const TensorOptions& t) {
            NEURONA_CHECK(shape.rank() == 2, ValueError,
                          "Identity: identity matrix initializer can only be used for 2D matrices. "
                          "Received: shape=",
                          shape, " of rank ", shape.rank());
            std::vector<double> eye(static_cast<std::size_t>(shape.numel()), 0.0);
            for (std::int64_t i = 0; i < std::min(shape[0], shape[1]); ++i) {
              eye[static_cast<std::size_t>(i * shape[1] + i)] = gain;
            }
            return cast(constant(eye, shape, Device::cpu()), t.dtype).to(t.resolved_device());
          },
          "Identity", ConfigValue::Dict{{"gain", gain}})) {}
Identity Identity::from_config(const LayerConfigReader& c) {
  return Identity(c.number("gain", 1.0));
}

Zeros::Zeros()
    : Initializer(make([](const Shape& shape, const TensorOptions& t) { return zeros(shape, t); },
                       "Zeros")) {}
Ones::Ones()
    : Initializer(make([](const Shape& shape, const TensorOptions& t) { return ones(shape, t); },
                       "Ones")) {}
Constant::Constant(double value)
    : Initializer(make(
          [value](const Shape& shape, const TensorOptions& t) { return fill(shape, value, t); },
          "Constant", ConfigValue::Dict{{"value", value}})) {}
Constant Constant::from_config(const LayerConfigReader& c) {
  return Constant(c.number("value", 0.0));
}

namespace {

// The classes with arguments, by Keras class name (and Keras's aliases of them).
using FromConfig = Initializer (*)(const LayerConfigReader& config);
template <typename I>
Initializer from_config_of(const LayerConfigReader& config) {
  return I::from_config(config);
}
const Registry<FromConfig>& from_config_registry() {
  // Never destroyed: outlives static layers destroyed late.
  static const auto* r = new Registry<FromConfig>{
      {"GlorotUniform", from_config_of<GlorotUniform>},
      {"GlorotNormal", from_config_of<GlorotNormal>},
      {"HeUniform", from_config_of<HeUniform>},
      {"HeNormal", from_config_of<HeNormal>},
      {"LecunUniform", from_config_of<LecunUniform>},
      {"LecunNormal", from_config_of<LecunNormal>},
      {"VarianceScaling", from_config_of<VarianceScaling>},
      {"RandomUniform", from_config_of<RandomUniform>},
      {"RandomNormal", from_config_of<RandomNormal>},
      {"TruncatedNormal", from_config_of<TruncatedNormal>},
      {{"Orthogonal", "OrthogonalInitializer"}, from_config_of<Orthogonal>},
      {{"Identity", "IdentityInitializer"}, from_config_of<Identity>},
      {"Constant", from_config_of<Constant>},
  };
  return *r;
}

}  // namespace

Initializer from_config(const std::string& class_name, const LayerConfigReader& config) {
  if (const std::optional<FromConfig> f = from_config_registry().find(class_name)) {
    return (*f)(config);
  }
  return get(class_name);  // Zeros, Ones, and the snake_case names
}

}  // namespace neurona::initializers
