// KerasHub's PositionEmbedding and SinePositionEncoding against KerasHub itself
// (tests/reference/attention/, made by tests/reference/make_keras_hub_position_references.py):
// the sine table, start_index, a functional model saved by Keras loading and saving back (with
// KerasHub's module and registered names), the learned table's gradient, configs and errors.
#include <neurona/models/keras_config.h>
#include <neurona/models/saving.h>
#include <neurona/neurona.h>

#include "layers/attention_case.h"
#include "layers/layer_gradcheck.h"
#include "support/reference_file.h"
#include "support/saving_round_trip.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;
using nr::testing::close_to_reference;
using nr::testing::reference_tensor;

TEST(SinePositionEncoding, MatchesKerasHub) {
  const auto ref = nr::testing::load_reference("attention", "sine_position_encoding");
  const nr::Tensor x = reference_tensor(ref, "x");
  auto sine = L::SinePositionEncoding();
  EXPECT_TRUE(close_to_reference(sine(x), ref, "y"));
  EXPECT_TRUE(close_to_reference(sine->encode(x, 3), ref, "y_start"));
  // The layer keeps its last table: a new start or length is a new one.
  EXPECT_TRUE(close_to_reference(sine(x), ref, "y"));
  EXPECT_EQ(sine(nr::zeros({1, 2, 6})).shape(), nr::Shape({1, 2, 6}));
  EXPECT_TRUE(
      close_to_reference(L::SinePositionEncoding({.max_wavelength = 100})(x), ref, "y_wavelength"));
  EXPECT_TRUE(sine->weights().empty());
}

TEST(PositionEmbedding, LearnsOneRowPerPositionAndRefusesLongerInputs) {
  auto pos = L::PositionEmbedding(5, {.initializer = "ones", .name = "pos"});
  const nr::Tensor x = nr::testing::random_tensor({2, 3, 4}, nr::float32, -1, 1, 1);
  const nr::Tensor y = pos(x);
  EXPECT_EQ(y.shape(), x.shape());
  ASSERT_EQ(pos->weights().size(), 1u);
  EXPECT_EQ(pos->weights()[0].name(), "pos/embeddings");
  EXPECT_EQ(pos->weights()[0].shape(), nr::Shape({5, 4}));
  // Rows start_index.. of the table, broadcast over the batch.
  std::vector<double> table(20);
  for (std::size_t i = 0; i < table.size(); ++i) table[i] = static_cast<double>(i);
  pos->set_weights({nr::testing::make_tensor(table, {5, 4})});
  const auto shifted = pos->encode(x, 2).to_vector<double>();
  EXPECT_EQ(shifted[0], 8.0);         // row 2, batch 0
  EXPECT_EQ(shifted[12 + 11], 19.0);  // row 4, batch 1
  NEURONA_EXPECT_THROW_MSG(pos->encode(x, 3), nr::ValueError, "beyond sequence_length 5");
  NEURONA_EXPECT_THROW_MSG(pos(nr::zeros({1, 6, 4})), nr::ValueError, "beyond sequence_length");
  NEURONA_EXPECT_THROW_MSG(L::PositionEmbedding(0), nr::ValueError, "sequence_length");
  NEURONA_EXPECT_THROW_MSG(L::SinePositionEncoding({.max_wavelength = -1}), nr::ValueError,
                           "max_wavelength");
  NEURONA_EXPECT_THROW_MSG(pos->apply_with_kwargs({x}, nr::ConfigValue::Dict{{"positions", 1}}),
                           nr::ValueError, "unexpected keyword argument 'positions'");

  // The table's gradient: the output's cotangent summed over the batch, at the rows used.
  auto learned = L::PositionEmbedding(4);
  const nr::Tensor xs = nr::zeros({2, 3, 2});
  learned->ensure_built(xs.shape());
  const nr::Tensor w = nr::testing::random_tensor({2, 3, 2}, nr::float32, -1, 1, 2);
  nr::GradientTape tape;
  const nr::Tensor loss = nr::sum(learned(xs) * w);
  const auto grad = tape.gradient(loss, learned->weights()[0].value()).to_vector<double>();
  const auto wv = w.to_vector<double>();
  for (std::size_t i = 0; i < 8; ++i) {
    const double expected = i < 6 ? wv[i] + wv[6 + i] : 0.0;
    EXPECT_NEAR(grad[i], expected, 1e-6) << i;
  }
}

TEST(PositionEmbedding, KerasHubModelLoadsPredictsAndSavesWithKerasHubNames) {
  const auto ref = nr::testing::load_reference("attention", "position_model");
  const auto file = nr::testing::reference_dir() / "attention" / "position_model.keras";
  auto model = nr::models::load_model(file.string());
  const nr::Tensor tokens = nr::cast(reference_tensor(ref, "tokens"), nr::int32);
  const nr::Tensor y = model->predict(tokens);
  EXPECT_TRUE(close_to_reference(y, ref, "y"));
  nr::testing::expect_save_and_load_round_trip(*model, file, {tokens}, {y}, "position_saving");
  const std::string json = nr::models::detail::model_config_json(*model);
  EXPECT_NE(json.find("\"registered_name\":\"keras_hub>PositionEmbedding\""), std::string::npos);
  EXPECT_NE(json.find("\"module\":\"keras_hub.src.layers.modeling.sine_position_encoding\""),
            std::string::npos);
}

TEST(PositionEmbedding, StartIndexIsAKeywordArgumentOfTheFunctionalCall) {
  auto x = nr::Input({3, 4});
  auto sine = L::SinePositionEncoding();
  auto encoded = sine->apply_with_kwargs({x}, nr::ConfigValue::Dict{{"start_index", 2}});
  ASSERT_EQ(encoded.size(), 1u);
  nr::Model model(x, encoded[0]);
  const nr::Tensor xs = nr::zeros({1, 3, 4});
  EXPECT_TRUE(nr::testing::all_close(model.predict(xs), sine->encode(xs, 2).to_vector<double>(),
                                     1e-7, 1e-7));
  const std::string json = nr::models::detail::model_config_json(model);
  EXPECT_NE(json.find("\"kwargs\":{\"start_index\":2}"), std::string::npos) << json;
  auto back = nr::models::detail::model_from_config_json(json);
  EXPECT_TRUE(nr::testing::all_close(back->predict(xs), sine->encode(xs, 2).to_vector<double>(),
                                     1e-7, 1e-7));
}

TEST(PositionEmbedding, ConfigsRoundTrip) {
  auto pos = L::PositionEmbedding(16, {.initializer = "zeros"});
  EXPECT_EQ(L::PositionEmbedding::from_config(pos->get_config())->get_config(), pos->get_config());
  auto sine = L::SinePositionEncoding({.max_wavelength = 500});
  EXPECT_EQ(sine->get_config().at("max_wavelength").as_int(), 500);
  EXPECT_EQ(L::SinePositionEncoding::from_config(sine->get_config())->get_config(),
            sine->get_config());
}
