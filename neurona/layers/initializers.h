// Initializers with Keras 3's definitions, names and defaults: what layers fill their weights
// with. Each is a small value type (a shared function and its Keras name), accepted wherever
// a layer option takes an initializer, as a Keras string or as a typed object:
//   nr::layers::Dense(3, {.kernel_initializer = "he_normal"})
//   nr::layers::Dense(3, {.kernel_initializer = nr::initializers::HeNormal(/*seed=*/7)})
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "neurona/core/tensor.h"
#include "neurona/layers/config.h"

namespace neurona::layers {
class LayerConfigReader;
}  // namespace neurona::layers

namespace neurona::initializers {

/// fan_in and fan_out of a weight shape as Keras computes them: (in, out) for a matrix, the
/// receptive field times the last two dimensions for a convolution kernel (kh, kw, in, out).
struct Fans {
  std::int64_t fan_in = 1;
  std::int64_t fan_out = 1;
};
Fans compute_fans(const Shape& shape);

/// A callable `initializer(shape, {.dtype, .device})` with Keras's name. Random initializers
/// draw through nr::random_* : with a seed the values are fixed for every call (as a Keras
/// initializer with an integer seed); without one they follow the global seed (nr::set_seed)
/// and change from call to call.
class Initializer {
 public:
  using Fn = std::function<Tensor(const Shape& shape, const TensorOptions& options)>;

  /// By Keras name: "glorot_uniform", "GlorotUniform", "zeros", ... Throws ValueError listing
  /// the valid names for an unknown one.
  Initializer(const char* identifier);         // NOLINT: implicit by design
  Initializer(const std::string& identifier);  // NOLINT: implicit by design
  /// A custom initializer; `config` is Keras's get_config() of it (the arguments that
  /// rebuild it from its name, saved in `.keras` files).
  explicit Initializer(Fn fn, std::string name = "custom", ConfigValue config = {});

  /// A new tensor of `shape` (float32 on the default device unless `options` says otherwise).
  Tensor operator()(const Shape& shape, TensorOptions options = {}) const;
  /// The Keras class name ("GlorotUniform") or the custom name.
  const std::string& name() const { return name_; }
  /// Keras's config of the initializer: {"seed": None} for GlorotUniform, ...
  const ConfigValue& config() const { return config_; }

