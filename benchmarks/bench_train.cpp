// neurona's side of benchmarks/compare_cpu.py: trains `neurona train`'s models on Fashion-MNIST
// with compile/fit and times each epoch exactly (the progress bar rounds to seconds), then
// prints the test accuracy and peak resident memory as a table row and a JSON line.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <neurona/neurona.h>

#include "fashion_models.h"

namespace nr = neurona;

namespace {

using Clock = std::chrono::steady_clock;

// Wall-clock seconds of each epoch, from fit's own epoch hooks, and the time fit spends between
// one batch's end and the next one's start (the loop's bookkeeping outside train_step).
class EpochTimer : public nr::callbacks::Callback {
 public:
  std::vector<double> seconds;
  double between_batches = 0;
  void on_epoch_begin(int /*epoch*/, nr::callbacks::Logs& /*logs*/) override {
    start_ = Clock::now();
    batch_end_.reset();
  }
  void on_epoch_end(int /*epoch*/, nr::callbacks::Logs& /*logs*/) override {
    seconds.push_back(std::chrono::duration<double>(Clock::now() - start_).count());
  }
  void on_train_batch_begin(std::int64_t /*batch*/, nr::callbacks::Logs& /*logs*/) override {
    if (batch_end_)
      between_batches += std::chrono::duration<double>(Clock::now() - *batch_end_).count();
  }
  void on_train_batch_end(std::int64_t /*batch*/, nr::callbacks::Logs& /*logs*/) override {
    batch_end_ = Clock::now();
  }

 private:
  Clock::time_point start_;
  std::optional<Clock::time_point> batch_end_;
};

// Seconds per step of the work fit does around the model's step: gathering the batch's rows
// and updating the loss tracker and the accuracy metric (train_step's own bookkeeping).
double loop_work_seconds(const nr::Tensor& x, const nr::Tensor& y, std::int64_t batch_size) {
  const std::int64_t n = x.shape()[0], reps = 50;
  std::vector<std::int64_t> perm(static_cast<std::size_t>(batch_size));
  for (std::int64_t i = 0; i < batch_size; ++i) perm[static_cast<std::size_t>(i)] = (i * 7919) % n;
  const nr::Tensor idx = nr::constant(perm, {batch_size}, x.device());
  const nr::Tensor y_pred = nr::random_uniform({batch_size, 10}, {.device = x.device(), .seed = 3});
  nr::metrics::Mean loss_tracker;
  nr::metrics::SparseCategoricalAccuracy accuracy;
  const auto t0 = Clock::now();
  for (std::int64_t r = 0; r < reps; ++r) {
    const nr::Tensor yb = nr::gather(y, idx);
    (void)nr::gather(x, idx);
    loss_tracker.update_state(nr::sum(y_pred), nr::fill({}, static_cast<double>(batch_size)));
    accuracy.update_state(yb, y_pred);
  }
  return std::chrono::duration<double>(Clock::now() - t0).count() / static_cast<double>(reps);
}

nr::Tensor head(const nr::Tensor& t, std::int64_t limit) {
  if (limit <= 0 || limit >= t.shape()[0]) return t;
  return t.slice(0, limit);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"neurona training benchmark: seconds per epoch, test accuracy, peak memory"};
  std::string kind = "cnn";
  std::string data_dir;
  int epochs = 3;
  std::int64_t batch_size = 128, train_limit = 0, test_limit = 0;
  std::uint64_t seed = 1;
  app.add_option("--model", kind, "cnn or mlp")->check(CLI::IsMember({"cnn", "mlp"}));
  app.add_option("--epochs", epochs, "epochs to train")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch_size, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--train-samples", train_limit, "first N training images (0: all)");
  app.add_option("--test-samples", test_limit, "first N test images (0: all)");
  app.add_option("--data-dir", data_dir, "Fashion-MNIST folder (default: Debian's)");
  app.add_option("--seed", seed, "nr::set_seed");
  CLI11_PARSE(app, argc, argv);

  nr::set_default_device(nr::Device::cpu());
  nr::set_seed(seed);
  auto data = nr::datasets::fashion_mnist(data_dir);
  const nr::Tensor x_train = head(data.x_train, train_limit);
  const nr::Tensor y_train = head(data.y_train, train_limit);
  auto model = nr::tools::make_fashion_model(kind);
  nr::tools::compile_fashion_model(*model);
  auto timer = std::make_shared<EpochTimer>();
  const auto t0 = Clock::now();
  model->fit(x_train, y_train,
             {.batch_size = batch_size, .epochs = epochs, .verbose = 0, .callbacks = {timer}});
  const double total = std::chrono::duration<double>(Clock::now() - t0).count();
  const auto scores = model->evaluate(head(data.x_test, test_limit), head(data.y_test, test_limit),
                                      {.batch_size = 256, .verbose = 0});
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);

  const std::int64_t steps = (x_train.shape()[0] + batch_size - 1) / batch_size;
  // The fit loop's own share of an epoch: its bookkeeping between batches plus the batching
  // and metric work it does per step, against the median epoch.
  const double loop_per_step = timer->between_batches / (static_cast<double>(steps) * epochs) +
                               loop_work_seconds(x_train, y_train, batch_size);
  std::vector<double> sorted = timer->seconds;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  const double loop_share = loop_per_step * static_cast<double>(steps) / median;
  std::printf(
      "%s: %d epochs of %lld images, batch %lld: median epoch %.2f s (%.1f ms/step), fit "
      "%.2f s, test accuracy %.4f, peak RSS %.1f MiB, fit loop %.3f ms/step (%.2f%% of the "
      "epoch)\n",
      kind.c_str(), epochs, static_cast<long long>(x_train.shape()[0]),
      static_cast<long long>(batch_size), median, 1e3 * median / steps, total,
      scores.at("accuracy"), usage.ru_maxrss / 1024.0, 1e3 * loop_per_step, 100 * loop_share);
  std::ostringstream json;
  json << "{\"benchmark\":\"train\",\"framework\":\"neurona\",\"model\":\"" << kind
       << "\",\"epochs\":" << epochs << ",\"train_samples\":" << x_train.shape()[0]
       << ",\"batch_size\":" << batch_size << ",\"epoch_seconds\":[";
  for (std::size_t i = 0; i < timer->seconds.size(); ++i)
    json << (i ? "," : "") << timer->seconds[i];
  json << "],\"median_epoch_seconds\":" << median << ",\"test_accuracy\":" << scores.at("accuracy")
       << ",\"max_rss_kib\":" << usage.ru_maxrss
       << ",\"fit_loop_seconds_per_step\":" << loop_per_step << ",\"fit_loop_share\":" << loop_share
       << "}";
  std::printf("%s\n", json.str().c_str());
  return 0;
}
