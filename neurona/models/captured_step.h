// The step of fit, evaluate and predict replayed from a captured graph for full batches
// (core/graph.h; on a GPU where config::cuda_graphs_enabled()). Internal to models/.
//
// The first full batch runs eagerly: it makes the optimizer's slots and the metrics' state,
// picks cuDNN's algorithms and sizes workspaces. The second is captured: its tensors are copied
// into buffers at fixed addresses, the host's half of the step (`prepare`: the optimizer's
// scalars) runs outside the graph, and the device's half (`body`) is captured, then replayed.
// Later full batches are copied into the buffers, prepared and replayed; a smaller last batch
// runs eagerly. A step that cannot be captured (an op that synchronises with the host or copies
// from it, random numbers from the global seed) runs eagerly from then on, with one line on
// stderr saying why; an abandoned capture runs nothing and gives back the random numbers it
// drew, so that this fallback computes what an eager run does.
#pragma once

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "neurona/core/config.h"
#include "neurona/core/graph.h"
#include "neurona/models/model.h"

namespace neurona {

struct Model::CapturedStep {
  using Body = std::function<void(const std::vector<Tensor>&)>;

  /// `what` names the caller in the fallback's message ("fit").
  CapturedStep(const Model& model, std::string what, Device on, std::int64_t full_batch)
      : model_name(model.describe()),
        caller(std::move(what)),
        device(on),
        batch_size(full_batch),
        enabled(config::cuda_graphs_enabled() && graph_capture_supported(on)) {}

  /// Runs the step of `batch` (its tensors: inputs first, rows along the first axis) from the
  /// graph, capturing it the first time; false when the caller must run it eagerly itself.
  bool run(const std::vector<Tensor>& batch, const std::function<void()>& prepare,
           const Body& body) {
    if (!enabled || batch.front().shape()[0] != batch_size) return false;
    if (!eager_step_done) {
      eager_step_done = true;
      return false;
    }
    if (!graph) {
      for (const Tensor& t : batch) buffers.push_back(Tensor::empty(t.shape(), t.dtype(), device));
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      buffers[i].copy_from(batch[i]);
    }
    prepare();
    if (!graph) {
      try {
        graph = capture_graph(device, [&] { body(buffers); });
      } catch (const std::exception& e) {
        enabled = false;
        std::fprintf(stderr, "neurona: %s.%s runs its step without a CUDA graph from now on: %s\n",
                     model_name.c_str(), caller.c_str(), e.what());
        body(buffers);  // already prepared
        return true;
      }
    }
    graph->replay();
    return true;
  }

  std::string model_name, caller;
  Device device;
  std::int64_t batch_size;
  bool enabled;
  bool eager_step_done = false;
  std::unique_ptr<CapturedGraph> graph;
  std::vector<Tensor> buffers;
};

}  // namespace neurona
