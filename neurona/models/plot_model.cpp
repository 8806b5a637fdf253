// keras/src/utils/model_visualization.py in C++: the same HTML-like labels and graph settings,
// written as DOT text rather than through pydot.
#include "neurona/models/plot_model.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "neurona/core/error.h"
#include "neurona/core/io.h"
#include "neurona/layers/input_layer.h"
#include "neurona/models/functional.h"
#include "neurona/models/sequential.h"

namespace neurona::utils {

namespace {

// Text inside an HTML-like label.
std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// What a box shows of the layer's inputs and outputs: known for a layer called once (in a
// functional model, or built in a Sequential), "?" otherwise, as Keras's layer.input raises
// for a shared layer.
struct Io {
  std::string input = "?", output = "?", dtype = "?";
};

std::string shapes_of(const std::vector<layers::KerasTensor>& tensors) {
  std::vector<layers::TensorSpec> specs;
  for (const auto& t : tensors) specs.push_back(t.spec());
  return layers::specs_str(specs);
}

std::string make_label(const layers::Layer& layer, const Io& io, const PlotOptions& o) {
  const std::string& class_name = layer.class_name();
  std::string table = R"(<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">)";
  int colspan_max = int{o.show_dtype} + int{o.show_trainable} + (o.show_shapes ? 2 : 0);
  const int colspan = std::max(1, colspan_max);
  const std::string head =
      o.show_layer_names
          ? neurona::detail::str("<b>", escape(layer.name()), "</b> (", escape(class_name), ")")
          : neurona::detail::str("<b>", escape(class_name), "</b>");
  table += neurona::detail::str(R"(<tr><td colspan=")", colspan,
                                R"(" bgcolor="black"><font point-size="16" color="white">)", head,
                                "</font></td></tr>");
  if (o.show_layer_activations) {
    const ConfigValue config = layer.get_config();
    const ConfigValue* activation = config.find("activation");
    if (activation != nullptr && activation->kind() == ConfigValue::Kind::String) {
      table += neurona::detail::str(R"(<tr><td bgcolor="white" colspan=")", colspan,
                                    R"("><font point-size="14">Activation: <b>)",
                                    escape(activation->as_string()), "</b></font></td></tr>");
    }
  }
  std::vector<std::string> cols;
  const auto cell = [](const std::string& what, const std::string& value) {
    return neurona::detail::str(R"(<td bgcolor="white"><font point-size="14">)", what, ": <b>",
                                escape(value), "</b></font></td>");
  };
  if (o.show_shapes) {
    if (class_name != "InputLayer") cols.push_back(cell("Input shape", io.input));
    cols.push_back(cell("Output shape", io.output));
  }
  if (o.show_dtype) cols.push_back(cell("Output dtype", io.dtype));
  if (o.show_trainable && !layer.weights().empty()) {
    cols.push_back(
        layer.trainable()
            ? R"(<td bgcolor="forestgreen"><font point-size="14" color="white"><b>Trainable</b></font></td>)"
            : R"(<td bgcolor="firebrick"><font point-size="14" color="white"><b>Non-trainable</b></font></td>)");
  }
  if (!cols.empty()) {
    table += "<tr>";
    for (const auto& c : cols) table += c;
    table += "</tr>";
  }
  return table + "</table>>";
}

void check(const PlotOptions& o) {
  NEURONA_CHECK(o.rankdir == "TB" || o.rankdir == "LR" || o.rankdir == "BT" || o.rankdir == "RL",
                ValueError,
                "model_to_dot: argument `rankdir` must be \"TB\" or \"LR\" (or \"BT\", "
                "\"RL\"), got \"",
                o.rankdir, "\"");
  NEURONA_CHECK(o.dpi > 0, ValueError, "model_to_dot: argument `dpi` must be positive, got ",
                o.dpi);
  static const char* const kSplines[] = {"ortho", "curved", "polyline", "spline",  "line",
                                         "true",  "false",  "none",     "compound"};
  bool known = false;
  for (const char* s : kSplines) known = known || o.splines == s;
  NEURONA_CHECK(known, ValueError,
                "model_to_dot: argument `splines` must be \"ortho\", \"curved\", \"polyline\", "
                "\"spline\" or \"line\", got \"",
                o.splines, "\"");
}

}  // namespace

namespace {

// Writes a model's boxes and arrows, and with expand_nested those of the Functional and
// Sequential models nested in it, each in a dashed cluster (Keras's model_to_dot with
// subgraph=True). Boxes are named by layer, so a layer drawn once has one box.
class DotWriter {
 public:
  DotWriter(const PlotOptions& options, std::ostringstream& dot) : o_(options), dot_(dot) {}

  void model(const Model& model) {
    if (const FunctionalGraph* graph = model.graph()) {
      for (const auto& layer : graph->layers()) {
        Io io;
        const auto calls = graph->nodes_of(*layer);
        if (calls.size() == 1) {
          const layers::Node& node = *calls.front();
          if (!node.inputs.empty()) io.input = shapes_of(node.inputs);
          io.output = layers::specs_str(node.outputs);
          io.dtype = std::string(name(node.outputs.front().dtype));
        }
        box(*layer, io);
      }
      for (const auto& layer : graph->layers()) {
        for (const layers::Node* node : graph->nodes_of(*layer)) {
          for (std::size_t i = 0; i < node->inputs.size(); ++i) {
            const layers::KerasTensor& input = node->inputs[i];
            arrow(source(&input.layer(), input.tensor_index()),
                  destination(layer.get(), static_cast<int>(i)));
          }
        }
      }
    } else if (dynamic_cast<const Sequential*>(&model) != nullptr) {
      const auto list = model.layers();
      for (const auto& layer : list) {
        Io io;
        if (layer->built() && !layer->built_for_list()) {
          io.input = layers::shape_str(layer->build_input_shape());
          try {
            io.output = layers::shape_str(layer->output_shape());
          } catch (const ValueError&) {
            // not known until the layer runs
          }
          io.dtype = std::string(name(layer->compute_dtype()));
        }
        box(*layer, io);
      }
      for (std::size_t i = 0; i + 1 < list.size(); ++i) {
        arrow(source(list[i].get(), 0), destination(list[i + 1].get(), 0));
      }
    } else {
      // A subclassed model is one box, as Keras draws it.
      box(model, Io{});
    }
  }

