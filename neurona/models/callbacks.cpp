// The built-in callbacks, ported from keras/src/callbacks/*.py (Keras 3) with their rules for
// "improvement", patience and cooldown unchanged, so that a run stops and restores where the
// same run in Keras would.
#include "neurona/models/callbacks.h"

#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "neurona/core/error.h"
#include "neurona/core/io.h"
#include "neurona/models/model.h"
#include "neurona/training/optimizers.h"

namespace neurona::callbacks {

namespace fs = std::filesystem;

Model& Callback::model() const {
  NEURONA_CHECK(model_ != nullptr, ValueError,
                "Callback: no model is set (callbacks get their model from fit/evaluate)");
  return *model_;
}

// ---------------------------------------------------------------------------------------------
// History

void History::on_train_begin(Logs& /*logs*/) {
  // Keras keeps appending across fits with the same History; a fresh fit gets a fresh one.
}

void History::on_epoch_end(int epoch_index, Logs& logs) {
  epoch.push_back(epoch_index);
  for (const auto& [name, value] : logs) history[name].push_back(value);
}

// ---------------------------------------------------------------------------------------------
// ProgbarLogger

ProgbarLogger::ProgbarLogger(std::ostream* out, std::optional<bool> dynamic_display,
                             std::function<double()> clock)
    : out_(out != nullptr ? out : &std::cout),
      dynamic_(dynamic_display.value_or(out == nullptr && isatty(STDOUT_FILENO) == 1)),
      clock_(std::move(clock)) {}

bool ProgbarLogger::wants_batch_logs() const {
  return bar_ != nullptr && bar_->wants_update();
}

void ProgbarLogger::start(std::int64_t target) {
  bar_ = std::make_unique<Progbar>(
      target, *out_,
      ProgbarOptions{.verbose = params().verbose, .dynamic_display = dynamic_, .clock = clock_});
}

void ProgbarLogger::on_train_begin(Logs& /*logs*/) {
  in_fit_ = true;
}

void ProgbarLogger::on_epoch_begin(int epoch, Logs& /*logs*/) {
  if (params().verbose > 0 && params().epochs > 1) {
    *out_ << "Epoch " << epoch + 1 << "/" << params().epochs << "\n" << std::flush;
  }
  start(params().steps);
}

void ProgbarLogger::on_train_batch_end(std::int64_t batch, Logs& logs) {
  if (bar_ == nullptr || logs.empty()) return;
  bar_->update(batch + 1, {logs.begin(), logs.end()});
}

void ProgbarLogger::on_epoch_end(int /*epoch*/, Logs& logs) {
  if (bar_ == nullptr) return;
  bar_->update(params().steps, {logs.begin(), logs.end()}, /*finalize=*/true);
  bar_.reset();
}

void ProgbarLogger::on_test_begin(Logs& /*logs*/) {
  if (!in_fit_) start(params().steps);
}

void ProgbarLogger::on_test_batch_end(std::int64_t batch, Logs& logs) {
  if (in_fit_ || bar_ == nullptr || logs.empty()) return;
  bar_->update(batch + 1, {logs.begin(), logs.end()});
}

void ProgbarLogger::on_test_end(Logs& logs) {
  if (in_fit_ || bar_ == nullptr) return;
  bar_->update(params().steps, {logs.begin(), logs.end()}, /*finalize=*/true);
  bar_.reset();
}

// ---------------------------------------------------------------------------------------------
// Monitoring: Keras's MonitorCallback.

namespace {

// Whether larger is better for `monitor` (Keras's metric._direction; "loss" is down).
bool monitor_increases(const std::string& caller, const std::string& monitor, Mode mode) {
  if (mode == Mode::Max) return true;
  if (mode == Mode::Min) return false;
  std::string name = monitor.rfind("val_", 0) == 0 ? monitor.substr(4) : monitor;
  static const char* const up[] = {"accuracy",
                                   "binary_accuracy",
                                   "categorical_accuracy",
                                   "sparse_categorical_accuracy",
                                   "top_k_categorical_accuracy",
                                   "sparse_top_k_categorical_accuracy",
                                   "auc",
                                   "precision",
                                   "recall"};
  static const char* const down[] = {"loss", "mean_squared_error", "mse", "mean_absolute_error",
                                     "mae",  "learning_rate"};
  for (const char* n : up) {
    if (name == n) return true;
  }
  for (const char* n : down) {
    if (name == n) return false;
  }
  throw ValueError(caller + " callback received monitor=" + monitor +
                   ", but neurona isn't able to automatically determine whether that metric "
                   "should be maximized or minimized. Pass .mode = Mode::Max in order to monitor "
                   "based on the highest metric value, or .mode = Mode::Min in order to use the "
                   "lowest value.");
}

// Keras's _is_improvement with min_delta signed by the direction.
bool is_improvement(double value, const std::optional<double>& reference, bool increases,
                    double min_delta) {
  if (!reference) return true;
  const double delta = std::abs(min_delta);
  return increases ? value - delta > *reference : value + delta < *reference;
}

std::optional<double> monitor_value(const std::string& caller, const std::string& monitor,
                                    const Logs& logs) {
  auto it = logs.find(monitor);
  if (it != logs.end()) return it->second;
  std::string available;
  for (const auto& [name, v] : logs) available += (available.empty() ? "" : ",") + name;
  std::cerr << "Warning: " << caller << " conditioned on metric `" << monitor
            << "` which is not available. Available metrics are: " << available << "\n";
  return std::nullopt;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// EarlyStopping

EarlyStopping::EarlyStopping(EarlyStoppingOptions options) : options_(std::move(options)) {
  NEURONA_CHECK(options_.patience >= 0, ValueError,
                "EarlyStopping: argument `patience` must be >= 0, got ", options_.patience);
}

void EarlyStopping::on_train_begin(Logs& /*logs*/) {
  wait_ = 0;
  stopped_epoch_ = 0;
  best_.reset();
  best_weights_.reset();
  best_epoch_ = 0;
}

void EarlyStopping::on_epoch_end(int epoch, Logs& logs) {
  const bool up = monitor_increases("EarlyStopping", options_.monitor, options_.mode);
  const auto current = monitor_value("Early stopping", options_.monitor, logs);
  if (!current || epoch < options_.start_from_epoch) return;
  if (options_.restore_best_weights && !best_weights_) {
    best_weights_ = model().get_weights();
    best_epoch_ = epoch;
  }
  ++wait_;
  if (is_improvement(*current, best_, up, options_.min_delta)) {
    best_ = *current;
    best_epoch_ = epoch;
    if (options_.restore_best_weights) best_weights_ = model().get_weights();
    if (!options_.baseline || is_improvement(*current, options_.baseline, up, options_.min_delta)) {
      wait_ = 0;
    }
    return;
  }
  if (wait_ >= options_.patience && epoch > 0) {
    stopped_epoch_ = epoch;
    model().set_stop_training(true);
  }
}

void EarlyStopping::on_train_end(Logs& /*logs*/) {
  if (stopped_epoch_ > 0 && options_.verbose > 0) {
    std::cout << "Epoch " << stopped_epoch_ + 1 << ": early stopping\n";
  }
  if (options_.restore_best_weights && best_weights_) {
    if (options_.verbose > 0) {
      std::cout << "Restoring model weights from the end of the best epoch: " << best_epoch_ + 1
                << ".\n";
    }
    model().set_weights(*best_weights_);
  }
}

// ---------------------------------------------------------------------------------------------
// ModelCheckpoint

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Python's str.format for the fields Keras checkpoints use: {name}, {name:02d}, {name:.4f}.
std::string format_placeholders(const std::string& pattern, const Logs& values,
                                const std::string& caller) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '{') {
      out += pattern[i];
      continue;
    }
    const std::size_t close = pattern.find('}', i);
    NEURONA_CHECK(close != std::string::npos, ValueError, caller, ": unclosed '{' in filepath \"",
                  pattern, "\"");
    const std::string field = pattern.substr(i + 1, close - i - 1);
    const std::size_t colon = field.find(':');
    const std::string name = field.substr(0, colon);
    const std::string spec = colon == std::string::npos ? "" : field.substr(colon + 1);
    auto it = values.find(name);
    NEURONA_CHECK(it != values.end(), ValueError, caller,
                  ": failed to format this callback filepath: \"", pattern,
                  "\". Reason: no value '", name, "' in the logs");
    char buf[128];
    if (spec.empty()) {
      if (name == "epoch" || name == "batch") {
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(it->second));
      } else {
        std::snprintf(buf, sizeof buf, "%.17g", it->second);
      }
    } else if (!spec.empty() && spec.back() == 'd') {
      // GCC 12 warns (-Wrestrict, falsely) on "%" + std::string; build the format by appends.
      std::string fmt("%");
      fmt.append(spec, 0, spec.size() - 1).append("lld");
      std::snprintf(buf, sizeof buf, fmt.c_str(), static_cast<long long>(it->second));
    } else if (!spec.empty() && (spec.back() == 'f' || spec.back() == 'e' || spec.back() == 'g')) {
      std::string fmt("%");
      fmt.append(spec);
      std::snprintf(buf, sizeof buf, fmt.c_str(), it->second);
    } else {
      throw ValueError(caller + ": unsupported format '" + spec + "' in filepath \"" + pattern +
                       "\" (use d, f, e or g)");
    }
    out += buf;
    i = close;
  }
  return out;
}

}  // namespace

