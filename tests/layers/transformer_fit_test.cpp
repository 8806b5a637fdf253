// The AdamW + cosine decay with warmup recipe on a transformer, against Keras 3 training the same
// model (tests/reference/attention/transformer_fit.*, made by
// make_keras_transformer_fit_references.py): the compiled .keras file loads with its optimizer
// and schedule, and 12 steps of fit give Keras's losses, accuracies and weights.
#include <neurona/models/saving.h>
#include <neurona/neurona.h>

#include "layers/attention_case.h"
#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::reference_tensor;

TEST(TransformerFit, AdamWWithCosineWarmupTrainsAsKeras) {
  const auto ref = nr::testing::load_reference("attention", "transformer_fit");
  const auto file = nr::testing::reference_dir() / "attention" / "transformer_fit.keras";
  auto model = nr::models::load_model(file.string());
  ASSERT_TRUE(model->compiled());
  ASSERT_EQ(model->optimizer()->class_name(), "AdamW");
  const auto& schedule = model->optimizer()->learning_rate_schedule();
  ASSERT_NE(schedule, nullptr);
  for (int step = 0; step < 12; ++step) {
    const double keras_lr = ref.at(nr::detail::str("lr_", step)).values[0];
    EXPECT_NEAR((*schedule)(step), keras_lr, 1e-9) << "step " << step;
  }

  const std::vector<nr::Tensor> x{nr::cast(reference_tensor(ref, "tokens"), nr::int32),
                                  nr::cast(reference_tensor(ref, "positions"), nr::int32)};
  const nr::Tensor y = nr::cast(reference_tensor(ref, "labels"), nr::int32);
  const auto history =
      model->fit(x, y, {.batch_size = 8, .epochs = 3, .verbose = 0, .shuffle = false});
  for (const char* key : {"loss", "accuracy"}) {
    SCOPED_TRACE(key);
    ASSERT_EQ(history.history.count(key), 1u);
    EXPECT_TRUE(nr::testing::all_close(history.history.at(key),
                                       ref.at(std::string("h_") + key).values, 1e-5, 1e-5));
  }
  // After twelve steps the weights agree to float32 rounding, except the key projection's bias:
  // softmax cancels it (q . (k + b) shifts a query's logits by a constant), so its gradient is
  // rounding noise, which Adam's normalised update turns into steps of the learning rate's size
  // in both runs, in different directions. It stays within the summed learning rates.
  const std::vector<nr::Tensor> weights = model->get_weights();
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const std::string name = model->weights()[i].name();
    const auto& keras = ref.at(nr::detail::str("final_", i)).values;
    if (name.ends_with("key/bias")) {
      double lr_sum = 0;
      for (int step = 0; step < 12; ++step) lr_sum += (*schedule)(step);
      for (double v : weights[i].to_vector<double>()) EXPECT_LE(std::abs(v), lr_sum) << name;
      continue;
    }
    EXPECT_TRUE(nr::testing::all_close(weights[i], keras, 1e-6, 1e-6)) << name;
  }
}
