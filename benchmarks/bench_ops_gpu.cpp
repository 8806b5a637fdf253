// neurona's GPU ops side by side with a direct library call in the same run: convolutions
// (conv2d, depthwise as grouped conv2d, Conv1D's unit-height conv2d, conv2d_transpose) forward,
// input gradient and kernel gradient through the kernels' front doors against cuDNN called
// directly (the same math type, each side's algorithm found once), and the memory-bound
// elementwise add and fused Adam update against the card's device-to-device copy bandwidth, and
// the fused batch normalization (training's forward and backward passes, inference) at a
// ResNet-50 size against the copy bandwidth too, beside the chain of generic ops it replaced.
// Both sides are timed alike: a region of --inner calls between two device synchronisations,
// one warm-up region, the median of --reps. A table and one JSON line; where no GPU is present,
// one "skipped" line and a JSON line saying why, exit status 0.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include <neurona/neurona.h>

#include "neurona/kernels/attention.h"
#include "neurona/kernels/batch_norm.h"
#include "neurona/kernels/conv.h"
#include "neurona/kernels/elementwise.h"
#include "neurona/kernels/layer_norm.h"
#include "neurona/kernels/linalg.h"
#include "neurona/kernels/optimizer.h"
#include "reference.h"

namespace nr = neurona;
namespace nk = neurona::kernels;

namespace {

using Clock = std::chrono::steady_clock;

// Seconds per call of f on `device`, timed as the reference times its calls (reference.h).
template <typename F>
double median_seconds(nr::Device device, int reps, int inner, F&& f) {
  const auto region = [&] {
    nr::synchronize(device);
    const auto t0 = Clock::now();
    for (int i = 0; i < inner; ++i) f();
    nr::synchronize(device);
    return std::chrono::duration<double>(Clock::now() - t0).count() / inner;
  };
  region();
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) t.push_back(region());
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      out += ' ';
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

struct ConvCase {
  std::string name;
  nr::Shape x, kernel;  // neurona's operands; the kernel in Keras's layout
  nr::Padding padding;
  /// The symmetric rows and columns of zeros cuDNN is given: Keras's padding in these cases,
  /// so that neurona pads nothing explicitly either.
  int pad_h = 0, pad_w = 0;
  std::int64_t stride = 1, groups = 1;
  /// conv2d_transpose: its forward pass is cuDNN's backward-data of the convolution whose
  /// input is the transposed convolution's output (its input gradient is that convolution's
  /// forward pass, its kernel gradient the same backward-filter).
  bool transposed = false;
};

// The Fashion-MNIST cnn's two layers at its batch size, and a ResNet stage's 3x3 layer; then
// issue 18's layers: MobileNetV2's depthwise 3x3 layers (groups = channels), a Conv1D (a 1 x 9
// kernel over an image one row high) and Conv2DTranspose's usual upsampling by 2 (4x4 'same',
// 2x2 'valid').
std::vector<ConvCase> conv_cases() {
  using P = nr::Padding;
  return {
      {.name = "conv2d cnn1 128x28x28x1 k3x3x32 valid",
       .x = {128, 28, 28, 1},
       .kernel = {3, 3, 1, 32},
       .padding = P::Valid},
      {.name = "conv2d cnn2 128x13x13x32 k3x3x64 valid",
       .x = {128, 13, 13, 32},
       .kernel = {3, 3, 32, 64},
       .padding = P::Valid},
      {.name = "conv2d resnet 256x56x56x64 k3x3x64 same",
       .x = {256, 56, 56, 64},
       .kernel = {3, 3, 64, 64},
       .padding = P::Same,
       .pad_h = 1,
       .pad_w = 1},
      {.name = "depthwise mbv2 64x56x56x144 k3x3 same",
       .x = {64, 56, 56, 144},
       .kernel = {3, 3, 1, 144},
       .padding = P::Same,
       .pad_h = 1,
       .pad_w = 1,
       .groups = 144},
      {.name = "depthwise mbv2 64x14x14x576 k3x3 same",
       .x = {64, 14, 14, 576},
       .kernel = {3, 3, 1, 576},
       .padding = P::Same,
       .pad_h = 1,
       .pad_w = 1,
       .groups = 576},
      {.name = "conv1d 64x1024x128 k9x128 same",
       .x = {64, 1, 1024, 128},
       .kernel = {1, 9, 128, 128},
       .padding = P::Same,
       .pad_w = 4},
      {.name = "conv2d_transpose 64x28x28x128 k4x4x64 s2 same",
       .x = {64, 28, 28, 128},
       .kernel = {4, 4, 64, 128},
       .padding = P::Same,
       .pad_h = 1,
       .pad_w = 1,
       .stride = 2,
       .transposed = true},
      {.name = "conv2d_transpose 64x28x28x128 k2x2x64 s2 valid",
       .x = {64, 28, 28, 128},
       .kernel = {2, 2, 64, 128},
       .padding = P::Valid,
       .stride = 2,
       .transposed = true},
  };
}

// max |a - b| / max |b|: rounding (TF32 or another summation order) stays far below 1e-2; a
// different convolution (layout, padding) gives order 1.
double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::fabs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(b[i])));
  }
  return scale > 0 ? diff / scale : diff;
}
constexpr double kSameConvolution = 5e-2;

