// Helpers shared by the test suites: random inputs, float64 references and closeness checks
// bounded by atol + rtol * |reference|.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <neurona/neurona.h>

namespace neurona::testing {

/// Deterministic uniform values in [lo, hi) from std::mt19937 (independent of neurona's RNG).
inline std::vector<double> uniform_values(std::int64_t n, double lo, double hi,
                                          std::uint32_t seed = 42) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = dist(gen);
  return v;
}

/// A CPU tensor of `shape` and `dtype` holding `values` (converted).
inline Tensor make_tensor(const std::vector<double>& values, const Shape& shape,
                          DType dtype = DType::float32) {
  return cast(constant(values, shape, Device::cpu()), dtype);
}

/// Random CPU tensor with values in [lo, hi).
inline Tensor random_tensor(const Shape& shape, DType dtype = DType::float32, double lo = -2.0,
                            double hi = 2.0, std::uint32_t seed = 42) {
  return make_tensor(uniform_values(shape.numel(), lo, hi, seed), shape, dtype);
}

/// Checks |actual - expected| <= atol + rtol * |expected| elementwise; NaNs must match.
inline ::testing::AssertionResult all_close(const std::vector<double>& actual,
                                            const std::vector<double>& expected, double atol = 1e-6,
                                            double rtol = 1e-5) {
  if (actual.size() != expected.size()) {
    return ::testing::AssertionFailure()
           << "sizes differ: " << actual.size() << " vs " << expected.size();
  }
  for (std::size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected[i];
    if (std::isnan(e) || std::isnan(a)) {
      if (std::isnan(e) && std::isnan(a)) continue;
      return ::testing::AssertionFailure() << "element " << i << ": " << a << " vs " << e;
    }
    if (std::isinf(e) || std::isinf(a)) {
      if (a == e) continue;
      return ::testing::AssertionFailure() << "element " << i << ": " << a << " vs " << e;
    }
    if (std::abs(a - e) > atol + rtol * std::abs(e)) {
      return ::testing::AssertionFailure()
             << "element " << i << ": " << a << " vs expected " << e << " (diff " << std::abs(a - e)
             << " > " << atol + rtol * std::abs(e) << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

inline ::testing::AssertionResult all_close(const Tensor& actual,
                                            const std::vector<double>& expected, double atol = 1e-6,
                                            double rtol = 1e-5) {
  return all_close(actual.to_vector<double>(), expected, atol, rtol);
}

/// Expects `statement` to throw `Exception` whose message contains every one of `parts`.
#define NEURONA_EXPECT_THROW_MSG(statement, Exception, ...)        \
  do {                                                             \
    try {                                                          \
      statement;                                                   \
      ADD_FAILURE() << "expected " #Exception " from " #statement; \
    } catch (const Exception& e) {                                 \
      const std::string msg = e.what();                            \
      for (const char* part : {__VA_ARGS__}) {                     \
        EXPECT_NE(msg.find(part), std::string::npos)               \
            << "message '" << msg << "' lacks '" << part << "'";   \
      }                                                            \
    }                                                              \
  } while (0)

using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

/// Every elementwise binary op with its name (the name its errors use), for tests that go
/// over all of them on the CPU and on a GPU.
inline const std::vector<std::pair<const char*, BinaryFn>>& all_binary_ops() {
  static const std::vector<std::pair<const char*, BinaryFn>> ops = {
      {"add", add},           {"subtract", subtract},
      {"multiply", multiply}, {"divide", divide},
      {"pow", pow},           {"maximum", maximum},
      {"minimum", minimum},   {"relu_grad", kernels::relu_grad},
      {"equal", equal},       {"not_equal", not_equal},
      {"less", less},         {"less_equal", less_equal},
      {"greater", greater},   {"greater_equal", greater_equal},
  };
  return ops;
}

}  // namespace neurona::testing
