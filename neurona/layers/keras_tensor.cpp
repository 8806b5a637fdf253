// KerasTensor's accessors; the calls that make them are Layer's (layer.cpp).
#include "neurona/layers/keras_tensor.h"

#include <algorithm>

#include "neurona/core/error.h"
#include "neurona/layers/layer.h"

namespace neurona::layers {

KerasTensor::KerasTensor(std::shared_ptr<Node> node, int index)
    : node_(std::move(node)), index_(index) {
  NEURONA_CHECK(node_ != nullptr && index_ >= 0 && index_ < static_cast<int>(node_->outputs.size()),
                ValueError, "KerasTensor: no output ", index_, " in the layer call");
}

void KerasTensor::check_defined() const {
  NEURONA_CHECK(node_ != nullptr, ValueError,
                "KerasTensor: an undefined symbolic tensor (made by no Input or layer call)");
}

const TensorSpec& KerasTensor::spec() const {
  check_defined();
  return node_->outputs[static_cast<std::size_t>(index_)];
}

const Shape& KerasTensor::shape() const {
  return spec().shape;
}

DType KerasTensor::dtype() const {
  return spec().dtype;
}

Layer& KerasTensor::layer() const {
  return *layer_ptr();
}

const std::shared_ptr<Layer>& KerasTensor::layer_ptr() const {
  check_defined();
  return node_->layer;
}

int KerasTensor::node_index() const {
  check_defined();
  return node_->index;
}

std::vector<KerasTensor> source_inputs(const KerasTensor& t) {
  std::vector<KerasTensor> found;
  std::vector<const Node*> seen;
  std::vector<KerasTensor> stack{t};  // depth first, iteratively: graphs can be deep
  while (!stack.empty()) {
    const KerasTensor x = stack.back();
    stack.pop_back();
    const Node* node = x.node().get();
    NEURONA_CHECK(node != nullptr, ValueError,
                  "source_inputs: an undefined symbolic tensor (made by no Input or layer call)");
    if (std::find(seen.begin(), seen.end(), node) != seen.end()) continue;
    seen.push_back(node);
    if (node->inputs.empty()) {
      found.push_back(x);
      continue;
    }
    for (auto it = node->inputs.rbegin(); it != node->inputs.rend(); ++it) stack.push_back(*it);
  }
  return found;
}

std::string specs_str(const std::vector<TensorSpec>& specs) {
  if (specs.size() == 1) return shape_str(specs[0].shape);
  std::string out = "[";
  for (std::size_t i = 0; i < specs.size(); ++i) {
    if (i > 0) out += ", ";
    out += shape_str(specs[i].shape);
  }
  return out + "]";
}

}  // namespace neurona::layers