struct ConvRow {
  std::string name, direction, algorithm;
  double neurona_s, reference_s, difference;
};

struct MemoryRow {
  std::string kernel;
  int mib;
  double bytes_moved, seconds, copy_gbps;
  double gbps() const { return bytes_moved / seconds / 1e9; }
};

struct BatchNormRow {
  std::string name, pass;
  double bytes_moved, seconds, copy_gbps;
  /// The generic-op chain's seconds for the same work, negative where not measured.
  double composed_seconds = -1;
  double gbps() const { return bytes_moved / seconds / 1e9; }
};

// Seconds of a generic-op chain that a fused normalization replaced, forward and backward
// through a tape: `forward` maps x (16-bit inputs widened to float32 first, and the result cast
// back, as the layers did) to y.
double composed_seconds(const nr::Tensor& x, const nr::Tensor& gamma, const nr::Tensor& beta,
                        const nr::Tensor& dy, int reps, int inner,
                        const std::function<nr::Tensor(const nr::Tensor&)>& forward) {
  return median_seconds(x.device(), reps, inner, [&] {
    nr::GradientTape tape;
    tape.watch(x);
    tape.watch(gamma);
    tape.watch(beta);
    const bool widened = nr::is_half(x.dtype());
    nr::Tensor y = forward(widened ? nr::cast(x, nr::float32) : x);
    if (widened) y = nr::cast(y, x.dtype());
    (void)tape.gradient(y, std::vector<nr::Tensor>{x, gamma, beta}, {.output_gradients = dy});
  });
}

// The chain of generic ops BatchNormalization ran before the fused ops.
double composed_batch_norm_seconds(const nr::Tensor& x, const nr::Tensor& gamma,
                                   const nr::Tensor& beta, const nr::Tensor& dy, int reps,
                                   int inner) {
  const nr::Shape stat{1, 1, 1, x.shape()[3]};
  const nr::Axes axes{0, 1, 2};
  return composed_seconds(x, gamma, beta, dy, reps, inner, [&](const nr::Tensor& in) {
    const nr::Tensor mu = nr::mean(in, axes, true);
    const nr::Tensor var = nr::mean(nr::square(in - mu), axes, true);
    const nr::Tensor inv = 1.0 / nr::sqrt(var + 1e-3) * nr::reshape(gamma, stat);
    const nr::Tensor shift = nr::neg(mu * inv) + nr::reshape(beta, stat);
    return in * inv + shift;
  });
}

// Training's forward and backward passes and inference at ResNet-50's first stage size
// (256x56x56x64), float32 and bfloat16, with the bytes each kernel pair moves: the forward pass
// reads x twice (statistics, then normalizing) and writes y; the backward pass reads x and dy
// twice and writes dx; inference reads x and writes y.
std::vector<BatchNormRow> batch_norm_rows(int reps, int inner,
                                          const std::function<bool(const std::string&)>& wanted) {
  std::vector<BatchNormRow> rows;
  const nr::Device gpu = nr::Device::cuda(0);
  const nr::Shape shape{256, 56, 56, 64};
  for (const nr::DType dtype : {nr::DType::float32, nr::DType::bfloat16}) {
    const std::string name = "batch_norm resnet 256x56x56x64 " + std::string(nr::name(dtype));
    if (!wanted(name)) continue;
    const nr::Tensor x = nr::cast(
        nr::random_uniform(shape, {.minval = -1, .maxval = 3, .device = gpu, .seed = 8}), dtype);
    const nr::Tensor dy = nr::cast(
        nr::random_uniform(shape, {.minval = -1, .maxval = 1, .device = gpu, .seed = 9}), dtype);
    const nr::Tensor gamma =
        nr::random_uniform({64}, {.minval = 0.5, .maxval = 2, .device = gpu, .seed = 10});
    const nr::Tensor beta =
        nr::random_uniform({64}, {.minval = -1, .maxval = 1, .device = gpu, .seed = 11});
    const nr::Tensor moving_variance = nr::ones({64}, {.device = gpu});
    const double size = static_cast<double>(x.nbytes());
    const double t_copy = nr::bench::memcpy_d2d_seconds(x.nbytes(), reps, inner);
    const double copy_gbps = 2.0 * size / t_copy / 1e9;
    nk::BatchNormStatistics s;
    (void)nk::batch_norm_training(x, -1, beta, gamma, 1e-3, &s);
    const double t_forward = median_seconds(
        gpu, reps, inner, [&] { (void)nk::batch_norm_training(x, -1, beta, gamma, 1e-3, &s); });
    const double t_backward = median_seconds(gpu, reps, inner, [&] {
      (void)nk::batch_norm_backward(x, dy, s.mean, s.inv_std, -1, gamma);
    });
    const double t_inference = median_seconds(gpu, reps, inner, [&] {
      (void)nk::batch_norm_inference(x, s.mean, moving_variance, -1, beta, gamma, 1e-3);
    });
    rows.push_back({name, "train forward", 3 * size, t_forward, copy_gbps});
    rows.push_back({name, "train backward", 5 * size, t_backward, copy_gbps});
    rows.push_back({name, "train fwd+bwd", 8 * size, t_forward + t_backward, copy_gbps,
                    composed_batch_norm_seconds(x, gamma, beta, dy, reps, inner)});
    rows.push_back({name, "inference", 2 * size, t_inference, copy_gbps});
  }
  return rows;
}

