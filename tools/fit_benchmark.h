// The training measurement behind `neurona bench` and benchmarks/bench_train (which
// compare_cpu.py and compare_pytorch.py run): `neurona train`'s models on Fashion-MNIST through
// compile/fit, timed per epoch, with the test accuracy, peak memory and the allocations that
// reached the device after the first epoch (a steady state should make none). One copy, so that
// the command and the benchmark report the same figures.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fashion_models.h"
#include "neurona/neurona.h"

namespace neurona::tools {

/// What to train; the model runs on the default device.
struct FitBenchmarkOptions {
  std::string model = "cnn";       ///< "cnn" or "mlp"
  int epochs = 3;                  ///< at least 2 to see allocations after the first epoch
  std::int64_t batch_size = 128;   ///< Keras's default is 32; 128 as `neurona train`
  std::int64_t train_samples = 0;  ///< the first N training images (0: all 60000)
  std::int64_t test_samples = 0;   ///< the first N test images (0: all 10000)
  std::string data_dir;            ///< Fashion-MNIST folder ("": datasets::fashion_mnist's)
  std::uint64_t seed = 1;          ///< set_seed: weights and shuffling
  /// Feed fit a data::Dataset (shuffle, batch, prefetch(2) to the device) instead of the
  /// device-resident tensors, to compare the streaming path with the resident one.
  bool dataset = false;
};

/// What run_fit_benchmark measured.
struct FitBenchmarkResult {
  FitBenchmarkOptions options;
  Device device;
  std::int64_t train_samples = 0;     ///< images trained on per epoch
  std::int64_t steps = 0;             ///< batches per epoch, the last one partial if need be
  std::vector<double> epoch_seconds;  ///< wall time of each epoch, device work included
  double median_epoch_seconds = 0;    ///< upper median; from 3 epochs a slow first can't set it
  double fit_seconds = 0;             ///< the whole fit call, building the model included
  double test_accuracy = 0;
  /// Allocations that reached the device (cudaMalloc on a GPU, aligned_alloc on the CPU's
  /// caching allocator) during each epoch.
  std::vector<std::int64_t> raw_allocations_per_epoch;
  /// The same from the end of the first epoch to the end of fit; empty with one epoch.
  std::optional<std::int64_t> raw_allocations_after_first_epoch;
  long max_rss_kib = 0;                  ///< the process's peak resident memory
  double fit_loop_seconds_per_step = 0;  ///< fit's own work around the model's step
  double fit_loop_share = 0;             ///< that work's share of the median epoch
};

namespace detail {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Wall-clock seconds of each epoch from fit's own epoch hooks, after the device has finished
// the epoch's work (fit's end-of-epoch metric read already waits for the device's one stream;
// the explicit wait keeps the figure right should that change), the device's raw allocations
// per epoch, and the time fit spends between one batch's end and the next one's start (the
// loop's bookkeeping outside train_step).
class EpochTimer : public callbacks::Callback {
 public:
  explicit EpochTimer(Device device) : device_(device) {}

  std::vector<double> seconds;
  std::vector<std::int64_t> raw_allocations;
  std::optional<std::int64_t> raw_after_first_epoch;
  double between_batches = 0;

  void on_epoch_begin(int /*epoch*/, callbacks::Logs& /*logs*/) override {
    synchronize(device_);
    raw_at_begin_ = raw_count();
    batch_end_.reset();
    start_ = Clock::now();
  }
  void on_epoch_end(int /*epoch*/, callbacks::Logs& /*logs*/) override {
    synchronize(device_);
    seconds.push_back(seconds_since(start_));
    const std::int64_t raw = raw_count();
    raw_allocations.push_back(raw - raw_at_begin_);
    if (!first_epoch_end_) first_epoch_end_ = raw;
  }
  void on_train_end(callbacks::Logs& /*logs*/) override {
    if (seconds.size() >= 2) raw_after_first_epoch = raw_count() - *first_epoch_end_;
  }
  void on_train_batch_begin(std::int64_t /*batch*/, callbacks::Logs& /*logs*/) override {
    if (batch_end_) between_batches += seconds_since(*batch_end_);
  }
  void on_train_batch_end(std::int64_t /*batch*/, callbacks::Logs& /*logs*/) override {
    batch_end_ = Clock::now();
  }

