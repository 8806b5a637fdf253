// The input pipeline's throughput: synthetic 32x32x3 byte images through from_tensor_slices ->
// shuffle -> batch -> map(augmentation: Rescaling, RandomFlip, RandomBrightness, RandomContrast;
// with --geometric also RandomTranslation and RandomRotation) on 1..N worker threads -> prefetch,
// in images per second (and per core), beside the target of 20,000 a second on two cores.
// compare_pipeline.py runs PyTorch's DataLoader on the same work beside it.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "neurona/neurona.h"

namespace nr = neurona;

int main(int argc, char** argv) {
  CLI::App app("bench_pipeline: images per second through an augmenting Dataset");
  std::int64_t images = 16384, batch = 128;
  std::vector<int> workers = {1, 2};
  int passes = 2;
  bool no_augment = false, geometric = false, per_layer = false;
  app.add_option("--images", images, "synthetic images in the dataset")->capture_default_str();
  app.add_option("--batch-size", batch, "images per batch")->capture_default_str();
  app.add_option("--workers", workers, "num_parallel_calls of the map, one run each");
  app.add_option("--passes", passes, "timed passes (after one warm-up pass)")
      ->capture_default_str();
  app.add_flag("--no-augment", no_augment, "the pipeline without the map (reading and batching)");
  app.add_flag("--geometric", geometric,
               "also shift (RandomTranslation 0.1) and rotate (RandomRotation 0.05) each image");
  app.add_flag("--per-layer", per_layer,
               "milliseconds per call of each augmentation layer (and affine_transform alone) on "
               "one float batch, then exit");
  CLI11_PARSE(app, argc, argv);

  nr::set_seed(1);
  const nr::Tensor x = nr::cast(
      nr::random_uniform({images, 32, 32, 3}, {.minval = 0, .maxval = 255, .seed = 2}), nr::uint8);
  const nr::Tensor y =
      nr::cast(nr::random_uniform({images}, {.minval = 0, .maxval = 10, .seed = 3}), nr::int32);
  const nr::layers::Rescaling rescale(1.0 / 255);
  const nr::layers::RandomFlip flip("horizontal");
  const nr::layers::RandomBrightness brightness(0.2, {.value_range = {0, 1}});
  const nr::layers::RandomContrast contrast(0.2, {.value_range = {0, 1}});
  const nr::layers::RandomTranslation shift(0.1, 0.1);
  const nr::layers::RandomRotation rotate(0.05);
  const auto augment = [=](const nr::data::Element& e) {
    nr::Tensor t = rescale->call(e[0], false);
    t = flip->call(t, true);
    t = brightness->call(t, true);
    t = contrast->call(t, true);
    if (geometric) t = rotate->call(shift->call(t, true), true);
    return nr::data::Element{t, e[1]};
  };
  if (per_layer) {
    // Each call 20 times after one warm-up, on one batch of `batch` float images.
    const nr::Tensor b = rescale->call(x.slice(0, std::min(batch, images)), false);
    const nr::Tensor identity = nr::constant({1, 0, 0, 0, 1, 0, 0, 0});  // for every image
    const std::vector<std::pair<const char*, std::function<nr::Tensor()>>> calls = {
        {"affine_transform (bilinear, constant)",
         [&] { return nr::affine_transform(b, identity); }},
        {"affine_transform (bilinear, reflect)",
         [&] { return nr::affine_transform(b, identity, {.fill_mode = nr::FillMode::Reflect}); }},
        {"RandomTranslation(0.1, 0.1)", [&] { return shift->call(b, true); }},
        {"RandomRotation(0.05)", [&] { return rotate->call(b, true); }},
        {"RandomFlip(horizontal)", [&] { return flip->call(b, true); }},
        {"RandomBrightness(0.2)", [&] { return brightness->call(b, true); }},
        {"RandomContrast(0.2)", [&] { return contrast->call(b, true); }},
    };
    std::printf("%-40s %10s\n", "call", "ms/batch");
    for (const auto& [name, f] : calls) {
      (void)f();
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < 20; ++i) (void)f();
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count() /
          20;
      std::printf("%-40s %10.3f\n", name, ms);
    }
    return 0;
  }
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  std::printf("%-8s %14s %14s %10s\n", "workers", "images/s", "per core", "vs 20k/s");
  for (int w : workers) {
    auto ds = nr::data::Dataset::from_tensor_slices({x, y}).shuffle(4096, {.seed = 4}).batch(batch);
    if (!no_augment) ds = ds.map(augment, {.num_parallel_calls = w, .seed = 5});
    ds = ds.prefetch(2);
    std::int64_t seen = 0;
    for (const auto& e : ds) seen += e[0].shape()[0];  // warm-up
    const auto start = std::chrono::steady_clock::now();
    seen = 0;
    for (int p = 0; p < passes; ++p) {
      for (const auto& e : ds) seen += e[0].shape()[0];
    }
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double rate = static_cast<double>(seen) / s;
    const double per_core = rate / std::min<double>(cores, w + 1);
    std::printf("%-8d %14.0f %14.0f %9.2fx\n", w, rate, per_core, rate / 20000.0);
    std::printf(
        "{\"bench\": \"pipeline\", \"workers\": %d, \"cores\": %u, \"images_per_s\": %.0f, "
        "\"images_per_s_per_core\": %.0f}\n",
        w, cores, rate, per_core);
  }
  return 0;
}