// The chain of generic ops LayerNormalization ran before the fused op, over the last axis.
double composed_layer_norm_seconds(const nr::Tensor& x, const nr::Tensor& gamma,
                                   const nr::Tensor& beta, const nr::Tensor& dy, int reps,
                                   int inner) {
  const nr::Shape stat{1, x.shape()[1]};
  return composed_seconds(x, gamma, beta, dy, reps, inner, [&](const nr::Tensor& in) {
    const nr::Tensor mu = nr::mean(in, -1, true);
    const nr::Tensor var = nr::mean(nr::square(in - mu), -1, true);
    const nr::Tensor inv = 1.0 / nr::sqrt(var + 1e-5) * nr::reshape(gamma, stat);
    const nr::Tensor shift = nr::neg(mu * inv) + nr::reshape(beta, stat);
    return in * inv + shift;
  });
}

// The fused layer normalization (kernels/layer_norm.h) at GPT-2 small's size (16 x 1024 tokens
// of 768 features), float32 and bfloat16, with the bytes each pass moves from memory at least:
// the forward pass reads x and writes y (its second and third reads of a row hit the cache);
// the backward pass reads x and dy twice (dx, then the weights' gradients) and writes dx.
std::vector<BatchNormRow> layer_norm_rows(int reps, int inner,
                                          const std::function<bool(const std::string&)>& wanted) {
  std::vector<BatchNormRow> rows;
  const nr::Device gpu = nr::Device::cuda(0);
  const nr::Shape shape{16 * 1024, 768};
  for (const nr::DType dtype : {nr::DType::float32, nr::DType::bfloat16}) {
    const std::string name = "layer_norm gpt2 16384x768 " + std::string(nr::name(dtype));
    if (!wanted(name)) continue;
    const nr::Tensor x = nr::cast(
        nr::random_uniform(shape, {.minval = -1, .maxval = 3, .device = gpu, .seed = 12}), dtype);
    const nr::Tensor dy = nr::cast(
        nr::random_uniform(shape, {.minval = -1, .maxval = 1, .device = gpu, .seed = 13}), dtype);
    const nr::Tensor gamma =
        nr::random_uniform({768}, {.minval = 0.5, .maxval = 2, .device = gpu, .seed = 14});
    const nr::Tensor beta =
        nr::random_uniform({768}, {.minval = -1, .maxval = 1, .device = gpu, .seed = 15});
    const double size = static_cast<double>(x.nbytes());
    const double t_copy = nr::bench::memcpy_d2d_seconds(x.nbytes(), reps, inner);
    const double copy_gbps = 2.0 * size / t_copy / 1e9;
    nk::LayerNormStatistics s;
    (void)nk::layer_norm_forward(x, -1, gamma, beta, 1e-5, &s);
    const double t_forward = median_seconds(
        gpu, reps, inner, [&] { (void)nk::layer_norm_forward(x, -1, gamma, beta, 1e-5, &s); });
    const double t_backward = median_seconds(gpu, reps, inner, [&] {
      (void)nk::layer_norm_backward(x, dy, s.mean, s.inv_std, -1, gamma);
    });
    rows.push_back({name, "forward", 2 * size, t_forward, copy_gbps});
    rows.push_back({name, "backward", 5 * size, t_backward, copy_gbps});
    rows.push_back({name, "fwd+bwd", 7 * size, t_forward + t_backward, copy_gbps,
                    composed_layer_norm_seconds(x, gamma, beta, dy, reps, inner)});
  }
  return rows;
}

