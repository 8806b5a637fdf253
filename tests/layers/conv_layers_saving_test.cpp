// Conv1D, Conv2DTranspose, DepthwiseConv2D and SeparableConv2D in `.keras` files both ways: a
// Sequential of them that Keras 3 saved (tests/reference/layers/conv_layers_model.keras, from
// make_keras_layer_references.py) loads into neurona and predicts Keras's numbers; neurona's
// own save of it loads back with the same configs and predictions, and so does its
// `.weights.h5`.
#include <neurona/models/saving.h>
#include <neurona/neurona.h>

#include <unistd.h>

#include <filesystem>

#include "support/reference_file.h"
#include "support/saving_round_trip.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace fs = std::filesystem;

namespace {

nr::Tensor reference_tensor(const nr::testing::Reference& ref, const std::string& key) {
  const auto& e = ref.at(key);
  return nr::cast(nr::constant(e.values, e.shape, nr::Device::cpu()), nr::float32);
}

}  // namespace

TEST(ConvLayersSaving, KerasFileLoadsAndPredictsKerasOutputs) {
  const auto ref = nr::testing::load_reference("layers", "conv_layers_model");
  const fs::path file = nr::testing::reference_dir() / "layers" / "conv_layers_model.keras";
  auto model = nr::models::load_model(file.string());
  std::vector<std::string> classes;
  for (const auto& layer : model->layers()) classes.push_back(layer->class_name());
  EXPECT_EQ(classes,
            (std::vector<std::string>{"Conv1D", "Reshape", "Conv2DTranspose", "DepthwiseConv2D",
                                      "SeparableConv2D", "Flatten", "Dense"}));
  const nr::Tensor y = model->predict(reference_tensor(ref, "x"));
  EXPECT_TRUE(nr::testing::all_close(y, ref.at("y").values, 1e-5, 1e-5));
  EXPECT_EQ(model->losses().size(), 1u);  // SeparableConv2D's depthwise l2 penalty

  // neurona's save of the same model: the configs and the predictions come back.
  nr::testing::expect_save_and_load_round_trip(*model, file, {reference_tensor(ref, "x")}, {y},
                                               "conv_layers_saving");
}
