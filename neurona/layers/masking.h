// Masking: marks the steps whose features all equal `mask_value` as padding (Keras's
// keras.layers.Masking), and the few helpers layers use to combine masks. Masks are uint8
// tensors of 0/1 over the leading axes (batch, steps), as neurona's comparisons return.
//   auto x = nr::layers::Masking(0.0)(padded);   // (batch, steps, features), mask (batch, steps)
#pragma once

#include <vector>

#include "neurona/layers/layer.h"

namespace neurona::layers {

/// The element-wise OR of masks (Keras's merging layers' compute_mask): undefined when any of
/// them is undefined, as Keras's. The masks must broadcast together.
Tensor masks_or(const std::vector<Tensor>& masks);

/// A mask of any dtype as a uint8 0/1 condition (nonzero kept), for where(): uint8 masks as
/// they are. Masks given to a call (Keras's layer(x, mask=m)) keep their dtype, as Keras passes
/// them on; the layers that select with them convert them so.
Tensor mask_condition(const Tensor& mask);

/// Whether any element along `axis` is nonzero, as a uint8 mask (ops.any).
Tensor mask_any(const Tensor& x, int axis, bool keepdims = false);

class MaskingLayer : public Layer {
 public:
  explicit MaskingLayer(double mask_value = 0.0, LayerOptions options = {});
  ConfigValue get_config() const override;
  double mask_value() const { return mask_value_; }

  /// The inputs with the masked steps set to 0, carrying their mask.
  Tensor call(const Tensor& inputs, bool training) override;
  /// any(inputs != mask_value, axis=-1).
  Tensor compute_mask(const Tensor& inputs, const Tensor& mask) const override;
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

 private:
  double mask_value_;
};

/// `nr::layers::Masking(-1.0)`.
class Masking : public LayerHandle<MaskingLayer> {
 public:
  explicit Masking(double mask_value = 0.0, LayerOptions options = {});
  /// The layer a config describes, as Keras's Masking.from_config.
  static Masking from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
