// BackupAndRestore: a resumed fit ends as the uninterrupted one (history, weights, optimizer),
// after an exception or a SIGKILL at any moment; the backup is one checked file; the callback
// deletes only what it wrote.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "neurona/neurona.h"
#include "support/paths.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace fs = std::filesystem;
using json = nlohmann::json;

extern char** environ;

namespace {

// Two Gaussian blobs in 4-D, labels 0 / 1.
struct Blobs {
  nr::Tensor x;
  nr::Tensor y;
};

Blobs blobs(std::int64_t n) {
  nr::Tensor noise = nr::random_normal({n, 4}, {.stddev = 0.8, .seed = 3});
  std::vector<float> centres(static_cast<std::size_t>(n * 4));
  std::vector<std::int32_t> labels(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const int label = static_cast<int>(i % 2);
    labels[static_cast<std::size_t>(i)] = label;
    for (int j = 0; j < 4; ++j) centres[static_cast<std::size_t>(i * 4 + j)] = label ? 1.0f : -1.0f;
  }
  return {nr::constant(centres, {n, 4}) + noise, nr::constant(labels, {n})};
}

// Dropout draws from the global generator, as fit's shuffling does: a resume must restore it.
std::unique_ptr<nr::Sequential> classifier(int units = 8) {
  return std::make_unique<nr::Sequential>(std::vector<nr::layers::AnyLayer>{
      nr::layers::Input({4}), nr::layers::Dense(units, {.activation = "relu"}),
      nr::layers::Dropout(0.3), nr::layers::Dense(2, {.activation = "softmax"})});
}

void compile(nr::Model& model) {
  model.compile({.optimizer = nr::optimizers::Adam(0.05),
                 .loss = "sparse_categorical_crossentropy",
                 .metrics = {"accuracy"}});
}

// Throws at the end of epoch `at` (after the callbacks before it have run).
struct CrashAt : nr::callbacks::Callback {
  explicit CrashAt(int at) : at_(at) {}
  void on_epoch_end(int epoch, nr::callbacks::Logs&) override {
    if (epoch == at_) throw std::runtime_error("simulated crash");
  }
  int at_;
};

fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() /
                       ("neurona_backup_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::set<std::string> files_in(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << bytes;
}

void expect_same_weights(const std::vector<nr::Tensor>& a, const std::vector<nr::Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(nr::cast(a[i], nr::DType::float64).to_vector<double>(),
              nr::cast(b[i], nr::DType::float64).to_vector<double>())
        << "weight " << i;
  }
}

std::vector<nr::Tensor> optimizer_state(const nr::Model& model) {
  std::vector<nr::Tensor> state;
  for (const nr::Variable& v : model.optimizer()->variables()) state.push_back(v.read_value());
  return state;
}

// The backup's layout (callbacks.cpp): "NRBACKUP", u32 version, u32 CRC-32 of the bytes from
// offset 16, u64 metadata length, the metadata (JSON), the weights' HDF5 image.
struct BackupParts {
  json meta;
  std::string weights;
};

std::uint64_t le(const std::string& b, std::size_t at, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) {
    v |= std::uint64_t{static_cast<unsigned char>(b[at + static_cast<std::size_t>(i)])} << (8 * i);
  }
  return v;
}

BackupParts split_backup(const std::string& bytes) {
  EXPECT_EQ(bytes.substr(0, 8), "NRBACKUP");
  const std::uint64_t n = le(bytes, 16, 8);
  return {json::parse(bytes.substr(24, n)), bytes.substr(24 + n)};
}

std::string join_backup(const std::string& meta_text, const std::string& weights) {
  std::string body;
  for (int i = 0; i < 8; ++i) body += static_cast<char>((meta_text.size() >> (8 * i)) & 0xff);
  body += meta_text + weights;
  const auto crc = static_cast<std::uint32_t>(
      crc32_z(0, reinterpret_cast<const Bytef*>(body.data()), body.size()));
  std::string out = "NRBACKUP";
  for (int i = 0; i < 4; ++i) out += static_cast<char>(i == 0 ? 1 : 0);  // version 1
  for (int i = 0; i < 4; ++i) out += static_cast<char>((crc >> (8 * i)) & 0xff);
  return out + body;
}

