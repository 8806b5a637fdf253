// LibTorch's side of benchmarks/compare_cpu.py: the same training as its PyTorch (Python)
// worker, step for step, through LibTorch's C++ frontend, so that the comparison separates
// what Python costs from what the library costs. Built only where LibTorch is found.
#include <sys/resource.h>
#include <zlib.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>
#include <torch/version.h>

namespace {

using Clock = std::chrono::steady_clock;

// A gzip-compressed IDX file (Fashion-MNIST's format) as a uint8 tensor of its shape.
torch::Tensor read_idx(const std::string& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw std::runtime_error("bench_libtorch: cannot open " + path);
  std::vector<unsigned char> data;
  unsigned char chunk[1 << 16];
  int got = 0;
  while ((got = gzread(f, chunk, sizeof chunk)) > 0) data.insert(data.end(), chunk, chunk + got);
  gzclose(f);
  if (got < 0 || data.size() < 4 || data[2] != 0x08)
    throw std::runtime_error("bench_libtorch: " + path + " is not a uint8 IDX file");
  const std::size_t dims = data[3];
  std::vector<std::int64_t> shape;
  std::size_t count = 1;
  for (std::size_t i = 0; i < dims && 8 + 4 * i <= data.size(); ++i) {
    const unsigned char* p = data.data() + 4 + 4 * i;
    shape.push_back(std::int64_t{p[0]} << 24 | std::int64_t{p[1]} << 16 | std::int64_t{p[2]} << 8 |
                    std::int64_t{p[3]});
    count *= static_cast<std::size_t>(shape.back());
  }
  const std::size_t offset = 4 + 4 * dims;
  if (shape.size() != dims || data.size() != offset + count)
    throw std::runtime_error("bench_libtorch: " + path + " is truncated");
  return torch::from_blob(data.data() + offset, shape, torch::kUInt8).clone();
}

// compare_cpu.py's torch_model: tools/neurona.cpp's make_model in NCHW, with Keras's
// initialisation (glorot_uniform kernels, zero biases). The last layer gives logits: the
// softmax is in the loss, as in the Python worker.
torch::nn::Sequential make_model(const std::string& kind) {
  namespace nn = torch::nn;
  nn::Sequential model;
  if (kind == "cnn") {
    model = nn::Sequential(nn::Conv2d(nn::Conv2dOptions(1, 32, 3)), nn::ReLU(),
                           nn::MaxPool2d(nn::MaxPool2dOptions(2)),
                           nn::Conv2d(nn::Conv2dOptions(32, 64, 3)), nn::ReLU(),
                           nn::MaxPool2d(nn::MaxPool2dOptions(2)), nn::Flatten(),
                           nn::Linear(64 * 5 * 5, 128), nn::ReLU(), nn::Linear(128, 10));
  } else {
    model = nn::Sequential(nn::Flatten(), nn::Linear(784, 256), nn::ReLU(), nn::Linear(256, 128),
                           nn::ReLU(), nn::Linear(128, 10));
  }
  torch::NoGradGuard no_grad;
  for (const auto& m : model->modules(/*include_self=*/false)) {
    if (auto* conv = m->as<nn::Conv2d>()) {
      nn::init::xavier_uniform_(conv->weight);
      nn::init::zeros_(conv->bias);
    } else if (auto* linear = m->as<nn::Linear>()) {
      nn::init::xavier_uniform_(linear->weight);
      nn::init::zeros_(linear->bias);
    }
  }
  return model;
}

torch::Tensor head(const torch::Tensor& t, std::int64_t limit) {
  return limit > 0 && limit < t.size(0) ? t.slice(0, 0, limit) : t;
}

// compare_cpu.py's default: OMP_NUM_THREADS when set, else every CPU.
int default_threads() {
  const char* n = std::getenv("OMP_NUM_THREADS");
  if (n && *n) return std::atoi(n);
  return static_cast<int>(std::thread::hardware_concurrency());
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"LibTorch training benchmark: compare_cpu.py's PyTorch worker in C++"};
  std::string kind = "cnn";
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  int epochs = 3, threads = default_threads();
  std::int64_t batch_size = 128, train_limit = 0, test_limit = 0;
  std::uint64_t seed = 1;
  app.add_option("--model", kind, "cnn or mlp")->check(CLI::IsMember({"cnn", "mlp"}));
  app.add_option("--epochs", epochs, "epochs to train")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch_size, "batch size")->check(CLI::PositiveNumber);
  app.add_option("--train-samples", train_limit, "first N training images (0: all)");
  app.add_option("--test-samples", test_limit, "first N test images (0: all)");
  app.add_option("--data-dir", data_dir, "Fashion-MNIST folder");
  app.add_option("--seed", seed, "torch::manual_seed");
  app.add_option("--threads", threads, "torch::set_num_threads (default: OMP_NUM_THREADS or all)")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  torch::set_num_threads(threads);
  torch::manual_seed(seed);
  const auto x_of = [](const torch::Tensor& images) {  // NCHW floats in [0, 1]
    return images.to(torch::kFloat32).div(255.0).unsqueeze(1);
  };
  const torch::Tensor xt =
      x_of(head(read_idx(data_dir + "/train-images-idx3-ubyte.gz"), train_limit));
  const torch::Tensor yt =
      head(read_idx(data_dir + "/train-labels-idx1-ubyte.gz"), train_limit).to(torch::kInt64);
  const torch::Tensor xe =
      x_of(head(read_idx(data_dir + "/t10k-images-idx3-ubyte.gz"), test_limit));
  const torch::Tensor ye =
      head(read_idx(data_dir + "/t10k-labels-idx1-ubyte.gz"), test_limit).to(torch::kInt64);

  auto model = make_model(kind);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(1e-3).eps(1e-7));
  torch::nn::CrossEntropyLoss loss_fn;  // softmax + sparse categorical cross-entropy
  const std::int64_t n = xt.size(0), bs = batch_size;
  std::vector<double> seconds;
  for (int epoch = 0; epoch < epochs; ++epoch) {
    const auto t0 = Clock::now();
    model->train();
    const torch::Tensor perm = torch::randperm(n);
    for (std::int64_t i = 0; i < n; i += bs) {
      const torch::Tensor idx = perm.slice(0, i, std::min(i + bs, n));
      for (auto& p : model->parameters()) p.mutable_grad().reset();  // zero_grad(set_to_none)
      const torch::Tensor loss = loss_fn(model->forward(xt.index({idx})), yt.index({idx}));
      loss.backward();
      opt.step();
    }
    seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  model->eval();
  std::int64_t correct = 0;
  {
    torch::NoGradGuard no_grad;
    for (std::int64_t i = 0; i < xe.size(0); i += 256) {
      const std::int64_t end = std::min(i + 256, xe.size(0));
      correct += model->forward(xe.slice(0, i, end))
                     .argmax(1)
                     .eq(ye.slice(0, i, end))
                     .sum()
                     .item<std::int64_t>();
    }
  }
  const double accuracy = static_cast<double>(correct) / static_cast<double>(xe.size(0));
  std::vector<double> sorted = seconds;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);

  std::printf(
      "%s: %d epochs of %lld images, batch %lld: median epoch %.2f s, test accuracy %.4f, peak "
      "RSS %.1f MiB, %d threads, LibTorch %s\n",
      kind.c_str(), epochs, static_cast<long long>(n), static_cast<long long>(bs), median, accuracy,
      usage.ru_maxrss / 1024.0, torch::get_num_threads(), TORCH_VERSION);
  std::ostringstream json;
  json.precision(10);
  json << "{\"benchmark\":\"train\",\"framework\":\"libtorch\",\"model\":\"" << kind
       << "\",\"epochs\":" << epochs << ",\"train_samples\":" << n << ",\"batch_size\":" << bs
       << ",\"epoch_seconds\":[";
  for (std::size_t i = 0; i < seconds.size(); ++i) json << (i ? "," : "") << seconds[i];
  json << "],\"median_epoch_seconds\":" << median << ",\"test_accuracy\":" << accuracy
       << ",\"threads\":" << torch::get_num_threads() << ",\"torch\":\"" << TORCH_VERSION << "\"}";
  std::printf("%s\n", json.str().c_str());
  return 0;
}

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_libtorch: %s\n", e.what());
    return 1;
  }
}