 private:
  std::int64_t raw_count() const { return memory_stats(device_).num_raw_allocations; }

  Device device_;
  Clock::time_point start_;
  std::optional<Clock::time_point> batch_end_;
  std::int64_t raw_at_begin_ = 0;
  std::optional<std::int64_t> first_epoch_end_;
};

// Seconds per step of the work fit does around the model's step, on the model's device:
// gathering the batch's rows and updating the loss tracker and the accuracy metric
// (train_step's own bookkeeping), with the device's work finished.
inline double loop_work_seconds(const Tensor& x_host, const Tensor& y_host, std::int64_t batch_size,
                                Device device) {
  const Tensor x = x_host.to(device);
  const Tensor y = y_host.to(device);
  const std::int64_t n = x.shape()[0], reps = 50;
  std::vector<std::int64_t> perm(static_cast<std::size_t>(batch_size));
  for (std::int64_t i = 0; i < batch_size; ++i) perm[static_cast<std::size_t>(i)] = (i * 7919) % n;
  const Tensor idx = constant(perm, {batch_size}, device);
  const Tensor y_pred = random_uniform({batch_size, 10}, {.device = device, .seed = 3});
  metrics::Mean loss_tracker;
  metrics::SparseCategoricalAccuracy accuracy;
  synchronize(device);
  const auto t0 = Clock::now();
  for (std::int64_t r = 0; r < reps; ++r) {
    const Tensor yb = gather(y, idx);
    (void)gather(x, idx);
    loss_tracker.update_state(sum(y_pred), fill({}, static_cast<double>(batch_size)));
    accuracy.update_state(yb, y_pred);
  }
  synchronize(device);
  return seconds_since(t0) / static_cast<double>(reps);
}

inline Tensor head(const Tensor& t, std::int64_t limit) {
  if (limit <= 0 || limit >= t.shape()[0]) return t;
  return t.slice(0, limit);
}

}  // namespace detail

/// Trains `options.model` on the default device for `options.epochs` epochs with fit (no
/// progress output) and evaluates it on the test images:
///   set_default_device(Device::parse("cuda"));
///   const auto r = run_fit_benchmark({.model = "mlp", .epochs = 5});
///   std::puts(fit_benchmark_json(r).c_str());
inline FitBenchmarkResult run_fit_benchmark(const FitBenchmarkOptions& options) {
  FitBenchmarkResult r;
  r.options = options;
  r.device = default_device();
  set_seed(options.seed);
  auto data = datasets::fashion_mnist(options.data_dir);
  const Tensor x_train = detail::head(data.x_train, options.train_samples);
  const Tensor y_train = detail::head(data.y_train, options.train_samples);
  auto model = make_fashion_model(options.model);
  const std::int64_t steps_per_epoch =
      (x_train.shape()[0] + options.batch_size - 1) / options.batch_size;
  compile_fashion_model(*model, options.model, options.epochs * steps_per_epoch);
  auto timer = std::make_shared<detail::EpochTimer>(r.device);
  const auto t0 = detail::Clock::now();
  if (options.dataset) {
    model->fit(neurona::data::Dataset::from_tensor_slices({x_train, y_train})
                   .shuffle(x_train.shape()[0], {.seed = options.seed})
                   .batch(options.batch_size)
                   .prefetch(2, r.device),
               {.epochs = options.epochs, .verbose = 0, .callbacks = {timer}});
  } else {
    model->fit(x_train, y_train,
               {.batch_size = options.batch_size,
                .epochs = options.epochs,
                .verbose = 0,
                .callbacks = {timer}});
  }
  r.fit_seconds = detail::seconds_since(t0);
  const auto scores = model->evaluate(detail::head(data.x_test, options.test_samples),
                                      detail::head(data.y_test, options.test_samples),
                                      {.batch_size = 256, .verbose = 0});
  r.test_accuracy = scores.at("accuracy");
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  r.max_rss_kib = usage.ru_maxrss;

  r.train_samples = x_train.shape()[0];
  r.steps = (r.train_samples + options.batch_size - 1) / options.batch_size;
  r.epoch_seconds = timer->seconds;
  r.raw_allocations_per_epoch = timer->raw_allocations;
  r.raw_allocations_after_first_epoch = timer->raw_after_first_epoch;
  std::vector<double> sorted = timer->seconds;
  std::sort(sorted.begin(), sorted.end());
  r.median_epoch_seconds = sorted.empty() ? 0.0 : sorted[sorted.size() / 2];
  // The fit loop's own share of an epoch: its bookkeeping between batches plus the batching
  // and metric work it does per step, against the median epoch.
  r.fit_loop_seconds_per_step =
      timer->between_batches / (static_cast<double>(r.steps) * options.epochs) +
      detail::loop_work_seconds(x_train, y_train, options.batch_size, r.device);
  r.fit_loop_share =
      r.fit_loop_seconds_per_step * static_cast<double>(r.steps) / r.median_epoch_seconds;
  return r;
}

/// One line for a person: the median epoch, the test accuracy, memory and allocations.
inline std::string fit_benchmark_summary(const FitBenchmarkResult& r) {
  const std::string raw_name = r.device.is_cuda() ? "cudaMalloc calls" : "raw host allocations";
  const std::string raw_after = r.raw_allocations_after_first_epoch
                                    ? std::to_string(*r.raw_allocations_after_first_epoch)
                                    : "not measured (1 epoch)";
  char text[512];
  std::snprintf(
      text, sizeof text,
      "%s on %s: %d epochs of %lld images, batch %lld: median epoch %.3f s (%.2f ms/step), fit "
      "%.2f s, test accuracy %.4f, peak RSS %.1f MiB, fit loop %.3f ms/step (%.2f%% of the "
      "epoch), %s after the first epoch: %s",
      r.options.model.c_str(), r.device.str().c_str(), r.options.epochs,
      static_cast<long long>(r.train_samples), static_cast<long long>(r.options.batch_size),
      r.median_epoch_seconds, 1e3 * r.median_epoch_seconds / static_cast<double>(r.steps),
      r.fit_seconds, r.test_accuracy, static_cast<double>(r.max_rss_kib) / 1024.0,
      1e3 * r.fit_loop_seconds_per_step, 100 * r.fit_loop_share, raw_name.c_str(),
      raw_after.c_str());
  return text;
}

/// One line for a script: {"benchmark":"train","framework":"neurona",...}.
inline std::string fit_benchmark_json(const FitBenchmarkResult& r) {
  std::ostringstream json;
  json << "{\"benchmark\":\"train\",\"framework\":\"neurona\",\"model\":\"" << r.options.model
       << "\",\"device\":\"" << r.device.str() << "\",\"epochs\":" << r.options.epochs
       << ",\"train_samples\":" << r.train_samples << ",\"batch_size\":" << r.options.batch_size
       << ",\"input\":\"" << (r.options.dataset ? "dataset" : "tensors") << "\""
       << ",\"epoch_seconds\":[";
  for (std::size_t i = 0; i < r.epoch_seconds.size(); ++i)
    json << (i ? "," : "") << r.epoch_seconds[i];
  json << "],\"median_epoch_seconds\":" << r.median_epoch_seconds
       << ",\"fit_seconds\":" << r.fit_seconds << ",\"test_accuracy\":" << r.test_accuracy
       << ",\"max_rss_kib\":" << r.max_rss_kib << ",\"raw_allocations_per_epoch\":[";
  for (std::size_t i = 0; i < r.raw_allocations_per_epoch.size(); ++i)
    json << (i ? "," : "") << r.raw_allocations_per_epoch[i];
  json << "],\"raw_allocations_after_first_epoch\":";
  if (r.raw_allocations_after_first_epoch) {
    json << *r.raw_allocations_after_first_epoch;
  } else {
    json << "null";
  }
  json << ",\"fit_loop_seconds_per_step\":" << r.fit_loop_seconds_per_step
       << ",\"fit_loop_share\":" << r.fit_loop_share << "}";
  return json.str();
}

}  // namespace neurona::tools