 private:
  Fn fn_;
  std::string name_;
  ConfigValue config_;
};

/// Initializer for the given Keras name or class name (the same as the string constructor).
Initializer get(const std::string& identifier);
/// Every name get() accepts, sorted.
std::vector<std::string> names();

/// The initializer a Keras object describes, as keras.initializers.deserialize: a class with
/// arguments (GlorotUniform, VarianceScaling, RandomNormal, Constant, ...) through its
/// from_config, any other name (Zeros, "zeros", "glorot_uniform", ...) through get(). ValueError
/// naming `config`'s owner and the key otherwise.
Initializer from_config(const std::string& class_name, const layers::LayerConfigReader& config);

struct VarianceScalingOptions {
  double scale = 1.0;
  /// "fan_in", "fan_out" or "fan_avg".
  std::string mode = "fan_in";
  /// "truncated_normal" (or "normal"), "untruncated_normal" or "uniform".
  std::string distribution = "truncated_normal";
  std::optional<std::uint64_t> seed = std::nullopt;
};

/// Keras's VarianceScaling: scale / n with n the fans of `mode` (at least 1); a truncated
/// normal with stddev sqrt(scale / n) / .87962566103423978, a normal with stddev
/// sqrt(scale / n), or a uniform in +-sqrt(3 scale / n).
class VarianceScaling : public Initializer {
 public:
  explicit VarianceScaling(VarianceScalingOptions options = {});
  /// Keras's from_config: the initializer config() describes (absent keys take the defaults).
  static VarianceScaling from_config(const layers::LayerConfigReader& config);
};

/// VarianceScaling(1, fan_avg, uniform): limit sqrt(6 / (fan_in + fan_out)). Keras's default
/// kernel initializer.
class GlorotUniform : public Initializer {
 public:
  explicit GlorotUniform(std::optional<std::uint64_t> seed = std::nullopt);
  /// Keras's from_config: the initializer config() describes (absent keys take the defaults).
  static GlorotUniform from_config(const layers::LayerConfigReader& config);
};
/// VarianceScaling(1, fan_avg, truncated_normal).
class GlorotNormal : public Initializer {
 public:
  explicit GlorotNormal(std::optional<std::uint64_t> seed = std::nullopt);
  /// Keras's from_config: the initializer config() describes (absent keys take the defaults).
  static GlorotNormal from_config(const layers::LayerConfigReader& config);
};
/// VarianceScaling(2, fan_in, uniform).
class HeUniform : public Initializer {
 public:
  explicit HeUniform(std::optional<std::uint64_t> seed = std::nullopt);
  /// Keras's from_config: the initializer config() describes (absent keys take the defaults).
  static HeUniform from_config(const layers::LayerConfigReader& config);
};
/// VarianceScaling(2, fan_in, truncated_normal).
class HeNormal : public Initializer {
 public:
  explicit HeNormal(std::optional<std::uint64_t> seed = std::nullopt);
  /// Keras's from_config: the initializer config() describes (absent keys take the defaults).
  static HeNormal from_config(const layers::LayerConfigReader& config);
};
/// VarianceScaling(1, fan_in, uniform).
class LecunUniform : public Initializer {
 public:
  explicit LecunUniform(std::optional<std::uint64_t> seed = std::nullopt);
  /// Keras's from_config: the initializer config() describes (absent keys take the defaults).
  static LecunUniform from_config(const layers::LayerConfigReader& config);
};
/// VarianceScaling(1, fan_in, truncated_normal).
class LecunNormal : public Initializer {
 public:
  explicit LecunNormal(std::optional<std::uint64_t> seed = std::nullopt);
  /// Keras's from_config: the initializer config() describes (absent keys take the defaults).
  static LecunNormal from_config(const layers::LayerConfigReader& config);
};

struct RandomUniformOptions {
  double minval = -0.05;
  double maxval = 0.05;
  std::optional<std::uint64_t> seed = std::nullopt;
};
class RandomUniform : public Initializer {
 public:
  explicit RandomUniform(RandomUniformOptions options = {});
  /// Keras's from_config: the initializer config() describes (absent keys take the defaults).
  static RandomUniform from_config(const layers::LayerConfigReader& config);
};

struct RandomNormalOptions {
  double mean = 0.0;
  double stddev = 0.05;
  std::optional<std::uint64_t> seed = std::nullopt;
};
class RandomNormal : public Initializer {
 public:
  explicit RandomNormal(RandomNormalOptions options = {});
  /// Keras's from_config: the initializer config() describes (absent keys take the defaults).
  static RandomNormal from_config(const layers::LayerConfigReader& config);
};
/// A normal redrawn beyond two standard deviations from the mean.
class TruncatedNormal : public Initializer {
 public:
  explicit TruncatedNormal(RandomNormalOptions options = {});
  /// Keras's from_config: the initializer config() describes (absent keys take the defaults).
  static TruncatedNormal from_config(const layers::LayerConfigReader& config);
};

struct OrthogonalOptions {
  double gain = 1.0;
  std::optional<std::uint64_t> seed = std::nullopt;
};
/// Keras's Orthogonal: the Q of a QR decomposition of a normal matrix (rows = product of all
/// but the last dimension), signs fixed by R's diagonal, times `gain`. Rank 2 or more.
class Orthogonal : public Initializer {
 public:
  explicit Orthogonal(OrthogonalOptions options = {});
  /// Keras's from_config: the initializer config() describes (absent keys take the defaults).
  static Orthogonal from_config(const layers::LayerConfigReader& config);
};

/// gain times the identity matrix (2-D shapes only).
class Identity : public Initializer {
 public:
  explicit Identity(double gain = 1.0);
  /// Keras's from_config: the initializer config() describes (absent keys take the defaults).
  static Identity from_config(const layers::LayerConfigReader& config);
};

class Zeros : public Initializer {
 public:
  Zeros();
};
class Ones : public Initializer {
 public:
  Ones();
};
class Constant : public Initializer {
 public:
  explicit Constant(double value = 0.0);
  /// Keras's from_config: the initializer config() describes (absent keys take the defaults).
  static Constant from_config(const layers::LayerConfigReader& config);
};

}  // namespace neurona::initializers
