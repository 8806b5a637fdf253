// The fused optimizer update and the clip-norm sum of squares on a GPU against the CPU: the same
// variables, gradients and optimizer configuration on both devices for a few steps, then the
// variables and every state variable compared. The kernel rounds each product on its own on
// both devices, so the two should agree to the last bit or close to it. Skipped (reported as
// such) where no GPU is present.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "neurona/kernels/optimizer.h"
#include "neurona/training/optimizers.h"
#include "support/gpu_test.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace opt = neurona::optimizers;
using nr::testing::all_close;

namespace {

const nr::Device kGpu = nr::Device::cuda(0);
const nr::Device kCpu = nr::Device::cpu();

class GpuOptimizer : public nr::testing::GpuTest {};

using Factory = std::function<std::shared_ptr<opt::Optimizer>()>;

const std::vector<std::pair<std::string, Factory>>& configs() {
  static const std::vector<std::pair<std::string, Factory>> c = {
      {"sgd", [] { return opt::SGD(0.1).ptr(); }},
      {"sgd nesterov wd",
       [] {
         return opt::SGD(0.1, {.momentum = 0.9, .nesterov = true, .weight_decay = 0.01}).ptr();
       }},
      {"adam clipnorm", [] { return opt::Adam(0.01, {.clipnorm = 1.0}).ptr(); }},
      {"adam amsgrad global_clipnorm",
       [] { return opt::Adam(0.01, {.amsgrad = true, .global_clipnorm = 2.0}).ptr(); }},
      {"adamw", [] { return opt::AdamW(0.01).ptr(); }},
      {"rmsprop centered momentum clipvalue",
       [] {
         return opt::RMSprop(0.01, {.momentum = 0.5, .centered = true, .clipvalue = 0.5}).ptr();
       }},
      {"adagrad", [] { return opt::Adagrad(0.1).ptr(); }},
      {"adamax", [] { return opt::Adamax(0.01).ptr(); }},
      {"nadam", [] { return opt::Nadam(0.01, {.weight_decay = 0.1}).ptr(); }},
  };
  return c;
}

}  // namespace

TEST_F(GpuOptimizer, EveryOptimizerMatchesTheCpuAfterSeveralSteps) {
  // One small variable and one larger than a clip-norm chunk and a GPU grid's first pass.
  const std::vector<nr::Shape> shapes = {{7, 13}, {300001}};
  for (nr::DType dtype : {nr::float32, nr::float64}) {
    for (const auto& [name, make] : configs()) {
      std::string trace = name;
      trace += " ";
      trace += nr::name(dtype);
      SCOPED_TRACE(trace);
      std::vector<nr::Variable> cpu_vars, gpu_vars;
      for (std::size_t i = 0; i < shapes.size(); ++i) {
        const nr::Tensor init =
            nr::testing::random_tensor(shapes[i], dtype, -1, 1, static_cast<std::uint32_t>(i));
        // Appended rather than "w" + to_string(i), which trips GCC 12's -Wrestrict.
        std::string vname = "w";
        vname += std::to_string(i);
        cpu_vars.emplace_back(init, nr::VariableOptions{.name = vname});
        gpu_vars.emplace_back(init.to(kGpu), nr::VariableOptions{.name = vname});
      }
      const auto cpu_opt = make();
      const auto gpu_opt = make();
      for (int step = 0; step < 4; ++step) {
        std::vector<nr::Tensor> cpu_grads, gpu_grads;
        for (std::size_t i = 0; i < shapes.size(); ++i) {
          const nr::Tensor g = nr::testing::random_tensor(
              shapes[i], dtype, -2, 2, static_cast<std::uint32_t>(100 + 10 * step + i));
          cpu_grads.push_back(g);
          gpu_grads.push_back(g.to(kGpu));
        }
        cpu_opt->apply_gradients(cpu_grads, cpu_vars);
        gpu_opt->apply_gradients(gpu_grads, gpu_vars);
      }
      for (std::size_t i = 0; i < shapes.size(); ++i) {
        EXPECT_EQ(gpu_vars[i].device(), kGpu);
        EXPECT_TRUE(all_close(gpu_vars[i].value().to_vector<double>(),
                              cpu_vars[i].value().to_vector<double>(), 1e-7, 1e-6))
            << "variable " << i;
      }
      const auto cs = cpu_opt->variables();
      const auto gs = gpu_opt->variables();
      ASSERT_EQ(cs.size(), gs.size());
      for (std::size_t k = 0; k < cs.size(); ++k) {
        EXPECT_TRUE(all_close(gs[k].value().to_vector<double>(), cs[k].value().to_vector<double>(),
                              1e-7, 1e-6))
            << "state " << k << " " << cs[k].name();
      }
    }
  }
}

// More variables than one launch of the multi-tensor update takes (kMaxTensorsPerLaunch), of
// sizes from empty to several blocks' worth, weight decay excluded on some by name.
TEST_F(GpuOptimizer, ManyVariablesInOneStepMatchTheCpu) {
  std::vector<nr::Variable> cpu_vars, gpu_vars;
  for (std::uint32_t i = 0; i < 2 * nr::kernels::kMaxTensorsPerLaunch + 5; ++i) {
    const std::int64_t n = i == 3 ? 0 : (i % 5 == 0 ? 70000 + i : 1 + (i * 53) % 700);
    const nr::Tensor init = nr::testing::random_tensor({n}, nr::float32, -1, 1, i);
    std::string vname = i % 4 == 0 ? "bias" : "kernel";
    vname += std::to_string(i);
    cpu_vars.emplace_back(init, nr::VariableOptions{.name = vname});
    gpu_vars.emplace_back(init.to(kGpu), nr::VariableOptions{.name = vname});
  }
  const auto cpu_opt = opt::AdamW(0.01, {.weight_decay = 0.1});
  const auto gpu_opt = opt::AdamW(0.01, {.weight_decay = 0.1});
  cpu_opt->exclude_from_weight_decay({}, {"bias"});
  gpu_opt->exclude_from_weight_decay({}, {"bias"});
  for (int step = 0; step < 3; ++step) {
    std::vector<nr::Tensor> cpu_grads, gpu_grads;
    for (std::size_t i = 0; i < cpu_vars.size(); ++i) {
      const nr::Tensor g = nr::testing::random_tensor(cpu_vars[i].shape(), nr::float32, -2, 2,
                                                      static_cast<std::uint32_t>(1000 * step + i));
      cpu_grads.push_back(g);
      gpu_grads.push_back(g.to(kGpu));
    }
    cpu_opt->apply_gradients(cpu_grads, cpu_vars);
    gpu_opt->apply_gradients(gpu_grads, gpu_vars);
  }
  for (std::size_t i = 0; i < cpu_vars.size(); ++i) {
    EXPECT_TRUE(all_close(gpu_vars[i].value().to_vector<double>(),
                          cpu_vars[i].value().to_vector<double>(), 1e-7, 1e-6))
        << "variable " << i;
  }
}

TEST_F(GpuOptimizer, SumOfSquaresMatchesTheCpu) {
  const nr::Tensor a = nr::testing::random_tensor({1000003}, nr::float32, -1, 1, 5);
  const nr::Tensor b = nr::testing::random_tensor({17}, nr::float64, -1, 1, 6);
  const double c = nr::kernels::sum_of_squares({a, b}).item<double>();
  const nr::Tensor g = nr::kernels::sum_of_squares({a.to(kGpu), b.to(kGpu)});
  EXPECT_EQ(g.device(), kGpu);
  // float64 accumulation in a different order on each device.
  EXPECT_NEAR(g.item<double>(), c, 1e-10 * c);
}
