// Model: predict in batches, and summary() in Keras 3's layout (keras/src/utils/
// summary_utils.py rendered by rich without colour).
#include "neurona/models/model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "neurona/autograd/ops.h"
#include "neurona/distribution/distribution.h"
#include "neurona/models/captured_step.h"
#include "neurona/models/functional.h"

namespace neurona {

Model::Model(std::string class_name, layers::LayerOptions options)
    : layers::Layer(std::move(class_name), std::move(options)) {
  set_autocast_inputs(false);  // as Keras's Functional: the layers cast, the Input keeps its dtype
  set_call_takes_mask(true);   // Keras's Model.call(inputs, training=None, mask=None)
}

Model::Model(KerasTensors inputs, KerasTensors outputs, layers::LayerOptions options)
    : Model("Functional", std::move(options)) {
  graph_ = std::make_shared<FunctionalGraph>(std::move(inputs.list), std::move(outputs.list),
                                             describe());
  for (const auto& layer : graph_->layers()) {
    if (dynamic_cast<const layers::InputLayer*>(layer.get()) == nullptr) track_layer(layer);
  }
  // Built at construction, for the inputs' shapes (as a list where there are several inputs
  // or outputs).
  std::vector<Shape> shapes;
  for (const auto& x : graph_->inputs()) shapes.push_back(x.shape());
  if (shapes.size() == 1 && graph_->outputs().size() == 1) {
    mark_built(shapes[0]);
  } else {
    mark_built(shapes);
  }
}

std::vector<std::shared_ptr<layers::Layer>> Model::layers() const {
  return graph_ ? graph_->layers() : sublayers();
}

std::shared_ptr<layers::Layer> Model::get_layer(const std::string& name) const {
  const std::vector<std::shared_ptr<layers::Layer>> all = layers();
  for (const auto& layer : all) {
    if (layer->name() == name) return layer;
  }
  std::string names;
  for (const auto& layer : all) names += (names.empty() ? "'" : ", '") + layer->name() + "'";
  throw ValueError(detail::str(describe(), ".get_layer: No such layer: ", name,
                               ". Existing layers are: [", names, "]."));
}

std::shared_ptr<layers::Layer> Model::get_layer(int index) const {
  const std::vector<std::shared_ptr<layers::Layer>> all = layers();
  NEURONA_CHECK(index >= 0 && static_cast<std::size_t>(index) < all.size(), ValueError, describe(),
                ".get_layer: Was asked to retrieve layer at index ", index, " but model only has ",
                all.size(), " layers.");
  return all[static_cast<std::size_t>(index)];
}

std::vector<layers::KerasTensor> Model::input_list() const {
  return graph_ ? graph_->inputs() : Layer::input_list();
}

std::vector<layers::KerasTensor> Model::output_list() const {
  return graph_ ? graph_->outputs() : Layer::output_list();
}

const std::vector<layers::KerasTensor>& Model::inputs() const {
  NEURONA_CHECK(graph_ != nullptr, ValueError, describe(),
                ": only a functional model has symbolic inputs");
  return graph_->inputs();
}

const std::vector<layers::KerasTensor>& Model::outputs() const {
  NEURONA_CHECK(graph_ != nullptr, ValueError, describe(),
                ": only a functional model has symbolic outputs");
  return graph_->outputs();
}

std::vector<std::string> Model::output_names() const {
  if (!graph_) return {};
  std::vector<std::string> names;
  for (const auto& t : graph_->outputs()) names.push_back(t.layer().name());
  return names;
}

Tensor Model::call(const Tensor& inputs, bool training) {
  NEURONA_CHECK(graph_ != nullptr, NotImplementedError, describe(),
                ": a subclassed model overrides call()");
  NEURONA_CHECK(graph_->outputs().size() == 1, ValueError, describe(), " has ",
                graph_->outputs().size(), " outputs; call apply() to get them all");
  return graph_->run({inputs}, training, describe())[0];
}

std::vector<Tensor> Model::call_list(const std::vector<Tensor>& inputs, bool training) {
  if (!graph_) return Layer::call_list(inputs, training);
  return graph_->run(inputs, training, describe());
}

namespace {
// `x` carrying `mask` (a view; x itself unchanged), or x where the mask is undefined or the
// one it carries.
Tensor carrying(const Tensor& x, const Tensor& mask) {
  if (!mask.defined() || !x.defined() || x.keras_mask().is_same(mask)) return x;
  Tensor out = x.alias();
  out.set_keras_mask(mask);
  return out;
}
}  // namespace

Tensor Model::call_with_mask(const Tensor& inputs, const Tensor& mask, bool training) {
  return call(carrying(inputs, mask), training);
}

std::vector<Tensor> Model::call_list_with_masks(const std::vector<Tensor>& inputs,
                                                const std::vector<Tensor>& masks, bool training) {
  // The model's layers read the masks from its inputs, as Keras's Functional.call attaches a
  // mask it is given to them.
  std::vector<Tensor> masked = inputs;
  for (std::size_t i = 0; i < masked.size() && i < masks.size(); ++i) {
    masked[i] = carrying(inputs[i], masks[i]);
  }
  return call_list(masked, training);
}

Shape Model::compute_output_shape(const Shape& input_shape) const {
  if (!graph_) return Layer::compute_output_shape(input_shape);
  const std::vector<Shape> out = compute_output_shape_list({input_shape});
  NEURONA_CHECK(out.size() == 1, ValueError, describe(), " has ", out.size(), " outputs");
  return out[0];
}

std::vector<Shape> Model::compute_output_shape_list(const std::vector<Shape>& input_shapes) const {
  if (!graph_) return Layer::compute_output_shape_list(input_shapes);
  const auto& ins = graph_->inputs();
  NEURONA_CHECK(input_shapes.size() == ins.size(), ValueError, describe(), ": expected ",
                ins.size(), " input shapes, got ", input_shapes.size());
  for (std::size_t i = 0; i < ins.size(); ++i) {
    const Shape& want = ins[i].shape();
    const Shape& got = input_shapes[i];
    bool ok = want.rank() == got.rank();
    for (int d = 0; ok && d < want.rank(); ++d) ok = want[d] < 0 || got[d] < 0 || want[d] == got[d];
    NEURONA_CHECK(ok, ShapeError, describe(), ": input '", ins[i].layer().name(),
                  "' expects shape ", layers::shape_str(want), ", got ", layers::shape_str(got));
  }
  // The graph's shapes, with the batch of the inputs given.
  const std::int64_t batch = input_shapes[0].rank() > 0 ? input_shapes[0][0] : -1;
  std::vector<Shape> out;
  for (const auto& t : graph_->outputs()) {
    std::vector<std::int64_t> dims = t.shape().dims();
    if (!dims.empty() && dims[0] < 0) dims[0] = batch;
    out.emplace_back(std::move(dims));
  }
  return out;
}

std::vector<layers::TensorSpec> Model::compute_output_spec(
    const std::vector<layers::TensorSpec>& inputs, bool list_call) {
  if (!graph_) return Layer::compute_output_spec(inputs, list_call);
  std::vector<Shape> shapes;
  for (const auto& s : inputs) shapes.push_back(s.shape);
  const std::vector<Shape> out = compute_output_shape_list(shapes);
  std::vector<layers::TensorSpec> specs;
  for (std::size_t i = 0; i < out.size(); ++i) {
    specs.push_back({out[i], graph_->outputs()[i].dtype()});
  }
  return specs;
}

std::vector<Tensor> Model::forward(const std::vector<Tensor>& inputs, bool training) {
  // One tensor goes through operator()(Tensor), so that a model built by it stays built for
  // one input (not for a list of one).
  if (inputs.size() == 1 && (!graph_ || graph_->outputs().size() == 1)) {
    return {(*this)(inputs[0], training)};
  }
  return apply(inputs, training);
}

Tensor Model::predict(const Tensor& x, PredictOptions options) {
  std::vector<Tensor> out = predict(std::vector<Tensor>{x}, options);
  NEURONA_CHECK(out.size() == 1, ValueError, describe(), ".predict: the model has ", out.size(),
                " outputs; call predict with a list of inputs to get them all");
  return out[0];
}

std::vector<Tensor> Model::predict(const std::vector<Tensor>& x, PredictOptions options) {
  NEURONA_CHECK(options.batch_size > 0, ValueError, describe(),
                ".predict: argument `batch_size` must be positive, got ", options.batch_size);
  NEURONA_CHECK(!x.empty(), ValueError, describe(), ".predict: no inputs given");
  for (std::size_t i = 0; i < x.size(); ++i) {
    NEURONA_CHECK(
        x[i].defined() && x[i].rank() >= 1, ValueError, describe(),
        ".predict: expected inputs with a batch dimension, got ",
        x[i].defined() ? layers::shape_str(x[i].shape()) : std::string("an undefined tensor"),
        x.size() > 1 ? " for input " + std::to_string(i) : std::string());
  }
  const std::int64_t n = x[0].shape()[0];
  NEURONA_CHECK(n > 0, ValueError, describe(), ".predict: the inputs have no rows (shape ",
                layers::shape_str(x[0].shape()), ")");
  for (std::size_t i = 1; i < x.size(); ++i) {
    NEURONA_CHECK(x[i].shape()[0] == n, ValueError, describe(),
                  ".predict: all inputs need the same number of rows; input 0 has ", n, ", input ",
                  i, " has ", x[i].shape()[0]);
  }
  std::int64_t start = 0;
  return predict_batches(
      [&]() -> std::optional<std::vector<Tensor>> {
        if (start >= n) return std::nullopt;
        std::vector<Tensor> batch;
        for (const Tensor& t : x) batch.push_back(t.slice(start, start + options.batch_size));
        start += options.batch_size;
        return batch;
      },
      describe() + ".predict");
}

std::vector<Tensor> Model::predict(const data::Dataset& dataset, PredictOptions options) {
  const std::string caller = describe() + ".predict";
  NEURONA_CHECK(!options.steps || *options.steps > 0, ValueError, caller,
                ": argument `steps` must be positive, got ", options.steps.value_or(0));
  NEURONA_CHECK(options.steps || dataset.cardinality() != data::kInfiniteCardinality, ValueError,
                caller, ": the dataset is infinite (", dataset.describe(), "); give `steps`");
  const std::size_t inputs = graph_ ? this->inputs().size() : 1;
  data::Iterator it = dataset.iterator();
  std::int64_t taken = 0;
  return predict_batches(
      [&]() -> std::optional<std::vector<Tensor>> {
        if (options.steps && taken >= *options.steps) return std::nullopt;
        std::optional<data::Element> e = it.next();
        if (!e) return std::nullopt;
        ++taken;
        if (const data::ElementStructure* s = dataset.structure()) {
          return input_tensors(s->group(*e, caller)[0], caller);  // x, matched by name
        }
        NEURONA_CHECK(e->size() >= inputs, ValueError, caller, ": a dataset element has ",
                      e->size(), " tensors for a model with ", inputs, " inputs");
        e->resize(inputs);
        return std::move(*e);
      },
      caller);
}

namespace {

// The outputs of `batch` under a DataParallel distribution: each replica runs `forward` on its
// rows (DataParallel::shard) and one all-reduce of the batch's outputs, zero outside each
// replica's rows, gives every rank the whole batch's predictions (each value is one replica's,
// plus zeros: the sum is exact). A batch with fewer rows than replicas, or a model with an output
// that is not floating (which the all-reduce does not sum), is predicted whole on every replica.
std::vector<Tensor> predict_sharded(
    const distribution::DataParallel& dp, const std::vector<Tensor>& batch,
    const std::function<std::vector<Tensor>(const std::vector<Tensor>&)>& forward) {
  const std::int64_t rows = batch.front().shape()[0];
  if (rows < dp.num_replicas()) return forward(batch);
  const auto [begin, end] = dp.shard(rows);
  std::vector<Tensor> mine;
  for (const Tensor& t : batch) mine.push_back(t.slice(begin, end));
  const std::vector<Tensor> part = forward(mine);
  // The same on every rank: the same model.
  for (const Tensor& p : part) {
    if (!is_floating(p.dtype())) return forward(batch);
  }
  std::vector<Tensor> whole;
  for (const Tensor& p : part) {
    std::vector<Tensor> pieces;
    const auto zeros_of = [&](std::int64_t n) {
      std::vector<std::int64_t> dims(p.shape().begin(), p.shape().end());
      dims[0] = n;
      return zeros(Shape(std::move(dims)), {.dtype = p.dtype(), .device = p.device()});
    };
    if (begin > 0) pieces.push_back(zeros_of(begin));
    pieces.push_back(p);
    if (end < rows) pieces.push_back(zeros_of(rows - end));
    whole.push_back(pieces.size() == 1 ? p : concat(pieces, 0));
  }
  dp.communicator().all_reduce_sum(whole);
  return whole;
}

}  // namespace

std::vector<Tensor> Model::predict_batches(
    const std::function<std::optional<std::vector<Tensor>>()>& next, const std::string& caller) {
  std::vector<std::vector<Tensor>> outputs;  // per batch
  std::unique_ptr<CapturedStep> captured;
  std::vector<Tensor> out;  // the captured forward pass's outputs: replays write them in place
  // Under a distribution of several replicas each predicts its part of every batch (not
  // captured, as fit's distributed steps).
  const std::shared_ptr<distribution::DataParallel> dp = distribution::distribution();
  const bool sharded = dp != nullptr && dp->num_replicas() > 1;
  while (std::optional<std::vector<Tensor>> given = next()) {
    // Batches go to the device of the model's weights (the default device before it is built),
    // as fit does, so that host data works with a model on a GPU.
    const auto own = weights();
    const Device device = own.empty() ? default_device() : own.front().device();
    std::vector<Tensor> batch;
    for (const Tensor& t : *given) batch.push_back(t.to(device));
    if (sharded) {
      outputs.push_back(predict_sharded(
          *dp, batch, [&](const std::vector<Tensor>& b) { return forward(b, false); }));
      continue;
    }
    // Replays serve batches of the first one's size.
    if (!captured) {
      captured = std::make_unique<CapturedStep>(*this, "predict", device, batch.front().shape()[0]);
    }
    const auto nothing = [] {};
    const auto run = [&](const std::vector<Tensor>& b) { out = forward(b, false); };
    if (captured->run(batch, /*prepare=*/nothing, run)) {
      std::vector<Tensor> copies;
      for (const Tensor& t : out) copies.push_back(t.clone());
      outputs.push_back(std::move(copies));
    } else {
      outputs.push_back(forward(batch, /*training=*/false));
    }
  }
  NEURONA_CHECK(!outputs.empty(), ValueError, caller, ": the data gave no batches to predict");
  std::vector<Tensor> joined;
  for (std::size_t k = 0; k < outputs[0].size(); ++k) {
    std::vector<Tensor> parts;
    for (const auto& b : outputs) parts.push_back(b[k]);
    joined.push_back(parts.size() == 1 ? parts[0] : concat(parts, 0));
  }
  return joined;
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
  // Keras's print_summary: a functional model that is not a chain of layers gets the "Connected
  // to" column (each call's inputs as layer[node][tensor]) and a wider default.
  const bool connected = graph_ && !graph_->sequential_like();
  const std::vector<double> positions =
      connected ? std::vector<double>{0.3, 0.56, 0.74, 1.0} : std::vector<double>{0.45, 0.80, 1.0};
  const int line_length = options.line_length > 0 ? options.line_length : connected ? 108 : 88;
  // Column widths as Keras computes them, then as rich fits them (with one space of padding
  // on each side) into the table's width less its borders.
  std::vector<int> widths;
  int current = 0;
  for (double pos : positions) {
    const int width = static_cast<int>(pos * line_length) - current;
    NEURONA_CHECK(width >= 4, ValueError, "summary: insufficient console width (line_length ",
                  line_length, ") to print summary.");
    widths.push_back(width + 2);
    current += width;
  }
  const int max_width = line_length - static_cast<int>(positions.size()) - 1;
  int table_width = 0;
  for (int w : widths) table_width += w;
  if (table_width > max_width) widths = ratio_reduce(table_width - max_width, widths);

  const bool right[] = {false, false, true, false};
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
  std::vector<std::string> header{"Layer (type)", "Output Shape", "Param #"};
  if (connected) header.push_back("Connected to");
  out += row(header, "┃");
  out += edge("┡", "━", "╇", "┩");
  const auto layers = this->layers();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const layers::Layer& layer = *layers[i];
    const auto& shape = layer.known_output_shape();
    std::string output = layer.built() && shape ? layers::shape_str(*shape) : "?";
    std::string connections;
    if (graph_) {
      // Keras shows the outputs of the layer's last call, and every call's inputs.
      for (const layers::Node* node : graph_->nodes_of(layer)) {
        output = layers::specs_str(node->outputs);
        for (const auto& in : node->inputs) {
          if (!connections.empty()) connections += ", ";
          connections += in.layer().name() + "[" + std::to_string(in.node_index()) + "][" +
                         std::to_string(in.tensor_index()) + "]";
        }
      }
    }
    const std::string params = layer.built() ? with_commas(layer.count_params()) : "0 (unbuilt)";
    std::vector<std::string> cells{layer.name() + " (" + layer.class_name() + ")", output, params};
    if (connected) cells.push_back(connections.empty() ? "-" : connections);
    out += row(cells, "│");
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