ModelCheckpoint::ModelCheckpoint(std::string filepath, ModelCheckpointOptions options)
    : filepath_(std::move(filepath)), options_(std::move(options)) {
  if (options_.save_weights_only) {
    NEURONA_CHECK(ends_with(filepath_, ".weights.h5"), ValueError,
                  "ModelCheckpoint: when using save_weights_only = true, the filepath provided "
                  "must end in `.weights.h5` (Keras weights format). Received: filepath=",
                  filepath_);
  } else {
    NEURONA_CHECK(ends_with(filepath_, ".keras"), ValueError,
                  "ModelCheckpoint: the filepath provided must end in `.keras` (Keras model "
                  "format). Received: filepath=",
                  filepath_);
  }
  best_ = options_.initial_value_threshold;
}

std::string ModelCheckpoint::file_path(int epoch, const Logs& logs) const {
  Logs values = logs;
  values["epoch"] = epoch + 1;
  return format_placeholders(filepath_, values, "ModelCheckpoint");
}

void ModelCheckpoint::on_epoch_end(int epoch, Logs& logs) {
  const std::string path = file_path(epoch, logs);
  if (options_.save_best_only) {
    const bool up = monitor_increases("ModelCheckpoint", options_.monitor, options_.mode);
    auto it = logs.find(options_.monitor);
    if (it != logs.end()) {
      char best_str[64] = "None";
      if (best_) std::snprintf(best_str, sizeof best_str, "%.5f", *best_);
      if (!is_improvement(it->second, best_, up, 0.0)) {
        if (options_.verbose > 0) {
          std::printf("\nEpoch %d: %s did not improve from %s\n", epoch + 1,
                      options_.monitor.c_str(), best_str);
        }
        return;
      }
      if (options_.verbose > 0) {
        std::printf("\nEpoch %d: %s improved from %s to %.5f, saving model to %s\n", epoch + 1,
                    options_.monitor.c_str(), best_str, it->second, path.c_str());
      }
      best_ = it->second;
    } else {
      std::cerr << "Warning: can save best model only with " << options_.monitor << " available.\n";
    }
  } else if (options_.verbose > 0) {
    std::printf("\nEpoch %d: saving model to %s\n", epoch + 1, path.c_str());
  }
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  // save_weights and save write a temporary file and rename it: a crash mid-save leaves the
  // previous checkpoint.
  if (options_.save_weights_only) {
    model().save_weights(path);
  } else {
    model().save(path);
  }
}

