// The CPU's fused attention with a local window (jax's local_window_size: the kernels skip the
// key blocks outside the band) against the same band given as a dense (T, T) mask (every block
// visited, Keras's sliding-window mask), in one run: causal self-attention, forward and backward
// passes together, float32. Both give the same numbers (checked here, bit for bit); the row gives
// the minimum and median milliseconds of each and the ratio dense / window of the minima (above
// 1: the window is faster). Repetitions alternate between the two, so that a change of load on a
// shared machine hits both. A table and one JSON line per row.
//
// With --causal it times plain causal self-attention instead (no window, no mask tensor), both
// passes (the row that benchmarks/compare_attention_cpu.py sets beside PyTorch's) and the
// forward pass alone.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <neurona/neurona.h>

namespace nr = neurona;

namespace {

using Clock = std::chrono::steady_clock;

struct Timing {
  double min_ms = 0, median_ms = 0;
};

Timing summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return {ms.front(), ms[ms.size() / 2]};
}

// One training-shaped call: the output and the three gradients (the sum of the output as loss).
std::vector<float> forward_backward(const nr::Tensor& q, const nr::Tensor& k, const nr::Tensor& v,
                                    const nr::DotProductAttentionOptions& options) {
  nr::GradientTape tape;
  for (const nr::Tensor* t : {&q, &k, &v}) tape.watch(*t);
  const nr::Tensor y = nr::dot_product_attention(q, k, v, options);
  const std::vector<nr::Tensor> g = tape.gradient(nr::sum(y), std::vector<nr::Tensor>{q, k, v});
  std::vector<float> all = y.to_vector<float>();
  for (const nr::Tensor& t : g) {
    const std::vector<float> part = t.to_vector<float>();
    all.insert(all.end(), part.begin(), part.end());
  }
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("bench_attention_cpu: the fused attention's local window against a dense band mask");
  std::vector<std::int64_t> lengths = {1024, 2048, 4096};
  std::int64_t window = 256, batch = 1, heads = 4, head_dim = 64;
  int repeats = 3;
  bool causal_only = false;
  app.add_option("--seq", lengths, "sequence lengths, one row each");
  app.add_option("--window", window, "keys each query sees (itself and window - 1 before it)")
      ->capture_default_str();
  app.add_option("--batch", batch, "batch size")->capture_default_str();
  app.add_option("--heads", heads, "attention heads")->capture_default_str();
  app.add_option("--head-dim", head_dim, "head dimension")->capture_default_str();
  app.add_option("--repeats", repeats, "timed calls of each (after one warm-up)")
      ->capture_default_str();
  app.add_flag("--causal", causal_only,
               "time plain causal self-attention only (compare_attention_cpu.py's rows)");
  CLI11_PARSE(app, argc, argv);

  if (causal_only) {
    std::printf("%8s %16s %16s\n", "seq", "causal ms", "forward ms");
    for (const std::int64_t t : lengths) {
      const nr::Tensor q = nr::random_normal({batch, t, heads, head_dim}, {.seed = 1});
      const nr::Tensor k = nr::random_normal({batch, t, heads, head_dim}, {.seed = 2});
      const nr::Tensor v = nr::random_normal({batch, t, heads, head_dim}, {.seed = 3});
      const nr::DotProductAttentionOptions causal{.is_causal = true};
      (void)forward_backward(q, k, v, causal);  // warm-up
      // Both passes, and the forward pass alone (what inference pays), alternating.
      std::vector<double> ms, forward_ms;
      for (int r = 0; r < repeats; ++r) {
        auto start = Clock::now();
        (void)forward_backward(q, k, v, causal);
        ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        start = Clock::now();
        (void)nr::dot_product_attention(q, k, v, causal).to_vector<float>();
        forward_ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - start).count());
      }
      const Timing c = summarize(ms), f = summarize(forward_ms);
      std::printf("%8lld %7.1f (%6.1f) %7.1f (%6.1f)\n", static_cast<long long>(t), c.min_ms,
                  c.median_ms, f.min_ms, f.median_ms);
      std::printf(
          "{\"bench\": \"attention_cpu_causal\", \"seq\": %lld, \"batch\": %lld, \"heads\": "
          "%lld, \"head_dim\": %lld, \"min_ms\": %.3f, \"median_ms\": %.3f, "
          "\"forward_min_ms\": %.3f, \"forward_median_ms\": %.3f}\n",
          static_cast<long long>(t), static_cast<long long>(batch), static_cast<long long>(heads),
          static_cast<long long>(head_dim), c.min_ms, c.median_ms, f.min_ms, f.median_ms);
    }
    return 0;
  }

  std::printf("%8s %8s %16s %16s %14s\n", "seq", "window", "dense band ms", "window ms",
              "dense/window");
  for (const std::int64_t t : lengths) {
    const nr::Tensor q = nr::random_normal({batch, t, heads, head_dim}, {.seed = 1});
    const nr::Tensor k = nr::random_normal({batch, t, heads, head_dim}, {.seed = 2});
    const nr::Tensor v = nr::random_normal({batch, t, heads, head_dim}, {.seed = 3});
    // Query i sees keys i - window + 1 .. i: the window's band as a float mask.
    const nr::Tensor i = nr::reshape(nr::arange(0, static_cast<double>(t)), {t, 1});
    const nr::Tensor j = nr::reshape(nr::arange(0, static_cast<double>(t)), {1, t});
    const nr::Tensor band = nr::cast(nr::less_equal(j, i), nr::float32) *
                            nr::cast(nr::greater(j, i - static_cast<double>(window)), nr::float32);
    const nr::DotProductAttentionOptions dense{.mask = band};
    const nr::DotProductAttentionOptions windowed{
        .is_causal = true, .local_window_size = std::pair{window - 1, std::int64_t{0}}};
    if (forward_backward(q, k, v, dense) != forward_backward(q, k, v, windowed)) {
      std::fprintf(stderr, "bench_attention_cpu: the window and the dense band differ at %lld\n",
                   static_cast<long long>(t));
      return 1;
    }
    std::vector<double> dense_ms, window_ms;
    for (int r = 0; r < repeats; ++r) {
      for (const bool w : {false, true}) {
        const auto start = Clock::now();
        (void)forward_backward(q, k, v, w ? windowed : dense);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
        (w ? window_ms : dense_ms).push_back(ms);
      }
    }
    const Timing d = summarize(dense_ms), w = summarize(window_ms);
    std::printf("%8lld %8lld %7.1f (%6.1f) %7.1f (%6.1f) %14.2f\n", static_cast<long long>(t),
                static_cast<long long>(window), d.min_ms, d.median_ms, w.min_ms, w.median_ms,
                d.min_ms / w.min_ms);
    std::printf(
        "{\"bench\": \"attention_cpu\", \"seq\": %lld, \"window\": %lld, \"batch\": %lld, "
        "\"heads\": %lld, \"head_dim\": %lld, \"dense_band_ms\": %.3f, \"window_ms\": %.3f, "
        "\"ratio\": %.3f}\n",
        static_cast<long long>(t), static_cast<long long>(window), static_cast<long long>(batch),
        static_cast<long long>(heads), static_cast<long long>(head_dim), d.min_ms, w.min_ms,
        d.min_ms / w.min_ms);
  }
  return 0;
}
