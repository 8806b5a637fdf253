// The program the distributed tests run (tests/distributed/*.sh), one process per rank under
// `mpirun -np 2`, or alone: a small classifier with dropout trained with fit on fixed random data
// (the same on every rank), the global batch 128 (or --batch-size), shuffled, with validation
// data and a last batch that splits unevenly across two replicas (of one row with --batch-size
// 100: one replica then has none); with --batch-norm, a synchronized BatchNormalization after
// the hidden layer; then it predicts every row. --train-on-batch: train_on_batch on three
// batches of 128 rows instead (without dropout), each replica on its half; only the weights. At the
// end every rank writes its weights, the rows it trained on (rows-rankR.txt), its predictions and
// the rows it predicted (predicted-rows-rankR.txt), and rank 0 the History. `--compare A B` checks
// two such runs against each other.
//
//   fit_child --out DIR [--distributed] [--epochs N] [--backup DIR] [--batch-delay-ms N]
//             [--marker-dir DIR] [--timeout SECONDS] [--bucket-bytes N] [--batch-size N]
//             [--batch-norm] [--train-on-batch]
//   fit_child --compare DIR_A DIR_B --tolerance T
//   fit_child --compare-weights DIR_A DIR_B --tolerance T
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "neurona/core/io.h"
#include "neurona/neurona.h"

namespace nr = neurona;
namespace fs = std::filesystem;

namespace {

struct Args {
  std::string out, backup, marker_dir, compare_a, compare_b;
  bool distributed = false, batch_norm = false, train_on_batch = false, weights_only = false;
  int epochs = 3;
  int batch_size = 128;
  int batch_delay_ms = 0;
  double tolerance = 1e-5;
  double timeout = 300;    // a collective's, DataParallelOptions::timeout_seconds
  long bucket_bytes = -1;  // DataParallelOptions::bucket_bytes; -1: its default
};

// Slows each batch down (so that a test can kill a rank mid-epoch) and, with a marker folder,
// writes this rank's pid at the start and `epoch-E` when epoch E begins (0-based).
class Pacer : public nr::callbacks::Callback {
 public:
  Pacer(int delay_ms, std::string marker_dir, int rank)
      : delay_ms_(delay_ms), marker_dir_(std::move(marker_dir)), rank_(rank) {}
  void on_train_begin(nr::callbacks::Logs& /*logs*/) override {
    if (marker_dir_.empty()) return;
    fs::create_directories(marker_dir_);
    nr::write_file_atomic(fs::path(marker_dir_) / ("pid-rank" + std::to_string(rank_)),
                          std::to_string(getpid()));
  }
  void on_epoch_begin(int epoch, nr::callbacks::Logs& /*logs*/) override {
    if (marker_dir_.empty() || rank_ != 0) return;
    nr::write_file_atomic(fs::path(marker_dir_) / ("epoch-" + std::to_string(epoch)), "");
  }
  void on_train_batch_end(std::int64_t /*batch*/, nr::callbacks::Logs& /*logs*/) override {
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
  }

