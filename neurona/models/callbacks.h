// Callbacks: hooks that fit(), evaluate() and predict() call at the start and end of training,
// of each epoch and of each batch, as keras.callbacks. Subclass Callback for your own:
//   struct PrintLoss : nr::callbacks::Callback {
//     void on_epoch_end(int epoch, nr::callbacks::Logs& logs) override {
//       std::cout << epoch << ": " << logs["loss"] << "\n";
//     }
//   };
//   model.fit(x, y, {.epochs = 3, .callbacks = {PrintLoss()}});
// Logs map Keras's names ("loss", "accuracy", "val_loss", ...) to values. Per-batch logs cost a
// device-to-host copy, so fit() fills them only for a callback whose wants_batch_logs() is
// true; the others get an empty map on batch ends.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "neurona/core/tensor.h"
#include "neurona/models/progbar.h"

namespace neurona {
class Model;
}  // namespace neurona

namespace neurona::callbacks {

using Logs = std::map<std::string, double>;

/// What fit() tells its callbacks before training (Keras's callback.params).
struct TrainingParams {
  int epochs = 1;
  std::int64_t steps = 0;  ///< batches per epoch; 0 when unknown (a dataset of unknown length)
  int verbose = 1;
};

class Callback {
 public:
  virtual ~Callback() = default;

  /// The model being trained (set by fit/evaluate/predict before the first hook).
  Model& model() const;
  void set_model(Model* model) { model_ = model; }
  const TrainingParams& params() const { return params_; }
  void set_params(const TrainingParams& params) { params_ = params; }

  /// True when on_*_batch_end should receive the batch's logs (which reads values back from the
  /// device). The default is false; override it when a batch hook needs the loss.
  virtual bool wants_batch_logs() const { return false; }

  virtual void on_train_begin(Logs& /*logs*/) {}
  virtual void on_train_end(Logs& /*logs*/) {}
  virtual void on_epoch_begin(int /*epoch*/, Logs& /*logs*/) {}
  virtual void on_epoch_end(int /*epoch*/, Logs& /*logs*/) {}
  virtual void on_train_batch_begin(std::int64_t /*batch*/, Logs& /*logs*/) {}
  virtual void on_train_batch_end(std::int64_t /*batch*/, Logs& /*logs*/) {}
  virtual void on_test_begin(Logs& /*logs*/) {}
  virtual void on_test_end(Logs& /*logs*/) {}
  virtual void on_test_batch_begin(std::int64_t /*batch*/, Logs& /*logs*/) {}
  virtual void on_test_batch_end(std::int64_t /*batch*/, Logs& /*logs*/) {}
  virtual void on_predict_begin(Logs& /*logs*/) {}
  virtual void on_predict_end(Logs& /*logs*/) {}

 private:
  Model* model_ = nullptr;
  TrainingParams params_;
};

/// A callback as fit's `.callbacks` takes it: a shared one (`std::make_shared<EarlyStopping>()`,
/// so that you can read its state afterwards) or a temporary (`EarlyStopping({.patience = 2})`).
class CallbackRef {
 public:
  template <std::derived_from<Callback> T>
  CallbackRef(std::shared_ptr<T> callback)  // NOLINT: implicit by design
      : callback_(std::move(callback)) {}
  template <typename T>
  requires std::derived_from<std::decay_t<T>, Callback> &&
      (!std::is_lvalue_reference_v<T>)CallbackRef(T&& callback)  // NOLINT: implicit
      : callback_(std::make_shared<std::decay_t<T>>(std::forward<T>(callback))) {}

  const std::shared_ptr<Callback>& get() const { return callback_; }

 private:
  std::shared_ptr<Callback> callback_;
};

/// The per-epoch logs of a fit: history["loss"][epoch], as keras.callbacks.History.
class History : public Callback {
 public:
  std::map<std::string, std::vector<double>> history;
  std::vector<int> epoch;

