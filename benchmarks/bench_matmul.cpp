// Matmul through neurona against a direct OpenBLAS call (CPU) and a direct cuBLAS call (GPU)
// in the same run: GFLOP/s of each and their ratio, as a table and a JSON line. The cuda rows
// run both sides in one math mode (--tf32): TensorFloat-32 tensor cores or plain FP32.
#include <cblas.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <neurona/neurona.h>

#include "reference.h"

namespace nr = neurona;

namespace {

using Clock = std::chrono::steady_clock;

// Median seconds of `reps` runs of f after one warm-up.
template <typename F>
double median_seconds(int reps, F&& f) {
  f();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    f();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int reps_for(int n, bool gpu) {
  const double flops = 2.0 * n * n * n;
  const double rate = gpu ? 2e13 : 5e10;  // rough, only to keep each row near a second
  return std::clamp(static_cast<int>(0.5 / (flops / rate)), 3, gpu ? 200 : 50);
}

struct Row {
  std::string device;
  int n;
  double neurona_gflops, reference_gflops;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"neurona matmul benchmark: neurona vs direct OpenBLAS / cuBLAS"};
  std::string devices = "all";
  std::vector<int> sizes = {128, 256, 512, 1024, 2048, 4096};
  app.add_option("--device", devices, "cpu, cuda or all")
      ->check(CLI::IsMember({"cpu", "cuda", "all"}));
  app.add_option("--sizes", sizes, "square matrix sizes")->delimiter(',');
  // neurona's default (TF32 on, as TensorFlow's) unless asked otherwise; the cuBLAS reference
  // follows, so that both sides of a cuda row do the same arithmetic.
  std::string tf32 = nr::config::tensor_float_32_execution_enabled() ? "on" : "off";
  app.add_option("--tf32", tf32,
                 "TensorFloat-32 for the cuda rows, in neurona (nr::config) and in the cuBLAS "
                 "reference alike; default: neurona's default")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
  std::string dtype = "float32";
  app.add_option("--dtype", dtype,
                 "float32, or bfloat16 (cuda rows only: neurona's 16-bit matmul against "
                 "cublasGemmEx with float32 accumulation)")
      ->check(CLI::IsMember({"float32", "bfloat16"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const bool use_tf32 = tf32 == "on";
  const bool bf16 = dtype == "bfloat16";
  nr::config::enable_tensor_float_32_execution(use_tf32);

  std::vector<Row> rows;
  const bool want_cpu = devices != "cuda" && !bf16;  // the CPU has no 16-bit GEMM to compare
  const bool want_gpu = devices != "cpu" && nr::cuda_device_count() > 0;
  if (devices == "cuda" && !want_gpu) {
    std::cerr << "bench_matmul: --device cuda asked, but no CUDA GPU is available ("
              << nr::bench::cublas_description() << ")\n";
    return 1;
  }

  for (int n : sizes) {
    const double flops = 2.0 * n * n * n;
    if (want_cpu) {
      const nr::Device cpu = nr::Device::cpu();
      const nr::Tensor a = nr::random_uniform({n, n}, {.device = cpu, .seed = 1});
      const nr::Tensor b = nr::random_uniform({n, n}, {.device = cpu, .seed = 2});
      std::vector<float> c(static_cast<std::size_t>(n) * n);
      const int reps = reps_for(n, false);
      const double t_ref = median_seconds(reps, [&] {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data<float>(), n,
                    b.data<float>(), n, 0.0f, c.data(), n);
      });
      const double t_nr = median_seconds(reps, [&] { (void)nr::matmul(a, b); });
      rows.push_back({"cpu", n, flops / t_nr / 1e9, flops / t_ref / 1e9});
    }
    if (want_gpu) {
      const nr::Device gpu = nr::Device::cuda(0);
      const nr::DType t = bf16 ? nr::DType::bfloat16 : nr::DType::float32;
      const nr::Tensor a = nr::random_uniform({n, n}, {.dtype = t, .device = gpu, .seed = 1});
      const nr::Tensor b = nr::random_uniform({n, n}, {.dtype = t, .device = gpu, .seed = 2});
      const int reps = reps_for(n, true);
      const double t_ref = bf16 ? nr::bench::cublas_gemm_bf16_seconds(n, reps)
                                : nr::bench::cublas_sgemm_seconds(n, reps, use_tf32);
      const double t_nr = median_seconds(reps, [&] {
        (void)nr::matmul(a, b);
        nr::synchronize(gpu);
      });
      rows.push_back({"cuda", n, flops / t_nr / 1e9, flops / t_ref / 1e9});
    }
  }

  const char* blas_core = openblas_get_corename();
  std::printf("matmul, %s, square n x n x n; median of repeated runs\n", dtype.c_str());
  std::printf("CPU reference:%s(%s, %d threads)\n", OPENBLAS_VERSION, blas_core,
              openblas_get_num_threads());
  if (want_gpu) {
    std::printf("GPU reference: %s\n", nr::bench::cublas_description().c_str());
    std::printf("GPU math: %s\n",
                bf16       ? "bfloat16 with float32 accumulation (cublasGemmEx, CUBLAS_COMPUTE_32F)"
                : use_tf32 ? "TF32 on (neurona config; cuBLAS CUBLAS_TF32_TENSOR_OP_MATH)"
                           : "TF32 off, plain FP32 (neurona config; cuBLAS CUBLAS_DEFAULT_MATH)");
  }
  std::printf("%-6s %6s %16s %16s %8s\n", "device", "n", "neurona GFLOP/s", "direct GFLOP/s",
              "ratio");
  std::ostringstream json;
  json << "{\"benchmark\":\"matmul\",\"dtype\":\"" << dtype << "\",\"tf32\":\"" << tf32
       << "\",\"rows\":[";
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    const double ratio = r.neurona_gflops / r.reference_gflops;
    std::printf("%-6s %6d %16.1f %16.1f %8.3f\n", r.device.c_str(), r.n, r.neurona_gflops,
                r.reference_gflops, ratio);
    json << (i ? "," : "") << "{\"device\":\"" << r.device << "\",\"n\":" << r.n
         << ",\"neurona_gflops\":" << r.neurona_gflops
         << ",\"reference_gflops\":" << r.reference_gflops << ",\"ratio\":" << ratio << "}";
  }
  json << "]}";
  std::printf("%s\n", json.str().c_str());
  return 0;
}
