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

#include <functional>
#include <memory>

#include "neurona/core/capture.h"
#include "neurona/core/device.h"

namespace neurona {

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

}  // namespace neurona