nr::FitOptions fit_options(std::vector<nr::callbacks::CallbackRef> callbacks, int epochs = 5) {
  return {.batch_size = 16, .epochs = epochs, .verbose = 0, .callbacks = std::move(callbacks)};
}

// Runs `body` with the working folder set to `dir`, and sets it back.
void in_folder(const fs::path& dir, const std::function<void()>& body) {
  const fs::path old = fs::current_path();
  fs::current_path(dir);
  try {
    body();
  } catch (...) {
    fs::current_path(old);
    throw;
  }
  fs::current_path(old);
}

}  // namespace

TEST(BackupAndRestore, ResumedFitEndsAsTheUninterruptedRunWithTheWholeHistory) {
  const fs::path dir = scratch("resume");
  const Blobs data = blobs(64);
  nr::set_seed(1);
  auto reference = classifier();
  compile(*reference);
  const nr::callbacks::History expected = reference->fit(
      data.x, data.y, fit_options({nr::callbacks::BackupAndRestore((dir / "ref").string())}));
  ASSERT_EQ(expected.epoch, (std::vector<int>{0, 1, 2, 3, 4}));

  nr::set_seed(1);
  auto interrupted = classifier();
  compile(*interrupted);
  EXPECT_THROW(interrupted->fit(data.x, data.y,
                                fit_options({nr::callbacks::BackupAndRestore((dir / "b").string()),
                                             CrashAt(2)})),
               std::runtime_error);
  // One file holds the whole state: nothing can be half written between two files.
  EXPECT_EQ(files_in(dir / "b"), (std::set<std::string>{"latest.backup"}));

  // A new process starts with other weights and another random state until the backup loads.
  nr::set_seed(99);
  auto resumed = classifier();
  compile(*resumed);
  const nr::callbacks::History history = resumed->fit(
      data.x, data.y, fit_options({nr::callbacks::BackupAndRestore((dir / "b").string())}));
  EXPECT_EQ(history.epoch, expected.epoch);
  EXPECT_EQ(history.history, expected.history);  // every value, bit for bit
  expect_same_weights(resumed->get_weights(), reference->get_weights());
  expect_same_weights(optimizer_state(*resumed), optimizer_state(*reference));
  EXPECT_FALSE(fs::exists(dir / "b")) << "the folder it made is removed after a complete fit";
  fs::remove_all(dir);
}

TEST(BackupAndRestore, RemovesTheTemporariesAKillLeftAndNothingElse) {
  const fs::path dir = scratch("orphans");
  const Blobs data = blobs(32);
  nr::set_seed(1);
  auto model = classifier();
  compile(*model);
  const fs::path backup = dir / "b";
  EXPECT_THROW(
      model->fit(data.x, data.y,
                 fit_options({nr::callbacks::BackupAndRestore(backup.string()), CrashAt(1)})),
      std::runtime_error);
  // What a kill during the rewrite leaves (write_file_atomic's temporary), beside user files.
  write_bytes(backup / "latest.backup.tmp.4242.17", "half a backup");
  write_bytes(backup / "latest.backup.tmp.notes", "not a temporary of ours");
  write_bytes(backup / "notes.txt", "mine");
  model->fit(data.x, data.y, fit_options({nr::callbacks::BackupAndRestore(backup.string())}));
  EXPECT_EQ(files_in(backup), (std::set<std::string>{"latest.backup.tmp.notes", "notes.txt"}));
  fs::remove_all(dir);
}

