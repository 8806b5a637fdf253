// The NCCL communicator on one GPU, a job of one (self_communicator() carries the unique id):
// its collectives, blocking and started on its own stream, leave the tensors' values, shapes,
// dtypes and devices as they were, and fit under a DataParallel over it trains as fit without a
// distribution, whatever its gradient buckets. Skipped (reported as such)
// where there is no GPU or libnccl.so.2 does not load.
#include <gtest/gtest.h>

#include <neurona/neurona.h>

#include <memory>
#include <vector>

#include "support/gpu_test.h"
#include "support/test_util.h"

namespace nr = neurona;

namespace {

class GpuDistribution : public nr::testing::GpuTest {
 protected:
  void SetUp() override {
    GpuTest::SetUp();
    if (IsSkipped()) return;
    if (!nr::distribution::nccl_available()) GTEST_SKIP() << "libnccl.so.2 cannot be loaded";
  }
  void TearDown() override {
    nr::distribution::set_distribution(nullptr);
    nr::set_default_device(nr::Device::cpu());
  }
};

std::vector<double> values(const nr::Tensor& t) {
  return nr::cast(t, nr::DType::float64).to(nr::Device::cpu()).to_vector<double>();
}

// Fit on the GPU, alone or over a DataParallel of one on NCCL with gradient buckets of
// `bucket_bytes` (100: one per weight, each all-reduced on NCCL's stream during the backward
// pass).
std::vector<std::vector<double>> train(bool distributed, std::size_t bucket_bytes = 25 << 20) {
  const nr::Device gpu = nr::Device::cuda(0);
  nr::set_default_device(gpu);
  if (distributed) {
    nr::distribution::set_distribution(
        nr::distribution::DataParallel({.communicator = nr::distribution::nccl_communicator(
                                            nr::distribution::self_communicator(), gpu, 60),
                                        .bucket_bytes = bucket_bytes}));
  }
  nr::set_seed(5);
  const nr::Tensor x = nr::random_normal({70, 6}, {.device = nr::Device::cpu(), .seed = 1});
  const nr::Tensor y = nr::random_uniform(
      {70}, {.maxval = 3, .dtype = nr::DType::int32, .device = nr::Device::cpu(), .seed = 2});
  nr::Sequential model({nr::layers::Input({6}), nr::layers::Dense(8, {.activation = "relu"}),
                        nr::layers::Dense(3, {.activation = "softmax"})});
  model.compile({.optimizer = nr::optimizers::SGD(0.1, {.momentum = 0.9}),
                 .loss = "sparse_categorical_crossentropy"});
  model.fit(x, y, {.batch_size = 32, .epochs = 2, .verbose = 0});
  nr::distribution::set_distribution(nullptr);
  std::vector<std::vector<double>> w;
  for (const nr::Tensor& t : model.get_weights()) w.push_back(values(t));
  return w;
}

}  // namespace

TEST_F(GpuDistribution, NcclJobOfOneLeavesTensorsAsTheyWere) {
  const nr::Device gpu = nr::Device::cuda(0);
  auto comm = nr::distribution::nccl_communicator(nr::distribution::self_communicator(), gpu, 60);
  EXPECT_EQ(comm->name(), "nccl");
  EXPECT_EQ(comm->size(), 1);
  EXPECT_EQ(comm->rank(), 0);
  std::vector<nr::Tensor> tensors = {
      nr::random_normal({3, 4}, {.device = gpu, .seed = 1}),
      nr::random_normal({5}, {.dtype = nr::DType::float64, .device = gpu, .seed = 2}),
      nr::random_normal({2, 2}, {.dtype = nr::DType::bfloat16, .device = gpu, .seed = 3}),
      nr::random_normal({2}, {.device = nr::Device::cpu(), .seed = 4})};
  const std::vector<nr::Tensor> before = tensors;
  comm->all_reduce_sum(tensors);
  ASSERT_EQ(tensors.size(), before.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    EXPECT_EQ(tensors[i].shape(), before[i].shape()) << i;
    EXPECT_EQ(tensors[i].dtype(), before[i].dtype()) << i;
    EXPECT_EQ(tensors[i].device(), before[i].device()) << i;
    EXPECT_EQ(values(tensors[i]), values(before[i])) << i;
  }
  // Started on NCCL's own stream (two outstanding at once), waited for: the same.
  auto first = comm->start_all_reduce_sum(tensors);
  auto second = comm->start_all_reduce_sum({before[1], before[0]});
  first->progress();
  const std::vector<nr::Tensor> started = first->wait();
  const std::vector<nr::Tensor> swapped = second->wait();
  ASSERT_EQ(started.size(), before.size());
  for (std::size_t i = 0; i < started.size(); ++i) {
    EXPECT_EQ(started[i].dtype(), before[i].dtype()) << i;
    EXPECT_EQ(started[i].device(), before[i].device()) << i;
    EXPECT_EQ(values(started[i]), values(before[i])) << i;
  }
  EXPECT_EQ(values(swapped[0]), values(before[1]));
  EXPECT_EQ(values(swapped[1]), values(before[0]));
  std::vector<nr::Tensor> on_gpu(tensors.begin(), tensors.begin() + 3);
  comm->broadcast(on_gpu, 0);
  for (std::size_t i = 0; i < on_gpu.size(); ++i) EXPECT_EQ(values(on_gpu[i]), values(before[i]));
  EXPECT_THROW(comm->broadcast(on_gpu, 1), nr::ValueError);
}

TEST_F(GpuDistribution, FitOverNcclOfOneTrainsAsFitAlone) {
  const auto alone = train(false);
  const auto replicated = train(true);
  // Buckets of one weight each, all-reduced during the backward pass: the same sums.
  EXPECT_EQ(train(true, 100), replicated);
  ASSERT_EQ(alone.size(), replicated.size());
  for (std::size_t i = 0; i < alone.size(); ++i) {
    ASSERT_EQ(alone[i].size(), replicated[i].size());
    for (std::size_t j = 0; j < alone[i].size(); ++j) {
      // The replicated step runs eagerly, the other from a captured graph: the same kernels.
      EXPECT_NEAR(replicated[i][j], alone[i][j], 1e-5 * (1 + std::abs(alone[i][j])));
    }
  }
}