  void on_train_begin(Logs& logs) override;
  void on_epoch_end(int epoch_index, Logs& logs) override;
};

/// The progress bar fit() adds when verbose > 0 (keras.callbacks.ProgbarLogger).
class ProgbarLogger : public Callback {
 public:
  /// `out`: where to print (std::cout by default); `dynamic_display`: redraw in place (default:
  /// whether `out` is std::cout and standard output is a terminal).
  explicit ProgbarLogger(std::ostream* out = nullptr, std::optional<bool> dynamic_display = {},
                         std::function<double()> clock = {});

  bool wants_batch_logs() const override;
  void on_train_begin(Logs& logs) override;
  void on_epoch_begin(int epoch, Logs& logs) override;
  void on_train_batch_end(std::int64_t batch, Logs& logs) override;
  void on_epoch_end(int epoch, Logs& logs) override;
  void on_test_begin(Logs& logs) override;
  void on_test_batch_end(std::int64_t batch, Logs& logs) override;
  void on_test_end(Logs& logs) override;

 private:
  void start();
  std::ostream& out() const;
  /// Finishes the bar of an epoch or an evaluation; an unknown target becomes the steps seen.
  void finish(Logs& logs);
  std::ostream* out_;
  bool dynamic_;
  std::function<double()> clock_;
  std::unique_ptr<Progbar> bar_;
  bool in_fit_ = false;
  /// The steps of a bar: params().steps, or those of the first epoch where that is unknown.
  std::int64_t target_ = 0;
  std::int64_t seen_ = 0;
};

/// Keras's mode argument of the monitoring callbacks.
enum class Mode { Auto, Min, Max };

struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  double min_delta = 0.0;
  int patience = 0;
  int verbose = 0;
  Mode mode = Mode::Auto;
  std::optional<double> baseline = std::nullopt;
  bool restore_best_weights = false;
  int start_from_epoch = 0;
};

/// Stops training when the monitored value has stopped improving for `patience` epochs.
class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options = {});
  void on_train_begin(Logs& logs) override;
  void on_epoch_end(int epoch, Logs& logs) override;
  void on_train_end(Logs& logs) override;
  /// The epoch (0-based) at which training was stopped, 0 when it ran to the end (Keras).
  int stopped_epoch() const { return stopped_epoch_; }
  int best_epoch() const { return best_epoch_; }
  std::optional<double> best() const { return best_; }

 private:
  EarlyStoppingOptions options_;
  int wait_ = 0;
  int stopped_epoch_ = 0;
  int best_epoch_ = 0;
  std::optional<double> best_;
  std::optional<std::vector<Tensor>> best_weights_;
};

struct ModelCheckpointOptions {
  std::string monitor = "val_loss";
  int verbose = 0;
  bool save_best_only = false;
  bool save_weights_only = false;
  Mode mode = Mode::Auto;
  std::optional<double> initial_value_threshold = std::nullopt;
};

/// Saves the model (`.keras`) or its weights (`.weights.h5`) at the end of each epoch, or only
/// when the monitored value improves. `filepath` may hold Keras's placeholders `{epoch}`,
/// `{epoch:02d}` and `{<log name>:.2f}`. Files are written atomically.
class ModelCheckpoint : public Callback {
 public:
  explicit ModelCheckpoint(std::string filepath, ModelCheckpointOptions options = {});
  void on_epoch_end(int epoch, Logs& logs) override;
  /// The path for an epoch (0-based) and logs, placeholders filled.
  std::string file_path(int epoch, const Logs& logs) const;

 private:
  std::string filepath_;
  ModelCheckpointOptions options_;
  std::optional<double> best_;
};

struct BackupAndRestoreOptions {
  /// Remove the backup when training ends normally.
  bool delete_checkpoint = true;
};

