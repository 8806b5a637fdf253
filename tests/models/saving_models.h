// The models the saving tests round-trip and exchange with Keras 3: the notebook's Sequential
// and SubclassModel, a small MLP and a small CNN, built as
// tests/reference/make_keras_saving_references.py builds them in Python.
#pragma once

#include <neurona/models/saving.h>
#include <neurona/neurona.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include "support/reference_file.h"

namespace saving_test {

namespace nr = neurona;
namespace L = nr::layers;

/// The notebook's SubclassModel; its Dense is tracked as "dense_layer", the Python attribute
/// name, so that its weights sit where Keras puts them (dense_layer/vars/0, 1).
class SubclassModel : public nr::Model {
 public:
  explicit SubclassModel(std::int64_t n_output_nodes = 3, L::LayerOptions options = {})
      : nr::Model("SubclassModel", std::move(options)),
        n_output_nodes_(n_output_nodes),
        dense_(track(L::Dense(n_output_nodes, {.activation = "sigmoid"}), "dense_layer")) {}
  nr::Tensor call(const nr::Tensor& inputs, bool training) override {
    return dense_(inputs, training);
  }
  L::ConfigValue get_config() const override {
    L::ConfigValue config = nr::Model::get_config();
    config.set("n_output_nodes", n_output_nodes_);
    return config;
  }

 private:
  std::int64_t n_output_nodes_;
  L::Dense dense_;
};

/// Registers SubclassModel for load_model (Keras's custom_objects), once.
inline void register_subclass_model() {
  static const bool done = [] {
    nr::models::register_model("SubclassModel", [](const L::ConfigValue& config) {
      const L::ConfigValue* n = config.find("n_output_nodes");
      const L::ConfigValue* name = config.find("name");
      return std::make_shared<SubclassModel>(
          n != nullptr ? n->as_int() : 3,
          L::LayerOptions{.name = name != nullptr ? name->as_string() : ""});
    });
    return true;
  }();
  (void)done;
}

inline std::shared_ptr<nr::Model> notebook_sequential() {
  return std::make_shared<nr::Sequential>(
      std::vector<L::AnyLayer>{L::Input({2}), L::Dense(3, {.activation = "sigmoid"}), L::Dense(8)});
}

/// Built by a call on zeros, as Keras builds it on its first call.
inline std::shared_ptr<nr::Model> subclass_model() {
  auto model = std::make_shared<SubclassModel>(3);
  (*model)(nr::zeros({1, 2}));
  return model;
}

inline std::shared_ptr<nr::Model> mlp() {
  return std::make_shared<nr::Sequential>(
      std::vector<L::AnyLayer>{L::Input({4}), L::Dense(8, {.activation = "relu"}),
                               L::Dense(8, {.activation = "relu"}), L::Dense(1)});
}

inline std::shared_ptr<nr::Model> cnn() {
  return std::make_shared<nr::Sequential>(std::vector<L::AnyLayer>{
      L::Input({8, 8, 1}), L::ZeroPadding2D(1), L::Conv2D(4, 3, {.activation = "relu"}),
      L::BatchNormalization(), L::MaxPooling2D(2), L::Dropout(0.25), L::Flatten(),
      L::Dense(3, {.activation = "softmax"})});
}

/// make_keras_saving_references.py's functional(): a shared layer, merges, a nested functional
/// model and a call with training fixed.
inline std::shared_ptr<nr::Model> functional() {
  auto x = nr::Input({6}, {.name = "x"});
  auto shared = L::Dense(4, {.activation = "tanh", .name = "shared"});
  auto a = shared(x);
  auto b = shared(L::Dense(6, {.name = "pre"})(x));
  auto s = L::Add()({a, b});
  auto c = L::Concatenate()({a, s});
  auto inner_in = nr::Input({8});
  auto inner = std::make_shared<nr::Model>(inner_in, L::Dense(3, {.activation = "relu"})(inner_in),
                                           L::LayerOptions{.name = "inner"});
  auto h = (*inner)(c);
  auto m = L::Multiply()({h, L::Dense(3, {.activation = "sigmoid", .name = "gate"})(s)});
  auto d = L::Dot(1, /*normalize=*/true)({m, h});
  auto joined =
      L::Concatenate()({m, d, L::Average()({h, m}), L::Maximum()({h, m}), L::Subtract()({h, m})});
  joined = L::Dropout(0.5)(joined, /*training=*/false);
  return std::make_shared<nr::Model>(x, L::Dense(2, {.name = "head"})(joined),
                                     L::LayerOptions{.name = "functional_case"});
}

struct Case {
  const char* name;
  std::shared_ptr<nr::Model> (*build)();
  nr::Shape x_shape;
};

inline const std::vector<Case>& cases() {
  static const std::vector<Case> c = {{"notebook_sequential", notebook_sequential, {4, 2}},
                                      {"subclass_model", subclass_model, {4, 2}},
                                      {"mlp", mlp, {4, 4}},
                                      {"cnn", cnn, {2, 8, 8, 1}},
                                      {"functional", functional, {5, 6}}};
  return c;
}

/// Gives every weight fixed, non-trivial values (positive moving variances), so that a round
/// trip that dropped or swapped a weight would show in the predictions.
inline void randomize_weights(nr::Model& model, std::uint32_t seed) {
  std::vector<nr::Tensor> values;
  for (const nr::Variable& v : model.weights()) {
    const bool variance = v.name().find("variance") != std::string::npos;
    std::mt19937 gen(seed++);
    std::uniform_real_distribution<double> dist(variance ? 0.5 : -1.0, 1.0);
    std::vector<double> x(static_cast<std::size_t>(v.shape().numel()));
    for (auto& e : x) e = dist(gen);
    values.push_back(nr::cast(nr::constant(x, v.shape(), nr::Device::cpu()), v.dtype()));
  }
  model.set_weights(values);
}

inline std::filesystem::path reference_dir() {
  return neurona::testing::reference_dir() / "saving";
}

/// `name dim0 dim1 ... : v0 v1 ...` lines, as the reference script writes them, as float32
/// tensors.
inline std::map<std::string, nr::Tensor> read_io(const std::filesystem::path& path) {
  std::map<std::string, nr::Tensor> out;
  for (const auto& [key, entry] : neurona::testing::parse_reference(path)) {
    out[key] = nr::cast(nr::constant(entry.values, entry.shape, nr::Device::cpu()), nr::float32);
  }
  return out;
}

inline void write_io(const std::filesystem::path& path,
                     const std::vector<std::pair<std::string, nr::Tensor>>& arrays) {
  std::ofstream out(path);
  for (const auto& [name, t] : arrays) {
    out << name;
    for (std::int64_t d : t.shape()) out << " " << d;
    out << " :";
    char buf[32];
    for (float v : t.to_vector<float>()) {
      std::snprintf(buf, sizeof buf, " %.9g", static_cast<double>(v));
      out << buf;
    }
    out << "\n";
  }
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace saving_test
