// neurona's side of benchmarks/compare_cpu.py and compare_pytorch.py: trains `neurona train`'s
// models on Fashion-MNIST with compile/fit on the CPU or a GPU and times each epoch exactly (the
// progress bar rounds to seconds), then prints the test accuracy, peak resident memory and the
// device allocations after the first epoch as a table row and a JSON line. The measurement is
// tools/fit_benchmark.h's, which `neurona bench` shares.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>

#include <neurona/neurona.h>

#include "fit_benchmark.h"

namespace nr = neurona;

int main(int argc, char** argv) {
  CLI::App app{
      "neurona training benchmark: seconds per epoch, test accuracy, peak memory, allocations"};
  nr::tools::FitBenchmarkOptions options;
  std::string device = "cpu";
  std::string dtype_policy = "float32";
  app.add_option("--model", options.model, "cnn, mlp or resnet")
      ->check(CLI::IsMember({"cnn", "mlp", "resnet"}));
  app.add_option("--dtype-policy", dtype_policy, "float32, mixed_bfloat16 or mixed_float16")
      ->check(CLI::IsMember({"float32", "mixed_bfloat16", "mixed_float16"}))
      ->capture_default_str();
  app.add_option("--device", device, "cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("--epochs", options.epochs, "epochs to train")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", options.batch_size, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--train-samples", options.train_samples, "first N training images (0: all)");
  app.add_option("--test-samples", options.test_samples, "first N test images (0: all)");
  app.add_option("--data-dir", options.data_dir, "Fashion-MNIST folder (default: Debian's)");
  app.add_option("--seed", options.seed, "nr::set_seed");
  app.add_flag("--dataset", options.dataset,
               "stream the batches through a data::Dataset prefetched to the device");
  CLI11_PARSE(app, argc, argv);

  try {
    nr::set_default_device(nr::Device::parse(device));
    nr::mixed_precision::set_global_policy(dtype_policy);
    const auto result = nr::tools::run_fit_benchmark(options);
    std::printf("%s\n%s\n", nr::tools::fit_benchmark_summary(result).c_str(),
                nr::tools::fit_benchmark_json(result).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train: %s\n", e.what());
    return 1;
  }
  return 0;
}
