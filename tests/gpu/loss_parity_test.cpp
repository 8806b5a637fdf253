// The fused softmax cross-entropy kernels and the losses and metrics built on them, on a GPU
// against the CPU, on random inputs (extreme logits included). Skipped (reported as such)
// where no GPU is present.
#include <neurona/neurona.h>

#include <cmath>
#include <limits>

#include "neurona/training/losses.h"
#include "neurona/training/metrics.h"
#include "support/gpu_test.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::make_tensor;
using nr::testing::random_tensor;

namespace {

const nr::Device kGpu = nr::Device::cuda(0);

class LossGpu : public nr::testing::GpuTest {};

::testing::AssertionResult same(const std::string& what, const nr::Tensor& gpu,
                                const nr::Tensor& cpu, double tol) {
  if (gpu.device() != kGpu) return ::testing::AssertionFailure() << what << ": result not on GPU";
  if (gpu.shape() != cpu.shape()) {
    return ::testing::AssertionFailure()
           << what << ": gpu shape " << gpu.shape() << ", cpu " << cpu.shape();
  }
  auto r = all_close(gpu.to_vector<double>(), cpu.to_vector<double>(), tol, tol);
  if (!r) return ::testing::AssertionFailure() << what << ": " << r.message();
  return r;
}

}  // namespace

TEST_F(LossGpu, FusedSparseCrossEntropyAndGradientMatchCpu) {
  for (nr::DType dt : {nr::float32, nr::float64}) {
    for (const auto& [rows, classes] :
         std::vector<std::pair<std::int64_t, std::int64_t>>{{1, 2}, {128, 10}, {37, 1000}}) {
      SCOPED_TRACE(std::string(nr::name(dt)) + " " + std::to_string(rows) + "x" +
                   std::to_string(classes));
      const nr::Tensor logits = random_tensor({rows, classes}, dt, -8, 8, 7);
      const nr::Tensor labels = nr::cast(
          random_tensor({rows}, nr::float64, 0, static_cast<double>(classes), 8), nr::int32);
      const nr::Tensor g = random_tensor({rows}, dt, 0.5, 1.5, 9);
      const double tol = dt == nr::float32 ? 1e-5 : 1e-12;
      nr::GradientTape cpu_tape, gpu_tape;
      cpu_tape.watch(logits);
      const nr::Tensor cpu = nr::sparse_softmax_cross_entropy(logits, labels);
      const nr::Tensor gl = logits.to(kGpu);
      gpu_tape.watch(gl);
      const nr::Tensor gpu = nr::sparse_softmax_cross_entropy(gl, labels.to(kGpu));
      EXPECT_TRUE(same("loss", gpu, cpu, tol));
      EXPECT_TRUE(same("grad", gpu_tape.gradient(nr::sum(gpu * g.to(kGpu)), gl),
                       cpu_tape.gradient(nr::sum(cpu * g), logits), tol));
    }
  }
}

TEST_F(LossGpu, FusedDenseCrossEntropyAndGradientsMatchCpu) {
  const nr::Tensor logits = random_tensor({64, 33}, nr::float32, -6, 6, 11);
  const nr::Tensor targets = nr::softmax(random_tensor({64, 33}, nr::float32, -2, 2, 12));
  nr::GradientTape cpu_tape, gpu_tape;
  cpu_tape.watch(logits);
  cpu_tape.watch(targets);
  const nr::Tensor cpu = nr::softmax_cross_entropy(logits, targets);
  const nr::Tensor gl = logits.to(kGpu), gt = targets.to(kGpu);
  gpu_tape.watch(gl);
  gpu_tape.watch(gt);
  const nr::Tensor gpu = nr::softmax_cross_entropy(gl, gt);
  EXPECT_TRUE(same("loss", gpu, cpu, 1e-5));
  const auto cg = cpu_tape.gradient(nr::sum(cpu), std::vector<nr::Tensor>{logits, targets});
  const auto gg = gpu_tape.gradient(nr::sum(gpu), std::vector<nr::Tensor>{gl, gt});
  EXPECT_TRUE(same("dlogits", gg[0], cg[0], 1e-5));
  EXPECT_TRUE(same("dtargets", gg[1], cg[1], 1e-5));
}

