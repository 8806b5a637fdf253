// The CPU's fused normalization ops against the chains of generic ops the layers ran before
// them (mean, square, subtract, mean, sqrt, multiply, add ... through the tape), in one run:
// batch normalization's training (forward and backward passes together) and inference, per case
// (channels last and channels first), then layer normalization's forward and backward passes
// together and its forward pass alone, over the last axis (a transformer's tokens). Repetitions
// alternate between the two so that a change of load on a shared machine hits both; each row
// gives the minimum and the median milliseconds of each and the ratio composed / fused of the
// minima (above 1: the fused op is faster). A table and one JSON line.
#include <omp.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <neurona/neurona.h>

namespace nr = neurona;

namespace {

using Clock = std::chrono::steady_clock;

struct Case {
  std::string name;
  nr::Shape x;
  int axis;
  /// Layer normalization over the last axis (else batch normalization over `axis`).
  bool layer = false;
};

std::vector<Case> cases() {
  return {
      {"nhwc 128x26x26x32 (cnn conv1)", {128, 26, 26, 32}, -1},
      {"nhwc 32x56x56x64 (resnet)", {32, 56, 56, 64}, -1},
      {"nc 1024x512 (dense)", {1024, 512}, -1},
      {"nchw 32x64x28x28 axis 1", {32, 64, 28, 28}, 1},
      {"layer_norm 4096x768 (gpt2)", {4096, 768}, -1, true},
      {"layer_norm 8192x256 (charlm)", {8192, 256}, -1, true},
  };
}

// BatchNormalization's call before the fused ops.
nr::BatchNormalizationOutputs composed(const nr::Tensor& x, int axis, const nr::Tensor& beta,
                                       const nr::Tensor& gamma, double epsilon, bool training,
                                       const nr::Tensor& moving_mean,
                                       const nr::Tensor& moving_variance) {
  const int a = x.shape().normalize_axis(axis, "bench");
  std::vector<int> others;
  std::vector<std::int64_t> dims(static_cast<std::size_t>(x.rank()), 1);
  for (int i = 0; i < x.rank(); ++i) {
    if (i == a) {
      dims[static_cast<std::size_t>(i)] = x.shape()[i];
    } else {
      others.push_back(i);
    }
  }
  const nr::Shape stat(dims);
  nr::Tensor mu, var;
  if (training) {
    mu = nr::mean(x, nr::Axes(others), true);
    var = nr::mean(nr::square(nr::subtract(x, mu)), nr::Axes(others), true);
  } else {
    mu = nr::reshape(moving_mean, stat);
    var = nr::reshape(moving_variance, stat);
  }
  nr::Tensor inv = 1.0 / nr::sqrt(var + epsilon);
  inv = nr::multiply(inv, nr::reshape(gamma, stat));
  const nr::Tensor shift = nr::add(nr::neg(nr::multiply(mu, inv)), nr::reshape(beta, stat));
  return {nr::add(nr::multiply(x, inv), shift), mu, var};
}

// LayerNormalization's call over the last axis before the fused op.
nr::Tensor composed_layer(const nr::Tensor& x, const nr::Tensor& beta, const nr::Tensor& gamma,
                          double epsilon) {
  const nr::Shape stat{1, x.shape()[-1]};
  const nr::Tensor mu = nr::mean(x, -1, true);
  const nr::Tensor var = nr::mean(nr::square(nr::subtract(x, mu)), -1, true);
  const nr::Tensor inv = nr::multiply(1.0 / nr::sqrt(var + epsilon), nr::reshape(gamma, stat));
  const nr::Tensor shift = nr::add(nr::neg(nr::multiply(mu, inv)), nr::reshape(beta, stat));
  return nr::add(nr::multiply(x, inv), shift);
}

struct Timing {
  double min = 0, median = 0;
};

Timing summarize(std::vector<double> t) {
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

struct Row {
  std::string name, pass;
  Timing fused, composed;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CPU batch and layer normalization: the fused ops vs the generic-op chains"};
  int reps = 10;
  std::string filter;
  app.add_option("--reps", reps, "timed repetitions of each (after one warm-up)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--filter", filter, "only the cases whose name contains this");
  CLI11_PARSE(app, argc, argv);

  std::vector<Row> rows;
  for (const Case& c : cases()) {
    if (c.name.find(filter) == std::string::npos) continue;
    // Batch normalization's channels, or layer normalization's features.
    const std::int64_t channels = c.x[c.x.normalize_axis(c.axis, "bench")];
    const nr::Tensor x = nr::random_uniform(c.x, {.minval = -1, .maxval = 3, .seed = 1});
    const nr::Tensor dy = nr::random_uniform(c.x, {.minval = -1, .maxval = 1, .seed = 2});
    const nr::Tensor gamma =
        nr::random_uniform({channels}, {.minval = 0.5, .maxval = 2, .seed = 3});
    const nr::Tensor beta = nr::random_uniform({channels}, {.minval = -1, .maxval = 1, .seed = 4});
    const nr::Tensor moving_mean = nr::zeros({channels});
    const nr::Tensor moving_variance = nr::ones({channels});
    const auto forward = [&](bool fused, bool training) {
      if (c.layer) {
        return fused ? nr::layer_normalization(x, gamma, beta, -1, 1e-3)
                     : composed_layer(x, beta, gamma, 1e-3);
      }
      if (!training) {
        return fused
                   ? nr::batch_normalization(x, moving_mean, moving_variance, c.axis, beta, gamma,
                                             1e-3)
                   : composed(x, c.axis, beta, gamma, 1e-3, false, moving_mean, moving_variance).y;
      }
      return fused ? nr::batch_normalization_training(x, c.axis, beta, gamma, 1e-3).y
                   : composed(x, c.axis, beta, gamma, 1e-3, true, moving_mean, moving_variance).y;
    };
    const auto train = [&](bool fused) {
      nr::GradientTape tape;
      tape.watch(x);
      tape.watch(gamma);
      tape.watch(beta);
      const nr::Tensor y = forward(fused, true);
      (void)tape.gradient(y, std::vector<nr::Tensor>{x, gamma, beta}, {.output_gradients = dy});
    };
    const auto infer = [&](bool fused) { (void)forward(fused, false); };
    for (int pass = 0; pass < 2; ++pass) {
      std::vector<double> t[2];
      for (int r = -1; r < reps; ++r) {  // r = -1: warm-up
        for (int impl = 0; impl < 2; ++impl) {
          const bool fused = impl == 0;
          const auto t0 = Clock::now();
          if (pass == 0) {
            train(fused);
          } else {
            infer(fused);
          }
          const double s = std::chrono::duration<double>(Clock::now() - t0).count();
          if (r >= 0) t[impl].push_back(1e3 * s);
        }
      }
      const char* names[2][2] = {{"train fwd+bwd", "inference"}, {"fwd+bwd", "forward"}};
      rows.push_back({c.name, names[c.layer][pass], summarize(t[0]), summarize(t[1])});
    }
  }

  std::printf(
      "float32, %d threads; composed: the generic-op chain BatchNormalization (LayerNormalization "
      "for layer_norm) ran before\n",
      omp_get_max_threads());
  std::printf("%-30s %-14s %10s %10s %12s %10s %7s\n", "case", "pass", "fused min", "median",
              "composed min", "median", "ratio");
  std::printf("%-30s %-14s %10s %10s %12s %10s %7s\n", "", "", "(ms)", "(ms)", "(ms)", "(ms)",
              "cmp/fus");
  std::ostringstream json;
  json << "{\"benchmark\":\"batch_norm_cpu\",\"reps\":" << reps << ",\"rows\":[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const double ratio = r.composed.min / r.fused.min;
    std::printf("%-30s %-14s %10.3f %10.3f %12.3f %10.3f %7.2f\n", r.name.c_str(), r.pass.c_str(),
                r.fused.min, r.fused.median, r.composed.min, r.composed.median, ratio);
    json << (i ? "," : "") << "{\"case\":\"" << r.name << "\",\"pass\":\"" << r.pass
         << "\",\"fused_ms\":" << r.fused.min << ",\"fused_median_ms\":" << r.fused.median
         << ",\"composed_ms\":" << r.composed.min << ",\"composed_median_ms\":" << r.composed.median
         << ",\"ratio\":" << ratio << "}";
  }
  json << "]}";
  std::printf("%s\n", json.str().c_str());
  return 0;
}
