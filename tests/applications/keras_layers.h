// Keras's listing of an application's layers (tests/reference/applications/<case>.layers.txt,
// made by make_keras_application_references.py) compared with a neurona model layer by layer:
// name, class, parameters, output shape and the layers each is called on, in model.layers order.
#pragma once

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <neurona/neurona.h>

#include "neurona/models/functional.h"
#include "support/reference_file.h"
#include "support/test_util.h"

namespace applications_test {

namespace nr = neurona;

struct KerasLayer {
  std::string name, class_name;
  std::int64_t params = 0;
  nr::Shape output_shape;
  std::vector<std::string> inbound;
};

inline std::vector<KerasLayer> read_keras_layers(const std::string& file_case) {
  const auto path = nr::testing::reference_dir() / "applications" / (file_case + ".layers.txt");
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::vector<KerasLayer> out;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    KerasLayer layer;
    std::string shape;
    fields >> layer.name >> layer.class_name >> layer.params >> shape;
    std::vector<std::int64_t> dims;
    std::istringstream dim_fields(shape);
    for (std::string d; std::getline(dim_fields, d, ',');) {
      dims.push_back(d == "None" ? -1 : std::stoll(d));
    }
    layer.output_shape = nr::Shape(dims);
    for (std::string name; fields >> name;) layer.inbound.push_back(name);
    out.push_back(std::move(layer));
  }
  return out;
}

/// The layer of `model` named `name` (Keras's model.get_layer), or null.
inline std::shared_ptr<nr::layers::Layer> layer_named(const nr::Model& model,
                                                      const std::string& name) {
  for (const auto& layer : model.layers()) {
    if (layer->name() == name) return layer;
  }
  return nullptr;
}

/// The layers of `model` as the listing of Keras's model `file_case` has them.
inline void expect_keras_layers(const nr::Model& model, const std::string& file_case) {
  const std::vector<KerasLayer> expected = read_keras_layers(file_case);
  const auto layers = model.layers();
  ASSERT_EQ(layers.size(), expected.size());
  ASSERT_NE(model.graph(), nullptr);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const nr::layers::Layer& layer = *layers[i];
    const KerasLayer& keras = expected[i];
    SCOPED_TRACE(nr::detail::str("layer ", i, " (Keras's ", keras.name, ")"));
    ASSERT_EQ(layer.name(), keras.name);
    EXPECT_EQ(layer.class_name(), keras.class_name);
    EXPECT_EQ(layer.count_params(), keras.params);
    const auto nodes = model.graph()->nodes_of(layer);
    ASSERT_EQ(nodes.size(), 1u);
    ASSERT_EQ(nodes[0]->outputs.size(), 1u);
    EXPECT_EQ(nodes[0]->outputs[0].shape, keras.output_shape);
    std::vector<std::string> inbound;
    for (const auto& t : nodes[0]->inputs) inbound.push_back(t.layer().name());
    EXPECT_EQ(inbound, keras.inbound);
  }
}

}  // namespace applications_test