// ---------------------------------------------------------------------------------------------
// BackupAndRestore

BackupAndRestore::BackupAndRestore(std::string backup_dir, BackupAndRestoreOptions options)
    : backup_dir_(std::move(backup_dir)), options_(options) {
  NEURONA_CHECK(!backup_dir_.empty(), ValueError,
                "BackupAndRestore: empty `backup_dir` argument passed");
}

void BackupAndRestore::on_train_begin(Logs& /*logs*/) {
  const fs::path weights = fs::path(backup_dir_) / "latest.weights.h5";
  const fs::path metadata = fs::path(backup_dir_) / "training_metadata.json";
  if (!fs::exists(weights)) return;
  NEURONA_CHECK(model().built(), ValueError,
                "BackupAndRestore: to use the BackupAndRestore callback, your model must be built "
                "before you call fit(); ",
                model().describe(),
                " is unbuilt. Build it beforehand by calling it on a batch of data.");
  model().load_weights(weights.string());
  if (fs::exists(metadata)) {
    std::ifstream in(metadata);
    std::stringstream text;
    text << in.rdbuf();
    // {"epoch": N, "batch": 0}: the epoch to resume at.
    const std::string s = text.str();
    const std::size_t key = s.find("\"epoch\"");
    const std::size_t colon = key == std::string::npos ? key : s.find(':', key);
    NEURONA_CHECK(colon != std::string::npos, IoError, "BackupAndRestore: ", metadata.string(),
                  " has no \"epoch\" entry; delete the backup folder to start afresh");
    char* end = nullptr;
    const long epoch = std::strtol(s.c_str() + colon + 1, &end, 10);
    NEURONA_CHECK(end != s.c_str() + colon + 1 && epoch >= 0, IoError,
                  "BackupAndRestore: ", metadata.string(),
                  " has a malformed \"epoch\" entry; delete the backup "
                  "folder to start afresh");
    model().set_initial_epoch(static_cast<int>(epoch));
  }
}

