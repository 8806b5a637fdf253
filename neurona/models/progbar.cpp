// Progbar: a line-for-line port of keras/src/utils/progbar.py's verbose 1 and 2 output.
#include "neurona/models/progbar.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "neurona/core/error.h"

namespace neurona::callbacks {

namespace {

std::string printf_string(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// Display width of UTF-8 text: one column per code point (the bar's "━" is one).
std::size_t display_width(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string repeat(const std::string& s, std::int64_t n) {
  std::string out;
  for (std::int64_t i = 0; i < n; ++i) out += s;
  return out;
}

const char* const kBold = "\x1b[1m";
const char* const kGreen = "\x1b[32m";
const char* const kWhite = "\x1b[37m";
const char* const kReset = "\x1b[0m";
const char* const kBarChar = "\u2501";  // ━

}  // namespace

std::string format_log_value(double v) {
  return std::abs(v) > 1e-3 ? printf_string("%.4f", v) : printf_string("%.4e", v);
}

std::string format_step_time(double t, const std::string& unit_name) {
  if (t >= 1 || t == 0) return printf_string(" %.0fs/", t) + unit_name;
  if (t >= 1e-3) return printf_string(" %.0fms/", t * 1000.0) + unit_name;
  return printf_string(" %.0fus/", t * 1e6) + unit_name;
}

Progbar::Progbar(std::int64_t target, std::ostream& out, ProgbarOptions options)
    : target_(target), out_(out), options_(std::move(options)) {
  NEURONA_CHECK(target >= 0, ValueError,
                "Progbar: argument `target` must be positive (or 0 for unknown), got ", target);
  start_ = now();
}

double Progbar::now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool Progbar::wants_update(bool finalize) const {
  if (options_.verbose == 0) return false;
  if (finalize) return true;
  if (options_.verbose == 2 || !options_.dynamic_display) return false;
  return now() - last_update_ >= options_.interval;
}

double Progbar::estimate_step_duration(std::int64_t current, double t) {
  if (current == 0) return 0.0;
  double per_unit = 0;
  if (time_after_first_step_ >= 0 && current > 1) {
    per_unit = (t - time_after_first_step_) / static_cast<double>(current - 1);
  } else {
    per_unit = (t - start_) / static_cast<double>(current);
  }
  if (current == 1) time_after_first_step_ = t;
  return per_unit;
}

void Progbar::update(std::int64_t current,
                     const std::vector<std::pair<std::string, double>>& values, bool finalize) {
  const bool known = target_ > 0;
  finalize = finalize || (known && current >= target_);
  for (const auto& [name, v] : values) {
    auto it = std::find(order_.begin(), order_.end(), name);
    std::size_t k = static_cast<std::size_t>(it - order_.begin());
    if (it == order_.end()) {
      order_.push_back(name);
      values_.push_back({0.0, 0.0});
    }
    if (finalize) {
      values_[k] = {v, 1.0};
    } else {
      const double base = static_cast<double>(std::max<std::int64_t>(current - seen_so_far_, 1));
      if (values_[k].second == 0.0) {
        values_[k] = {v * base, base};
      } else {
        values_[k].first += v * base;
        values_[k].second += base;
      }
    }
  }
  seen_so_far_ = current;

  const double t = now();
  const double per_unit = estimate_step_duration(current, t);
  const bool dynamic = options_.dynamic_display;
  auto styled = [&](const char* style, const std::string& text) {
    return dynamic ? style + text + kReset : text;
  };
  auto metrics_text = [&] {
    std::string s;
    for (std::size_t k = 0; k < order_.size(); ++k) {
      s += " - " + order_[k] + ": " +
           format_log_value(values_[k].first / std::max(1.0, values_[k].second));
    }
    return s;
  };
  char count[64];
  if (known) {
    const int digits = static_cast<int>(std::log10(static_cast<double>(target_))) + 1;
    std::snprintf(count, sizeof count, "%*lld/%lld", digits, static_cast<long long>(current),
                  static_cast<long long>(target_));
  } else {
    std::snprintf(count, sizeof count, "%7lld/Unknown", static_cast<long long>(current));
  }

  if (options_.verbose == 1) {
    if (!finalize && (!dynamic || t - last_update_ < options_.interval)) return;
    std::string bar;
    std::size_t bar_width = display_width(count);
    if (known) {
      bar = styled(kBold, count) + " ";
      const std::int64_t prog_width = static_cast<std::int64_t>(
          options_.width * (static_cast<double>(current) / static_cast<double>(target_)));
      if (prog_width > 0) bar += styled(kGreen, repeat(kBarChar, prog_width));
      bar += styled(kWhite, repeat(kBarChar, options_.width - prog_width));
      bar_width += 1 + static_cast<std::size_t>(options_.width);
    } else {
      bar = count;
    }
    std::string info;
    if (known && !finalize) {
      const double eta = per_unit * static_cast<double>(target_ - current);
      char buf[64];
      const auto e = static_cast<long long>(eta);
      if (eta > 3600) {
        std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", e / 3600, (e % 3600) / 60, e % 60);
      } else if (eta > 60) {
        std::snprintf(buf, sizeof buf, "%lld:%02lld", e / 60, e % 60);
      } else {
        std::snprintf(buf, sizeof buf, "%llds", e);
      }
      info = std::string(" ").append(styled(kBold, buf));
    } else {
      info = std::string(" ").append(styled(kBold, printf_string("%.0fs", t - start_)));
    }
    info += format_step_time(per_unit, options_.unit_name) + metrics_text();
    std::string message;
    if (dynamic) message = std::string(prev_total_width_, '\b') + "\r";
    message += bar + info;
    const std::size_t plain_width = bar_width + display_width(info) - (dynamic ? 8 : 0);
    if (dynamic && prev_total_width_ > plain_width) {
      message += std::string(prev_total_width_ - plain_width, ' ');
    }
    if (finalize) message += "\n";
    out_ << message << std::flush;
    prev_total_width_ = plain_width;
  } else if (options_.verbose == 2) {
    if (finalize && known) {
      out_ << count << " - " << printf_string("%.0fs", t - start_) << " -"
           << format_step_time(per_unit, options_.unit_name) << metrics_text() << "\n"
           << std::flush;
    }
  }
  last_update_ = t;
}

}  // namespace neurona::callbacks
