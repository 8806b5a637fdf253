// Capture state (core/capture.h): this thread's capture, the CPU's emulated one, and the
// per-device locks that keep other threads' work out while one runs.
#include "neurona/core/capture.h"

#include <array>
#include <atomic>
#include <functional>
#include <utility>

namespace neurona {

namespace {

thread_local detail::CaptureState* t_capture = nullptr;
std::atomic<bool> g_cpu_emulation{false};
// The CPU's emulated capture, seen from every thread (the emulated "stream" is the device's).
std::atomic<detail::CaptureState*> g_cpu_recording{nullptr};
std::atomic<std::int64_t> g_replays{0};

// One lock per device that can capture (DeviceWorkGuard).
std::recursive_mutex g_cpu_work;
std::array<std::recursive_mutex, detail::kMaxCaptureDevices> g_cuda_work;

std::recursive_mutex* work_mutex(Device d) {
  if (d.is_cpu()) return g_cpu_emulation.load() ? &g_cpu_work : nullptr;
  return d.index() < detail::kMaxCaptureDevices ? &g_cuda_work[static_cast<std::size_t>(d.index())]
                                                : nullptr;
}

}  // namespace

CapturedGraph::~CapturedGraph() = default;

void CapturedGraph::replay() {
  const detail::DeviceWorkGuard guard(device_);
  g_replays.fetch_add(1);
  run();
}

void CapturedGraph::adopt(Device device, std::vector<std::shared_ptr<Storage>> retained) {
  device_ = device;
  retained_ = std::move(retained);
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

void set_current_capture(CaptureState* state) {
  const CaptureState* previous = t_capture;
  t_capture = state;
  if (state != nullptr && state->device.is_cpu()) g_cpu_recording.store(state);
  if (state == nullptr && previous != nullptr && previous->device.is_cpu()) {
    g_cpu_recording.store(nullptr);
  }
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

bool cpu_graph_emulation() {
  return g_cpu_emulation.load();
}

std::int64_t graph_replays() {
  return g_replays.load();
}

}  // namespace detail

}  // namespace neurona
