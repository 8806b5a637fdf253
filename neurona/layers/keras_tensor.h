// KerasTensor: the symbolic tensor of the functional API (keras.KerasTensor). It has a shape and
// a dtype but no values, and remembers the layer call that made it (a Node), so that a model
// can be traced from its outputs back to its inputs:
//   auto x = nr::Input({32});                       // made by an InputLayer's node
//   auto y = nr::layers::Dense(4)(x);               // made by the Dense layer's first call
//   y.layer().name();  y.node_index();  y.shape();  // "dense", 0, (-1, 4)
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "neurona/core/config_value.h"
#include "neurona/core/dtype.h"
#include "neurona/core/shape.h"

namespace neurona::layers {

class Layer;
struct Node;

/// A tensor's shape (batch dimension first, -1 when unknown) and dtype, without values.
struct TensorSpec {
  Shape shape;
  DType dtype = DType::float32;
};

class KerasTensor {
 public:
  /// An undefined tensor (no layer made it).
  KerasTensor() = default;
  /// Output `index` of `node`.
  KerasTensor(std::shared_ptr<Node> node, int index);

  bool defined() const { return node_ != nullptr; }
  const Shape& shape() const;
  DType dtype() const;
  int rank() const { return shape().rank(); }
  const TensorSpec& spec() const;

  /// Keras's _keras_history: the layer that made the tensor, which of that layer's calls made
  /// it (node_index) and which of the call's outputs it is (tensor_index).
  Layer& layer() const;
  const std::shared_ptr<Layer>& layer_ptr() const;
  int node_index() const;
  int tensor_index() const { return index_; }
  const std::shared_ptr<Node>& node() const { return node_; }

  /// The same output of the same call.
  bool operator==(const KerasTensor& other) const {
    return node_ == other.node_ && index_ == other.index_;
  }

 private:
  void check_defined() const;
  std::shared_ptr<Node> node_;
  int index_ = 0;
};

/// One call of a layer on KerasTensors (Keras's Node): the layer, its inputs, the outputs' specs.
struct Node {
  std::shared_ptr<Layer> layer;
  std::vector<KerasTensor> inputs;
  /// True when the layer was called on a list (a merging layer, a model with several inputs),
  /// false when on one tensor: what the layer's call receives and what a config records.
  bool list_call = false;
  /// The `training` argument given at the call, if any: it overrides the model's.
  std::optional<bool> training;
  /// The call's other keyword arguments that are not tensors, in Keras's names
  /// (MultiHeadAttention's {"use_causal_mask": true}); None when there are none. The model's
  /// call passes them back to the layer (Layer::apply with kwargs), and configs record them.
  ConfigValue kwargs;
  std::vector<TensorSpec> outputs;
  /// Which of the layer's calls this is (0 for the first).
  int index = 0;
};

/// The Inputs that `t` is computed from (Keras's get_source_inputs), in the order the graph
/// reaches them from `t`, each once; `t` itself when an Input made it.
std::vector<KerasTensor> source_inputs(const KerasTensor& t);

/// Keras's shape printing, (None, 4), of a tensor list: "[(None, 4), (None, 3)]".
std::string specs_str(const std::vector<TensorSpec>& specs);

}  // namespace neurona::layers
