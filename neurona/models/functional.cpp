// FunctionalGraph: keras/src/ops/function.py's map_graph (a walk back from the outputs, depths,
// the layers' order, the disconnected-graph check), written as an iterative walk so that a deep
// model cannot overflow the stack; and the run of the calls in that order.
#include "neurona/models/functional.h"

#include <algorithm>
#include <map>
#include <unordered_map>
#include <unordered_set>

namespace neurona {

namespace {

using layers::KerasTensor;
using layers::Layer;
using layers::Node;

bool is_input_node(const Node& node) {
  return node.inputs.empty();
}

std::string tensor_str(const KerasTensor& t) {
  return "<KerasTensor shape=" + layers::shape_str(t.shape()) +
         ", dtype=" + std::string(name(t.dtype())) + ", made by '" + t.layer().name() + "'>";
}

}  // namespace

FunctionalGraph::FunctionalGraph(std::vector<KerasTensor> inputs, std::vector<KerasTensor> outputs,
                                 const std::string& who)
    : inputs_(std::move(inputs)), outputs_(std::move(outputs)) {
  NEURONA_CHECK(!inputs_.empty(), ValueError, who, ": a functional model needs inputs");
  NEURONA_CHECK(!outputs_.empty(), ValueError, who, ": a functional model needs outputs");
  for (std::size_t i = 0; i < inputs_.size(); ++i) {
    const KerasTensor& x = inputs_[i];
    NEURONA_CHECK(x.defined(), ValueError, who, ": input ", i, " is an undefined KerasTensor");
    NEURONA_CHECK(
        is_input_node(*x.node()) && dynamic_cast<const layers::InputLayer*>(&x.layer()) != nullptr,
        ValueError, who, ": input ", i, " ", tensor_str(x),
        " is not made by nr::Input; the inputs of a functional model are its Inputs");
    for (std::size_t j = 0; j < i; ++j) {
      NEURONA_CHECK(!(inputs_[j] == x), ValueError, who, ": the input '", x.layer().name(),
                    "' is given twice");
    }
  }
  for (std::size_t i = 0; i < outputs_.size(); ++i) {
    NEURONA_CHECK(outputs_[i].defined(), ValueError, who, ": output ", i,
                  " is an undefined KerasTensor");
  }

  // The walk back from each output (Keras's _build_map): calls in post-order, so that each
  // comes after the calls that make its inputs, and each layer's first-visit index.
  std::vector<std::shared_ptr<Node>> post_order;
  std::unordered_map<const Layer*, int> layer_index;
  std::unordered_set<const Node*> finished;
  struct Frame {
    std::shared_ptr<Node> node;
    std::size_t next_input = 0;
  };
  for (const KerasTensor& out : outputs_) {
    if (finished.count(out.node().get()) != 0) continue;
    std::vector<Frame> stack{{out.node()}};
    layer_index.try_emplace(out.node()->layer.get(), static_cast<int>(layer_index.size()));
    while (!stack.empty()) {
      Frame& top = stack.back();
      if (top.next_input < top.node->inputs.size()) {
        const std::shared_ptr<Node>& child = top.node->inputs[top.next_input++].node();
        if (finished.count(child.get()) != 0) continue;
        layer_index.try_emplace(child->layer.get(), static_cast<int>(layer_index.size()));
        stack.push_back({child});  // a graph made by calls has no cycle
        continue;
      }
      finished.insert(top.node.get());
      post_order.push_back(top.node);
      stack.pop_back();
    }
  }

  // Depths: 0 for the calls that make outputs, one more than the deepest consumer otherwise;
  // a layer takes the largest depth of its calls.
  std::unordered_map<const Node*, int> node_depth;
  std::unordered_map<const Layer*, int> layer_depth;
  for (auto it = post_order.rbegin(); it != post_order.rend(); ++it) {
    const Node* node = it->get();
    int depth = node_depth.try_emplace(node, 0).first->second;
    const auto [ld, fresh] = layer_depth.try_emplace(node->layer.get(), depth);
    if (!fresh) depth = std::max(depth, ld->second);
    ld->second = depth;
    node_depth[node] = depth;
    for (const KerasTensor& in : node->inputs) {
      int& d = node_depth.try_emplace(in.node().get(), 0).first->second;
      d = std::max(d, depth + 1);
    }
  }
  // Inputs that no output needs stay in the model (Keras keeps them, first among equals).
  for (const KerasTensor& x : inputs_) {
    if (layer_depth.count(&x.layer()) == 0) {
      layer_depth[&x.layer()] = 0;
      layer_index[&x.layer()] = -1;
      node_depth[x.node().get()] = 0;
      post_order.insert(post_order.begin(), x.node());
    }
  }

  // The calls by decreasing depth (then in post-order), checked to be computable from the
  // inputs given.
  std::vector<std::pair<int, std::size_t>> order;
  for (std::size_t i = 0; i < post_order.size(); ++i) {
    order.push_back({-node_depth.at(post_order[i].get()), i});
  }
  std::sort(order.begin(), order.end());
  std::unordered_set<const Node*> computable;
  for (const KerasTensor& x : inputs_) computable.insert(x.node().get());
  std::vector<std::string> reached;
  std::map<int, int> calls_at_depth;
  for (const auto& [neg_depth, i] : order) {
    const std::shared_ptr<Node>& node = post_order[i];
    for (const KerasTensor& in : node->inputs) {
      if (computable.count(in.node().get()) != 0) continue;
      std::string list;
      for (const std::string& name : reached) list += (list.empty() ? "'" : ", '") + name + "'";
      throw ValueError(who + ": Graph disconnected: cannot find parent for tensor " +
                       tensor_str(in) + " at layer '" + node->layer->name() +
                       "'. The following previous layers were accessed without issue: [" + list +
                       "]");
    }
    if (is_input_node(*node) && computable.count(node.get()) == 0) {
      // An Input that is not among the model's inputs: its consumer reports it above.
    } else {
      computable.insert(node.get());
    }
    reached.push_back(node->layer->name());
    nodes_.push_back(node);
    if (++calls_at_depth[neg_depth] > 1 || node->inputs.size() > 1) sequential_like_ = false;
  }

  // The layers by decreasing depth, then by first visit; names must be unique.
  std::vector<std::tuple<int, int, std::shared_ptr<Layer>>> by_depth;
  std::unordered_set<const Layer*> seen;
  for (const auto& node : nodes_) {
    if (!seen.insert(node->layer.get()).second) {
      sequential_like_ = false;  // a layer called twice
      continue;
    }
    by_depth.emplace_back(-layer_depth.at(node->layer.get()), layer_index.at(node->layer.get()),
                          node->layer);
  }
  std::sort(by_depth.begin(), by_depth.end(), [](const auto& a, const auto& b) {
    return std::tie(std::get<0>(a), std::get<1>(a)) < std::tie(std::get<0>(b), std::get<1>(b));
  });
  std::map<std::string, int> names;
  for (const auto& entry : by_depth) {
    const auto& layer = std::get<2>(entry);
    layers_.push_back(layer);
    const int uses = ++names[layer->name()];
    NEURONA_CHECK(uses == 1, ValueError, who, ": The name \"", layer->name(),
                  "\" is used 2 times in the model. All layer names should be unique.");
  }

  // Where each call's outputs are needed last, so that run() lets them go there.
  std::unordered_map<const Node*, std::size_t> last_use;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    for (const KerasTensor& in : nodes_[i]->inputs) last_use[in.node().get()] = i;
  }
  for (const KerasTensor& out : outputs_) last_use.erase(out.node().get());
  release_after_.resize(nodes_.size());
  for (const auto& [node, i] : last_use) release_after_[i].push_back(node);
}