TEST_F(LossGpu, ExtremeLogitsStayFinite) {
  const nr::Tensor logits =
      make_tensor({1e4, 0, -1e4, 1e4, 0, -1e4, 1e4, 0, -1e4, 5e3, 5e3, -1e4}, {4, 3}).to(kGpu);
  const nr::Tensor labels = make_tensor({0, 1, 2, 1}, {4}, nr::int64).to(kGpu);
  nr::GradientTape tape;
  tape.watch(logits);
  const nr::Tensor loss = nr::sparse_softmax_cross_entropy(logits, labels);
  EXPECT_TRUE(all_close(loss, {0, 1e4, 2e4, std::log(2.0)}, 1e-6, 1e-6));
  EXPECT_TRUE(all_close(tape.gradient(nr::sum(loss), logits),
                        {0, 0, 0, 1, -1, 0, 1, 0, -1, 0.5, -0.5, 0}, 1e-6, 1e-6));
}

TEST_F(LossGpu, OutOfRangeLabelsGiveNanRowsWithoutReadingOutside) {
  const nr::Tensor logits = random_tensor({3, 4}, nr::float32, -1, 1, 13).to(kGpu);
  const nr::Tensor labels = make_tensor({0, 7, -2}, {3}, nr::int32).to(kGpu);
  nr::GradientTape tape;
  tape.watch(logits);
  const std::vector<double> loss =
      nr::sparse_softmax_cross_entropy(logits, labels).to_vector<double>();
  EXPECT_TRUE(std::isfinite(loss[0]));
  EXPECT_TRUE(std::isnan(loss[1]));
  EXPECT_TRUE(std::isnan(loss[2]));
  const std::vector<double> g =
      tape.gradient(nr::sum(nr::sparse_softmax_cross_entropy(logits, labels)), logits)
          .to_vector<double>();
  for (int k = 0; k < 4; ++k) {
    EXPECT_TRUE(std::isfinite(g[static_cast<std::size_t>(k)]));
    EXPECT_TRUE(std::isnan(g[static_cast<std::size_t>(4 + k)]));
  }
  // The probability form gives NaN too (Keras would give 0).
  const std::vector<double> probs =
      nr::losses::sparse_categorical_crossentropy(labels, nr::softmax(logits)).to_vector<double>();
  EXPECT_TRUE(std::isfinite(probs[0]));
  EXPECT_TRUE(std::isnan(probs[1]));
}

TEST_F(LossGpu, LossObjectsAndMetricsMatchCpu) {
  const nr::Tensor logits = random_tensor({50, 6}, nr::float32, -3, 3, 21);
  const nr::Tensor labels = nr::cast(random_tensor({50}, nr::float64, 0, 6, 22), nr::uint8);
  const nr::Tensor w = random_tensor({50}, nr::float32, 0, 2, 23);
  const nr::losses::SparseCategoricalCrossentropy loss({.from_logits = true});
  EXPECT_TRUE(same("scce", loss(labels.to(kGpu), logits.to(kGpu), w.to(kGpu)),
                   loss(labels, logits, w), 1e-5));
  const nr::losses::CategoricalCrossentropy cce({.label_smoothing = 0.1});
  const nr::Tensor onehot = nr::one_hot(labels, 6, {.dtype = nr::float32});
  EXPECT_TRUE(same("cce", cce(onehot.to(kGpu), nr::softmax(logits).to(kGpu)),
                   cce(onehot, nr::softmax(logits)), 1e-5));

  nr::metrics::SparseCategoricalAccuracy acc_cpu, acc_gpu;
  nr::metrics::AUC auc_cpu, auc_gpu;
  const nr::Tensor binary = nr::cast(nr::greater(labels, nr::scalar_like(labels, 2)), nr::float32);
  const nr::Tensor scores = nr::sigmoid(nr::narrow(logits, 1, 0, 1)).reshape({50});
  for (int step = 0; step < 3; ++step) {
    acc_cpu.update_state(labels, logits, w);
    acc_gpu.update_state(labels.to(kGpu), logits.to(kGpu), w.to(kGpu));
    auc_cpu.update_state(binary, scores);
    auc_gpu.update_state(binary.to(kGpu), scores.to(kGpu));
  }
  EXPECT_EQ(acc_gpu.device(), kGpu);
  EXPECT_TRUE(same("accuracy", acc_gpu.result(), acc_cpu.result(), 1e-6));
  EXPECT_TRUE(same("auc", auc_gpu.result(), auc_cpu.result(), 1e-6));
}
