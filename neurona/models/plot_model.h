// Keras's keras.utils.model_to_dot and plot_model: a model's layers as a Graphviz graph, each
// layer a box (its name and class; optionally its input and output shapes, output dtype,
// activation and whether it trains), an arrow from each layer to the layers that take its
// outputs. plot_model writes the graph as a `.dot` file, or renders it with Graphviz's `dot`
// program (Debian: graphviz) to the format the file's extension names (png, svg, pdf, ...).
//   nr::utils::plot_model(model, "model.png", {.show_shapes = true});
//   std::string dot = nr::utils::model_to_dot(model);
#pragma once

#include <filesystem>
#include <string>

#include "neurona/models/model.h"

namespace neurona::utils {

/// keras.utils.plot_model's arguments and defaults (model_to_dot's show_layer_names is true).
struct PlotOptions {
  bool show_shapes = false;
  bool show_dtype = false;
  bool show_layer_names = false;
  /// "TB" (top to bottom) or "LR" (left to right).
  std::string rankdir = "TB";
  /// Draw a nested Functional or Sequential model's layers inside a dashed box named after it,
  /// the arrows going to and from its inner layers, rather than the model as one box.
  bool expand_nested = false;
  int dpi = 200;
  bool show_layer_activations = false;
  bool show_trainable = false;
  /// How edges are drawn: "ortho", "curved", "polyline", "spline" or "line".
  std::string splines = "ortho";
};

/// The Graphviz source of `model`, as Keras's model_to_dot: a functional model's layers and
/// calls, a Sequential's chain, a subclassed model as one box; a nested model is one box, or,
/// with expand_nested, a dashed cluster of its own layers. ValueError for a model that is not
/// built, or a bad rankdir, dpi or splines.
std::string model_to_dot(const Model& model, PlotOptions options = {.show_layer_names = true});

/// Writes model_to_dot(model, options) to `to_file`: as it is for a `.dot` file, otherwise
/// rendered by Graphviz's `dot` in the extension's format (png without an extension), through
/// a temporary file renamed into place. IoError when `dot` is missing or fails (naming
/// the command and what it said); the previous file is left as it was.
void plot_model(const Model& model, const std::filesystem::path& to_file = "model.png",
                PlotOptions options = {});

}  // namespace neurona::utils
