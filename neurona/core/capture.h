// The state of a capture (core/graph.h) that the code below it reads: whether one is under way
// on this thread or on a device, the lock that keeps other threads' work off a device while it
// runs, and the base of a captured graph. backend, tensor, random and the kernels' dispatch use
// it; graph.h begins and ends captures. Internal to core/ and kernels/, but for the tests'
// switch set_cpu_graph_emulation.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "neurona/core/device.h"

namespace neurona {

class Storage;

/// Work captured on one device, replayed as a whole (made by capture_graph, core/graph.h).
class CapturedGraph {
 public:
  virtual ~CapturedGraph();
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;

  /// Queues the captured work on the device's stream again, with the captured arguments.
  void replay();

  /// Called once by capture_graph: the device replays run on, and the storage of the tensors
  /// made during the capture, kept as long as the graph (replays write to it).
  void adopt(Device device, std::vector<std::shared_ptr<Storage>> retained);

 protected:
  CapturedGraph() = default;
  /// The backend's replay.
  virtual void run() = 0;

 private:
  Device device_ = Device::cpu();
  std::vector<std::shared_ptr<Storage>> retained_;
};

namespace detail {

/// Serialises work on a device that can capture (a GPU; the CPU while tests emulate capture)
/// with captures there: constructed around each kernel call, copy, synchronisation and replay
/// (recursively within a thread), it waits while another thread captures on the device;
/// capture_graph holds it for the whole capture. Elsewhere (the CPU without emulation) it does
/// nothing, so CPU work of several threads runs in parallel as before.
class DeviceWorkGuard {
 public:
  explicit DeviceWorkGuard(Device device);
  /// Both devices of a copy, locked in a fixed order.
  DeviceWorkGuard(Device a, Device b);
  ~DeviceWorkGuard();
  DeviceWorkGuard(const DeviceWorkGuard&) = delete;
  DeviceWorkGuard& operator=(const DeviceWorkGuard&) = delete;

 private:
  std::recursive_mutex* first_ = nullptr;
  std::recursive_mutex* second_ = nullptr;
};

/// GPUs whose work a capture can serialise (DeviceWorkGuard keeps one lock per GPU).
inline constexpr int kMaxCaptureDevices = 64;

/// The capture under way on this thread, or null.
struct CaptureState {
  Device device;
  /// CPU emulation: calls recorded instead of run.
  bool record_calls = false;
  std::vector<std::function<void()>> calls;
  std::vector<std::shared_ptr<Storage>> retained;
  /// Random numbers drawn with a key made on the host (the global seed or an op seed), which
  /// every replay would draw again.
  bool used_host_random = false;
};
CaptureState* current_capture();

/// Makes `state` this thread's capture (null ends it); for the CPU's emulation also the one
/// every thread's work on the CPU is recorded into. capture_graph's alone.
void set_current_capture(CaptureState* state);

/// The CPU's emulated capture under way on `device`, from any thread (null otherwise): as on a
/// GPU's stream, whatever is queued on the device while it runs is recorded into it. Callers
/// hold a DeviceWorkGuard, which keeps other threads out while a capture runs.
CaptureState* recording_capture(Device device);

/// Records `call` when an emulated capture is under way on `device`; returns false (and records
/// nothing) otherwise, so that the caller runs it.
bool record_call(Device device, std::function<void()> call);

/// Turns the CPU's capture emulation on or off (tests only; off by default).
void set_cpu_graph_emulation(bool enabled);
/// Whether the CPU emulates capture.
bool cpu_graph_emulation();

/// Replays of captured graphs so far, on any device (for tests).
std::int64_t graph_replays();

}  // namespace detail

}  // namespace neurona
