// The CPU's two float32 convolutions side by side in one run: im2col + OpenBLAS against
// oneDNN, per direction (forward, input gradient, kernel gradient) and per case (the cnn's two
// layers at batch 128 first), through the kernels' front doors. Repetitions alternate between
// the two so that a change of load on a shared machine hits both; each row gives the minimum
// and the median milliseconds of each and the ratio oneDNN / im2col of the minima. A table
// and one JSON line.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include <neurona/neurona.h>

#include "neurona/kernels/conv.h"

namespace nr = neurona;
namespace nk = neurona::kernels;

namespace {

using Clock = std::chrono::steady_clock;

struct Case {
  std::string name;
  nr::Shape x, k;
  nr::ConvOptions o;
};

std::vector<Case> cases(bool all) {
  using P = nr::Padding;
  std::vector<Case> c = {
      {"cnn conv1 128x28x28x1 3x3x32", {128, 28, 28, 1}, {3, 3, 1, 32}, {}},
      {"cnn conv2 128x13x13x32 3x3x64", {128, 13, 13, 32}, {3, 3, 32, 64}, {}},
  };
  if (all) {
    c.push_back(
        {"same 128x28x28x32 3x3x32", {128, 28, 28, 32}, {3, 3, 32, 32}, {.padding = P::Same}});
    c.push_back({"stride2 128x28x28x32 3x3x64",
                 {128, 28, 28, 32},
                 {3, 3, 32, 64},
                 {.strides = {2, 2}, .padding = P::Same}});
    c.push_back({"rgb 32x32x32x3 5x5x32", {32, 32, 32, 3}, {5, 5, 3, 32}, {.padding = P::Same}});
    c.push_back({"dilated 32x32x32x16 3x3x16",
                 {32, 32, 32, 16},
                 {3, 3, 16, 16},
                 {.padding = P::Same, .dilation_rate = {2, 2}}});
    c.push_back({"groups4 32x16x16x64 3x3x16x64",
                 {32, 16, 16, 64},
                 {3, 3, 16, 64},
                 {.padding = P::Same, .groups = 4}});
    c.push_back({"depthwise 32x28x28x32 3x3x1x32",
                 {32, 28, 28, 32},
                 {3, 3, 1, 32},
                 {.padding = P::Same, .groups = 32}});
    c.push_back({"groups16 32x28x28x32 3x3x2x32",
                 {32, 28, 28, 32},
                 {3, 3, 2, 32},
                 {.padding = P::Same, .groups = 16}});
    c.push_back({"1x1 128x7x7x256 1x1x64", {128, 7, 7, 256}, {1, 1, 256, 64}, {}});
    c.push_back({"1x1 128x14x14x64 1x1x128", {128, 14, 14, 64}, {1, 1, 64, 128}, {}});
    c.push_back({"1x1 128x28x28x32 1x1x64", {128, 28, 28, 32}, {1, 1, 32, 64}, {}});
    c.push_back(
        {"batch1 1x28x28x32 3x3x64", {1, 28, 28, 32}, {3, 3, 32, 64}, {.padding = P::Same}});
    // Few input channels, where oneDNN's input gradient may lose (the rule in
    // kernels/cpu/conv.cpp).
    for (std::int64_t c_in : {2, 4, 8, 16}) {
      const std::string n = std::to_string(c_in);
      c.push_back(
          {"cin" + n + " 128x28x28x" + n + " 3x3x32", {128, 28, 28, c_in}, {3, 3, c_in, 32}, {}});
    }
  }
  return c;
}

struct Timing {
  double min = 0, median = 0;
};

Timing summarize(std::vector<double> t) {
  std::sort(t.begin(), t.end());
  return {t.front(), t[t.size() / 2]};
}

struct Row {
  std::string name, direction;
  Timing im2col, onednn;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CPU conv2d: im2col + OpenBLAS vs oneDNN, per direction"};
  int reps = 20;
  bool all = false;
  std::string filter;
  app.add_option("--reps", reps, "timed repetitions of each (after one warm-up)")
      ->check(CLI::PositiveNumber);
  app.add_flag("--all", all, "more shapes than the cnn's two layers");
  app.add_option("--filter", filter, "only the cases whose name contains this");
  CLI11_PARSE(app, argc, argv);
  if (!nk::cpu_conv_onednn_available()) {
    std::fprintf(stderr, "bench_conv_cpu: this build has no oneDNN (Debian: libdnnl-dev)\n");
    return 1;
  }

  std::vector<Row> rows;
  for (const Case& c : cases(all)) {
    if (c.name.find(filter) == std::string::npos) continue;
    const nr::Tensor x = nr::random_uniform(c.x, {.minval = -1, .maxval = 1, .seed = 1});
    const nr::Tensor k = nr::random_uniform(c.k, {.minval = -1, .maxval = 1, .seed = 2});
    const nr::Tensor y = nk::conv2d(x, k, c.o);
    const nr::Tensor dy = nr::random_uniform(y.shape(), {.minval = -1, .maxval = 1, .seed = 3});
    const char* names[] = {"forward", "input grad", "kernel grad"};
    for (int dir = 0; dir < 3; ++dir) {
      auto run = [&] {
        if (dir == 0) return nk::conv2d(x, k, c.o);
        if (dir == 1) return nk::conv2d_backward_input(dy, k, x.shape(), c.o);
        return nk::conv2d_backward_filter(x, dy, k.shape(), c.o);
      };
      std::vector<double> t[2];
      for (int r = -1; r < reps; ++r) {  // r = -1: warm-up (and oneDNN's primitive creation)
        for (int impl = 0; impl < 2; ++impl) {
          nk::set_cpu_conv_impl(impl == 0 ? nk::CpuConvImpl::Im2col : nk::CpuConvImpl::OneDnn);
          const auto t0 = Clock::now();
          const nr::Tensor out = run();
          const double s = std::chrono::duration<double>(Clock::now() - t0).count();
          if (r >= 0) t[impl].push_back(1e3 * s);
        }
      }
      rows.push_back({c.name, names[dir], summarize(t[0]), summarize(t[1])});
    }
  }
  nk::set_cpu_conv_impl(nk::CpuConvImpl::Auto);

  std::printf("%-34s %-12s %10s %10s %10s %10s %7s\n", "case", "direction", "im2col min", "median",
              "oneDNN min", "median", "ratio");
  std::printf("%-34s %-12s %10s %10s %10s %10s %7s\n", "", "", "(ms)", "(ms)", "(ms)", "(ms)",
              "dnn/i2c");
  std::ostringstream json;
  json << "{\"benchmark\":\"conv_cpu\",\"reps\":" << reps << ",\"rows\":[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const double ratio = r.onednn.min / r.im2col.min;
    std::printf("%-34s %-12s %10.3f %10.3f %10.3f %10.3f %7.3f\n", r.name.c_str(),
                r.direction.c_str(), r.im2col.min, r.im2col.median, r.onednn.min, r.onednn.median,
                ratio);
    json << (i ? "," : "") << "{\"case\":\"" << r.name << "\",\"direction\":\"" << r.direction
         << "\",\"im2col_ms\":" << r.im2col.min << ",\"im2col_median_ms\":" << r.im2col.median
         << ",\"onednn_ms\":" << r.onednn.min << ",\"onednn_median_ms\":" << r.onednn.median
         << ",\"ratio\":" << ratio << "}";
  }
  json << "]}";
  std::printf("%s\n", json.str().c_str());
  return 0;
}
