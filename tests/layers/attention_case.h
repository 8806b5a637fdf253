// One Keras reference case of an attention layer (tests/reference/attention/<name>.txt, made by
// make_keras_mha_references.py or make_keras_attention_layer_references.py): the inputs q, v (k)
// with the masks Keras saw attached to them, the weights, then the output y (and scores) and the
// gradients of sum(y * g) with respect to the inputs and the trainable weights.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "neurona/neurona.h"
#include "support/reference_file.h"
#include "support/test_util.h"

namespace neurona::testing {

inline Tensor reference_tensor(const Reference& ref, const std::string& key) {
  const auto it = ref.find(key);
  if (it == ref.end()) throw std::runtime_error("reference lacks " + key);
  return make_tensor(it->second.values, it->second.shape);
}

inline ::testing::AssertionResult close_to_reference(const Tensor& actual, const Reference& ref,
                                                     const std::string& key) {
  const auto& e = ref.at(key);
  if (actual.shape() != e.shape) {
    return ::testing::AssertionFailure()
           << key << ": shape " << actual.shape() << ", Keras " << e.shape;
  }
  auto r = all_close(actual, e.values, 2e-5, 2e-5);
  if (!r) return ::testing::AssertionFailure() << key << ": " << r.message();
  return r;
}

/// `attend(q, v, k)` calls the layer (k undefined when the case has none) and returns its
/// outputs: the output, then the scores when `scores` is true.
inline void check_attention_case(
    const std::string& name, const layers::AnyLayer& layer, bool scores,
    const std::function<std::vector<Tensor>(const Tensor&, const Tensor&, const Tensor&)>& attend) {
  SCOPED_TRACE(name);
  const Reference ref = load_reference("attention", name);
  Tensor q = reference_tensor(ref, "q"), v = reference_tensor(ref, "v");
  Tensor k = ref.count("k") ? reference_tensor(ref, "k") : Tensor();
  if (ref.count("query_mask")) q.set_keras_mask(cast(reference_tensor(ref, "query_mask"), uint8));
  if (ref.count("value_mask")) v.set_keras_mask(cast(reference_tensor(ref, "value_mask"), uint8));
  std::vector<Shape> shapes{q.shape(), v.shape()};
  if (k.defined()) shapes.push_back(k.shape());
  layer->ensure_built(shapes);
  std::vector<Tensor> weights;
  for (int i = 0; ref.count(detail::str("w", i)); ++i) {
    weights.push_back(reference_tensor(ref, detail::str("w", i)));
  }
  layer->set_weights(weights);
  GradientTape tape;
  tape.watch(q);
  tape.watch(v);
  if (k.defined()) tape.watch(k);
  const std::vector<Tensor> out = attend(q, v, k);
  EXPECT_TRUE(close_to_reference(out[0], ref, "y"));
  if (scores) {
    ASSERT_EQ(out.size(), 2u);
    EXPECT_TRUE(close_to_reference(out[1], ref, "scores"));
  }
  // The output carries the query's mask, as Keras's.
  EXPECT_EQ(out[0].keras_mask().defined(), q.keras_mask().defined());
  std::vector<Tensor> sources{q, v};
  if (k.defined()) sources.push_back(k);
  for (const auto& w : layer->trainable_weights()) sources.push_back(w.value());
  const auto grads = tape.gradient(sum(out[0] * reference_tensor(ref, "g")), sources);
  EXPECT_TRUE(close_to_reference(grads[0], ref, "grad_q"));
  EXPECT_TRUE(close_to_reference(grads[1], ref, "grad_v"));
  std::size_t next = 2;
  if (k.defined()) {
    EXPECT_TRUE(close_to_reference(grads[next++], ref, "grad_k"));
  }
  for (std::size_t i = 0; next + i < grads.size(); ++i) {
    EXPECT_TRUE(close_to_reference(grads[next + i], ref, detail::str("grad_w", i)));
  }
}

}  // namespace neurona::testing
