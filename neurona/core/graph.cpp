// Capture and replay (core/graph.h): a capture on the device's backend (a CUDA graph), or the
// CPU's emulation for tests, with the bookkeeping both share.
#include "neurona/core/graph.h"

#include <utility>

#include "neurona/core/backend.h"
#include "neurona/core/error.h"
#include "neurona/core/random.h"

namespace neurona {

namespace {

// The CPU's emulated graph: the recorded calls, run in order.
class RecordedGraph final : public CapturedGraph {
 public:
  explicit RecordedGraph(std::vector<std::function<void()>> calls) : calls_(std::move(calls)) {}
  void run() override {
    for (const auto& call : calls_) call();
  }

 private:
  std::vector<std::function<void()>> calls_;
};

}  // namespace

bool graph_capture_supported(Device device) {
  if (device.is_cpu()) return detail::cpu_graph_emulation();
  DeviceBackend* backend = backend_for(device.type());
  return backend != nullptr && backend->can_capture() && device.index() < backend->device_count();
}

std::unique_ptr<CapturedGraph> capture_graph(Device device, const std::function<void()>& fn) {
  NEURONA_CHECK(graph_capture_supported(device), NotImplementedError, "capture_graph: ", device,
                " cannot capture work into a graph");
  const detail::CaptureState* under_way = detail::current_capture();
  NEURONA_CHECK(under_way == nullptr, ValueError,
                "capture_graph: a capture is already under way on this thread (on ",
                under_way->device, ")");
  NEURONA_CHECK(device.is_cpu() || device.index() < detail::kMaxCaptureDevices, NotImplementedError,
                "capture_graph: ", device, " is beyond the ", detail::kMaxCaptureDevices,
                " GPUs whose work capture can serialise");
  // Other threads' work on the device waits until the capture ends.
  const detail::DeviceWorkGuard exclusive(device);
  const std::uint32_t random_calls = detail::random_call_count();
  detail::CaptureState state{device, device.is_cpu(), {}, {}, false};
  detail::set_current_capture(&state);
  std::unique_ptr<CapturedGraph> graph;
  try {
    if (device.is_cpu()) {
      fn();
      graph = std::make_unique<RecordedGraph>(std::move(state.calls));
    } else {
      graph = backend_for(device.type())->capture(device.index(), fn);
    }
  } catch (...) {
    detail::set_current_capture(nullptr);
    detail::set_random_call_count(random_calls);
    throw;
  }
  detail::set_current_capture(nullptr);
  if (state.used_host_random) {
    detail::set_random_call_count(random_calls);
    throw ValueError(
        "capture_graph: the captured work draws random numbers with a key made on the host (the "
        "global seed or an op seed), which every replay would draw again (draw from a "
        "SeedGenerator, whose state lives on the device, or run the work eagerly)");
  }
  graph->adopt(device, std::move(state.retained));
  return graph;
}

}  // namespace neurona