TEST(BackupAndRestore, DeletesOnlyItsFileAndTheFoldersItMade) {
  const fs::path dir = scratch("delete");
  const Blobs data = blobs(32);
  nr::set_seed(1);
  auto model = classifier();
  compile(*model);

  // The working folder: its files stay, and so does the folder.
  write_bytes(dir / "keep.txt", "keep");
  in_folder(dir, [&] {
    model->fit(data.x, data.y, fit_options({nr::callbacks::BackupAndRestore(".")}, 2));
  });
  EXPECT_TRUE(fs::is_directory(dir));
  EXPECT_EQ(files_in(dir), (std::set<std::string>{"keep.txt"}));

  // A folder that was there, even when it ends up empty.
  fs::create_directories(dir / "existing");
  model->fit(data.x, data.y,
             fit_options({nr::callbacks::BackupAndRestore((dir / "existing").string())}, 2));
  EXPECT_TRUE(fs::is_directory(dir / "existing"));
  EXPECT_TRUE(fs::is_empty(dir / "existing"));

  // Folders it made, across a crash and a resume: all of them, up to the one that was there.
  const fs::path nested = dir / "made" / "by" / "callback";
  EXPECT_THROW(
      model->fit(data.x, data.y,
                 fit_options({nr::callbacks::BackupAndRestore(nested.string()), CrashAt(0)})),
      std::runtime_error);
  ASSERT_TRUE(fs::exists(nested / "latest.backup"));
  model->fit(data.x, data.y, fit_options({nr::callbacks::BackupAndRestore(nested.string())}));
  EXPECT_FALSE(fs::exists(dir / "made"));

  // ... but not one that holds something else by then.
  EXPECT_THROW(
      model->fit(data.x, data.y,
                 fit_options({nr::callbacks::BackupAndRestore(nested.string()), CrashAt(0)})),
      std::runtime_error);
  write_bytes(dir / "made" / "notes.txt", "mine");
  model->fit(data.x, data.y, fit_options({nr::callbacks::BackupAndRestore(nested.string())}));
  EXPECT_EQ(files_in(dir / "made"), (std::set<std::string>{"notes.txt"}));

  // delete_checkpoint = false keeps the backup.
  model->fit(data.x, data.y,
             fit_options({nr::callbacks::BackupAndRestore((dir / "kept").string(),
                                                          {.delete_checkpoint = false})},
                         2));
  EXPECT_EQ(files_in(dir / "kept"), (std::set<std::string>{"latest.backup"}));
  fs::remove_all(dir);
}

