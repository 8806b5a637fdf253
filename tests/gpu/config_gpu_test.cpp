// What the GPU switches of neurona/core/config.h do on a GPU: TF32 products stay within TF32's
// error of the CPU's, determinism makes convolution gradients bitwise repeatable and refuses
// the atomic scatter. Skipped (reported as such) where no GPU is present.
#include <gtest/gtest.h>

#include <neurona/neurona.h>

#include "support/gpu_test.h"
#include "support/test_util.h"

namespace nr = neurona;

namespace {

const nr::Device kGpu = nr::Device::cuda(0);

class GpuConfig : public nr::testing::GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    tf32_ = nr::config::tensor_float_32_execution_enabled();
    determinism_ = nr::config::op_determinism_enabled();
  }
  void TearDown() override {
    nr::config::enable_tensor_float_32_execution(tf32_);
    nr::config::enable_op_determinism(determinism_);
  }

 private:
  bool tf32_ = false, determinism_ = false;
};

}  // namespace

TEST_F(GpuConfig, Tf32ProductsAndConvolutionsStayWithinTf32ErrorOfTheCpu) {
  nr::config::enable_tensor_float_32_execution(true);
  const nr::Tensor a = nr::testing::random_tensor({256, 512}, nr::float32, -1, 1, 1);
  const nr::Tensor b = nr::testing::random_tensor({512, 128}, nr::float32, -1, 1, 2);
  // TF32 rounds inputs to 10 mantissa bits (relative 2^-11); sums of 512 such products of
  // magnitude <= 1 stay within 0.05 of the float32 result.
  EXPECT_TRUE(nr::testing::all_close(nr::matmul(a.to(kGpu), b.to(kGpu)).to_vector<double>(),
                                     nr::matmul(a, b).to_vector<double>(), 5e-2, 1e-2));
  const nr::Tensor x = nr::testing::random_tensor({8, 16, 16, 32}, nr::float32, -1, 1, 3);
  const nr::Tensor k = nr::testing::random_tensor({3, 3, 32, 64}, nr::float32, -1, 1, 4);
  EXPECT_TRUE(nr::testing::all_close(nr::conv2d(x.to(kGpu), k.to(kGpu)).to_vector<double>(),
                                     nr::conv2d(x, k).to_vector<double>(), 5e-2, 1e-2));
}

TEST_F(GpuConfig, DeterministicConvolutionGradientsRepeatBitForBit) {
  nr::config::enable_op_determinism(true);
  const nr::Tensor x = nr::testing::random_tensor({32, 13, 13, 32}, nr::float32, -1, 1, 5).to(kGpu);
  const nr::Tensor k = nr::testing::random_tensor({3, 3, 32, 64}, nr::float32, -1, 1, 6).to(kGpu);
  const nr::Tensor dy =
      nr::testing::random_tensor({32, 11, 11, 64}, nr::float32, -1, 1, 7).to(kGpu);
  const auto dk = nr::kernels::conv2d_backward_filter(x, dy, k.shape()).to_vector<float>();
  const auto dx = nr::kernels::conv2d_backward_input(dy, k, x.shape()).to_vector<float>();
  for (int rep = 0; rep < 3; ++rep) {
    EXPECT_EQ(nr::kernels::conv2d_backward_filter(x, dy, k.shape()).to_vector<float>(), dk);
    EXPECT_EQ(nr::kernels::conv2d_backward_input(dy, k, x.shape()).to_vector<float>(), dx);
  }
}

TEST_F(GpuConfig, DeterminismRefusesTheAtomicScatter) {
  nr::config::enable_op_determinism(true);
  const nr::Tensor indices = nr::constant(std::vector<std::int64_t>{0, 2, 0}, {3}, kGpu);
  const nr::Tensor updates = nr::ones({3, 4}).to(kGpu);
  NEURONA_EXPECT_THROW_MSG(nr::scatter_add_rows(indices, updates, 3), nr::NotImplementedError,
                           "scatter_add_rows", "atomicAdd", "enable_op_determinism");
  nr::config::enable_op_determinism(false);
  EXPECT_EQ(nr::scatter_add_rows(indices, updates, 3).to_vector<float>(),
            (std::vector<float>{2, 2, 2, 2, 0, 0, 0, 0, 1, 1, 1, 1}));
}
