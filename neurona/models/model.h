// Model: a Layer that groups layers, with predict() and summary(), as keras.Model. Subclass
// it for a model with its own call(); register each layer with track() so that its weights
// belong to the model:
//   class SubclassModel : public nr::Model {
//    public:
//     SubclassModel()
//         : nr::Model("SubclassModel"), dense_(track(nr::layers::Dense(1, {.activation =
//         "sigmoid"}))) {}
//     nr::Tensor call(const nr::Tensor& x, bool training) override { return dense_(x, training); }
//    private:
//     nr::layers::Dense dense_;
//   };
#pragma once

#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "neurona/layers/layer.h"

namespace neurona {

struct PredictOptions {
  std::int64_t batch_size = 32;
};

struct SummaryOptions {
  /// Total width of the table; Keras's default for a sequence of layers.
  int line_length = 88;
};

class Model : public layers::Layer {
 public:
  /// The tracked layers, in the order they were added (without the Input).
  std::vector<std::shared_ptr<layers::Layer>> layers() const { return sublayers(); }

  /// The outputs for `x` computed in batches of `batch_size` rows (training = false) and
  /// joined along the first axis.
  Tensor predict(const Tensor& x, PredictOptions options = {});

  /// Prints the table Keras 3's model.summary() prints: the layers with their output shapes
  /// ("?" before the model is built) and parameter counts, then the totals with their sizes.
  void summary(std::ostream& os = std::cout, SummaryOptions options = {}) const;
  std::string summary_string(SummaryOptions options = {}) const;

  // Saving and loading (models/saving.cpp), in Keras 3's formats.
  /// Writes the weights as Keras 3's `.weights.h5` (atomically).
  void save_weights(const std::string& path) const;
  /// Reads weights written by save_weights or by Keras 3; the model is unchanged on failure.
  void load_weights(const std::string& path);
  /// Writes the `.keras` archive: config.json, metadata.json, model.weights.h5 (atomically).
  void save(const std::string& path) const;

 protected:
  /// `class_name` names the model: "SubclassModel" -> subclass_model, subclass_model_1, ...
  explicit Model(std::string class_name = "Model", layers::LayerOptions options = {});
};

}  // namespace neurona
