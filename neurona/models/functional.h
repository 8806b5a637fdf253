// The graph of a functional model (keras.Model(inputs, outputs)): the layer calls that lead from
// the inputs to the outputs, in Keras's order, and how to run them on tensors. Internal to
// models/; a user makes one through nr::Model's constructor.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "neurona/core/tensor.h"
#include "neurona/layers/input_layer.h"
#include "neurona/layers/keras_tensor.h"

namespace neurona {

class FunctionalGraph {
 public:
  /// Traces `outputs` back to `inputs` (each made by nr::Input) as Keras's Function does.
  /// ValueError, naming `who`, for inputs not made by an Input, a repeated input, an output
  /// that needs an input not given ("Graph disconnected"), and two layers of one name.
  FunctionalGraph(std::vector<layers::KerasTensor> inputs, std::vector<layers::KerasTensor> outputs,
                  const std::string& who);

  const std::vector<layers::KerasTensor>& inputs() const { return inputs_; }
  const std::vector<layers::KerasTensor>& outputs() const { return outputs_; }
  /// The layers in Keras's order (model.layers): by depth from the inputs, then by first use
  /// on the walk back from the outputs; the InputLayers included.
  const std::vector<std::shared_ptr<layers::Layer>>& layers() const { return layers_; }
  /// The layer calls, each after those that make its inputs; the Inputs' calls first.
  const std::vector<std::shared_ptr<layers::Node>>& nodes() const { return nodes_; }
  /// The calls of `layer` that belong to the graph, in the order the layer made them.
  std::vector<const layers::Node*> nodes_of(const layers::Layer& layer) const;
  /// Keras's test of whether summary() needs its "Connected to" column: false when some depth
  /// holds two calls, a call takes several tensors, or a layer is called twice.
  bool sequential_like() const { return sequential_like_; }

  /// Runs the graph on `inputs` (one tensor per Input, cast to its dtype and checked against
  /// its shape); a call given `training` keeps it, the others get `training`. A tensor is let
  /// go as soon as the last call that needs it has run.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, bool training,
                          const std::string& who) const;

 private:
  std::vector<layers::KerasTensor> inputs_, outputs_;
  std::vector<std::shared_ptr<layers::Layer>> layers_;
  std::vector<std::shared_ptr<layers::Node>> nodes_;
  // Per entry of nodes_: the calls whose outputs nothing needs after it (not the model's outputs).
  std::vector<std::vector<const layers::Node*>> release_after_;
  bool sequential_like_ = true;
};

}  // namespace neurona
