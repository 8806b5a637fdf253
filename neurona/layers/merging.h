// Merging layers, as keras.layers.Add, Subtract, Multiply, Average, Maximum, Minimum,
// Concatenate and Dot: layers called on a list of tensors.
//   auto y = nr::layers::Add()({a, b});                  // symbolic (functional API) or eager
//   auto z = nr::layers::Concatenate({.axis = 1})({a, b});
#pragma once

#include <array>
#include <variant>

#include "neurona/layers/layer.h"

namespace neurona::layers {

enum class MergeOp { add, subtract, multiply, average, maximum, minimum };

/// The elementwise merges. Inputs of equal rank broadcast as NumPy does (a dimension of 1
/// stretches); a lower-rank input gets axes of 1 inserted after the batch axis first, as Keras.
class ElementwiseMergeLayer : public Layer {
 public:
  ElementwiseMergeLayer(MergeOp op, LayerOptions options = {});
  MergeOp op() const { return op_; }
  Tensor call(const Tensor& inputs, bool training) override;
  std::vector<Tensor> call_list(const std::vector<Tensor>& inputs, bool training) override;
  /// Multiply, Maximum and Minimum with masked inputs, as Keras 3's: a masked step of one
  /// input takes the other inputs' value (1 for Multiply), and a step masked in every input
  /// comes out 0 (Multiply) or as the inputs give it. The others ignore masks.
  std::vector<Tensor> call_list_with_masks(const std::vector<Tensor>& inputs,
                                           const std::vector<Tensor>& masks,
                                           bool training) override;
  /// The OR of the inputs' masks, none if an input has none (Keras's merging layers).
  std::vector<Tensor> compute_mask_list(const std::vector<Tensor>& inputs,
                                        const std::vector<Tensor>& masks) const override;
  std::vector<Shape> compute_output_shape_list(
      const std::vector<Shape>& input_shapes) const override;

 protected:
  void build_list(const std::vector<Shape>& input_shapes) override;

 private:
  MergeOp op_;
};

/// `nr::layers::Add()`, `Subtract()`, ...: a handle per Keras class.
template <MergeOp Op>
class ElementwiseMerge : public LayerHandle<ElementwiseMergeLayer> {
 public:
  explicit ElementwiseMerge(LayerOptions options = {})
      : LayerHandle<ElementwiseMergeLayer>(
            std::make_shared<ElementwiseMergeLayer>(Op, std::move(options))) {}
  /// The layer a config describes (Keras's get_config: name, trainable, dtype).
  static ElementwiseMerge from_config(const ConfigValue& config);
};

using Add = ElementwiseMerge<MergeOp::add>;
using Subtract = ElementwiseMerge<MergeOp::subtract>;
using Multiply = ElementwiseMerge<MergeOp::multiply>;
using Average = ElementwiseMerge<MergeOp::average>;
using Maximum = ElementwiseMerge<MergeOp::maximum>;
using Minimum = ElementwiseMerge<MergeOp::minimum>;

struct ConcatenateOptions {
  int axis = -1;
  LayerOptions layer = {};
};

/// Joins its inputs along `axis`; the other dimensions must match.
class ConcatenateLayer : public Layer {
 public:
  explicit ConcatenateLayer(ConcatenateOptions options = {});
  int axis() const { return axis_; }
  ConfigValue get_config() const override;
  Tensor call(const Tensor& inputs, bool training) override;
  std::vector<Tensor> call_list(const std::vector<Tensor>& inputs, bool training) override;
  /// Keras's Concatenate mask: each input's mask (all true where it has none) broadcast over
  /// the input, joined along `axis`, then any() over the last axis.
  std::vector<Tensor> compute_mask_list(const std::vector<Tensor>& inputs,
                                        const std::vector<Tensor>& masks) const override;
  std::vector<Shape> compute_output_shape_list(
      const std::vector<Shape>& input_shapes) const override;

 protected:
  void build_list(const std::vector<Shape>& input_shapes) override;

 private:
  int axis_;
};

class Concatenate : public LayerHandle<ConcatenateLayer> {
 public:
  explicit Concatenate(ConcatenateOptions options = {});
  static Concatenate from_config(const ConfigValue& config);
};

struct DotOptions {
  /// One axis for both inputs, or {axis of the first, axis of the second}; never the batch axis.
  std::variant<int, std::array<int, 2>> axes = -1;
  /// L2-normalise both inputs along their axes first (the dot product is then the cosine).
  bool normalize = false;
  LayerOptions layer = {};
};

/// The dot product of two inputs along the given axes, per sample (keras.layers.Dot, Keras's
/// batch_dot): (b, m, k) . (b, k, n) along (2, 1) is (b, m, n); a result of rank 1 gets an axis.
class DotLayer : public Layer {
 public:
  explicit DotLayer(DotOptions options);
  const DotOptions& options() const { return options_; }
  ConfigValue get_config() const override;
  Tensor call(const Tensor& inputs, bool training) override;
  std::vector<Tensor> call_list(const std::vector<Tensor>& inputs, bool training) override;
  std::vector<Shape> compute_output_shape_list(
      const std::vector<Shape>& input_shapes) const override;

 protected:
  void build_list(const std::vector<Shape>& input_shapes) override;

 private:
  /// The two axes, non-negative, for inputs of these ranks.
  std::array<int, 2> axes_for(int rank1, int rank2) const;
  DotOptions options_;
};

class Dot : public LayerHandle<DotLayer> {
 public:
  explicit Dot(DotOptions options);
  /// `Dot(1)`: Keras's positional `axes`.
  explicit Dot(int axes, bool normalize = false);
  static Dot from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
