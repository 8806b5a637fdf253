// Captured device work replayed without the host: a CUDA graph on a GPU. fit() captures its
// training step once shapes are fixed and replays it for each batch, so that a small model is
// not bound by the cost of launching its kernels one by one from the host.
//
// What capture demands of the code it runs (DESIGN.md, "Models and training"): no host
// synchronisation and no copy from host memory; every tensor it reads that changes from replay
// to replay lives at a fixed address, written before each replay; host-side state (counters,
// scalars computed on the host) is frozen at its captured value. The storage of every tensor
// made during capture is kept as long as the graph (a replay writes to the same addresses), so
// it is never handed to other work in between.
//
// On the CPU there is nothing to gain, but tests emulate capture there (detail::
// set_cpu_graph_emulation): the kernels a stub dispatches and the copies are recorded instead of
// run, and a replay runs the recorded calls with their recorded arguments, as a CUDA graph does,
// so the CPU suite checks that a captured step does not depend on host code that replays skip.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "neurona/core/device.h"

namespace neurona {

class Storage;
class CapturedGraph;

/// Whether `device` can capture: a CUDA GPU (or the CPU while tests emulate capture).
bool graph_capture_supported(Device device);

/// Runs `fn`, capturing the device work it queues on `device` instead of running it, and returns
/// the graph. A capture records everything queued on the device's one stream, so while it runs,
/// other threads' work on that device (kernels, copies, synchronisation, replays) waits for it
/// to end (detail::DeviceWorkGuard): a `predict` loop in another thread is neither captured
/// into the graph nor breaks it. Throws NotImplementedError where the device cannot capture,
/// ValueError when a capture is already under way on this thread or when `fn` draws random
/// numbers with a key made on the host (the global seed or an op seed: a replay would draw the
/// same ones again; a SeedGenerator's draws are captured), and whatever `fn` or the driver
/// throws. A capture that fails is abandoned: nothing of it runs, and the global seed's call
/// counter is set back, so that running `fn` eagerly then draws what it would have drawn.
///
///   auto graph = capture_graph(Device::cuda(0), [&] { step(static_x, static_y); });
///   for (...) { fill(static_x, static_y); graph->replay(); }
std::unique_ptr<CapturedGraph> capture_graph(Device device, const std::function<void()>& fn);

/// Work captured on one device, replayed as a whole.
class CapturedGraph {
 public:
  virtual ~CapturedGraph();
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;

  /// Queues the captured work on the device's stream again, with the captured arguments.
  void replay();

 protected:
  CapturedGraph() = default;
  /// The backend's replay.
  virtual void run() = 0;

 private:
  friend std::unique_ptr<CapturedGraph> capture_graph(Device, const std::function<void()>&);
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

/// The CPU's emulated capture under way on `device`, from any thread (null otherwise): as on a
/// GPU's stream, whatever is queued on the device while it runs is recorded into it. Callers
/// hold a DeviceWorkGuard, which keeps other threads out while a capture runs.
CaptureState* recording_capture(Device device);

/// Records `call` when an emulated capture is under way on `device`; returns false (and records
/// nothing) otherwise, so that the caller runs it.
bool record_call(Device device, std::function<void()> call);

/// Turns the CPU's capture emulation on or off (tests only; off by default).
void set_cpu_graph_emulation(bool enabled);

/// Replays of captured graphs so far, on any device (for tests).
std::int64_t graph_replays();

/// The device backends' half: capture `fn` on a GPU. Registered by core/cuda/.
using CudaCaptureFn = std::unique_ptr<CapturedGraph> (*)(int index,
                                                         const std::function<void()>& fn);
void register_cuda_capture(CudaCaptureFn fn);

}  // namespace detail

}  // namespace neurona
