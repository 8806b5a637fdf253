// Capture and replay (core/graph.h): the bookkeeping shared by the CUDA graphs of core/cuda/
// and the CPU's emulation for tests.
#include "neurona/core/graph.h"

#include <atomic>
#include <utility>

#include "neurona/core/backend.h"
#include "neurona/core/error.h"
#include "neurona/core/random.h"

namespace neurona {

namespace {

thread_local detail::CaptureState* t_capture = nullptr;
std::atomic<bool> g_cpu_emulation{false};
std::atomic<detail::CudaCaptureFn> g_cuda_capture{nullptr};
std::atomic<std::int64_t> g_replays{0};

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

CapturedGraph::~CapturedGraph() = default;

void CapturedGraph::replay() {
  g_replays.fetch_add(1);
  run();
}

bool graph_capture_supported(Device device) {
  if (device.is_cpu()) return g_cpu_emulation.load();
  // backend_for registers the CUDA backend (and with it the capture function) on first use.
  DeviceBackend* backend = backend_for(device.type());
  return backend != nullptr && g_cuda_capture.load() != nullptr &&
         device.index() < backend->device_count();
}

std::unique_ptr<CapturedGraph> capture_graph(Device device, const std::function<void()>& fn) {
  NEURONA_CHECK(graph_capture_supported(device), NotImplementedError, "capture_graph: ", device,
                " cannot capture work into a graph");
  NEURONA_CHECK(t_capture == nullptr, ValueError,
                "capture_graph: a capture is already under way on this thread (on ",
                t_capture->device, ")");
  const std::uint32_t random_calls = detail::random_call_count();
  detail::CaptureState state{device, device.is_cpu(), {}, {}, false};
  t_capture = &state;
  std::unique_ptr<CapturedGraph> graph;
  try {
    if (device.is_cpu()) {
      fn();
      graph = std::make_unique<RecordedGraph>(std::move(state.calls));
    } else {
      graph = g_cuda_capture.load()(device.index(), fn);
    }
  } catch (...) {
    t_capture = nullptr;
    detail::set_random_call_count(random_calls);
    throw;
  }
  t_capture = nullptr;
  if (state.used_global_random) {
    detail::set_random_call_count(random_calls);
    throw ValueError(
        "capture_graph: the captured work draws random numbers from the global seed, which "
        "every replay would draw again (give the random ops a seed of their own, or run the "
        "work eagerly)");
  }
  graph->retained_ = std::move(state.retained);
  return graph;
}

namespace detail {

CaptureState* current_capture() {
  return t_capture;
}

bool record_call(Device device, std::function<void()> call) {
  if (t_capture == nullptr || !t_capture->record_calls || t_capture->device != device) {
    return false;
  }
  t_capture->calls.push_back(std::move(call));
  return true;
}

void set_cpu_graph_emulation(bool enabled) {
  g_cpu_emulation.store(enabled);
}

std::int64_t graph_replays() {
  return g_replays.load();
}

void register_cuda_capture(CudaCaptureFn fn) {
  g_cuda_capture.store(fn);
}

}  // namespace detail

}  // namespace neurona
