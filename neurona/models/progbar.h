// Progbar: Keras 3's progress bar (keras.utils.Progbar), the text fit() and evaluate() print:
//   469/469 ━━━━━━━━━━━━━━━━━━━━ 3s 6ms/step - accuracy: 0.8512 - loss: 0.4194
// On a terminal the bar redraws in place with an ETA while an epoch runs (Keras's colours);
// elsewhere (a log file, a pipe) only the finished line is printed, one line per epoch, without
// escape codes. The clock is injectable so that tests can check the text of a known run.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

namespace neurona::callbacks {

struct ProgbarOptions {
  /// Characters of the bar.
  int width = 20;
  /// 1: the bar; 2: one "N/N - 3s - 6ms/step - loss: ..." line when finished; 0: silent.
  int verbose = 1;
  /// Redraws at most this often (seconds), except the final update.
  double interval = 0.05;
  /// Redraw in place with escape codes (a terminal); false prints only the finished line.
  bool dynamic_display = false;
  std::string unit_name = "step";
  /// Seconds since an arbitrary origin; std::chrono::steady_clock when empty.
  std::function<double()> clock = {};
};

class Progbar {
 public:
  /// `target`: the number of steps, or 0 when it is unknown (Keras's None: a dataset of unknown
  /// cardinality), which shows "<current>/Unknown" and the time so far instead of a bar.
  Progbar(std::int64_t target, std::ostream& out, ProgbarOptions options = {});

  /// Sets the number of steps once it is known (the end of an epoch of unknown length).
  void set_target(std::int64_t target) { target_ = target; }

  /// Records step `current` (1-based count of finished steps) with the values to show. Values
  /// are averaged over the steps seen, as Keras does, except on the final update (current ==
  /// target, or `finalize`), which shows them as given.
  void update(std::int64_t current, const std::vector<std::pair<std::string, double>>& values,
              bool finalize = false);

  /// Whether an update at this moment would redraw (so a caller can skip computing values).
  bool wants_update(bool finalize = false) const;

 private:
  double now() const;
  double estimate_step_duration(std::int64_t current, double now);

  std::int64_t target_;
  std::ostream& out_;
  ProgbarOptions options_;
  std::vector<std::string> order_;
  std::vector<std::pair<double, double>> values_;  // (weighted sum, weight), by order_
  std::int64_t seen_so_far_ = 0;
  double start_ = 0;
  double last_update_ = -1e300;
  double time_after_first_step_ = -1;
  std::size_t prev_total_width_ = 0;
};

/// Keras's "%.4f" or "%.4e" (below 1e-3 in magnitude) for a logged value.
std::string format_log_value(double v);

/// Keras's " 6ms/step", " 3s/step", " 250us/step".
std::string format_step_time(double seconds_per_unit, const std::string& unit_name);

}  // namespace neurona::callbacks
