// Two threads on one device: one fits with its step captured into a graph, the other predicts
// with another model while that capture is under way. A capture records everything queued on
// the device's stream (the CPU's emulation records every thread's calls on the device, as a
// CUDA stream would take every thread's launches), so without DeviceWorkGuard the predicting
// thread's work lands in the graph: its predictions come out wrong and the graph replays them.
// Shared by the CPU suite (emulated capture) and the GPU suite (CUDA graphs).
#pragma once

#include <neurona/neurona.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "neurona/core/graph.h"

namespace neurona::testing {

/// Identity, except that while its call is being captured it lets the other thread start
/// predicting and waits up to 300 ms for it to finish (it cannot while the capture holds the
/// device; before captures were exclusive, it finished inside the capture).
class CaptureRendezvous : public layers::Layer {
 public:
  CaptureRendezvous(std::atomic<bool>& capturing, const std::atomic<bool>& predicted)
      : Layer("CaptureRendezvous"), capturing_(capturing), predicted_(predicted) {}
  Tensor call(const Tensor& x, bool /*training*/) override {
    if (detail::current_capture() != nullptr && !capturing_.exchange(true)) {
      for (int i = 0; i < 300 && !predicted_.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    return x;
  }
  Shape compute_output_shape(const Shape& input_shape) const override { return input_shape; }

 private:
  std::atomic<bool>& capturing_;
  const std::atomic<bool>& predicted_;
};

struct ConcurrentCaptureRun {
  std::vector<std::vector<float>> predictions;  // the other thread's, during the capture
  std::vector<float> expected_prediction;       // the same predict, run alone first
  std::vector<std::vector<float>> weights;      // the trained model's
  std::int64_t replays = 0;
  bool predictor_started = false;
};

/// Fits a small dense model on `device` for 2 epochs (captured where `capture`), while another
/// thread runs 3 predicts of another model on the same device once the capture has begun.
inline ConcurrentCaptureRun fit_while_another_thread_predicts(Device device, bool capture) {
  set_seed(21);
  const Tensor x = random_uniform({96, 12}, {.device = device, .seed = 1});
  const Tensor y = sum(x, {1}, /*keepdims=*/true);
  std::atomic<bool> capturing{false}, predicted{false};
  Sequential trainer({layers::Input({12}), layers::Dense(16, {.activation = "relu"}),
                      std::make_shared<CaptureRendezvous>(capturing, predicted), layers::Dense(1)});
  trainer.compile({.optimizer = optimizers::Adam(0.01), .loss = "mse"});
  Sequential other(
      {layers::Input({12}), layers::Dense(8, {.activation = "tanh"}), layers::Dense(3)});
  const Tensor probe = random_uniform({20, 12}, {.device = device, .seed = 2});

  ConcurrentCaptureRun run;
  run.expected_prediction = other.predict(probe).to_vector<float>();
  std::thread predictor([&] {
    for (int i = 0; i < 10000 && !capturing.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    run.predictor_started = capturing.load();
    for (int i = 0; i < 3; ++i) run.predictions.push_back(other.predict(probe).to_vector<float>());
    predicted = true;
  });
  const std::int64_t before = detail::graph_replays();
  config::enable_cuda_graphs(capture);
  (void)trainer.fit(x, y, {.batch_size = 16, .epochs = 2, .verbose = 0, .shuffle = false});
  config::enable_cuda_graphs(true);
  if (!capture) capturing = true;  // nothing to wait for: let the predictor go
  predictor.join();
  run.replays = detail::graph_replays() - before;
  for (const Tensor& w : trainer.get_weights()) run.weights.push_back(w.to_vector<float>());
  return run;
}

}  // namespace neurona::testing