 private:
  int delay_ms_;
  std::string marker_dir_;
  int rank_;
};

// Counts the rows it sees in training, and in inference: what this replica's share of the
// batches was.
class RowCounter : public nr::layers::Layer {
 public:
  RowCounter() : nr::layers::Layer("RowCounter") {}
  nr::Tensor call(const nr::Tensor& x, bool training) override {
    (training ? rows : inference_rows) += x.shape()[0];
    return x;
  }
  std::int64_t rows = 0, inference_rows = 0;
};

std::string values_text(const nr::Tensor& t) {
  std::ostringstream s;
  s.precision(9);
  for (float x : t.to(nr::Device::cpu()).to_vector<float>()) s << x << "\n";
  return s.str();
}

std::string weights_text(const nr::Model& model) {
  std::string s;
  for (const nr::Variable& v : model.weights()) s += values_text(v.value());
  return s;
}

int train(const Args& a) {
  int rank = 0;
  if (a.distributed) {
    nr::distribution::DataParallelOptions options{.timeout_seconds = a.timeout};
    if (a.bucket_bytes >= 0) options.bucket_bytes = static_cast<std::size_t>(a.bucket_bytes);
    nr::distribution::set_distribution(nr::distribution::DataParallel(options));
    rank = nr::distribution::distribution()->replica();
  }
  nr::set_seed(7);
  // 502 samples of 12 features, the class the largest of the first three: 401 for training
  // (three batches of 128 and one of 17, split 9 and 8) and 101 for validation.
  const nr::Tensor x = nr::random_normal({502, 12}, {.device = nr::Device::cpu(), .seed = 11});
  const std::vector<float> xs = x.to_vector<float>();
  std::vector<std::int32_t> labels(502);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const float* row = xs.data() + i * 12;
    labels[i] = row[0] >= row[1] && row[0] >= row[2] ? 0 : (row[1] >= row[2] ? 1 : 2);
  }
  const nr::Tensor y = nr::constant(labels, {502}, nr::Device::cpu());
  auto counter = std::make_shared<RowCounter>();
  nr::Sequential model({nr::layers::Input({12}), nr::layers::LayerHandle<RowCounter>(counter),
                        nr::layers::Dense(16, {.activation = "relu"})});
  if (a.batch_norm) model.add(nr::layers::BatchNormalization({.synchronized = true}));
  if (!a.train_on_batch) model.add(nr::layers::Dropout(0.3));
  model.add(nr::layers::Dense(3, {.activation = "softmax"}));
  model.compile({.optimizer = nr::optimizers::SGD(0.05, {.momentum = 0.9}),
                 .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"}});
  if (a.train_on_batch) {
    // train_on_batch on the first three batches of 128 rows, in turn: alone, each whole; under
    // DataParallel, each replica its half (Keras: each replica's own batch).
    const int replicas = a.distributed ? nr::distribution::distribution()->num_replicas() : 1;
    const std::int64_t part = 128 / replicas;
    for (int step = 0; step < 3 * a.epochs; ++step) {
      const std::int64_t begin = (step % 3) * 128 + rank * part;
      model.train_on_batch(x.slice(begin, begin + part), y.slice(begin, begin + part));
    }
    fs::create_directories(a.out);
    nr::write_file_atomic(fs::path(a.out) / ("weights-rank" + std::to_string(rank) + ".txt"),
                          weights_text(model));
    return 0;
  }
  std::vector<nr::callbacks::CallbackRef> callbacks = {
      std::make_shared<Pacer>(a.batch_delay_ms, a.marker_dir, rank)};
  if (!a.backup.empty()) {
    callbacks.emplace_back(std::make_shared<nr::callbacks::BackupAndRestore>(a.backup));
  }
  const nr::callbacks::History history = model.fit(x, y,
                                                   {.batch_size = a.batch_size,
                                                    .epochs = a.epochs,
                                                    .verbose = 0,
                                                    .callbacks = callbacks,
                                                    .validation_split = 0.2});
  // predict on every row in batches of 100 (the last of 2 rows, one per replica).
  counter->inference_rows = 0;
  const nr::Tensor predictions = model.predict(x, {.batch_size = 100});
  fs::create_directories(a.out);
  const std::string r = std::to_string(rank);
  nr::write_file_atomic(fs::path(a.out) / ("weights-rank" + r + ".txt"), weights_text(model));
  nr::write_file_atomic(fs::path(a.out) / ("rows-rank" + r + ".txt"),
                        std::to_string(counter->rows) + "\n");
  nr::write_file_atomic(fs::path(a.out) / ("predictions-rank" + r + ".txt"),
                        values_text(predictions));
  nr::write_file_atomic(fs::path(a.out) / ("predicted-rows-rank" + r + ".txt"),
                        std::to_string(counter->inference_rows) + "\n");
  if (rank == 0) {
    nlohmann::json j;
    j["epoch"] = history.epoch;
    j["history"] = history.history;
    nr::write_file_atomic(fs::path(a.out) / "history.json", j.dump(1));
  }
  return 0;
}

std::vector<double> numbers(const fs::path& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::vector<double> v;
  for (double x; in >> x;) v.push_back(x);
  return v;
}

bool close(double a, double b, double tolerance) {
  return std::abs(a - b) <= tolerance * (1.0 + std::abs(b));
}

// The weights and the predictions of every rank of B within `tolerance` of A's rank 0's; the
// histories' epochs equal and every value within `tolerance` (--compare-weights: the weights
// only).
int compare(const Args& a) {
  int failures = 0;
  const auto fail = [&](const std::string& what) {
    std::cerr << "fit_child --compare: " << what << "\n";
    ++failures;
  };
  // Every rank's file of B against A's rank 0.
  const auto compare_ranks = [&](const std::string& prefix) {
    const std::vector<double> wa = numbers(fs::path(a.compare_a) / (prefix + "0.txt"));
    for (const auto& entry : fs::directory_iterator(a.compare_b)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind(prefix, 0) != 0) continue;
      const std::vector<double> wb = numbers(entry.path());
      if (wb.size() != wa.size()) {
        fail(name + " has " + std::to_string(wb.size()) + " values, expected " +
             std::to_string(wa.size()));
        continue;
      }
      double worst = 0;
      for (std::size_t i = 0; i < wa.size(); ++i) {
        worst = std::max(worst, std::abs(wa[i] - wb[i]) / (1.0 + std::abs(wa[i])));
      }
      std::cout << name << ": largest difference " << worst << "\n";
      if (worst > a.tolerance) fail(name + " differs by " + std::to_string(worst));
    }
  };
  compare_ranks("weights-rank");
  if (a.weights_only) return failures == 0 ? 0 : 1;
  compare_ranks("predictions-rank");
  const auto read_json = [](const fs::path& p) {
    return nlohmann::json::parse(nr::read_regular_file(p.string(), "fit_child", "history"));
  };
  const auto ha = read_json(fs::path(a.compare_a) / "history.json");
  const auto hb = read_json(fs::path(a.compare_b) / "history.json");
  if (ha["epoch"] != hb["epoch"])
    fail("epochs " + ha["epoch"].dump() + " vs " + hb["epoch"].dump());
  for (const auto& [key, values] : ha["history"].items()) {
    if (!hb["history"].contains(key)) {
      fail("no " + key + " in the second history");
      continue;
    }
    const auto& other = hb["history"][key];
    if (other.size() != values.size()) {
      fail(key + ": " + std::to_string(other.size()) + " values, expected " +
           std::to_string(values.size()));
      continue;
    }
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (!close(other[i].get<double>(), values[i].get<double>(), a.tolerance)) {
        fail(key + "[" + std::to_string(i) + "]: " + other[i].dump() + " vs " + values[i].dump());
      }
    }
  }
  std::cout << "history: " << ha["history"].dump() << "\n";
  return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--out") {
      a.out = value();
    } else if (arg == "--distributed") {
      a.distributed = true;
    } else if (arg == "--bucket-bytes") {
      a.bucket_bytes = std::stol(value());
    } else if (arg == "--batch-size") {
      a.batch_size = std::stoi(value());
    } else if (arg == "--batch-norm") {
      a.batch_norm = true;
    } else if (arg == "--train-on-batch") {
      a.train_on_batch = true;
    } else if (arg == "--epochs") {
      a.epochs = std::stoi(value());
    } else if (arg == "--backup") {
      a.backup = value();
    } else if (arg == "--batch-delay-ms") {
      a.batch_delay_ms = std::stoi(value());
    } else if (arg == "--marker-dir") {
      a.marker_dir = value();
    } else if (arg == "--compare" || arg == "--compare-weights") {
      a.weights_only = arg == "--compare-weights";
      a.compare_a = value();
      a.compare_b = value();
    } else if (arg == "--timeout") {
      a.timeout = std::stod(value());
    } else if (arg == "--tolerance") {
      a.tolerance = std::stod(value());
    } else {
      std::cerr << "unknown argument " << arg << "\n";
      return 2;
    }
  }
  try {
    return a.compare_a.empty() ? train(a) : compare(a);
  } catch (const std::exception& e) {
    std::cerr << "fit_child: " << e.what() << "\n";
    return 1;
  }
}