std::vector<const Node*> FunctionalGraph::nodes_of(const Layer& layer) const {
  std::vector<const Node*> out;
  for (const auto& node : nodes_) {
    if (node->layer.get() == &layer) out.push_back(node.get());
  }
  std::sort(out.begin(), out.end(),
            [](const Node* a, const Node* b) { return a->index < b->index; });
  return out;
}

std::vector<Tensor> FunctionalGraph::run(const std::vector<Tensor>& inputs, bool training,
                                         const std::string& who) const {
  NEURONA_CHECK(inputs.size() == inputs_.size(), ValueError, who, ": expected ", inputs_.size(),
                " input tensor", inputs_.size() == 1 ? "" : "s", ", got ", inputs.size());
  std::unordered_map<const Node*, std::vector<Tensor>> values;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    // The InputLayer casts to its dtype and checks the shape.
    values[inputs_[i].node().get()] = {inputs_[i].layer()(inputs[i], training)};
  }
  std::vector<Tensor> args;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    const Node& node = *nodes_[i];
    if (!is_input_node(node)) {
      args.clear();
      for (const KerasTensor& in : node.inputs) {
        args.push_back(values.at(in.node().get())[static_cast<std::size_t>(in.tensor_index())]);
      }
      const bool mode = node.training.value_or(training);
      std::vector<Tensor> outs = node.list_call || !node.kwargs.is_null()
                                     ? node.layer->apply_with_kwargs(args, node.kwargs, mode)
                                     : std::vector{(*node.layer)(args[0], mode)};
      NEURONA_CHECK(outs.size() == node.outputs.size(), ValueError, who, ": ",
                    node.layer->describe(), " returned ", outs.size(),
                    " tensors, its call in the "
                    "model made ",
                    node.outputs.size());
      values[&node] = std::move(outs);
    }
    for (const Node* done : release_after_[i]) values.erase(done);
  }
  std::vector<Tensor> out;
  for (const KerasTensor& t : outputs_) {
    out.push_back(values.at(t.node().get())[static_cast<std::size_t>(t.tensor_index())]);
  }
  return out;
}

}  // namespace neurona
