// The fused dense op (cuBLASLt with bias and ReLU in the epilogue; the kernel and bias gradients
// with the bias's reduced in the epilogue) on a GPU against the CPU, forward and backward. Skipped
// where no GPU is present.
#include <neurona/neurona.h>

#include <limits>

#include "support/gpu_test.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::random_tensor;

class GpuDense : public nr::testing::GpuTest {};

TEST_F(GpuDense, FusedEpilogueMatchesCpu) {
  const nr::Device gpu = nr::Device::cuda(0), cpu = nr::Device::cpu();
  for (nr::DType dt : {nr::float32, nr::float64}) {
    for (auto [m, k, n] :
         {std::tuple<int, int, int>{128, 784, 128}, {7, 13, 5}, {1, 1, 1}, {33, 64, 10}}) {
      for (bool with_bias : {true, false}) {
        for (auto act : {nr::FusedActivation::linear, nr::FusedActivation::relu}) {
          const nr::Tensor x = random_tensor({m, k}, dt, -1, 1, 1);
          const nr::Tensor w = random_tensor({k, n}, dt, -0.2, 0.2, 2);
          const nr::Tensor b = with_bias ? random_tensor({n}, dt, -1, 1, 3) : nr::Tensor();
          auto run = [&](nr::Device d) {
            const nr::Tensor xd = x.to(d), wd = w.to(d);
            const nr::Tensor bd = with_bias ? b.to(d) : nr::Tensor();
            nr::GradientTape tape;
            tape.watch(xd);
            tape.watch(wd);
            if (with_bias) tape.watch(bd);
            const nr::Tensor y = nr::dense(xd, wd, bd, act);
            const nr::Tensor loss =
                nr::sum(y * nr::random_uniform(y.shape(), {.dtype = dt, .device = d, .seed = 4}));
            // With a bias, its gradient and the kernel's come from one cuBLASLt call (BGRADA).
            std::vector<nr::Tensor> sources{xd, wd};
            if (with_bias) sources.push_back(bd);
            std::vector<nr::Tensor> results{y};
            for (const nr::Tensor& g : tape.gradient(loss, sources)) results.push_back(g);
            for (nr::Tensor& r : results) r = r.to(cpu);
            return results;
          };
          const auto c = run(cpu), g = run(gpu);
          for (std::size_t i = 0; i < c.size(); ++i) {
            EXPECT_TRUE(all_close(g[i].to_vector<double>(), c[i].to_vector<double>(), 1e-4, 1e-4))
                << m << "x" << k << "x" << n << " bias " << with_bias << " result " << i;
          }
        }
      }
    }
  }
}

TEST_F(GpuDense, ViewsStartingAnywhereMatchCpu) {
  // cuBLASLt's heuristic assumes 256-byte-aligned matrices unless told less: rows 1.. of a
  // (9, 13) input start 13 elements in, rows 1.. of a (14, 6) kernel 6 elements in, a bias
  // sliced from 1 one element in (then the plain epilogue and the bias kernel run), forward and
  // backward.
  const nr::Device gpu = nr::Device::cuda(0), cpu = nr::Device::cpu();
  for (nr::DType dt : {nr::float32, nr::DType::bfloat16}) {
    for (auto act : {nr::FusedActivation::linear, nr::FusedActivation::relu}) {
      const nr::Tensor x_all = random_tensor({9, 13}, dt, -1, 1, 1);
      const nr::Tensor w_all = random_tensor({14, 6}, dt, -0.5, 0.5, 2);
      const nr::Tensor b_all = random_tensor({7}, dt, -1, 1, 3);
      auto run = [&](nr::Device d) {
        const nr::Tensor x = x_all.to(d).slice(1, 9), wd = w_all.to(d).slice(1, 14);
        const nr::Tensor b = b_all.to(d).slice(1, 7);
        nr::GradientTape tape;
        tape.watch(x);
        tape.watch(wd);
        tape.watch(b);
        const nr::Tensor y = nr::dense(x, wd, b, act);
        std::vector<nr::Tensor> results{y};
        for (const nr::Tensor& g : tape.gradient(nr::sum(y * y), {x, wd, b})) {
          results.push_back(g);
        }
        for (nr::Tensor& r : results) r = r.to(cpu);
        return results;
      };
      const auto c = run(cpu), g = run(gpu);
      const double tol = dt == nr::float32 ? 1e-4 : 5e-2;
      for (std::size_t i = 0; i < c.size(); ++i) {
        EXPECT_TRUE(all_close(g[i].to_vector<double>(), c[i].to_vector<double>(), tol, tol))
            << nr::name(dt) << " result " << i;
      }
    }
  }
}

TEST_F(GpuDense, FusedReluKeepsNaNAsTheCpu) {
  // The CPU (like TensorFlow) keeps NaN through relu. cuBLASLt documents its RELU epilogue as
  // max(x, 0) and says nothing of NaN, so this pins each GPU path to the CPU's answer: cuBLASLt
  // for float32 and the 16-bit types, cuBLAS then neurona's epilogue for float64.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const nr::Device gpu = nr::Device::cuda(0);
  for (nr::DType dt : {nr::float32, nr::DType::bfloat16, nr::DType::float16, nr::float64}) {
    const nr::Tensor x = nr::testing::make_tensor({nan, 1, 1, 1, 0.5, -1}, {3, 2}, dt);
    const nr::Tensor w = nr::testing::make_tensor({1, -1, 1, -1}, {2, 2}, dt);
    const nr::Tensor b = nr::testing::make_tensor({0.5, 0.5}, {2}, dt);
    for (const bool with_bias : {true, false}) {
      const nr::Tensor bias = with_bias ? b : nr::Tensor();
      const nr::Tensor cpu = nr::dense(x, w, bias, nr::FusedActivation::relu);
      const nr::Tensor on_gpu = nr::dense(
          x.to(gpu), w.to(gpu), with_bias ? b.to(gpu) : nr::Tensor(), nr::FusedActivation::relu);
      EXPECT_TRUE(all_close(on_gpu.to(nr::Device::cpu()), cpu.to_vector<double>(), 0, 0))
          << nr::name(dt) << (with_bias ? " with bias" : " without bias");
    }
  }
}
