// The activation layer classes of keras.layers with their own arguments: ReLU (max_value,
// negative_slope, threshold), LeakyReLU, PReLU (a learnt slope), ELU and Softmax (an axis or
// several, and a mask). Each computes what Keras's layer computes, through neurona's
// differentiable ops, so their gradients and both devices come with them.
//   model.add(nr::layers::ReLU({.max_value = 6.0}));
//   model.add(nr::layers::PReLU({.shared_axes = {1, 2}}));
//   nr::Tensor p = nr::layers::Softmax()(scores, mask);
#pragma once

#include <optional>
#include <vector>

#include "neurona/layers/layer.h"

namespace neurona::layers {

/// keras.layers.ReLU's arguments and defaults: f(x) = max_value for x >= max_value, x for
/// threshold <= x < max_value, negative_slope * (x - threshold) otherwise.
struct ReLUOptions {
  /// The largest output; none: unbounded. Must be >= 0.
  std::optional<double> max_value = std::nullopt;
  /// Must be >= 0.
  double negative_slope = 0.0;
  /// Must be >= 0.
  double threshold = 0.0;
  LayerOptions layer = {};
};

class ReLULayer : public Layer {
 public:
  explicit ReLULayer(ReLUOptions options = {});
  ConfigValue get_config() const override;
  const ReLUOptions& options() const { return options_; }
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

 private:
  ReLUOptions options_;
};

/// `nr::layers::ReLU({.max_value = 6.0})`.
class ReLU : public LayerHandle<ReLULayer> {
 public:
  explicit ReLU(ReLUOptions options = {});
  /// The layer a config describes (get_config()'s, or a Keras config.json's entry), as
  /// Keras's ReLU.from_config; ValueError naming the key otherwise.
  static ReLU from_config(const ConfigValue& config);
};

/// keras.layers.LeakyReLU: x for x >= 0, negative_slope * x otherwise.
class LeakyReLULayer : public Layer {
 public:
  explicit LeakyReLULayer(double negative_slope = 0.3, LayerOptions options = {});
  ConfigValue get_config() const override;
  double negative_slope() const { return negative_slope_; }
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

 private:
  double negative_slope_;
};

/// `nr::layers::LeakyReLU(0.1)`; Keras's default slope is 0.3.
class LeakyReLU : public LayerHandle<LeakyReLULayer> {
 public:
  explicit LeakyReLU(double negative_slope = 0.3, LayerOptions options = {});
  /// As Keras, the deprecated name `alpha` is read for `negative_slope`.
  static LeakyReLU from_config(const ConfigValue& config);
};

/// keras.layers.PReLU's arguments and defaults.
struct PReLUOptions {
  initializers::Initializer alpha_initializer = "zeros";
  regularizers::Regularizer alpha_regularizer = {};
  constraints::Constraint alpha_constraint = {};
  /// Axes (1 for the first after the batch) along which one slope is shared: {1, 2} gives a
  /// (height, width, channels) input one slope per channel.
  std::vector<int> shared_axes = {};
  LayerOptions layer = {};
};

/// x for x >= 0, alpha * x otherwise, with a learnt alpha of the input's shape (without the
/// batch axis, and 1 along the shared axes).
class PReLULayer : public Layer {
 public:
  explicit PReLULayer(PReLUOptions options = {});
  ConfigValue get_config() const override;
  /// The slopes, once built (ValueError before).
  const Variable& alpha() const;
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override;

 protected:
  void build(const Shape& input_shape) override;

 private:
  void check_input(const Shape& input_shape) const;
  PReLUOptions options_;
  std::optional<Variable> alpha_;
};

/// `nr::layers::PReLU({.shared_axes = {1, 2}})`.
class PReLU : public LayerHandle<PReLULayer> {
 public:
  explicit PReLU(PReLUOptions options = {});
  static PReLU from_config(const ConfigValue& config);
};

/// keras.layers.ELU: x for x > 0, alpha * (exp(x) - 1) otherwise.
class ELULayer : public Layer {
 public:
  explicit ELULayer(double alpha = 1.0, LayerOptions options = {});
  /// Keras's ELU writes no `alpha` into its config (a Keras file always means 1.0); neurona
  /// writes it, which Keras reads back.
  ConfigValue get_config() const override;
  double alpha() const { return alpha_; }
  Tensor call(const Tensor& inputs, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

 private:
  double alpha_;
};

/// `nr::layers::ELU(0.5)`.
class ELU : public LayerHandle<ELULayer> {
 public:
  explicit ELU(double alpha = 1.0, LayerOptions options = {});
  static ELU from_config(const ConfigValue& config);
};

/// keras.layers.Softmax: softmax over `axis` (several axes: over all of them together).
class SoftmaxLayer : public Layer {
 public:
  explicit SoftmaxLayer(std::vector<int> axis = {-1}, LayerOptions options = {});
  ConfigValue get_config() const override;
  const std::vector<int>& axis() const { return axis_; }
  Tensor call(const Tensor& inputs, bool training) override;
  /// As Keras's call(inputs, mask): the positions where `mask` is false (0, or <= 0.5 for a
  /// float mask) take no part, and come out 0. The mask broadcasts to the inputs (each of its
  /// dimensions 1 or the input's, counted from the last); ValueError otherwise.
  Tensor call_with_mask(const Tensor& inputs, const Tensor& mask, bool training) override;
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

 private:
  std::vector<int> axis_;
};

/// `nr::layers::Softmax()`, `nr::layers::Softmax({1, 2})`; `softmax(x, mask)` masks, as does a
/// mask attached to x.
class Softmax : public LayerHandle<SoftmaxLayer> {
 public:
  explicit Softmax(std::vector<int> axis = {-1}, LayerOptions options = {});
  static Softmax from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
