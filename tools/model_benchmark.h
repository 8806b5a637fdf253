// `neurona bench --model resnet50` and `neurona bench --model gpt2`: the training throughput of
// networks that fill a GPU, on synthetic data made on the device, through compile/fit as a user
// trains (the captured CUDA-graph step included):
//   - Keras's ResNet50 (applications/resnet.h), 224x224x3 images, 1000 classes, batch 256, SGD
//     with momentum 0.9; images per second.
//   - GPT-2 small (charlm.h's TransformerLM with gpt2_small_config()), context 1024, batch 16,
//     AdamW (learning rate 6e-4, betas 0.9 / 0.95, weight decay 0.1, global norm clip 1.0, as
//     llm.c); tokens per second and the model FLOP utilisation by llm.c's formula.
// One batch is drawn on the device once and fed again every step (a Dataset of it, repeated), so
// the figure is the step's alone. The first epoch warms up (the eager step, the capture); the
// median of the later epochs is reported. benchmarks/compare_large.py runs the same models in
// PyTorch beside it.
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "charlm.h"
#include "fit_benchmark.h"
#include "neurona/core/device_info.h"
#include "neurona/neurona.h"

namespace neurona::tools {

/// What `neurona bench --model resnet50|gpt2` trains; the model runs on the default device
/// under the global dtype policy (mixed_precision::set_global_policy).
struct ModelBenchmarkOptions {
  std::string model = "resnet50";  ///< "resnet50" or "gpt2"
  std::int64_t batch_size = 0;     ///< 0: 256 images for resnet50, 16 sequences for gpt2
  std::int64_t steps = 20;         ///< steps per epoch
  int epochs = 3;                  ///< the first warms up; at least 2
  /// resnet50: the images' side and the classes (Keras's minimum side is 32).
  std::int64_t image_size = 224;
  std::int64_t classes = 1000;
  /// gpt2: the transformer (GPT-2 small by default).
  TransformerLMConfig gpt = gpt2_small_config();
  std::uint64_t seed = 1;
  /// The device's peak TFLOP/s for the MFU; 0: looked up by peak_tflops() (none on a CPU).
  double peak_tflops = 0;
};

/// What run_model_benchmark measured.
struct ModelBenchmarkResult {
  ModelBenchmarkOptions options;  ///< batch_size resolved
  Device device;
  std::string device_name;
  std::string dtype_policy;
  std::int64_t parameters = 0;
  std::string unit;                   ///< "images" or "tokens"
  std::int64_t items_per_step = 0;    ///< images, or sequences x context
  std::vector<double> epoch_seconds;  ///< wall time of each epoch, device work included
  double seconds_per_step = 0;        ///< the median of the epochs after the first, per step
  double items_per_second = 0;
  std::vector<double> epoch_loss;  ///< the training loss of each epoch (finite when sound)
  /// gpt2 only: llm.c's FLOPs per step, the TFLOP/s they make, the peak they are against.
  std::optional<double> flops_per_step, tflops, peak_tflops, mfu;
  std::size_t peak_device_bytes = 0;  ///< the device allocator's high-water mark
  long max_rss_kib = 0;               ///< the process's peak resident memory
};

/// The dense tensor-core peak of the GPUs neurona is tuned for, from NVIDIA's data sheets (SXM
/// parts, without sparsity), in TFLOP/s: bfloat16/float16 989.4 and TF32 494.7 for H100 and
/// H200, 312 and 156 for A100; PCIe H100 756.5 and 378. 16-bit for a mixed policy, TF32 for
/// float32 (neurona's default math, config.h). Nothing for another device or a CPU.
inline std::optional<double> peak_tflops(const std::string& device_name, bool sixteen_bit) {
  const auto has = [&](const char* s) { return device_name.find(s) != std::string::npos; };
  if (has("H200") || (has("H100") && !has("PCIe"))) return sixteen_bit ? 989.4 : 494.7;
  if (has("H100")) return sixteen_bit ? 756.5 : 378.0;
  if (has("A100")) return sixteen_bit ? 312.0 : 156.0;
  return std::nullopt;
}

/// llm.c's gpt2_estimate_mfu: 6 N + 6 L C T FLOPs per token (N the parameters, the tied
/// embedding counted once; L layers, C the width, T the context: the weights' forward and
/// backward products, and causal attention's), times the tokens of a step.
inline double gpt_flops_per_step(std::int64_t parameters, const TransformerLMConfig& c,
                                 std::int64_t batch_size) {
  const double per_token = 6.0 * static_cast<double>(parameters) +
                           6.0 * static_cast<double>(c.num_layers * c.width * c.context);
  return per_token * static_cast<double>(batch_size * c.context);
}

/// Builds `options.model`, trains it for options.epochs epochs of options.steps steps on one
/// synthetic batch made on the default device, and reports the throughput:
///   nr::mixed_precision::set_global_policy("mixed_bfloat16");
///   const auto r = run_model_benchmark({.model = "gpt2"});
///   std::puts(model_benchmark_json(r).c_str());
/// ValueError for an unknown model, fewer than 2 epochs or no steps.
inline ModelBenchmarkResult run_model_benchmark(ModelBenchmarkOptions options) {
  NEURONA_CHECK(options.model == "resnet50" || options.model == "gpt2", ValueError,
                "bench: unknown --model '", options.model, "' (resnet50 or gpt2 here)");
  NEURONA_CHECK(options.epochs >= 2 && options.steps >= 1, ValueError,
                "bench: need at least 2 epochs (the first warms up) and 1 step, got ",
                options.epochs, " epochs of ", options.steps, " steps");
  const bool gpt = options.model == "gpt2";
  if (options.batch_size <= 0) options.batch_size = gpt ? 16 : 256;
  ModelBenchmarkResult r;
  r.device = default_device();
  r.device_name = device_name(r.device);
  r.dtype_policy = mixed_precision::global_policy().name();
  set_seed(options.seed);
  const Device device = r.device;
  const std::int64_t batch = options.batch_size;

  std::shared_ptr<Model> model;
  Tensor x, y;
  if (gpt) {
    model = std::make_shared<TransformerLM>(options.gpt);
    const auto& c = options.gpt;
    x = random_uniform({batch, c.context}, {.maxval = static_cast<double>(c.vocab_size),
                                            .dtype = DType::int32,
                                            .device = device,
                                            .seed = options.seed});
    y = random_uniform({batch, c.context}, {.maxval = static_cast<double>(c.vocab_size),
                                            .dtype = DType::int32,
                                            .device = device,
                                            .seed = options.seed + 1});
    model->compile(
        {.optimizer = optimizers::AdamW(
             6e-4, {.weight_decay = 0.1, .beta_2 = 0.95, .epsilon = 1e-8, .global_clipnorm = 1.0}),
         .loss = losses::SparseCategoricalCrossentropy({.from_logits = true})});
    r.unit = "tokens";
    r.items_per_step = batch * c.context;
  } else {
    model = applications::ResNet50({.input_shape = Shape{options.image_size, options.image_size, 3},
                                    .classes = options.classes});
    x = random_normal({batch, options.image_size, options.image_size, 3},
                      {.device = device, .seed = options.seed});
    y = random_uniform({batch}, {.maxval = static_cast<double>(options.classes),
                                 .dtype = DType::int32,
                                 .device = device,
                                 .seed = options.seed + 1});
    model->compile({.optimizer = optimizers::SGD(0.01, {.momentum = 0.9}),
                    .loss = losses::SparseCategoricalCrossentropy()});
    r.unit = "images";
    r.items_per_step = batch;
  }
  // Builds the weights (a subclassed model has none before its first call), on one row.
  (void)(*model)(x.slice(0, 1));
  r.parameters = model->count_params();

  auto timer = std::make_shared<detail::EpochTimer>(device);
  const callbacks::History history =
      model->fit(data::Dataset::from_tensors({x, y}).repeat(), {.epochs = options.epochs,
                                                                .verbose = 0,
                                                                .callbacks = {timer},
                                                                .steps_per_epoch = options.steps});
  r.epoch_seconds = timer->seconds;
  r.epoch_loss = history.history.at("loss");
  std::vector<double> timed(r.epoch_seconds.begin() + 1, r.epoch_seconds.end());
  std::sort(timed.begin(), timed.end());
  r.seconds_per_step = timed[timed.size() / 2] / static_cast<double>(options.steps);
  r.items_per_second = static_cast<double>(r.items_per_step) / r.seconds_per_step;
  if (gpt) {
    r.flops_per_step = gpt_flops_per_step(r.parameters, options.gpt, batch);
    r.tflops = *r.flops_per_step / r.seconds_per_step / 1e12;
    r.peak_tflops =
        options.peak_tflops > 0
            ? std::optional<double>(options.peak_tflops)
            : (device.is_cuda() ? peak_tflops(r.device_name, r.dtype_policy != "float32")
                                : std::nullopt);
    if (r.peak_tflops) r.mfu = *r.tflops / *r.peak_tflops;
  }
  r.peak_device_bytes = memory_stats(device).peak_bytes_in_use;
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  r.max_rss_kib = usage.ru_maxrss;
  r.options = options;
  return r;
}

/// One line for a person.
inline std::string model_benchmark_summary(const ModelBenchmarkResult& r) {
  std::ostringstream s;
  s.precision(4);
  s << r.options.model << " on " << r.device.str() << " (" << r.device_name << "), "
    << r.dtype_policy << ", " << r.parameters << " parameters, batch " << r.options.batch_size
    << (r.options.model == "gpt2" && r.options.gpt.remat_blocks ? ", blocks rematerialized" : "")
    << ": " << 1e3 * r.seconds_per_step << " ms/step, " << r.items_per_second << " " << r.unit
    << "/s";
  if (r.tflops) {
    s << ", " << *r.tflops << " TFLOP/s (llm.c's 6N + 6LCT per token)";
    if (r.mfu) {
      s << ", MFU " << 100 * *r.mfu << "% of " << *r.peak_tflops << " TFLOP/s";
    } else {
      s << ", MFU unknown (no peak for this device; give --peak-tflops)";
    }
  }
  s << ", peak device memory " << static_cast<double>(r.peak_device_bytes) / (1 << 30)
    << " GiB, loss " << (r.epoch_loss.empty() ? 0.0 : r.epoch_loss.front()) << " -> "
    << (r.epoch_loss.empty() ? 0.0 : r.epoch_loss.back());
  return s.str();
}

/// One line for a script: {"benchmark":"model","framework":"neurona","model":"gpt2",...}.
inline std::string model_benchmark_json(const ModelBenchmarkResult& r) {
  nlohmann::ordered_json j;
  j["benchmark"] = "model";
  j["framework"] = "neurona";
  j["model"] = r.options.model;
  j["device"] = r.device.str();
  j["device_name"] = r.device_name;
  j["dtype_policy"] = r.dtype_policy;
  j["parameters"] = r.parameters;
  j["batch_size"] = r.options.batch_size;
  if (r.options.model == "gpt2") {
    j["context"] = r.options.gpt.context;
    j["layers"] = r.options.gpt.num_layers;
    j["width"] = r.options.gpt.width;
    j["vocab_size"] = r.options.gpt.vocab_size;
    j["remat_blocks"] = r.options.gpt.remat_blocks;
  } else {
    j["image_size"] = r.options.image_size;
    j["classes"] = r.options.classes;
  }
  j["steps_per_epoch"] = r.options.steps;
  j["epoch_seconds"] = r.epoch_seconds;
  j["seconds_per_step"] = r.seconds_per_step;
  j["unit"] = r.unit;
  j["items_per_second"] = r.items_per_second;
  const auto optional = [](const std::optional<double>& v) {
    return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
  };
  j["tflops"] = optional(r.tflops);
  j["peak_tflops"] = optional(r.peak_tflops);
  j["mfu"] = optional(r.mfu);
  j["peak_device_bytes"] = r.peak_device_bytes;
  j["max_rss_kib"] = r.max_rss_kib;
  j["epoch_loss"] = r.epoch_loss;
  return j.dump();
}

}  // namespace neurona::tools