// The rows of a normalization table (batch_norm_rows, layer_norm_rows), printed and added to
// the JSON line's array.
void print_normalization_rows(const std::vector<BatchNormRow>& rows, std::ostringstream& json) {
  if (!rows.empty()) {
    std::printf("%-40s %-15s %10s %10s %10s %7s %11s %9s\n", "case", "pass", "MiB moved", "ms",
                "GB/s", "ratio", "composed", "speedup");
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const BatchNormRow& r = rows[i];
    const double ratio = r.gbps() / r.copy_gbps;
    std::printf("%-40s %-15s %10.0f %10.4f %10.1f %7.3f", r.name.c_str(), r.pass.c_str(),
                r.bytes_moved / (1 << 20), 1e3 * r.seconds, r.gbps(), ratio);
    if (r.composed_seconds > 0) {
      std::printf(" %11.4f %9.2f", 1e3 * r.composed_seconds, r.composed_seconds / r.seconds);
    }
    std::printf("\n");
    json << (i ? "," : "") << "{\"case\":" << json_string(r.name)
         << ",\"pass\":" << json_string(r.pass) << ",\"bytes_moved\":" << r.bytes_moved
         << ",\"ms\":" << 1e3 * r.seconds << ",\"gbps\":" << r.gbps()
         << ",\"copy_gbps\":" << r.copy_gbps << ",\"ratio\":" << ratio;
    if (r.composed_seconds > 0) json << ",\"composed_ms\":" << 1e3 * r.composed_seconds;
    json << "}";
  }
}

struct AttentionRow {
  std::string name, pass;
  double flops, seconds;
  double tflops() const { return flops / seconds / 1e12; }
};

// The fused attention (kernels/attention.h), bfloat16, BTNH, 16384 tokens per batch (B = 16384 /
// T) and model width 2048 (N = 2048 / H), FlashAttention's benchmark shapes: head dims 64 and 128,
// sequences 512 to 8192, without and with the causal mask; forward, and forward + backward.
// FLOPs: 4 B N T^2 H forward, 2.5 times that backward, halved under the causal mask. Then the
// causal sliding window of Mistral-style decoders (keys i - 1023 .. i, local_window_size), at
// 4096 and 8192, the FLOPs those of the pairs the window shows. Fewer regions than the other
// rows (at most 5 of at most 3 calls): the long sequences take a while.
std::vector<AttentionRow> attention_rows(int reps, int inner,
                                         const std::function<bool(const std::string&)>& wanted) {
  std::vector<AttentionRow> rows;
  const nr::Device gpu = nr::Device::cuda(0);
  reps = std::min(reps, 5);
  inner = std::min(inner, 3);
  constexpr std::int64_t kWindow = 1024;
  for (const std::int64_t h : {64, 128}) {
    for (const std::int64_t t : {512, 1024, 2048, 4096, 8192}) {
      for (const int variant : {0, 1, 2}) {  // plain, causal, causal with a window
        const bool causal = variant > 0, windowed = variant == 2;
        if (windowed && t < 4 * kWindow) continue;
        const std::int64_t b = 16384 / t, n = 2048 / h;
        const std::string name =
            nr::detail::str("attention h", h, " t", t, " b", b, " n", n, causal ? " causal" : "",
                            windowed ? nr::detail::str(" window", kWindow) : "", " bfloat16");
        if (!wanted(name)) continue;
        const auto input = [&](std::uint64_t seed) {
          return nr::cast(
              nr::random_uniform({b, t, n, h},
                                 {.minval = -1, .maxval = 1, .device = gpu, .seed = seed}),
              nr::DType::bfloat16);
        };
        const nr::Tensor q = input(21), k = input(22), v = input(23), dout = input(24);
        nk::AttentionOptions o{.is_causal = causal};
        if (windowed) o.local_window_size = std::pair{kWindow - 1, std::int64_t{0}};
        const nk::AttentionForward f = nk::attention_forward(q, k, v, o);
        const double t_forward =
            median_seconds(gpu, reps, inner, [&] { (void)nk::attention_forward(q, k, v, o); });
        const double t_both = median_seconds(gpu, reps, inner, [&] {
          const nk::AttentionForward g = nk::attention_forward(q, k, v, o);
          (void)nk::attention_backward(dout, q, k, v, g.out, g.lse, o);
        });
        // Query i sees min(i + 1, window) keys: t w - w (w - 1) / 2 pairs in all.
        const double pairs =
            windowed ? static_cast<double>(t * kWindow - kWindow * (kWindow - 1) / 2)
                     : static_cast<double>(t) * static_cast<double>(t) * (causal ? 0.5 : 1.0);
        const double forward_flops =
            4.0 * static_cast<double>(b * n) * pairs * static_cast<double>(h);
        rows.push_back({name, "forward", forward_flops, t_forward});
        rows.push_back({name, "fwd+bwd", 3.5 * forward_flops, t_both});
      }
    }
  }
  return rows;
}

