// The built-in callbacks, ported from keras/src/callbacks/*.py (Keras 3) with their rules for
// "improvement", patience and cooldown unchanged, so that a run stops and restores where the
// same run in Keras would.
#include "neurona/models/callbacks.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "neurona/core/error.h"
#include "neurona/core/io.h"
#include "neurona/core/random.h"
#include "neurona/distribution/distribution.h"
#include "neurona/models/model.h"
#include "neurona/models/saving.h"
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

// Where a ProgbarLogger prints: its stream, or nowhere on the ranks of a DataParallel job but
// rank 0 (the bar still runs there, so that every rank does the same work).
std::ostream& ProgbarLogger::out() const {
  static std::ostream nowhere(nullptr);
  return distribution::is_chief() ? *out_ : nowhere;
}

void ProgbarLogger::start() {
  if (params().steps > 0) target_ = params().steps;
  seen_ = 0;
  bar_ = std::make_unique<Progbar>(
      target_, out(),
      ProgbarOptions{.verbose = params().verbose, .dynamic_display = dynamic_, .clock = clock_});
}

void ProgbarLogger::finish(Logs& logs) {
  if (bar_ == nullptr) return;
  // As Keras: an epoch of unknown length ends at the steps seen, which later epochs expect.
  if (target_ <= 0) {
    target_ = seen_;
    bar_->set_target(target_);
  }
  bar_->update(target_, {logs.begin(), logs.end()}, /*finalize=*/true);
  bar_.reset();
}

void ProgbarLogger::on_train_begin(Logs& /*logs*/) {
  in_fit_ = true;
  target_ = 0;
}

void ProgbarLogger::on_epoch_begin(int epoch, Logs& /*logs*/) {
  if (params().verbose > 0 && params().epochs > 1) {
    out() << "Epoch " << epoch + 1 << "/" << params().epochs << "\n" << std::flush;
  }
  start();
}

void ProgbarLogger::on_train_batch_end(std::int64_t batch, Logs& logs) {
  seen_ = batch + 1;
  if (bar_ == nullptr || logs.empty()) return;
  bar_->update(batch + 1, {logs.begin(), logs.end()});
}

void ProgbarLogger::on_epoch_end(int /*epoch*/, Logs& logs) {
  finish(logs);
}

void ProgbarLogger::on_test_begin(Logs& /*logs*/) {
  if (in_fit_) return;
  target_ = 0;
  start();
}

void ProgbarLogger::on_test_batch_end(std::int64_t batch, Logs& logs) {
  if (in_fit_) return;
  seen_ = batch + 1;
  if (bar_ == nullptr || logs.empty()) return;
  bar_->update(batch + 1, {logs.begin(), logs.end()});
}