TEST(BackupAndRestore, CorruptOrMismatchedBackupIsIoErrorNamingTheFileAndLeavesTheModel) {
  const fs::path dir = scratch("corrupt");
  const Blobs data = blobs(32);
  nr::set_seed(1);
  auto writer = classifier();
  compile(*writer);
  const fs::path backup_dir = dir / "b";
  const fs::path file = backup_dir / "latest.backup";
  EXPECT_THROW(
      writer->fit(data.x, data.y,
                  fit_options({nr::callbacks::BackupAndRestore(backup_dir.string()), CrashAt(1)})),
      std::runtime_error);
  const std::string good = read_bytes(file);
  const BackupParts parts = split_backup(good);
  EXPECT_EQ(parts.meta.at("epoch"), 2);

  nr::set_seed(7);
  auto model = classifier();
  compile(*model);
  const auto weights_before = model->get_weights();
  const std::string file_name = file.string();
  // Writes `bytes` as the backup, expects fit to refuse it with a message naming the file and
  // `what`, and the model and the global generator to be unchanged.
  const auto expect_refused = [&](const std::string& bytes, const std::string& what) {
    SCOPED_TRACE(what);
    write_bytes(file, bytes);
    const auto random_before = nr::detail::global_random_state();
    NEURONA_EXPECT_THROW_MSG(
        model->fit(data.x, data.y,
                   fit_options({nr::callbacks::BackupAndRestore(backup_dir.string())})),
        nr::IoError, file_name.c_str(), "delete it", what.c_str());
    expect_same_weights(model->get_weights(), weights_before);
    EXPECT_EQ(nr::detail::global_random_state().seed, random_before.seed);
    EXPECT_EQ(nr::detail::global_random_state().call, random_before.call);
  };
  const auto with_meta = [&](const std::function<void(json&)>& edit) {
    json meta = parts.meta;
    edit(meta);
    return join_backup(meta.dump(), parts.weights);
  };

  expect_refused("", "header");
  expect_refused("{\"epoch\": 2}", "header");
  expect_refused(good.substr(0, good.size() / 2), "checksum");
  std::string flipped = good;
  flipped[flipped.size() - 100] = static_cast<char>(flipped[flipped.size() - 100] ^ 0x10);
  expect_refused(flipped, "checksum");
  expect_refused(join_backup("{\"epoch\": 2", parts.weights), "not a JSON object");
  // The epoch: an int (4294967296 used to be cast to 0), at least 1, an integer.
  expect_refused(with_meta([](json& m) { m["epoch"] = 4294967296LL; }), "\"epoch\"");
  expect_refused(with_meta([](json& m) { m["epoch"] = -1; }), "\"epoch\"");
  expect_refused(with_meta([](json& m) { m["epoch"] = 2.0; }), "\"epoch\"");
  expect_refused(with_meta([](json& m) { m["epoch"] = "2"; }), "\"epoch\"");
  expect_refused(with_meta([](json& m) { m.erase("epoch"); }), "has no \"epoch\"");
  // The history: one entry per completed epoch, in order, ending before "epoch".
  expect_refused(with_meta([](json& m) { m["epoch"] = 3; }), "ends at epoch 1");
  expect_refused(with_meta([](json& m) { m["history"].erase(1); }), "ends at epoch 0");
  expect_refused(with_meta([](json& m) { m["history"] = json::array(); }), "\"history\"");
  expect_refused(with_meta([](json& m) { m["history"][1]["epoch"] = 0; }), "\"history\"[1].epoch");
  expect_refused(with_meta([](json& m) { m["history"][0]["logs"]["loss"] = "low"; }),
                 "\"history\"[0].logs.loss");
  expect_refused(with_meta([](json& m) { m["random"]["seed"] = -5; }), "\"random\".seed");
  expect_refused(with_meta([](json& m) { m["random"]["call"] = 1LL << 40; }), "\"random\".call");
  expect_refused(with_meta([](json& m) { m["created_dirs"] = 100000; }), "\"created_dirs\"");
  // A backup that fits another model or optimizer.
  expect_refused(with_meta([](json& m) { m["optimizer"]["class_name"] = "SGD"; }),
                 "another training run");
  fs::remove(file);
  nr::set_seed(1);
  auto wider = classifier(16);
  compile(*wider);
  EXPECT_THROW(
      wider->fit(data.x, data.y,
                 fit_options({nr::callbacks::BackupAndRestore(backup_dir.string()), CrashAt(1)})),
      std::runtime_error);
  expect_refused(read_bytes(file), "another training run");

  // NaN and infinite logs go through (JSON has no literal for them).
  write_bytes(file, with_meta([](json& m) {
                m["history"][0]["logs"]["loss"] = "nan";
                m["history"][1]["logs"]["loss"] = "-inf";
              }));
  const auto history = model->fit(
      data.x, data.y, fit_options({nr::callbacks::BackupAndRestore(backup_dir.string())}, 3));
  ASSERT_EQ(history.history.at("loss").size(), 3u);
  EXPECT_TRUE(std::isnan(history.history.at("loss")[0]));
  EXPECT_EQ(history.history.at("loss")[1], -std::numeric_limits<double>::infinity());
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------
// The kill test: tests/models/helpers/backup_fit_child.cpp, killed with SIGKILL at 20 moments
// spread over its run, then run again to the end, must give the uninterrupted run's result.

namespace {

// Starts the child on the CPU, where results are reproducible bit for bit, on one thread (its
// tiny model needs no more).
pid_t start_child(const fs::path& backup_dir, const fs::path& result) {
  const std::vector<std::string> ours = {"NEURONA_DEVICE=cpu", "OMP_NUM_THREADS=1",
                                         "OPENBLAS_NUM_THREADS=1"};
  std::vector<std::string> env = ours;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string var = *e;
    const bool replaced = std::any_of(ours.begin(), ours.end(), [&](const std::string& o) {
      return var.compare(0, o.find('=') + 1, o, 0, o.find('=') + 1) == 0;
    });
    if (!replaced) env.push_back(var);
  }
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = nr::testing::backup_fit_child_path(), a1 = backup_dir.string(),
              a2 = result.string();
  char* argv[] = {exe.data(), a1.data(), a2.data(), nullptr};
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, envp.data());
  if (rc != 0) throw std::runtime_error("posix_spawn " + exe + ": " + std::strerror(rc));
  return pid;
}

int wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error("waitpid: " + std::string(std::strerror(errno)));
  }
  return status;
}

}  // namespace

TEST(BackupAndRestore, ResumeAfterSigkillAtRandomMomentsEndsAsTheUninterruptedRun) {
  const fs::path dir = scratch("kill");
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  ASSERT_EQ(wait_child(start_child(dir / "ref_backup", dir / "reference")), 0);
  const double run_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const std::string reference = read_bytes(dir / "reference");
  ASSERT_FALSE(reference.empty());
  ASSERT_FALSE(fs::exists(dir / "ref_backup"));

  constexpr int kKills = 20;
  std::mt19937 rng(2024);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  int before_backup = 0, with_backup = 0, with_temporary = 0, after_end = 0;
  std::set<int> epochs_seen;
  for (int i = 0; i < kKills; ++i) {
    // Stratified over the reference run's duration: the first moment is at the very start.
    const double at = run_seconds * (i + u(rng)) / kKills;
    const fs::path backup = dir / ("backup_" + std::to_string(i));
    const fs::path result = dir / ("result_" + std::to_string(i));
    const pid_t pid = start_child(backup, result);
    std::this_thread::sleep_for(std::chrono::duration<double>(at));
    ::kill(pid, SIGKILL);  // a child that has already exited is a zombie until waited for
    const int status = wait_child(pid);
    if (WIFEXITED(status)) {
      ASSERT_EQ(WEXITSTATUS(status), 0) << "kill " << i;
      ++after_end;
    } else {
      ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "kill " << i;
      std::error_code ec;
      bool backup_seen = false;
      for (const auto& e : fs::directory_iterator(backup, ec)) {
        const std::string name = e.path().filename().string();
        if (name == "latest.backup") {
          backup_seen = true;
          epochs_seen.insert(split_backup(read_bytes(e.path())).meta.at("epoch").get<int>());
        }
        if (name.rfind("latest.backup.tmp.", 0) == 0) ++with_temporary;
      }
      ++(backup_seen ? with_backup : before_backup);
    }
    ASSERT_EQ(wait_child(start_child(backup, result)), 0) << "resume after kill " << i;
    EXPECT_EQ(read_bytes(result), reference)
        << "kill " << i << " at " << at << " s of a " << run_seconds << " s run";
    // Nothing of the callback's is left: the folder it made is gone, or, when the kill came
    // between making it and the first backup (a later run cannot tell it made it), empty.
    EXPECT_TRUE(!fs::exists(backup) || fs::is_empty(backup)) << "kill " << i;
  }
  // Where the kills landed (timing decides; the results must match wherever it was).
  std::cout << "[ kills    ] run " << run_seconds << " s; " << before_backup
            << " before the first backup, " << with_backup << " with a backup (epochs";
  for (int e : epochs_seen) std::cout << " " << e;
  std::cout << "), " << with_temporary << " left a temporary file, " << after_end
            << " after the run had ended\n";
  fs::remove_all(dir);
}
