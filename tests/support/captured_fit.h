// The check that a model's training steps captured into graphs train exactly as eager ones, on
// the CPU's emulation of graph capture (each replay reruns the recorded kernels and copies
// only; core/capture.h): the device work must hold everything a step changes, with nothing left
// to host code that a replay skips.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "neurona/core/capture.h"
#include "neurona/core/config.h"
#include "neurona/neurona.h"

namespace neurona::testing {

/// What a fit gave: its loss history, its final weights, and the graph replays it made.
struct RecordedFit {
  std::int64_t replays = 0;
  std::vector<double> loss;
  std::vector<std::vector<double>> weights;
};

/// `train` makes a model (seeding first), fits it and returns its loss history and weights.
using TrainFn = std::function<std::pair<std::vector<double>, std::vector<Tensor>>()>;

/// Runs `train` with CUDA graphs enabled and the CPU's capture emulation on (`emulate`) or off.
inline RecordedFit record_fit(bool emulate, const TrainFn& train) {
  config::enable_cuda_graphs(true);
  neurona::detail::set_cpu_graph_emulation(emulate);
  struct Off {
    ~Off() { neurona::detail::set_cpu_graph_emulation(false); }
  } off;
  const std::int64_t before = neurona::detail::graph_replays();
  auto [loss, weights] = train();
  RecordedFit r{neurona::detail::graph_replays() - before, std::move(loss), {}};
  for (const Tensor& w : weights) r.weights.push_back(w.to_vector<double>());
  return r;
}

/// Expects `train` to replay captured steps under the emulation and to give exactly the eager
/// run's losses and weights.
inline void expect_captured_fit_matches_eager(const TrainFn& train) {
  const RecordedFit eager = record_fit(false, train);
  const RecordedFit captured = record_fit(true, train);
  EXPECT_EQ(eager.replays, 0);
  EXPECT_GT(captured.replays, 0) << "no step was captured";
  EXPECT_EQ(captured.loss, eager.loss);
  ASSERT_EQ(captured.weights.size(), eager.weights.size());
  for (std::size_t i = 0; i < eager.weights.size(); ++i) {
    EXPECT_EQ(captured.weights[i], eager.weights[i]) << "weight " << i;
  }
}

}  // namespace neurona::testing
