// Checks of a fused op against the chain of generic ops it replaced (kept in the test as the
// reference): the gradients of both through the tape, and their values compared.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "support/test_util.h"

namespace neurona::testing {

/// d sum(w * f()) / d inputs, undefined where an input is undefined (an absent gamma, say).
inline std::vector<Tensor> weighted_gradients(const std::function<Tensor()>& f,
                                              const std::vector<Tensor>& inputs, const Tensor& w) {
  GradientTape tape;
  std::vector<Tensor> watched;
  for (const Tensor& t : inputs) {
    if (t.defined()) {
      tape.watch(t);
      watched.push_back(t);
    }
  }
  const std::vector<Tensor> g = tape.gradient(sum(f() * w), watched);
  std::vector<Tensor> out;
  std::size_t k = 0;
  for (const Tensor& t : inputs) out.push_back(t.defined() ? g[k++] : Tensor());
  return out;
}

/// The fused op's result against the reference's: both undefined, or the same shape and dtype
/// and values within `tolerance` (absolute and relative).
inline ::testing::AssertionResult same_values(const std::string& what, const Tensor& fused,
                                              const Tensor& reference, double tolerance = 1e-12) {
  if (fused.defined() != reference.defined()) {
    return ::testing::AssertionFailure() << what << ": defined on one side only";
  }
  if (!fused.defined()) return ::testing::AssertionSuccess();
  if (fused.shape() != reference.shape() || fused.dtype() != reference.dtype()) {
    return ::testing::AssertionFailure()
           << what << ": shape " << fused.shape() << " " << fused.dtype() << " vs "
           << reference.shape() << " " << reference.dtype();
  }
  auto r = all_close(fused, reference.to_vector<double>(), tolerance, tolerance);
  if (!r) return ::testing::AssertionFailure() << what << ": " << r.message();
  return ::testing::AssertionSuccess();
}

}  // namespace neurona::testing