void ProgbarLogger::on_test_end(Logs& logs) {
  if (in_fit_) return;
  finish(logs);
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
  const bool chief = distribution::is_chief();  // under DataParallel, rank 0 prints
  if (stopped_epoch_ > 0 && options_.verbose > 0 && chief) {
    std::cout << "Epoch " << stopped_epoch_ + 1 << ": early stopping\n";
  }
  if (options_.restore_best_weights && best_weights_) {
    if (options_.verbose > 0 && chief) {
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
  if (!distribution::is_chief()) return;  // under DataParallel, rank 0 saves
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
//
// One file, where Keras writes two (latest.weights.h5 and training_metadata.json): two files
// cannot be replaced together atomically (a kill between the renames mixes two epochs), and a
// folder renamed into place cannot replace a non-empty one atomically; one file written by
// write_file_atomic can. Its layout, integers little-endian:
//   "NRBACKUP", version (u32), CRC-32 of everything after it (u32), metadata length (u64),
//   the metadata (JSON), the `.weights.h5` image that save_weights writes.

namespace {

using json = nlohmann::json;

constexpr std::string_view kBackupMagic = "NRBACKUP";
constexpr std::uint32_t kBackupVersion = 1;
constexpr std::size_t kCrcStart = 16;      // magic, version, CRC
constexpr std::size_t kBackupHeader = 24;  // ... and the metadata's length
constexpr const char* kBackupFile = "latest.backup";

void put_le(std::string& out, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out += static_cast<char>((value >> (8 * i)) & 0xffu);
}

std::uint64_t get_le(std::string_view in, std::size_t at, int bytes) {
  std::uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= std::uint64_t{static_cast<unsigned char>(in[at + static_cast<std::size_t>(i)])}
             << (8 * i);
  }
  return value;
}

std::uint32_t crc32_of(std::string_view bytes) {
  return static_cast<std::uint32_t>(
      crc32_z(0, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

std::string encode_backup(const json& metadata, std::string_view weights) {
  const std::string text = metadata.dump();
  std::string body;  // what the CRC covers
  body.reserve(8 + text.size() + weights.size());
  put_le(body, text.size(), 8);
  body += text;
  body += weights;
  std::string out(kBackupMagic);
  put_le(out, kBackupVersion, 4);
  put_le(out, crc32_of(body), 4);
  return out + body;
}

// JSON has no NaN or infinity; a loss can be either.
json log_value_to_json(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  return value;
}

// The checks on what a backup holds: each failure names the file and what is wrong with it.
class BackupReader {
 public:
  explicit BackupReader(std::string path) : path_(std::move(path)) {}

  [[noreturn]] void corrupt(const std::string& what) const {
    throw IoError("BackupAndRestore: the backup " + path_ + " is corrupt (" + what +
                  "); delete it to start training afresh");
  }
  [[noreturn]] void mismatched(const std::string& what) const {
    throw IoError("BackupAndRestore: the backup " + path_ +
                  " was written by another training run (" + what +
                  "); delete it to start training afresh");
  }

  const json& member(const json& object, const std::string& where, const char* key) const {
    if (!object.is_object()) corrupt(where + " is not a JSON object: " + shown(object));
    const auto it = object.find(key);
    if (it == object.end()) corrupt(where + " has no \"" + key + "\"");
    return *it;
  }

  /// An integer in [lo, hi] (JSON integers only: 3.0 is not an epoch).
  std::int64_t integer(const json& value, const std::string& what, std::int64_t lo,
                       std::int64_t hi) const {
    const auto out_of_range = [&] {
      corrupt(what + " is " + shown(value) + ", not an integer in [" + std::to_string(lo) + ", " +
              std::to_string(hi) + "]");
    };
    if (!value.is_number_integer()) out_of_range();
    if (value.is_number_unsigned()) {
      const auto u = value.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(hi)) out_of_range();
      const auto v = static_cast<std::int64_t>(u);
      if (v < lo) out_of_range();
      return v;
    }
    const auto v = value.get<std::int64_t>();
    if (v < lo || v > hi) out_of_range();
    return v;
  }

  double log_value(const json& value, const std::string& what) const {
    if (value.is_number()) return value.get<double>();
    if (value == "nan") return std::numeric_limits<double>::quiet_NaN();
    if (value == "inf") return std::numeric_limits<double>::infinity();
    if (value == "-inf") return -std::numeric_limits<double>::infinity();
    corrupt(what + " is " + shown(value) + ", not a number");
  }

 private:
  static std::string shown(const json& value) {
    std::string text = value.dump();
    if (text.size() > 40) text = text.substr(0, 37) + "...";
    return text;
  }
  std::string path_;
};

// backup_dir as an absolute path without a trailing separator, so that parent_path() walks up.
fs::path normalized_dir(const std::string& backup_dir) {
  fs::path dir = fs::absolute(backup_dir).lexically_normal();
  if (dir.has_relative_path() && !dir.has_filename()) dir = dir.parent_path();
  return dir;
}

int path_depth(const fs::path& dir) {
  int depth = 0;
  for (const auto& part : dir.relative_path()) depth += part.empty() ? 0 : 1;
  return depth;
}

}  // namespace

BackupAndRestore::BackupAndRestore(std::string backup_dir, BackupAndRestoreOptions options)
    : backup_dir_(std::move(backup_dir)), options_(options) {
  NEURONA_CHECK(!backup_dir_.empty(), ValueError,
                "BackupAndRestore: empty `backup_dir` argument passed");
}

std::string BackupAndRestore::backup_path() const {
  return (fs::path(backup_dir_) / kBackupFile).string();
}

void BackupAndRestore::on_train_begin(Logs& /*logs*/) {
  completed_.clear();
  created_dirs_ = 0;
  const std::string path = backup_path();
  // Temporaries of a write that a kill interrupted; the backup itself is whole or absent.
  remove_temporaries_of(path);
  std::error_code ec;
  const bool present = fs::exists(path, ec);
  NEURONA_CHECK(!ec, IoError, "BackupAndRestore: cannot look for the backup ", path, ": ",
                ec.message());
  if (!present) return;
  std::ifstream in(path, std::ios::binary);
  NEURONA_CHECK(in.good(), IoError, "BackupAndRestore: cannot open the backup ", path,
                " for reading");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  NEURONA_CHECK(!in.bad(), IoError, "BackupAndRestore: cannot read the backup ", path);
  restore(bytes, path);
}

// Checks everything before it changes anything: the model, the random state and the resume
// epoch are set only from a backup that passed every check.
void BackupAndRestore::restore(const std::string& bytes, const std::string& path) {
  const BackupReader r(path);
  const std::string_view file(bytes);
  if (file.size() < kBackupHeader || file.substr(0, kBackupMagic.size()) != kBackupMagic) {
    r.corrupt("it does not start with a BackupAndRestore header");
  }
  const std::uint64_t version = get_le(file, 8, 4);
  if (version != kBackupVersion) {
    r.corrupt("format version " + std::to_string(version) + "; this neurona reads version " +
              std::to_string(kBackupVersion));
  }
  if (get_le(file, 12, 4) != crc32_of(file.substr(kCrcStart))) r.corrupt("its checksum is wrong");
  const std::uint64_t text_size = get_le(file, 16, 8);
  if (text_size > file.size() - kBackupHeader) r.corrupt("its metadata runs past the end");
  const std::string_view weights = file.substr(kBackupHeader + text_size);
  const json meta = json::parse(file.substr(kBackupHeader, text_size), nullptr,
                                /*allow_exceptions=*/false);
  if (meta.is_discarded() || !meta.is_object()) r.corrupt("its metadata is not a JSON object");

  // The epoch to resume at: after at least one completed epoch, and fit's epochs are ints.
  const int epoch = static_cast<int>(r.integer(r.member(meta, "the metadata", "epoch"), "\"epoch\"",
                                               1, std::numeric_limits<int>::max()));
  const json& history = r.member(meta, "the metadata", "history");
  if (!history.is_array() || history.empty() || history.size() > static_cast<std::size_t>(epoch)) {
    r.corrupt("\"history\" must list 1 to " + std::to_string(epoch) +
              " completed epochs, those before \"epoch\"");
  }
  std::vector<std::pair<int, Logs>> completed;
  int previous = -1;
  for (std::size_t i = 0; i < history.size(); ++i) {
    const std::string where = "\"history\"[" + std::to_string(i) + "]";
    const int e = static_cast<int>(
        r.integer(r.member(history[i], where, "epoch"), where + ".epoch", previous + 1, epoch - 1));
    const json& logs = r.member(history[i], where, "logs");
    if (!logs.is_object()) r.corrupt(where + ".logs is not a JSON object");
    Logs values;
    for (const auto& [name, value] : logs.items()) {
      values[name] = r.log_value(value, where + ".logs." + name);
    }
    completed.emplace_back(e, std::move(values));
    previous = e;
  }
  if (previous != epoch - 1) {
    r.corrupt("\"history\" ends at epoch " + std::to_string(previous) + ", not at the epoch " +
              std::to_string(epoch - 1) + " before \"epoch\"");
  }
  const json& random = r.member(meta, "the metadata", "random");
  const json& seeded = r.member(random, "\"random\"", "seeded");
  if (!seeded.is_boolean()) r.corrupt("\"random\".seeded is not true or false");
  const json& seed = r.member(random, "\"random\"", "seed");
  if (!seed.is_number_unsigned()) r.corrupt("\"random\".seed is not an unsigned 64-bit integer");
  const detail::GlobalRandomState random_state{
      .seeded = seeded.get<bool>(),
      .seed = seed.get<std::uint64_t>(),
      .call = static_cast<std::uint32_t>(r.integer(r.member(random, "\"random\"", "call"),
                                                   "\"random\".call", 0,
                                                   std::numeric_limits<std::uint32_t>::max()))};
  // The layers' seed generators (Dropout's), in the model's order: where each stood.
  const json& generators = r.member(meta, "the metadata", "seed_generators");
  const std::vector<SeedGenerator*> model_generators = model().seed_generators();
  if (!generators.is_array()) r.corrupt("\"seed_generators\" is not a list");
  if (generators.size() != model_generators.size()) {
    r.mismatched("it has " + std::to_string(generators.size()) + " seed generators, the model " +
                 std::to_string(model_generators.size()));
  }
  std::vector<std::optional<SeedGenerator::Snapshot>> snapshots;
  for (std::size_t i = 0; i < generators.size(); ++i) {
    const std::string where = "\"seed_generators\"[" + std::to_string(i) + "]";
    const json& g = generators[i];
    if (g.is_null()) {  // not drawn from yet
      snapshots.emplace_back();
      continue;
    }
    const json& gseed = r.member(g, where, "seed");
    if (!gseed.is_number_unsigned()) r.corrupt(where + ".seed is not an unsigned 64-bit integer");
    snapshots.push_back(SeedGenerator::Snapshot{
        gseed.get<std::uint64_t>(),
        static_cast<std::uint32_t>(r.integer(r.member(g, where, "counter"), where + ".counter", 0,
                                             std::numeric_limits<std::uint32_t>::max()))});
  }
  const fs::path dir = normalized_dir(backup_dir_);
  const int created_dirs = static_cast<int>(r.integer(
      r.member(meta, "the metadata", "created_dirs"), "\"created_dirs\"", 0, path_depth(dir)));

  // The optimizer: the same kind with as many variables, or load_weights would skip its state
  // with a warning and the run would go on with a fresh optimizer.
  const json& opt = r.member(meta, "the metadata", "optimizer");
  const json& opt_class = r.member(opt, "\"optimizer\"", "class_name");
  if (!opt_class.is_string()) r.corrupt("\"optimizer\".class_name is not a string");
  const std::int64_t opt_vars =
      r.integer(r.member(opt, "\"optimizer\"", "variables"), "\"optimizer\".variables", 0, 1 << 30);
  NEURONA_CHECK(model().built(), ValueError,
                "BackupAndRestore: to use the BackupAndRestore callback, your model must be built "
                "before you call fit(); ",
                model().describe(),
                " is unbuilt. Build it beforehand by calling it on a batch of data.");
  const std::shared_ptr<optimizers::Optimizer> optimizer = model().optimizer();
  optimizer->build(model().trainable_weights());
  if (opt_class.get<std::string>() != optimizer->class_name() ||
      opt_vars != static_cast<std::int64_t>(optimizer->variables().size())) {
    r.mismatched("its optimizer is " + opt_class.get<std::string>() + " with " +
                 std::to_string(opt_vars) + " variables, the model's " + optimizer->class_name() +
                 " with " + std::to_string(optimizer->variables().size()));
  }
  try {
    models::load_weights_from_bytes(model(), weights);  // checks it all before it assigns
  } catch (const IoError& e) {
    r.corrupt(e.what());
  } catch (const ValueError& e) {
    r.mismatched(e.what());
  }
  detail::set_global_random_state(random_state);
  for (std::size_t i = 0; i < snapshots.size(); ++i) {
    if (snapshots[i]) model_generators[i]->restore(*snapshots[i]);
  }
  created_dirs_ = created_dirs;
  completed_ = std::move(completed);
  model().set_initial_epoch(epoch, completed_);
}

void BackupAndRestore::on_epoch_end(int epoch, Logs& logs) {
  completed_.emplace_back(epoch, logs);
  // Under DataParallel rank 0 writes the backup, which every rank reads on a restart.
  if (!distribution::is_chief()) return;
  // Make the folder (and missing parents), counting the folders made, so that delete_checkpoint
  // removes those and no others; flush their parents so that they survive a power loss. (A kill
  // between making the folder and the first backup leaves it, empty: the next run cannot tell
  // that a BackupAndRestore made it.)
  const fs::path dir = normalized_dir(backup_dir_);
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path p = dir; p.has_relative_path() && !fs::exists(p, ec); p = p.parent_path()) {
    missing.push_back(p);
  }
  if (!missing.empty()) {
    fs::create_directories(dir, ec);
    NEURONA_CHECK(!ec, IoError, "BackupAndRestore: cannot create the backup folder ", dir, ": ",
                  ec.message());
    created_dirs_ = std::max(created_dirs_, static_cast<int>(missing.size()));
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) fsync_directory(it->parent_path());
  }

  json history = json::array();
  for (const auto& [e, values] : completed_) {
    json entry_logs = json::object();
    for (const auto& [name, value] : values) entry_logs[name] = log_value_to_json(value);
    history.push_back(json{{"epoch", e}, {"logs", std::move(entry_logs)}});
  }
  const detail::GlobalRandomState random = detail::global_random_state();
  json generators = json::array();
  for (const SeedGenerator* g : model().seed_generators()) {
    const std::optional<SeedGenerator::Snapshot> s = g->snapshot();
    generators.push_back(s ? json{{"seed", s->seed}, {"counter", s->counter}} : json(nullptr));
  }
  const std::shared_ptr<optimizers::Optimizer> optimizer = model().optimizer();
  const std::string weights = models::save_weights_to_bytes(model());  // builds the optimizer
  const json meta = {
      {"epoch", epoch + 1},  // epoch < fit's epochs, an int: no overflow
      {"history", std::move(history)},
      {"random", {{"seeded", random.seeded}, {"seed", random.seed}, {"call", random.call}}},
      {"seed_generators", std::move(generators)},
      {"optimizer",
       {{"class_name", optimizer->class_name()}, {"variables", optimizer->variables().size()}}},
      {"created_dirs", created_dirs_},
  };
  write_file_atomic(backup_path(), encode_backup(meta, weights), "BackupAndRestore");
}

void BackupAndRestore::on_train_end(Logs& /*logs*/) {
  // Only a fit that ran to its end gets here: an exception or a kill keeps the backup.
  if (!options_.delete_checkpoint || !distribution::is_chief()) return;
  const std::string path = backup_path();
  std::error_code ec;
  fs::remove(path, ec);
  NEURONA_CHECK(!ec, IoError, "BackupAndRestore: cannot delete the backup ", path, ": ",
                ec.message());
  // Then the folders it made, innermost first, while they are empty folders.
  fs::path dir = normalized_dir(backup_dir_);
  for (int i = 0; i < created_dirs_ && dir.has_relative_path(); ++i, dir = dir.parent_path()) {
    if (!fs::is_directory(fs::symlink_status(dir, ec)) || !fs::is_empty(dir, ec) || ec) break;
    if (!fs::remove(dir, ec)) break;
  }
  created_dirs_ = 0;
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
        if (options_.verbose > 0 && distribution::is_chief()) {
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
  if (verbose_ > 0 && distribution::is_chief()) {
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
  if (!distribution::is_chief()) return;  // under DataParallel, rank 0 writes
  keys_.clear();
  write_header_ = true;
  if (options_.append && fs::exists(filename_)) {
    std::ifstream in(filename_);
    std::string first;
    write_header_ = !std::getline(in, first) || first.empty();
  } else {
    // A new log: start from an empty file now, as Keras opens it for writing here.
    write_file_atomic(filename_, "", "CSVLogger");
  }
}

void CSVLogger::on_epoch_end(int epoch, Logs& logs) {
  if (!distribution::is_chief()) return;
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
  if (distribution::is_chief()) {
    std::cout << "Batch " << batch << ": Invalid loss, terminating training\n";
  }
  model().set_stop_training(true);
}

}  // namespace neurona::callbacks