 private:
  // A nested model that expand_nested draws as its layers: a Functional or a Sequential.
  const Model* expanded(const layers::Layer& layer) const {
    const auto* model = dynamic_cast<const Model*>(&layer);
    if (!o_.expand_nested || model == nullptr) return nullptr;
    return model->is_functional() || dynamic_cast<const Sequential*>(model) != nullptr ? model
                                                                                       : nullptr;
  }

  void box(const layers::Layer& layer, const Io& io) {
    if (const Model* nested = expanded(layer)) {
      dot_ << "subgraph cluster_" << clusters_++ << " {\nstyle=dashed;\nlabel=\""
           << escape(nested->name()) << "\";\nlabeljust=l;\n";
      model(*nested);
      dot_ << "}\n";
      return;
    }
    const std::string id = neurona::detail::str("n", ids_.size());
    ids_[&layer] = id;
    dot_ << id << " [label=" << make_label(layer, io, o_)
         << ", fontname=Helvetica, border=0, margin=0];\n";
  }

  // The box an arrow from output `index` of `layer` leaves: inside an expanded model, the
  // layer that makes that output of it.
  const layers::Layer& source(const layers::Layer* layer, int index) const {
    while (const Model* nested = expanded(*layer)) {
      if (nested->is_functional()) {
        const layers::KerasTensor& out = nested->outputs()[static_cast<std::size_t>(index)];
        layer = &out.layer();
        index = out.tensor_index();
      } else {
        layer = nested->layers().back().get();
        index = 0;
      }
    }
    return *layer;
  }

  // The box an arrow into input `index` of `layer` enters: an expanded functional model's
  // InputLayer for it, an expanded Sequential's first layer.
  const layers::Layer& destination(const layers::Layer* layer, int index) const {
    while (const Model* nested = expanded(*layer)) {
      layer = nested->is_functional() ? &nested->inputs()[static_cast<std::size_t>(index)].layer()
                                      : nested->layers().front().get();
      index = 0;
    }
    return *layer;
  }

  void arrow(const layers::Layer& from, const layers::Layer& to) {
    const std::pair<std::string, std::string> edge{ids_.at(&from), ids_.at(&to)};
    if (std::find(edges_.begin(), edges_.end(), edge) != edges_.end()) return;
    edges_.push_back(edge);
    dot_ << edge.first << " -> " << edge.second << " [penwidth=2];\n";
  }

  const PlotOptions& o_;
  std::ostringstream& dot_;
  std::map<const layers::Layer*, std::string> ids_;
  std::vector<std::pair<std::string, std::string>> edges_;
  int clusters_ = 0;
};

}  // namespace

std::string model_to_dot(const Model& model, PlotOptions options) {
  check(options);
  NEURONA_CHECK(model.built(), ValueError,
                "This model has not yet been built. Build the model first by calling `build()` "
                "or by calling the model on a batch of data.");
  std::ostringstream dot;
  dot << "digraph G {\nrankdir=" << options.rankdir << ";\nconcentrate=true;\ndpi=" << options.dpi
      << ";\nsplines=" << options.splines << ";\nnode [shape=record];\n";
  DotWriter(options, dot).model(model);
  dot << "}\n";
  return dot.str();
}

void plot_model(const Model& model, const std::filesystem::path& to_file, PlotOptions options) {
  const std::string dot = model_to_dot(model, options);
  std::string format = to_file.extension().string();
  format = format.empty() ? "png" : format.substr(1);
  if (format == "dot" || format == "gv") {
    write_file_atomic(to_file, dot, "plot_model");
    return;
  }
  // Graphviz renders from a temporary source next to the target, into a temporary image that
  // is renamed over the target only when it succeeded.
  const std::filesystem::path source = neurona::detail::str(to_file.string(), ".tmp.dot");
  const std::filesystem::path image = neurona::detail::str(to_file.string(), ".tmp");
  const std::filesystem::path log = neurona::detail::str(to_file.string(), ".tmp.log");
  write_file_atomic(source, dot, "plot_model");
  const auto quoted = [](const std::filesystem::path& p) {
    std::string out = "'";
    for (char c : p.string()) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    out += "'";
    return out;
  };
  const std::string command = neurona::detail::str("dot -T", format, " ", quoted(source), " -o ",
                                                   quoted(image), " > ", quoted(log), " 2>&1");
  const int rc = std::system(command.c_str());
  std::string said;
  {
    std::ifstream in(log);
    said.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::error_code ignored;
  std::filesystem::remove(source, ignored);
  std::filesystem::remove(log, ignored);
  if (rc != 0) {
    std::filesystem::remove(image, ignored);
    throw IoError(neurona::detail::str(
        "plot_model: Graphviz's `dot -T", format, "` failed (exit status ", rc, ")",
        said.empty() ? std::string() : neurona::detail::str(": ", said),
        rc == 127 * 256 || said.find("not found") != std::string::npos
            ? "; install Graphviz (Debian: apt-get install graphviz), or write a .dot file"
            : ""));
  }
  std::filesystem::rename(image, to_file);
}

}  // namespace neurona::utils
