// Bidirectional: a recurrent layer run forwards and a copy of it run backwards over the same
// sequence, their outputs merged, as keras.layers.Bidirectional. The two copies are tracked as
// "forward_layer" and "backward_layer" (named forward_<name> and backward_<name>), so that
// weights and `.keras` files exchange with Keras.
//   auto bi = nr::layers::Bidirectional(nr::layers::LSTM(8, {.return_sequences = true}));
//   nr::Tensor y = bi(x);   // x (batch, 10, 4) -> y (batch, 10, 16)
#pragma once

#include <optional>
#include <string>

#include "neurona/layers/rnn.h"

namespace neurona::layers {

/// keras.layers.Bidirectional's arguments and defaults.
struct BidirectionalOptions {
  /// "concat", "sum", "mul" or "ave"; none (Keras's None) returns both outputs.
  std::optional<std::string> merge_mode = "concat";
  /// The backward layer; none: a copy of the layer with go_backwards = true.
  std::optional<AnyLayer> backward_layer = std::nullopt;
  std::optional<Shape> input_shape = std::nullopt;
  std::string name = "";
  bool trainable = true;
  DTypePolicy dtype = {};
};

class BidirectionalLayer : public Layer {
 public:
  BidirectionalLayer(const AnyLayer& layer, BidirectionalOptions options = {});

  RNNLayer& forward_layer() const { return *forward_; }
  RNNLayer& backward_layer() const { return *backward_; }
  const std::optional<std::string>& merge_mode() const { return merge_mode_; }
  /// Resets both layers' states; ValueError unless they are stateful.
  void reset_states();

  /// The merged output alone; ValueError where there are several (use apply()).
  Tensor call(const Tensor& inputs, bool training) override;
  /// inputs: the sequences, then the initial states (the forward layer's, then the backward
  /// layer's); returns the output(s), then the forward and the backward states with
  /// return_state.
  std::vector<Tensor> call_list(const std::vector<Tensor>& inputs, bool training) override;
  /// call() and call_list() with the mask of the sequences (Keras passes it on: a masked step
  /// keeps the states).
  Tensor call_with_mask(const Tensor& inputs, const Tensor& mask, bool training) override;
  std::vector<Tensor> call_list_with_masks(const std::vector<Tensor>& inputs,
                                           const std::vector<Tensor>& masks,
                                           bool training) override;
  /// The sequences' mask on the output with return_sequences, else none (and none on the
  /// states), as Keras's Bidirectional.compute_mask; both outputs carry it without merge_mode.
  Tensor compute_mask(const Tensor& inputs, const Tensor& mask) const override;
  std::vector<Tensor> compute_mask_list(const std::vector<Tensor>& inputs,
                                        const std::vector<Tensor>& masks) const override;
  /// The computation with a mask (batch, timesteps), undefined for none.
  std::vector<Tensor> run(const Tensor& sequences, const std::vector<Tensor>& initial_state,
                          const Tensor& mask, bool training);

  Shape compute_output_shape(const Shape& input_shape) const override;
  std::vector<Shape> compute_output_shape_list(
      const std::vector<Shape>& input_shapes) const override;
  ConfigValue get_config() const override;
  /// The sequences' shape, as for the recurrent layer it wraps.
  ConfigValue get_build_config() const override;

 protected:
  void build(const Shape& input_shape) override;
  void build_list(const std::vector<Shape>& input_shapes) override;

 private:
  std::size_t output_count() const;
  std::shared_ptr<RNNLayer> forward_;
  std::shared_ptr<RNNLayer> backward_;
  std::optional<std::string> merge_mode_;
};

/// `nr::layers::Bidirectional(layer, {...})`.
class Bidirectional : public LayerHandle<BidirectionalLayer> {
 public:
  explicit Bidirectional(const AnyLayer& layer, BidirectionalOptions options = {});
  /// The layer a config describes (Keras's Bidirectional.from_config).
  static Bidirectional from_config(const ConfigValue& config);
};

}  // namespace neurona::layers
