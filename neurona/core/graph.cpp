// Capture and replay (core/graph.h): the bookkeeping shared by the CUDA graphs of core/cuda/
// and the CPU's emulation for tests.
#include "neurona/core/graph.h"

#include <array>
#include <atomic>
#include <functional>
#include <utility>

#include "neurona/core/backend.h"
#include "neurona/core/error.h"
#include "neurona/core/random.h"

namespace neurona {

namespace {

thread_local detail::CaptureState* t_capture = nullptr;
std::atomic<bool> g_cpu_emulation{false};
// The CPU's emulated capture, seen from every thread (the emulated "stream" is the device's).
std::atomic<detail::CaptureState*> g_cpu_recording{nullptr};

// One lock per device that can capture (DeviceWorkGuard).
constexpr int kMaxCudaDevices = 64;
std::recursive_mutex g_cpu_work;
std::array<std::recursive_mutex, kMaxCudaDevices> g_cuda_work;

std::recursive_mutex* work_mutex(Device d) {
  if (d.is_cpu()) return g_cpu_emulation.load() ? &g_cpu_work : nullptr;
  return d.index() < kMaxCudaDevices ? &g_cuda_work[static_cast<std::size_t>(d.index())] : nullptr;
}
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
  const detail::DeviceWorkGuard guard(device_);
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
  NEURONA_CHECK(device.is_cpu() || device.index() < kMaxCudaDevices, NotImplementedError,
                "capture_graph: ", device, " is beyond the ", kMaxCudaDevices,
                " GPUs whose work capture can serialise");
  // Other threads' work on the device waits until the capture ends.
  const detail::DeviceWorkGuard exclusive(device);
  const std::uint32_t random_calls = detail::random_call_count();
  detail::CaptureState state{device, device.is_cpu(), {}, {}, false};
  t_capture = &state;
  if (device.is_cpu()) g_cpu_recording.store(&state);
  const auto end_capture = [&] {
    t_capture = nullptr;
    if (device.is_cpu()) g_cpu_recording.store(nullptr);
  };
  std::unique_ptr<CapturedGraph> graph;
  try {
    if (device.is_cpu()) {
      fn();
      graph = std::make_unique<RecordedGraph>(std::move(state.calls));
    } else {
      graph = g_cuda_capture.load()(device.index(), fn);
    }
  } catch (...) {
    end_capture();
    detail::set_random_call_count(random_calls);
    throw;
  }
  end_capture();
  if (state.used_host_random) {
    detail::set_random_call_count(random_calls);
    throw ValueError(
        "capture_graph: the captured work draws random numbers with a key made on the host (the "
        "global seed or an op seed), which every replay would draw again (draw from a "
        "SeedGenerator, whose state lives on the device, or run the work eagerly)");
  }
  graph->device_ = device;
  graph->retained_ = std::move(state.retained);
  return graph;
}

namespace detail {

DeviceWorkGuard::DeviceWorkGuard(Device device) : first_(work_mutex(device)) {
  if (first_ != nullptr) first_->lock();
}

DeviceWorkGuard::DeviceWorkGuard(Device a, Device b) {
  std::recursive_mutex* x = work_mutex(a);
  std::recursive_mutex* y = work_mutex(b);
  if (x == y) y = nullptr;
  // A fixed order (by address: g_cpu_work, then the GPUs' array in index order) keeps two
  // threads copying between the same devices in opposite directions from deadlocking.
  if (x != nullptr && y != nullptr && std::less<>{}(y, x)) std::swap(x, y);
  first_ = x;
  second_ = y;
  if (first_ != nullptr) first_->lock();
  if (second_ != nullptr) second_->lock();
}

DeviceWorkGuard::~DeviceWorkGuard() {
  if (second_ != nullptr) second_->unlock();
  if (first_ != nullptr) first_->unlock();
}

CaptureState* current_capture() {
  return t_capture;
}

CaptureState* recording_capture(Device device) {
  if (!device.is_cpu()) return nullptr;
  CaptureState* state = g_cpu_recording.load();
  return state != nullptr && state->record_calls ? state : nullptr;
}

bool record_call(Device device, std::function<void()> call) {
  CaptureState* state = recording_capture(device);
  if (state == nullptr) return false;
  state->calls.push_back(std::move(call));
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