// Keras's Adam at its defaults (learning rate 1e-3, beta_1 0.9, beta_2 0.999, epsilon 1e-7) at
// step 1, with the scalars rounded to float32 as AdamOptimizer::fill_step rounds them.
nk::OptimizerStep adam_step() {
  nk::OptimizerStep step;
  step.rule = nk::OptimizerRule::adam;
  auto& c = step.coefficients;
  const float lr = 1e-3f, beta_1 = 0.9f, beta_2 = 0.999f;
  c.learning_rate = lr;
  c.alpha = lr * std::sqrt(1.0f - beta_2) / (1.0f - beta_1);
  c.one_minus_beta_1 = static_cast<float>(1.0 - 0.9);
  c.one_minus_beta_2 = static_cast<float>(1.0 - 0.999);
  c.epsilon = 1e-7f;
  return step;
}

int run(int reps, int inner, const std::string& filter, const std::vector<int>& sizes_mib,
        bool tf32) {
  const nr::Device gpu = nr::Device::cuda(0);
  const auto wanted = [&](const std::string& name) {
    return name.find(filter) != std::string::npos;
  };

  std::vector<ConvRow> conv_rows;
  bool all_same = true;
  for (const ConvCase& c : conv_cases()) {
    if (!wanted(c.name)) continue;
    const auto dim = [](const nr::Shape& s, int i) { return static_cast<int>(s[i]); };
    const nr::Tensor x =
        nr::random_uniform(c.x, {.minval = -1, .maxval = 1, .device = gpu, .seed = 1});
    const nr::Tensor k =
        nr::random_uniform(c.kernel, {.minval = -1, .maxval = 1, .device = gpu, .seed = 2});
    const nr::Tensor k_ohwi = nk::transpose(k, {3, 0, 1, 2});  // cuDNN's NHWC filter layout
    // neurona's three directions (forward, input gradient, kernel gradient): times and results.
    std::array<double, 3> t{};
    std::array<nr::Tensor, 3> out;
    nr::bench::ConvResult ref;
    if (!c.transposed) {
      const nr::ConvOptions o{
          .strides = {c.stride, c.stride}, .padding = c.padding, .groups = c.groups};
      const nr::Tensor y = nk::conv2d(x, k, o);
      const nr::Tensor dy =
          nr::random_uniform(y.shape(), {.minval = -1, .maxval = 1, .device = gpu, .seed = 3});
      t[0] = median_seconds(gpu, reps, inner, [&] { (void)nk::conv2d(x, k, o); });
      t[1] = median_seconds(gpu, reps, inner,
                            [&] { (void)nk::conv2d_backward_input(dy, k, x.shape(), o); });
      t[2] = median_seconds(gpu, reps, inner,
                            [&] { (void)nk::conv2d_backward_filter(x, dy, k.shape(), o); });
      out = {y, nk::conv2d_backward_input(dy, k, x.shape(), o),
             nk::conv2d_backward_filter(x, dy, k.shape(), o)};
      const nr::bench::ConvProblem p{.n = dim(c.x, 0),
                                     .h = dim(c.x, 1),
                                     .w = dim(c.x, 2),
                                     .c = dim(c.x, 3),
                                     .kh = dim(c.kernel, 0),
                                     .kw = dim(c.kernel, 1),
                                     .filters = dim(c.kernel, 3),
                                     .pad_h = c.pad_h,
                                     .pad_w = c.pad_w,
                                     .stride = static_cast<int>(c.stride),
                                     .groups = static_cast<int>(c.groups)};
      ref = nr::bench::cudnn_conv2d(p, x.to_vector<float>(), k_ohwi.to_vector<float>(),
                                    dy.to_vector<float>(), tf32, reps, inner);
    } else {
      const nr::ConvTransposeOptions o{.strides = {c.stride, c.stride}, .padding = c.padding};
      const nr::Tensor y = nk::conv2d_transpose(x, k, o);
      const nr::Tensor dy =
          nr::random_uniform(y.shape(), {.minval = -1, .maxval = 1, .device = gpu, .seed = 3});
      t[0] = median_seconds(gpu, reps, inner, [&] { (void)nk::conv2d_transpose(x, k, o); });
      t[1] = median_seconds(gpu, reps, inner, [&] {
        (void)nk::conv2d_transpose_backward_input(dy, k, x.shape(), o);
      });
      t[2] = median_seconds(gpu, reps, inner, [&] {
        (void)nk::conv2d_transpose_backward_filter(x, dy, k.shape(), o);
      });
      out = {y, nk::conv2d_transpose_backward_input(dy, k, x.shape(), o),
             nk::conv2d_transpose_backward_filter(x, dy, k.shape(), o)};
      // cuDNN's convolution from the transposed output (dy's shape) to its input (x's).
      const nr::bench::ConvProblem p{.n = dim(c.x, 0),
                                     .h = dim(y.shape(), 1),
                                     .w = dim(y.shape(), 2),
                                     .c = dim(c.kernel, 2),
                                     .kh = dim(c.kernel, 0),
                                     .kw = dim(c.kernel, 1),
                                     .filters = dim(c.kernel, 3),
                                     .pad_h = c.pad_h,
                                     .pad_w = c.pad_w,
                                     .stride = static_cast<int>(c.stride)};
      ref = nr::bench::cudnn_conv2d(p, dy.to_vector<float>(), k_ohwi.to_vector<float>(),
                                    x.to_vector<float>(), tf32, reps, inner);
      // Its forward pass is the transposed convolution's input gradient and the other way
      // round.
      std::swap(ref.forward_s, ref.backward_input_s);
      std::swap(ref.y, ref.dx);
      std::swap(ref.algorithms[0], ref.algorithms[1]);
    }
    const double d_fwd = relative_difference(out[0].to_vector<float>(), ref.y);
    const double d_in = relative_difference(out[1].to_vector<float>(), ref.dx);
    const double d_k =
        relative_difference(nk::transpose(out[2], {3, 0, 1, 2}).to_vector<float>(), ref.dw);
    conv_rows.push_back({c.name, "forward", ref.algorithms[0], t[0], ref.forward_s, d_fwd});
    conv_rows.push_back(
        {c.name, "input grad", ref.algorithms[1], t[1], ref.backward_input_s, d_in});
    conv_rows.push_back(
        {c.name, "kernel grad", ref.algorithms[2], t[2], ref.backward_kernel_s, d_k});
    all_same =
        all_same && d_fwd < kSameConvolution && d_in < kSameConvolution && d_k < kSameConvolution;
  }

  std::vector<MemoryRow> memory_rows;
  for (const int mib : sizes_mib) {
    const std::string size = " " + std::to_string(mib) + " MiB";
    const bool want_add = wanted("add" + size), want_adam = wanted("adam" + size);
    if (!want_add && !want_adam && !wanted("copy" + size)) continue;
    const std::size_t bytes = static_cast<std::size_t>(mib) << 20;
    const std::int64_t numel = static_cast<std::int64_t>(bytes / sizeof(float));
    // The ceiling: one read and one write of every byte.
    const double t_copy = nr::bench::memcpy_d2d_seconds(bytes, reps, inner);
    const double copy_gbps = 2.0 * static_cast<double>(bytes) / t_copy / 1e9;
    memory_rows.push_back({"copy", mib, 2.0 * static_cast<double>(bytes), t_copy, copy_gbps});
    if (want_add) {  // reads x and y, writes the sum
      const nr::Tensor a = nr::random_uniform({numel}, {.device = gpu, .seed = 4});
      const nr::Tensor b = nr::random_uniform({numel}, {.device = gpu, .seed = 5});
      const double t = median_seconds(gpu, reps, inner, [&] { (void)nk::add(a, b); });
      memory_rows.push_back({"add", mib, 3.0 * static_cast<double>(bytes), t, copy_gbps});
    }
    if (want_adam) {  // reads grad, var, m and v; writes var, m and v
      const nr::Tensor grad =
          nr::random_uniform({numel}, {.minval = -1, .maxval = 1, .device = gpu, .seed = 6});
      const nr::Tensor var =
          nr::random_uniform({numel}, {.minval = -1, .maxval = 1, .device = gpu, .seed = 7});
      const nr::Tensor m = nr::zeros({numel}, {.device = gpu});
      const nr::Tensor v = nr::zeros({numel}, {.device = gpu});
      const nk::OptimizerStep step = adam_step();
      const double t = median_seconds(gpu, reps, inner, [&] {
        nk::optimizer_update(step, grad, var, {m, v, nr::Tensor()}, nr::Tensor());
      });
      memory_rows.push_back({"adam", mib, 7.0 * static_cast<double>(bytes), t, copy_gbps});
    }
  }

  const std::vector<BatchNormRow> bn_rows = batch_norm_rows(reps, inner, wanted);
  const std::vector<BatchNormRow> ln_rows = layer_norm_rows(reps, inner, wanted);
  const std::vector<AttentionRow> attention = attention_rows(reps, inner, wanted);

  const std::string math = tf32 ? "TF32 on (neurona config; cuDNN CUDNN_TENSOR_OP_MATH)"
                                : "TF32 off, plain FP32 (neurona config; cuDNN CUDNN_FMA_MATH)";
  std::printf("bench_ops_gpu: neurona's GPU ops and a direct library call in the same run\n");
  std::printf("device: %s\n", nr::bench::cudnn_description().c_str());
  std::printf("math: %s\n", math.c_str());
  std::printf(
      "timing: median of %d regions of %d calls each, after one warm-up region; device "
      "synchronised around each region; ms per call\n",
      reps, inner);
  std::ostringstream json;
  json << "{\"benchmark\":\"ops_gpu\",\"device\":" << json_string(nr::bench::cudnn_description())
       << ",\"tf32\":\"" << (tf32 ? "on" : "off") << "\",\"reps\":" << reps
       << ",\"inner\":" << inner << ",\"conv\":[";
  if (!conv_rows.empty()) {
    std::printf(
        "\nconvolutions, float32, NHWC; ratio = cuDNN ms / neurona ms (target >= 0.90); "
        "conv2d_transpose's forward is cuDNN's backward-data, its input grad cuDNN's forward\n");
    std::printf("%-48s %-11s %10s %10s %7s %9s  %s\n", "case", "direction", "neurona", "cuDNN",
                "ratio", "max diff", "cuDNN algorithm (math, workspace)");
  }
  for (std::size_t i = 0; i < conv_rows.size(); ++i) {
    const ConvRow& r = conv_rows[i];
    const double ratio = r.reference_s / r.neurona_s;
    std::printf("%-48s %-11s %10.4f %10.4f %7.3f %9.1e  %s%s\n", r.name.c_str(),
                r.direction.c_str(), 1e3 * r.neurona_s, 1e3 * r.reference_s, ratio, r.difference,
                r.algorithm.c_str(), r.difference < kSameConvolution ? "" : "  RESULTS DIFFER");
    json << (i ? "," : "") << "{\"case\":" << json_string(r.name)
         << ",\"direction\":" << json_string(r.direction) << ",\"neurona_ms\":" << 1e3 * r.neurona_s
         << ",\"reference_ms\":" << 1e3 * r.reference_s << ",\"ratio\":" << ratio
         << ",\"max_rel_diff\":" << r.difference
         << ",\"reference_algorithm\":" << json_string(r.algorithm) << "}";
  }
  if (!conv_rows.empty()) {
    std::printf("max diff: max |neurona - cuDNN| / max |cuDNN| of the results (same operands)\n");
  }
  json << "],\"memory\":[";
  if (!memory_rows.empty()) {
    std::printf(
        "\nmemory-bound, float32, size per tensor; GB/s = bytes read + written / time; "
        "ratio = GB/s / copy GB/s (target >= 0.80)\n");
    std::printf(
        "copy: cudaMemcpyAsync device to device (2 x size moved); add: kernels::add (3 x); "
        "adam: kernels::optimizer_update, Adam (reads grad, var, m, v, writes var, m, v: "
        "7 x)\n");
    std::printf("%-40s %10s %10s %10s %7s\n", "kernel", "MiB moved", "ms", "GB/s", "ratio");
  }
  for (std::size_t i = 0; i < memory_rows.size(); ++i) {
    const MemoryRow& r = memory_rows[i];
    const double ratio = r.gbps() / r.copy_gbps;
    const std::string label = r.kernel + " " + std::to_string(r.mib) + " MiB";
    std::printf("%-40s %10.0f %10.4f %10.1f %7.3f\n", label.c_str(), r.bytes_moved / (1 << 20),
                1e3 * r.seconds, r.gbps(), ratio);
    json << (i ? "," : "") << "{\"kernel\":" << json_string(r.kernel) << ",\"mib\":" << r.mib
         << ",\"bytes_moved\":" << r.bytes_moved << ",\"ms\":" << 1e3 * r.seconds
         << ",\"gbps\":" << r.gbps() << ",\"copy_gbps\":" << r.copy_gbps << ",\"ratio\":" << ratio
         << "}";
  }
  json << "],\"batch_norm\":[";
  if (!bn_rows.empty()) {
    std::printf(
        "\nbatch normalization (kernels/batch_norm.h), NHWC, float32 statistics; GB/s = bytes "
        "the kernels read + write / time; ratio = GB/s / copy GB/s of the same size (target >= "
        "0.80)\n");
    std::printf(
        "train forward: reads x twice, writes y (3 x size); train backward: reads x and dy "
        "twice, writes dx (5 x); inference: 2 x; composed: the generic-op chain it replaced, "
        "forward + backward through the tape (ms), and its time / the fused kernels'\n");
  }
  print_normalization_rows(bn_rows, json);
  json << "],\"layer_norm\":[";
  if (!ln_rows.empty()) {
    std::printf(
        "\nlayer normalization (kernels/layer_norm.h), over the last axis, float32 statistics; "
        "GB/s = bytes read + written at least / time; ratio = GB/s / copy GB/s (target >= "
        "0.80)\n");
    std::printf(
        "forward: reads x, writes y (2 x size); backward: reads x and dy twice, writes dx (5 x); "
        "composed: the generic-op chain it replaced, forward + backward through the tape (ms), "
        "and its time / the fused kernels'\n");
  }
  print_normalization_rows(ln_rows, json);
  json << "],\"attention\":[";
  if (!attention.empty()) {
    std::printf(
        "\nscaled dot-product attention (kernels/attention.h), bfloat16, BTNH; TFLOP/s = 4 B N "
        "T^2 H (forward; x 3.5 forward + backward; halved causal) / time; PyTorch's "
        "scaled_dot_product_attention on the same shapes: benchmarks/compare_attention.py\n");
    std::printf("%-48s %-8s %10s %9s\n", "case", "pass", "ms", "TFLOP/s");
  }
  for (std::size_t i = 0; i < attention.size(); ++i) {
    const AttentionRow& r = attention[i];
    std::printf("%-48s %-8s %10.4f %9.1f\n", r.name.c_str(), r.pass.c_str(), 1e3 * r.seconds,
                r.tflops());
    json << (i ? "," : "") << "{\"case\":" << json_string(r.name)
         << ",\"pass\":" << json_string(r.pass) << ",\"flops\":" << r.flops
         << ",\"ms\":" << 1e3 * r.seconds << ",\"tflops\":" << r.tflops() << "}";
  }
  json << "]}";
  std::printf("%s\n", json.str().c_str());
  if (!all_same) {
    std::fprintf(stderr,
                 "bench_ops_gpu: neurona's and cuDNN's convolution results differ by more "
                 "than rounding (RESULTS DIFFER above)\n");
    return 2;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"neurona's GPU conv2d and memory-bound kernels vs direct cuDNN / copy bandwidth"};
  int reps = 20, inner = 10;
  std::string filter;
  std::vector<int> sizes_mib = {64, 256};
  // neurona's default (TF32 on, as TensorFlow's) unless asked otherwise; cuDNN follows.
  std::string tf32 = nr::config::tensor_float_32_execution_enabled() ? "on" : "off";
  app.add_option("--reps", reps, "timed regions of each op (after one warm-up region)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--inner", inner, "calls per timed region")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option(
      "--filter", filter,
      "only the rows whose name contains this (conv2d cnn1, conv2d resnet, depthwise, "
      "conv1d, conv2d_transpose, add, adam 64 MiB, copy, batch_norm, attention h64, ...)");
  app.add_option("--sizes-mib", sizes_mib, "MiB per tensor of the memory-bound kernels")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--tf32", tf32,
                 "TensorFloat-32 for the convolutions, in neurona (nr::config) and in the cuDNN "
                 "reference alike; default: neurona's default")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  std::string skipped;
  if (!nr::cuda_built()) {
    skipped = "neurona built without CUDA";
  } else if (nr::cuda_device_count() == 0) {
    const std::string why = nr::bench::cuda_unavailable_reason();
    skipped = "no CUDA GPU" + (why.empty() ? std::string() : " (" + why + ")");
  }
  if (!skipped.empty()) {
    std::printf("bench_ops_gpu: skipped: %s\n", skipped.c_str());
    std::printf("{\"benchmark\":\"ops_gpu\",\"skipped\":%s}\n", json_string(skipped).c_str());
    return 0;
  }
  try {
    const bool use_tf32 = tf32 == "on";
    nr::config::enable_tensor_float_32_execution(use_tf32);
    return run(reps, inner, filter, sizes_mib, use_tf32);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ops_gpu: %s\n", e.what());
    return 1;
  }
}
