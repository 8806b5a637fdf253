// Normalization's statistics are computed on the host in float64 (adapt runs once, before
// training), combined over batches with Keras's formula; call() is elementwise ops on the device.
#include "neurona/layers/normalization.h"

#include <algorithm>
#include <cmath>

#include "neurona/autograd/ops.h"
#include "neurona/layers/config_reader.h"

namespace neurona::layers {

namespace {

// keras.backend.epsilon(): the smallest standard deviation divided by.
constexpr double kEpsilon = 1e-7;

ConfigValue ints_config(const std::vector<int>& v) {
  ConfigValue::List list;
  for (int a : v) list.emplace_back(static_cast<std::int64_t>(a));
  return ConfigValue(std::move(list));
}

ConfigValue doubles_config(const std::optional<std::vector<double>>& v) {
  if (!v) return ConfigValue();
  if (v->size() == 1) return ConfigValue(v->front());
  ConfigValue::List list;
  for (double d : *v) list.emplace_back(d);
  return ConfigValue(std::move(list));
}

}  // namespace

NormalizationLayer::NormalizationLayer(NormalizationOptions options)
    : Layer("Normalization", {.name = options.name}), options_(std::move(options)) {
  set_promote_integer_inputs(true);  // integers are normalized in the compute dtype
  set_supports_masking(true);
  NEURONA_CHECK(options_.mean.has_value() == options_.variance.has_value(), ValueError, describe(),
                ": when setting values directly, both `mean` and `variance` must be set");
  if (options_.mean) {
    NEURONA_CHECK(options_.mean->size() == options_.variance->size() && !options_.mean->empty(),
                  ValueError, describe(),
                  ": `mean` and `variance` must have the same shape. Received: mean of ",
                  options_.mean->size(), " values and variance of ", options_.variance->size());
  }
}

void NormalizationLayer::build(const Shape& input_shape) {
  const int rank = input_shape.rank();
  keep_.clear();
  for (int a : options_.axis) {
    NEURONA_CHECK(a >= -rank && a < rank, ValueError, describe(),
                  ": all `axis` values must be in the range [-ndim, ndim). Received inputs with "
                  "ndim=",
                  rank, ", while axis=", a);
    keep_.push_back(a < 0 ? a + rank : a);
  }
  std::sort(keep_.begin(), keep_.end());
  keep_.erase(std::unique(keep_.begin(), keep_.end()), keep_.end());
  std::vector<std::int64_t> broadcast(static_cast<std::size_t>(rank), 1), kept;
  for (int a : keep_) {
    NEURONA_CHECK(input_shape[a] >= 0, ValueError, describe(),
                  ": all `axis` values to be kept must have a known shape; axis ", a,
                  " of inputs.shape=", shape_str(input_shape), " is unknown");
    broadcast[static_cast<std::size_t>(a)] = input_shape[a];
    kept.push_back(input_shape[a]);
  }
  build_shape_ = input_shape;
  broadcast_shape_ = Shape(broadcast);
  if (!options_.mean) {
    adapt_mean_ = add_weight("mean", Shape(kept), {.initializer = "zeros", .trainable = false});
    adapt_variance_ =
        add_weight("variance", Shape(kept), {.initializer = "ones", .trainable = false});
    count_ = add_weight("count", Shape{},
                        {.initializer = "zeros", .trainable = false, .dtype = DType::int32});
    return;
  }
  // Given values: one for all, or the last kept axes' values (Keras aligns them at the end).
  const auto to_tensor = [&](const std::vector<double>& v) {
    std::vector<float> f(v.begin(), v.end());
    if (f.size() == 1) return broadcast_to(constant(f, Shape{}), broadcast_shape_);
    NEURONA_CHECK(
        !keep_.empty() && input_shape[keep_.back()] == static_cast<std::int64_t>(f.size()),
        ValueError, describe(), ": `mean` and `variance` have ", f.size(),
        " values, which do not match the kept axes of inputs.shape=", shape_str(input_shape));
    std::vector<std::int64_t> expanded(static_cast<std::size_t>(rank), 1);
    expanded[static_cast<std::size_t>(keep_.back())] = static_cast<std::int64_t>(f.size());
    return broadcast_to(constant(f, Shape(expanded)), broadcast_shape_);
  };
  given_mean_ = to_tensor(*options_.mean);
  given_variance_ = to_tensor(*options_.variance);
}

Tensor NormalizationLayer::mean() const {
  NEURONA_CHECK(built(), ValueError, describe(),
                ": you must call `.build(input_shape)` (or adapt) on the layer before using it");
  return options_.mean ? given_mean_ : reshape(read(*adapt_mean_), broadcast_shape_);
}

Tensor NormalizationLayer::variance() const {
  NEURONA_CHECK(built(), ValueError, describe(),
                ": you must call `.build(input_shape)` (or adapt) on the layer before using it");
  return options_.mean ? given_variance_ : reshape(read(*adapt_variance_), broadcast_shape_);
}

Tensor NormalizationLayer::call(const Tensor& inputs, bool /*training*/) {
  const Tensor x = is_floating(inputs.dtype()) ? inputs : cast(inputs, compute_dtype());
  const Tensor m = cast(mean(), x.dtype()).to(x.device());
  const Tensor v = cast(variance(), x.dtype()).to(x.device());
  const Tensor scale = maximum(sqrt(v), scalar_like(v, kEpsilon));
  return options_.invert ? m + x * scale : (x - m) / scale;
}

void NormalizationLayer::adapt(const Tensor& data) {
  bool given = false;
  adapt_batches([&]() -> std::optional<Tensor> {
    if (given) return std::nullopt;
    given = true;
    return data;
  });
}

void NormalizationLayer::adapt_batches(const std::function<std::optional<Tensor>()>& next) {
  NEURONA_CHECK(!options_.mean, ValueError, describe(),
                ": adapt() learns the mean and variance; this layer was given them");
  std::vector<double> total_mean, total_var;
  std::int64_t total_count = 0;
  while (std::optional<Tensor> batch = next()) {
    NEURONA_CHECK(batch->defined() && batch->numel() > 0, ValueError, describe(),
                  ".adapt: a batch is empty");
    if (!built()) ensure_built(batch->shape());
    const Shape& s = batch->shape();
    NEURONA_CHECK(s.rank() == build_shape_.rank(), ShapeError, describe(),
                  ".adapt: the layer was built with input_shape=", shape_str(build_shape_),
                  ", but adapt() is being called with data with an incompatible shape, data.shape=",
                  shape_str(s));
    for (int a : keep_) {
      NEURONA_CHECK(s[a] == build_shape_[a], ShapeError, describe(),
                    ".adapt: the layer was built with input_shape=", shape_str(build_shape_),
                    ", but adapt() is being called with data with an incompatible shape, "
                    "data.shape=",
                    shape_str(s));
    }
    // Each element's position among the kept axes, from its row-major index.
    const std::vector<double> values = batch->to_vector<double>();
    const int rank = s.rank();
    std::vector<std::int64_t> stride(static_cast<std::size_t>(rank), 1);
    for (int a = rank - 2; a >= 0; --a)
      stride[static_cast<std::size_t>(a)] = stride[a + 1] * s[a + 1];
    std::int64_t kept_size = 1;
    for (int a : keep_) kept_size *= s[a];
    const std::int64_t per_position = static_cast<std::int64_t>(values.size()) / kept_size;
    std::vector<double> sum(static_cast<std::size_t>(kept_size), 0.0), sq(sum.size(), 0.0);
    std::vector<std::size_t> position(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
      std::int64_t k = 0;
      for (int a : keep_) {
        k = k * s[a] + (static_cast<std::int64_t>(i) / stride[static_cast<std::size_t>(a)]) % s[a];
      }
      position[i] = static_cast<std::size_t>(k);
      sum[position[i]] += values[i];
    }
    std::vector<double> batch_mean(sum.size());
    for (std::size_t k = 0; k < sum.size(); ++k) batch_mean[k] = sum[k] / per_position;
    for (std::size_t i = 0; i < values.size(); ++i) {
      const double d = values[i] - batch_mean[position[i]];
      sq[position[i]] += d * d;
    }
    if (total_mean.empty()) {
      total_mean.assign(sum.size(), 0.0);
      total_var.assign(sum.size(), 0.0);
    }
    // Keras's running combination of the batches' means and (population) variances.
    total_count += per_position;
    const double batch_weight =
        static_cast<double>(per_position) / static_cast<double>(total_count);
    const double existing_weight = 1.0 - batch_weight;
    for (std::size_t k = 0; k < sum.size(); ++k) {
      const double batch_var = sq[k] / per_position;
      const double new_mean = total_mean[k] * existing_weight + batch_mean[k] * batch_weight;
      total_var[k] =
          (total_var[k] + (total_mean[k] - new_mean) * (total_mean[k] - new_mean)) *
              existing_weight +
          (batch_var + (batch_mean[k] - new_mean) * (batch_mean[k] - new_mean)) * batch_weight;
      total_mean[k] = new_mean;
    }
  }
  NEURONA_CHECK(total_count > 0, ValueError, describe(), ".adapt: the data gave no batches");
  const auto assign = [](Variable& v, const std::vector<double>& values) {
    std::vector<float> f(values.begin(), values.end());
    v.assign(cast(constant(f, v.value().shape()), v.value().dtype()).to(v.value().device()));
  };
  assign(*adapt_mean_, total_mean);
  assign(*adapt_variance_, total_var);
}

ConfigValue NormalizationLayer::get_config() const {
  ConfigValue config = Layer::get_config();
  config.set("axis", ints_config(options_.axis));
  config.set("invert", options_.invert);
  config.set("mean", doubles_config(options_.mean));
  config.set("variance", doubles_config(options_.variance));
  return config;
}

Normalization::Normalization(NormalizationOptions options)
    : LayerHandle(std::make_shared<NormalizationLayer>(std::move(options))) {}

Normalization Normalization::from_config(const ConfigValue& config) {
  const LayerConfigReader r(config, "Normalization");
  NormalizationOptions o{.invert = r.boolean("invert", false), .name = r.string("name", "")};
  if (const ConfigValue* axis = r.find("axis")) {
    o.axis.clear();
    if (axis->kind() == ConfigValue::Kind::Int) {
      o.axis.push_back(static_cast<int>(axis->as_int()));
    } else if (!axis->is_null()) {
      for (std::int64_t a : r.ints("axis", *axis)) o.axis.push_back(static_cast<int>(a));
    }
  }
  const auto values = [&](const char* key) -> std::optional<std::vector<double>> {
    const ConfigValue* v = r.find(key);
    if (v == nullptr || v->is_null()) return std::nullopt;
    if (v->kind() == ConfigValue::Kind::List) {
      std::vector<double> out;
      for (const ConfigValue& e : v->as_list()) out.push_back(e.as_double());
      return out;
    }
    return std::vector<double>{v->as_double()};
  };
  o.mean = values("mean");
  o.variance = values("variance");
  return Normalization(std::move(o));
}

}  // namespace neurona::layers