/// Saves the training state into `backup_dir` after every epoch; a later fit given a
/// BackupAndRestore on the same folder (after a crash, a kill or Ctrl-C) restores it and
/// resumes at the next epoch, and ends as the uninterrupted run would (bit for bit on the CPU):
///   model.fit(x, y, {.epochs = 20, .callbacks = {nr::callbacks::BackupAndRestore("backup")}});
/// The state is the weights and the optimizer's state (as save_weights writes them), the
/// global random generator's state (fit's shuffling), the layers' seed generators (Dropout's
/// masks), the next epoch and the logs of the completed epochs. Unlike Keras, whose resumed fit
/// returns a History of the new epochs only, a resumed fit here returns the History of the whole
/// run (the restored epochs first), so that it equals the uninterrupted run's and code that plots
/// or logs it needs no special case. As in Keras, other callbacks' state (EarlyStopping's patience,
/// ...) is not saved, and the backup holds what this callback sees at its on_epoch_end: list it
/// after callbacks that change the logs or the optimizer there (ReduceLROnPlateau). A
/// LossScaleOptimizer's scale is not saved either (save_weights does not hold it).
///
/// The backup is one file, `backup_dir/latest.backup`, replaced atomically (written beside it,
/// flushed, renamed, the folder flushed), so that a kill at any moment leaves the previous
/// epoch's state or the new one, never a mix. fit removes temporaries a kill left beside it.
/// A backup that is corrupt or was written for another model is an IoError naming the file.
/// With delete_checkpoint, a fit that ends normally removes the file and the folders this
/// callback created (when they are empty), and nothing else: BackupAndRestore(".") leaves the
/// working folder and its files alone.
class BackupAndRestore : public Callback {
 public:
  explicit BackupAndRestore(std::string backup_dir, BackupAndRestoreOptions options = {});
  void on_train_begin(Logs& logs) override;
  void on_epoch_end(int epoch, Logs& logs) override;
  void on_train_end(Logs& logs) override;
  /// The backup file: `backup_dir/latest.backup`.
  std::string backup_path() const;

 private:
  void restore(const std::string& bytes, const std::string& path);
  std::string backup_dir_;
  BackupAndRestoreOptions options_;
  /// The completed epochs of this run (restored ones included) and their logs.
  std::vector<std::pair<int, Logs>> completed_;
  /// How many folders, from backup_dir up, this callback created (kept in the backup).
  int created_dirs_ = 0;
};

struct ReduceLROnPlateauOptions {
  std::string monitor = "val_loss";
  double factor = 0.1;
  int patience = 10;
  int verbose = 0;
  Mode mode = Mode::Auto;
  double min_delta = 1e-4;
  int cooldown = 0;
  double min_lr = 0.0;
};

/// Multiplies the learning rate by `factor` when the monitored value has not improved for
/// `patience` epochs.
class ReduceLROnPlateau : public Callback {
 public:
  explicit ReduceLROnPlateau(ReduceLROnPlateauOptions options = {});
  void on_train_begin(Logs& logs) override;
  void on_epoch_end(int epoch, Logs& logs) override;

 private:
  ReduceLROnPlateauOptions options_;
  std::optional<double> best_;
  int wait_ = 0;
  int cooldown_counter_ = 0;
};

/// Sets the learning rate at the start of each epoch to schedule(epoch, current rate).
class LearningRateScheduler : public Callback {
 public:
  explicit LearningRateScheduler(std::function<double(int epoch, double lr)> schedule,
                                 int verbose = 0);
  void on_epoch_begin(int epoch, Logs& logs) override;
  void on_epoch_end(int epoch, Logs& logs) override;

 private:
  std::function<double(int, double)> schedule_;
  int verbose_;
};

struct CSVLoggerOptions {
  std::string separator = ",";
  bool append = false;
};

/// Writes one row per epoch (epoch, then the logs in sorted order) to a CSV file.
class CSVLogger : public Callback {
 public:
  explicit CSVLogger(std::string filename, CSVLoggerOptions options = {});
  void on_train_begin(Logs& logs) override;
  void on_epoch_end(int epoch, Logs& logs) override;

 private:
  std::string filename_;
  CSVLoggerOptions options_;
  std::vector<std::string> keys_;
  bool write_header_ = true;
};

/// Stops training at the first batch whose loss is NaN or infinite (or throws, with
/// raise_error).
class TerminateOnNaN : public Callback {
 public:
  explicit TerminateOnNaN(bool raise_error = false) : raise_error_(raise_error) {}
  bool wants_batch_logs() const override { return true; }
  void on_train_batch_end(std::int64_t batch, Logs& logs) override;

 private:
  bool raise_error_;
};

}  // namespace neurona::callbacks
