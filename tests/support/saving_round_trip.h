// The check every `.keras` fixture test ends with: a model loaded from a Keras file is saved by
// neurona (.keras and .weights.h5) and comes back with the same configs and predictions,
// and the saved weights restore a fresh load of the Keras file whose weights were zeroed.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "neurona/models/keras_config.h"
#include "neurona/models/model.h"
#include "neurona/models/saving.h"
#include "support/test_util.h"

namespace neurona::testing {

/// `model` was loaded from `keras_file` and predicts `expected` for `inputs`; `tag` names the
/// temporary folder (removed afterwards).
inline void expect_save_and_load_round_trip(Model& model, const std::filesystem::path& keras_file,
                                            const std::vector<Tensor>& inputs,
                                            const std::vector<Tensor>& expected,
                                            const std::string& tag) {
  namespace fs = std::filesystem;
  SCOPED_TRACE("save and load of " + keras_file.filename().string());
  const fs::path dir =
      fs::temp_directory_path() / ("neurona_" + tag + "_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  model.save((dir / "model.keras").string());
  model.save_weights((dir / "model.weights.h5").string());
  const auto expect_predicts = [&](Model& m) {
    const std::vector<Tensor> ys = m.predict(inputs);
    ASSERT_EQ(ys.size(), expected.size());
    for (std::size_t i = 0; i < ys.size(); ++i) {
      EXPECT_TRUE(all_close(ys[i], expected[i].to_vector<double>(), 1e-6, 1e-6)) << "output " << i;
    }
  };
  auto again = models::load_model((dir / "model.keras").string());
  ASSERT_EQ(again->layers().size(), model.layers().size());
  for (std::size_t i = 0; i < model.layers().size(); ++i) {
    EXPECT_EQ(again->layers()[i]->get_config(), model.layers()[i]->get_config())
        << model.layers()[i]->name();
  }
  // The whole config too: the graph, with its calls' keyword arguments.
  EXPECT_EQ(models::detail::model_config_json(*again), models::detail::model_config_json(model));
  expect_predicts(*again);
  auto fresh = models::load_model(keras_file.string());
  std::vector<Tensor> zeros;
  for (const Tensor& w : fresh->get_weights()) zeros.push_back(zeros_like(w));
  fresh->set_weights(zeros);
  fresh->load_weights((dir / "model.weights.h5").string());
  expect_predicts(*fresh);
  fs::remove_all(dir);
}

}  // namespace neurona::testing
