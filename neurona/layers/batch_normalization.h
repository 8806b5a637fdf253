// BatchNormalization as keras.layers.BatchNormalization: in training, normalizes with the
// batch's mean and (biased) variance over every axis but `axis` and moves the moving
// statistics toward them; in inference (or when the layer is frozen), uses the moving ones.
// With a mask (one dimension less than the inputs, Keras's rule) the training statistics are
// over the entries the mask keeps; with `synchronized` under a DataParallel distribution they
// are over the global batch, every replica's rows (tf.keras's synchronized batch norm). With
// `renorm` (batch renormalization, Ioffe 2017, as Keras 3) the training output is corrected
// toward moving statistics of its own by the factors r and d, clipped as `renorm_clipping` says.
//   auto bn = nr::layers::BatchNormalization();
//   nr::Tensor y = bn(x, /*training=*/true);
//   bn->weights();   // gamma, beta (trainable), moving_mean, moving_variance
#pragma once

#include <optional>

#include "neurona/layers/layer.h"

namespace neurona::layers {

/// Keras's `renorm_clipping` dict: the correction r clipped to [rmin, rmax], d to [-dmax, dmax];
/// a bound not given is not applied (Keras's default, {}: no clipping).
struct RenormClipping {
  std::optional<double> rmax = std::nullopt;
  std::optional<double> rmin = std::nullopt;
  std::optional<double> dmax = std::nullopt;
};

/// keras.layers.BatchNormalization's arguments and defaults.
struct BatchNormalizationOptions {
  /// The feature axis (normalized per index along it); negative counts from the end.
  int axis = -1;
  double momentum = 0.99;
  double epsilon = 1e-3;
  /// Add the learnt offset beta.
  bool center = true;
  /// Multiply by the learnt scale gamma.
  bool scale = true;
  initializers::Initializer beta_initializer = "zeros";
  initializers::Initializer gamma_initializer = "ones";
  initializers::Initializer moving_mean_initializer = "zeros";
  initializers::Initializer moving_variance_initializer = "ones";
  regularizers::Regularizer beta_regularizer = {};
  regularizers::Regularizer gamma_regularizer = {};
  constraints::Constraint beta_constraint = {};
  constraints::Constraint gamma_constraint = {};
  /// Under a DataParallel distribution, training statistics over the global batch (sums over
  /// the replicas, PyTorch's SyncBatchNorm) rather than each replica's own rows; no effect
  /// outside one. (Keras accepts it on its TensorFlow backend only.)
  bool synchronized = false;
  /// Batch renormalization: in training, y = BN(x; batch mean and variance) with gamma r and
  /// beta d gamma + beta, where r = batch stddev / renorm_stddev and d = (batch mean -
  /// renorm_mean) / renorm_stddev (no gradient through r and d), the renorm statistics moving
  /// with `renorm_momentum`; the inference statistics move as a mean and a stddev (the variance
  /// is the stddev squared less epsilon). Adds the weights moving_stddev, renorm_mean and
  /// renorm_stddev (non-trainable, in Keras's order after moving_variance).
  bool renorm = false;
  RenormClipping renorm_clipping = {};
  double renorm_momentum = 0.99;
  std::string name = "";
  bool trainable = true;
  /// The dtype policy (layers/dtype_policy.h); not given: the global policy.
  DTypePolicy dtype = {};
};

class BatchNormalizationLayer : public Layer {
 public:
  explicit BatchNormalizationLayer(BatchNormalizationOptions options = {});
  ConfigValue get_config() const override;

  /// The feature axis, normalized against the built input's rank once built.
  int axis() const { return axis_; }
  double momentum() const { return options_.momentum; }
  double epsilon() const { return options_.epsilon; }
  /// The weights, once built (ValueError before, or when center / scale is false).
  const Variable& gamma() const;
  const Variable& beta() const;
  const Variable& moving_mean() const;
  const Variable& moving_variance() const;
  /// The renorm weights, once built with `renorm` (ValueError otherwise).
  const Variable& moving_stddev() const;
  const Variable& renorm_mean() const;
  const Variable& renorm_stddev() const;

  bool synchronized() const { return options_.synchronized; }

  Tensor call(const Tensor& inputs, bool training) override;
  Tensor call_with_mask(const Tensor& inputs, const Tensor& mask, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 protected:
  void build(const Shape& input_shape) override;

 private:
  void check_input(const Shape& input_shape) const;
  int normalized_axis(const Shape& input_shape) const;
  struct Moments {
    Tensor mean, variance;
  };
  Moments moments(const Tensor& x, const Tensor& mask, bool synchronized) const;
  BatchNormalizationOptions options_;
  int axis_;
  std::optional<Variable> gamma_, beta_, moving_mean_, moving_variance_;
  std::optional<Variable> moving_stddev_, renorm_mean_, renorm_stddev_;  // with renorm only
};

/// `nr::layers::BatchNormalization({.momentum = 0.9})`.
class BatchNormalization : public LayerHandle<BatchNormalizationLayer> {
 public:
  explicit BatchNormalization(BatchNormalizationOptions options = {});
  /// The layer a config describes (what get_config() returns, or a Keras config.json's
  /// entry), as Keras's BatchNormalization.from_config; ValueError naming the key otherwise.
  static BatchNormalization from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
