// Model: predict in batches, and summary() in Keras 3's layout (keras/src/utils/
// summary_utils.py rendered by rich without colour).
#include "neurona/models/model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "neurona/autograd/ops.h"
#include "neurona/models/captured_step.h"

namespace neurona {

Model::Model(std::string class_name, layers::LayerOptions options)
    : layers::Layer(std::move(class_name), std::move(options)) {
  set_autocast_inputs(false);  // as Keras's Functional: the layers cast, the Input keeps its dtype
}

Tensor Model::predict(const Tensor& x, PredictOptions options) {
  NEURONA_CHECK(options.batch_size > 0, ValueError, describe(),
                ".predict: argument `batch_size` must be positive, got ", options.batch_size);
  NEURONA_CHECK(x.defined() && x.rank() >= 1, ValueError, describe(),
                ".predict: expected inputs with a batch dimension, got ",
                x.defined() ? layers::shape_str(x.shape()) : std::string("an undefined tensor"));
  const std::int64_t n = x.shape()[0];
  NEURONA_CHECK(n > 0, ValueError, describe(), ".predict: the inputs have no rows (shape ",
                layers::shape_str(x.shape()), ")");
  // Batches go to the device of the model's weights (the default device before it is built),
  // as fit does, so that host data works with a model on a GPU.
  const auto own = weights();
  const Device device = own.empty() ? default_device() : own.front().device();
  std::vector<Tensor> outputs;
  CapturedStep captured(*this, "predict", device, options.batch_size);
  Tensor out;  // the captured forward pass's output: replays write it in place
  for (std::int64_t start = 0; start < n; start += options.batch_size) {
    const Tensor xb = x.slice(start, std::min(n, start + options.batch_size)).to(device);
    const auto nothing = [] {};
    const auto forward = [&](const std::vector<Tensor>& b) { out = (*this)(b[0], false); };
    if (captured.run({xb}, /*prepare=*/nothing, forward)) {
      outputs.push_back(out.clone());
    } else {
      outputs.push_back((*this)(xb, /*training=*/false));
    }
  }
  return outputs.size() == 1 ? outputs[0] : concat(outputs, 0);
}

namespace {

// 1234567 -> "1,234,567", Python's f"{n:,}".
std::string with_commas(std::int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

// Keras's readable_memory_size: "397.54 KB".
std::string readable_memory_size(double bytes) {
  static const char* units[] = {"B", "KB", "MB", "GB", "TB", "PB"};
  for (const char* unit : units) {
    if (bytes / 1024.0 < 1.0) {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.2f %s", bytes, unit);
      return buf;
    }
    bytes /= 1024.0;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f PB", bytes * 1024.0);
  return buf;
}

std::int64_t count(const std::vector<Variable>& ws) {
  std::int64_t n = 0;
  for (const Variable& v : ws) n += v.shape().numel();
  return n;
}

double memory(const std::vector<Variable>& ws) {
  double bytes = 0.0;
  for (const Variable& v : ws) {
    bytes += static_cast<double>(v.shape().numel()) * static_cast<double>(size_of(v.dtype()));
  }
  return bytes;
}

// Rich's ratio_reduce: takes `total` away from `values`, spread evenly, rounding half to even
// as Python's round() does.
std::vector<int> ratio_reduce(int total, std::vector<int> values) {
  int total_ratio = static_cast<int>(values.size());
  int remaining = total;
  for (int& v : values) {
    const int distributed =
        std::min(v, static_cast<int>(std::nearbyint(static_cast<double>(remaining) / total_ratio)));
    v -= distributed;
    remaining -= distributed;
    --total_ratio;
  }
  return values;
}

// Columns a UTF-8 string takes (one per code point; the summary has no wide characters).
std::size_t columns(const std::string& s) {
  std::size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Rich's cell layout: greedy word wrap to `width` columns; a word longer than a line is cut
// with an ellipsis on a line of its own.
std::vector<std::string> wrap(const std::string& text, std::size_t width) {
  std::vector<std::string> lines;
  std::istringstream words(text);
  std::string word, line;
  while (words >> word) {
    if (word.size() > width) {
      if (!line.empty()) lines.push_back(line), line.clear();
      lines.push_back(word.substr(0, width - 1) + "\u2026");
      continue;
    }
    if (line.empty()) {
      line = word;
    } else if (line.size() + 1 + word.size() <= width) {
      line += " " + word;
    } else {
      lines.push_back(line);
      line = word;
    }
  }
  if (!line.empty() || lines.empty()) lines.push_back(line);
  return lines;
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

std::string Model::summary_string(SummaryOptions options) const {
  // Column widths as Keras computes them, then as rich fits them (with one space of padding
  // on each side) into the table's width less its four borders.
  const double positions[] = {0.45, 0.80, 1.0};
  const int line_length = options.line_length;
  std::vector<int> widths;
  int current = 0;
  for (double pos : positions) {
    const int width = static_cast<int>(pos * line_length) - current;
    NEURONA_CHECK(width >= 4, ValueError, "summary: insufficient console width (line_length ",
                  line_length, ") to print summary.");
    widths.push_back(width + 2);
    current += width;
  }
  const int max_width = line_length - 4;
  int table_width = 0;
  for (int w : widths) table_width += w;
  if (table_width > max_width) widths = ratio_reduce(table_width - max_width, widths);

  const bool right[] = {false, false, true};
  auto row = [&](const std::vector<std::string>& cells, const std::string& bar) {
    std::vector<std::vector<std::string>> wrapped;
    std::size_t height = 1;
    for (std::size_t c = 0; c < cells.size(); ++c) {
      wrapped.push_back(wrap(cells[c], static_cast<std::size_t>(widths[c] - 2)));
      height = std::max(height, wrapped.back().size());
    }
    std::string out;
    for (std::size_t l = 0; l < height; ++l) {
      out += bar;
      for (std::size_t c = 0; c < cells.size(); ++c) {
        const std::string text = l < wrapped[c].size() ? wrapped[c][l] : "";
        const std::string pad(static_cast<std::size_t>(widths[c] - 2) - columns(text), ' ');
        out += ' ';
        out += right[c] ? pad : text;
        out += right[c] ? text : pad;
        out += ' ';
        out += bar;
      }
      out += "\n";
    }
    return out;
  };
  auto edge = [&](const std::string& left, const std::string& fill, const std::string& mid,
                  const std::string& end) {
    std::string out = left;
    for (std::size_t c = 0; c < widths.size(); ++c) {
      out += repeat(fill, widths[c]) + (c + 1 < widths.size() ? mid : end);
    }
    return out + "\n";
  };

  std::string out = "Model: \"" + name() + "\"\n";
  out += edge("┏", "━", "┳", "┓");
  out += row({"Layer (type)", "Output Shape", "Param #"}, "┃");
  out += edge("┡", "━", "╇", "┩");
  const auto layers = this->layers();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const layers::Layer& layer = *layers[i];
    const auto& shape = layer.known_output_shape();
    const std::string output = layer.built() && shape ? layers::shape_str(*shape) : "?";
    const std::string params = layer.built() ? with_commas(layer.count_params()) : "0 (unbuilt)";
    out += row({layer.name() + " (" + layer.class_name() + ")", output, params}, "│");
    if (i + 1 < layers.size()) out += edge("├", "─", "┼", "┤");
  }
  out += edge("└", "─", "┴", "┘");

  const std::vector<Variable> trainable = trainable_weights();
  const std::vector<Variable> frozen = non_trainable_weights();
  out += " Total params: " + with_commas(count(trainable) + count(frozen)) + " (" +
         readable_memory_size(memory(trainable) + memory(frozen)) + ")\n";
  out += " Trainable params: " + with_commas(count(trainable)) + " (" +
         readable_memory_size(memory(trainable)) + ")\n";
  out += " Non-trainable params: " + with_commas(count(frozen)) + " (" +
         readable_memory_size(memory(frozen)) + ")\n";
  return out;
}

void Model::summary(std::ostream& os, SummaryOptions options) const {
  os << summary_string(options);
}

}  // namespace neurona
