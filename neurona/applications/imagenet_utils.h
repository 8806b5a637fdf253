// What keras.applications gives beside the models: the preprocessing their ImageNet weights
// were trained with, and the decoding of a 1000-class prediction (imagenet_utils).
//   namespace app = nr::applications;
//   auto model = app::ResNet50();
//   model->load_weights("resnet50.weights.h5");                  // saved by Keras
//   nr::Tensor y = model->predict(app::resnet::preprocess_input(images));   // 0..255, RGB
//   auto top5 = app::imagenet_utils::decode_predictions(y, "imagenet_class_index.json");
#pragma once

#include <string>
#include <vector>

#include "neurona/core/tensor.h"

namespace neurona::applications {

namespace imagenet_utils {

/// keras.applications.imagenet_utils.preprocess_input: a batch of RGB images (N, H, W, 3), or one
/// (H, W, 3), with values from 0 to 255 (channels_first: (N, 3, H, W) or (3, H, W)); integer
/// images are cast to float32 first, float ones keep their dtype. `mode`:
/// - "caffe": to BGR, then each channel minus ImageNet's mean (103.939, 116.779, 123.68);
/// - "tf": x / 127.5 - 1, to [-1, 1];
/// - "torch": x / 255, then each channel minus (0.485, 0.456, 0.406) over (0.229, 0.224, 0.225).
/// ValueError, in Keras's words, for another mode or data_format, or an image that has not 3
/// channels.
Tensor preprocess_input(const Tensor& x, const std::string& mode = "caffe",
                        const std::string& data_format = "channels_last");

/// One of decode_predictions' guesses: Keras's (class_name, class_description, score).
struct Prediction {
  std::string class_name;   // WordNet's id, "n01440764"
  std::string description;  // "tench"
  double score = 0;
};

/// keras.applications.imagenet_utils.decode_predictions: the `top` most likely classes of each
/// row of `preds` (N, 1000), most likely first, named from ImageNet's class index: the JSON file
/// Keras downloads as imagenet_class_index.json ({"0": ["n01440764", "tench"], ...}), given here
/// by its path (neurona downloads nothing). ValueError for another shape; IoError for a file
/// that cannot be read or is not such an index.
std::vector<std::vector<Prediction>> decode_predictions(const Tensor& preds,
                                                        const std::string& class_index_path,
                                                        int top = 5);

}  // namespace imagenet_utils

namespace resnet {
/// keras.applications.resnet.preprocess_input (ResNet50, 101, 152): mode "caffe".
Tensor preprocess_input(const Tensor& x, const std::string& data_format = "channels_last");
}  // namespace resnet

namespace mobilenet_v2 {
/// keras.applications.mobilenet_v2.preprocess_input: mode "tf".
Tensor preprocess_input(const Tensor& x, const std::string& data_format = "channels_last");
}  // namespace mobilenet_v2

}  // namespace neurona::applications
