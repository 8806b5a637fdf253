// The CPU's float32 erf, tanh and exp on glibc's SIMD functions (kernels/cpu/vector_math.h, as
// erf/tanh/gelu and the attention's probabilities run them) against glibc's scalar functions, in
// one run on one thread: the largest error of each against the float64 function, in units in the
// last place of the float32 result, and the time over evenly spaced points of a range (minimum
// of three). A table and one JSON line per function.
#include <omp.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "neurona/kernels/cpu/vector_math.h"

namespace {

using Clock = std::chrono::steady_clock;

double best_ms(const std::function<void()>& f) {
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < 3; ++r) {
    const auto t0 = Clock::now();
    f();
    best = std::min(best, std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return best;
}

// The largest |y - exact| in ulps of the float32 nearest the exact value (where that is finite
// and not 0).
double max_ulp(const std::vector<float>& x, const std::vector<float>& y, double (*exact)(double)) {
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double e = exact(static_cast<double>(x[i]));
    const float ef = static_cast<float>(e);
    if (!std::isfinite(ef) || ef == 0.0f) continue;
    const double ulp =
        std::nextafter(std::fabs(ef), std::numeric_limits<float>::infinity()) - std::fabs(ef);
    worst = std::max(worst, std::fabs(static_cast<double>(y[i]) - e) / ulp);
  }
  return worst;
}

struct Case {
  const char* name;
  float lo, hi;
  void (*simd)(const float*, float*, std::int64_t);
  float (*scalar)(float);
  double (*exact)(double);
};

void simd_exp(const float* x, float* out, std::int64_t n) {
  neurona::kernels::cpu::vector_attention_exp(x, 0.0f, out, n);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench_vector_math: SIMD erf, tanh and exp against glibc's scalar functions"};
  std::int64_t points = 20000000;
  app.add_option("--points", points, "evenly spaced points of each range")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  omp_set_num_threads(1);  // both sides on one thread

  const Case cases[] = {
      {"erf", -8, 8, neurona::kernels::cpu::vector_erf, [](float v) { return std::erf(v); },
       [](double v) { return std::erf(v); }},
      {"tanh", -10, 10, neurona::kernels::cpu::vector_tanh, [](float v) { return std::tanh(v); },
       [](double v) { return std::tanh(v); }},
      {"exp", -80, 80, simd_exp, [](float v) { return std::exp(v); },
       [](double v) { return std::exp(v); }},
  };
  std::printf("%-5s %-12s %12s %12s %12s %12s %8s\n", "fn", "range", "simd ulp", "scalar ulp",
              "simd ms", "scalar ms", "speedup");
  for (const Case& c : cases) {
    std::vector<float> x(static_cast<std::size_t>(points)), simd(x.size()), scalar(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      x[i] = c.lo + (c.hi - c.lo) *
                        static_cast<float>(static_cast<double>(i) / static_cast<double>(x.size()));
    }
    const double simd_ms = best_ms([&] { c.simd(x.data(), simd.data(), points); });
    const double scalar_ms = best_ms([&] {
      for (std::size_t i = 0; i < x.size(); ++i) scalar[i] = c.scalar(x[i]);
    });
    const double simd_ulp = max_ulp(x, simd, c.exact), scalar_ulp = max_ulp(x, scalar, c.exact);
    const std::string range = "[" + std::to_string(static_cast<int>(c.lo)) + ", " +
                              std::to_string(static_cast<int>(c.hi)) + "]";
    std::printf("%-5s %-12s %12.2f %12.2f %12.1f %12.1f %8.1f\n", c.name, range.c_str(), simd_ulp,
                scalar_ulp, simd_ms, scalar_ms, scalar_ms / simd_ms);
    std::printf(
        "{\"bench\": \"vector_math\", \"fn\": \"%s\", \"lo\": %g, \"hi\": %g, \"points\": %lld, "
        "\"simd_max_ulp\": %.3f, \"scalar_max_ulp\": %.3f, \"simd_ms\": %.2f, \"scalar_ms\": "
        "%.2f, \"speedup\": %.2f}\n",
        c.name, static_cast<double>(c.lo), static_cast<double>(c.hi),
        static_cast<long long>(points), simd_ulp, scalar_ulp, simd_ms, scalar_ms,
        scalar_ms / simd_ms);
  }
  return 0;
}