void BackupAndRestore::on_epoch_end(int epoch, Logs& /*logs*/) {
  fs::create_directories(backup_dir_);
  model().save_weights((fs::path(backup_dir_) / "latest.weights.h5").string());
  write_file_atomic(fs::path(backup_dir_) / "training_metadata.json",
                    "{\"epoch\": " + std::to_string(epoch + 1) + ", \"batch\": 0}");
}

void BackupAndRestore::on_train_end(Logs& /*logs*/) {
  // Only a fit that ran to its end gets here: an exception or a kill keeps the backup.
  if (options_.delete_checkpoint) {
    std::error_code ec;
    fs::remove_all(backup_dir_, ec);
  }
}

// ---------------------------------------------------------------------------------------------
// ReduceLROnPlateau

ReduceLROnPlateau::ReduceLROnPlateau(ReduceLROnPlateauOptions options)
    : options_(std::move(options)) {
  NEURONA_CHECK(
      options_.factor < 1.0, ValueError,
      "ReduceLROnPlateau does not support a factor >= 1.0. Received factor=", options_.factor);
}

void ReduceLROnPlateau::on_train_begin(Logs& /*logs*/) {
  best_.reset();
  cooldown_counter_ = 0;
  wait_ = 0;
}

void ReduceLROnPlateau::on_epoch_end(int epoch, Logs& logs) {
  const bool up = monitor_increases("ReduceLROnPlateau", options_.monitor, options_.mode);
  auto optimizer = model().optimizer();
  logs["learning_rate"] = optimizer->learning_rate();
  const auto current = monitor_value("Learning rate reduction", options_.monitor, logs);
  if (!current) return;
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    wait_ = 0;
  }
  if (is_improvement(*current, best_, up, options_.min_delta)) {
    best_ = *current;
    wait_ = 0;
  } else if (cooldown_counter_ <= 0) {
    ++wait_;
    if (wait_ >= options_.patience) {
      const double old_lr = optimizer->learning_rate();
      if (old_lr > static_cast<double>(static_cast<float>(options_.min_lr))) {
        const double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
        optimizer->set_learning_rate(new_lr);
        if (options_.verbose > 0) {
          std::printf("\nEpoch %d: ReduceLROnPlateau reducing learning rate to %g.\n", epoch + 1,
                      new_lr);
        }
        cooldown_counter_ = options_.cooldown;
        wait_ = 0;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// LearningRateScheduler

LearningRateScheduler::LearningRateScheduler(std::function<double(int, double)> schedule,
                                             int verbose)
    : schedule_(std::move(schedule)), verbose_(verbose) {
  NEURONA_CHECK(static_cast<bool>(schedule_), ValueError,
                "LearningRateScheduler: argument `schedule` is empty");
}

void LearningRateScheduler::on_epoch_begin(int epoch, Logs& /*logs*/) {
  auto optimizer = model().optimizer();
  const double lr = schedule_(epoch, optimizer->learning_rate());
  NEURONA_CHECK(std::isfinite(lr), ValueError,
                "LearningRateScheduler: the schedule returned a non-finite learning rate ", lr,
                " for epoch ", epoch);
  optimizer->set_learning_rate(lr);
  if (verbose_ > 0) {
    std::printf("\nEpoch %d: LearningRateScheduler setting learning rate to %g.\n", epoch + 1, lr);
  }
}

void LearningRateScheduler::on_epoch_end(int /*epoch*/, Logs& logs) {
  logs["learning_rate"] = model().optimizer()->learning_rate();
}

// ---------------------------------------------------------------------------------------------
// CSVLogger

CSVLogger::CSVLogger(std::string filename, CSVLoggerOptions options)
    : filename_(std::move(filename)), options_(std::move(options)) {}

void CSVLogger::on_train_begin(Logs& /*logs*/) {
  keys_.clear();
  write_header_ = true;
  if (options_.append && fs::exists(filename_)) {
    std::ifstream in(filename_);
    std::string first;
    write_header_ = !std::getline(in, first) || first.empty();
  } else {
    // A new log: start from an empty file now, as Keras opens it for writing here.
    write_file_atomic(filename_, "");
  }
}

void CSVLogger::on_epoch_end(int epoch, Logs& logs) {
  if (keys_.empty()) {
    bool has_val = false;
    for (const auto& [name, v] : logs) {
      keys_.push_back(name);
      has_val = has_val || name.rfind("val_", 0) == 0;
    }
    if (!has_val) {
      const std::size_t n = keys_.size();
      for (std::size_t i = 0; i < n; ++i) keys_.push_back("val_" + keys_[i]);
    }
  }
  std::ostringstream row;
  if (write_header_) {
    row << "epoch";
    for (const auto& k : keys_) row << options_.separator << k;
    row << "\r\n";  // csv.excel's line terminator, as Keras writes
    write_header_ = false;
  }
  row << epoch;
  for (const auto& k : keys_) {
    row << options_.separator;
    auto it = logs.find(k);
    if (it == logs.end()) {
      row << "NA";
    } else {
      // The shortest text that reads back as the same double, as Python's repr (Keras).
      char buf[64];
      const auto res = std::to_chars(buf, buf + sizeof buf, it->second);
      row << std::string_view(buf, static_cast<std::size_t>(res.ptr - buf));
    }
  }
  row << "\r\n";
  // Appending through a stream and flushing, as Keras does: each row is complete on disk
  // when the epoch ends.
  std::ofstream out(filename_, std::ios::app | std::ios::binary);
  NEURONA_CHECK(out.good(), IoError, "CSVLogger: cannot open ", filename_, " for appending");
  out << row.str();
  out.flush();
  NEURONA_CHECK(out.good(), IoError, "CSVLogger: writing ", filename_, " failed");
}

// ---------------------------------------------------------------------------------------------
// TerminateOnNaN

void TerminateOnNaN::on_train_batch_end(std::int64_t batch, Logs& logs) {
  auto it = logs.find("loss");
  if (it == logs.end() || std::isfinite(it->second)) return;
  if (raise_error_) {
    std::ostringstream msg;
    msg << "NaN or Inf loss encountered at batch " << batch << ". Loss value: " << it->second
        << ". Terminating training immediately.";
    throw ValueError(msg.str());
  }
  std::cout << "Batch " << batch << ": Invalid loss, terminating training\n";
  model().set_stop_training(true);
}

}  // namespace neurona::callbacks
