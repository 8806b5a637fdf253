// keras.applications' imagenet_utils (keras/src/applications/imagenet_utils.py): the
// preprocessing of the ImageNet models' inputs, and the decoding of their predictions.
#include "neurona/applications/imagenet_utils.h"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <numeric>

#include "neurona/autograd/ops.h"
#include "neurona/core/error.h"
#include "neurona/core/io.h"

namespace neurona::applications {

namespace imagenet_utils {

Tensor preprocess_input(const Tensor& images, const std::string& mode,
                        const std::string& data_format) {
  NEURONA_CHECK(mode == "caffe" || mode == "tf" || mode == "torch", ValueError,
                "preprocess_input: Expected mode to be one of `caffe`, `tf` or `torch`. "
                "Received: mode=",
                mode);
  NEURONA_CHECK(data_format == "channels_last" || data_format == "channels_first", ValueError,
                "preprocess_input: Expected data_format to be one of `channels_first` or "
                "`channels_last`. Received: data_format=",
                data_format);
  const bool first = data_format == "channels_first";
  NEURONA_CHECK(images.defined() && (images.rank() == 3 || images.rank() == 4), ValueError,
                "preprocess_input: expected a batch of images (rank 4) or one image (rank 3), got "
                "shape ",
                images.defined() ? images.shape().str() : std::string("(undefined)"));
  // The channel axis: the last, or the first after the batch's.
  const int channels = first ? images.rank() - 3 : images.rank() - 1;
  NEURONA_CHECK(images.shape()[channels] == 3, ValueError, "preprocess_input: expected 3 (RGB) ",
                "channels on axis ", channels, " (", data_format, "), got shape ",
                images.shape().str());
  // As Keras on NumPy arrays: integers to float32 (backend.floatx()); floats keep their dtype.
  Tensor x = is_floating(images.dtype()) ? images : cast(images, DType::float32);
  if (mode == "tf") return x / 127.5 - 1.0;
  std::array<double, 3> mean{103.939, 116.779, 123.68};
  std::array<double, 3> std_dev{1, 1, 1};
  if (mode == "torch") {
    x = x / 255.0;
    mean = {0.485, 0.456, 0.406};
    std_dev = {0.229, 0.224, 0.225};
  } else {
    x = reverse(x, channels);  // RGB to BGR
  }
  // Per channel, broadcast along the channel axis; each constant rounded to x's dtype, as
  // NumPy rounds Keras's Python floats against a float32 array.
  std::vector<std::int64_t> broadcast(static_cast<std::size_t>(x.rank()), 1);
  broadcast[static_cast<std::size_t>(channels)] = 3;
  const Shape shape(std::move(broadcast));
  auto per_channel = [&](const std::array<double, 3>& v) {
    return reshape(cast(constant({v[0], v[1], v[2]}, {.dtype = DType::float64}), x.dtype()), shape)
        .to(x.device());
  };
  x = x - per_channel(mean);
  if (mode == "torch") x = x / per_channel(std_dev);
  return x;
}

std::vector<std::vector<Prediction>> decode_predictions(const Tensor& preds,
                                                        const std::string& class_index_path,
                                                        int top) {
  NEURONA_CHECK(preds.defined() && preds.rank() == 2 && preds.shape()[1] == 1000, ValueError,
                "decode_predictions: `decode_predictions` expects a batch of predictions (i.e. a "
                "2D array of shape (samples, 1000)). Received array with shape: ",
                preds.defined() ? preds.shape().str() : std::string("(undefined)"));
  NEURONA_CHECK(top >= 1 && top <= 1000, ValueError,
                "decode_predictions: argument `top` must be from 1 to 1000, got ", top);
  std::vector<Prediction> classes(1000);
  try {
    const nlohmann::json index = nlohmann::json::parse(read_regular_file(
        class_index_path, "decode_predictions", "ImageNet's class index", 1 << 20));
    for (std::size_t i = 0; i < classes.size(); ++i) {
      const nlohmann::json& entry = index.at(std::to_string(i));
      classes[i].class_name = entry.at(0).get<std::string>();
      classes[i].description = entry.at(1).get<std::string>();
    }
  } catch (const nlohmann::json::exception& e) {
    throw IoError(detail::str("decode_predictions: '", class_index_path,
                              "' is not ImageNet's class index (imagenet_class_index.json: {\"0\": "
                              "[\"n01440764\", \"tench\"], ... \"999\": [...]}): ",
                              e.what()));
  }
  const std::int64_t rows = preds.shape()[0];
  const std::vector<double> scores = preds.to(Device::cpu()).to_vector<double>();
  std::vector<std::vector<Prediction>> out(static_cast<std::size_t>(rows));
  std::vector<int> order(1000);
  for (std::int64_t r = 0; r < rows; ++r) {
    const double* row = scores.data() + r * 1000;
    std::iota(order.begin(), order.end(), 0);
    // Most likely first; equal scores in class order.
    std::partial_sort(order.begin(), order.begin() + top, order.end(),
                      [&](int a, int b) { return row[a] > row[b] || (row[a] == row[b] && a < b); });
    for (int k = 0; k < top; ++k) {
      Prediction p = classes[static_cast<std::size_t>(order[static_cast<std::size_t>(k)])];
      p.score = row[order[static_cast<std::size_t>(k)]];
      out[static_cast<std::size_t>(r)].push_back(std::move(p));
    }
  }
  return out;
}

}  // namespace imagenet_utils

Tensor resnet::preprocess_input(const Tensor& x, const std::string& data_format) {
  return imagenet_utils::preprocess_input(x, "caffe", data_format);
}

Tensor mobilenet_v2::preprocess_input(const Tensor& x, const std::string& data_format) {
  return imagenet_utils::preprocess_input(x, "tf", data_format);
}

}  // namespace neurona::applications
