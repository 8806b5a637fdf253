// Keras's listing of an application's layers (tests/reference/applications/<case>.layers.txt,
// made by make_keras_application_references.py) compared with a neurona model layer by layer:
// name, class, parameters, output shape, the layers each is called on, and the options of its
// config (strides, padding, epsilon, max_value, ...), in model.layers order.
#pragma once

#include <fstream>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include <neurona/neurona.h>

#include "neurona/models/functional.h"
#include "neurona/models/keras_config.h"
#include "support/reference_file.h"
#include "support/test_util.h"

namespace neurona {

// gtest prints a ConfigValue that differs as JSON.
inline void PrintTo(const ConfigValue& v, std::ostream* os) {
  switch (v.kind()) {
    case ConfigValue::Kind::Null:
      *os << "null";
      return;
    case ConfigValue::Kind::Bool:
      *os << (v.as_bool() ? "true" : "false");
      return;
    case ConfigValue::Kind::Int:
      *os << v.as_int();
      return;
    case ConfigValue::Kind::Float:
      *os << v.as_double();
      return;
    case ConfigValue::Kind::String:
      *os << '"' << v.as_string() << '"';
      return;
    case ConfigValue::Kind::List: {
      *os << "[";
      for (std::size_t i = 0; i < v.as_list().size(); ++i) {
        if (i > 0) *os << ", ";
        PrintTo(v.as_list()[i], os);
      }
      *os << "]";
      return;
    }
    case ConfigValue::Kind::Dict: {
      *os << "{";
      bool first = true;
      for (const auto& [key, value] : v.as_dict()) {
        *os << (first ? "" : ", ") << '"' << key << "\": ";
        PrintTo(value, os);
        first = false;
      }
      *os << "}";
      return;
    }
  }
}

}  // namespace neurona

namespace applications_test {

namespace nr = neurona;

struct KerasLayer {
  std::string name, class_name;
  std::int64_t params = 0;
  nr::Shape output_shape;
  std::vector<std::string> inbound;
  /// Keras's get_config() without name, trainable, dtype and the entries that are objects.
  nr::ConfigValue options;
};

inline std::vector<KerasLayer> read_keras_layers(const std::string& file_case) {
  const auto path = nr::testing::reference_dir() / "applications" / (file_case + ".layers.txt");
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path.string());
  std::vector<KerasLayer> out;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const std::size_t bar = line.find(" | ");
    if (bar == std::string::npos) throw std::runtime_error("bad line in " + path.string());
    std::istringstream fields(line.substr(0, bar));
    KerasLayer layer;
    std::string shape, inbound;
    fields >> layer.name >> layer.class_name >> layer.params >> shape >> inbound;
    std::vector<std::int64_t> dims;
    std::istringstream dim_fields(shape);
    for (std::string d; std::getline(dim_fields, d, ',');) {
      dims.push_back(d == "None" ? -1 : std::stoll(d));
    }
    layer.output_shape = nr::Shape(dims);
    std::istringstream inbound_fields(inbound == "-" ? "" : inbound);
    for (std::string name; std::getline(inbound_fields, name, ',');) layer.inbound.push_back(name);
    layer.options = nr::models::detail::parse_json(line.substr(bar + 3), path.string());
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
    const nr::ConfigValue config = layer.get_config();
    for (const auto& [key, value] : keras.options.as_dict()) {
      const nr::ConfigValue* ours = config.find(key);
      ASSERT_NE(ours, nullptr) << key;
      EXPECT_EQ(*ours, value) << key;
    }
  }
}

}  // namespace applications_test
