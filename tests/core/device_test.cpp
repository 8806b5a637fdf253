// Device names, the default device and NEURONA_DEVICE.
#include <neurona/core/device_info.h>
#include <neurona/neurona.h>

#include "support/test_util.h"

namespace nr = neurona;

TEST(Device, ParsesAndPrints) {
  EXPECT_EQ(nr::Device::parse("cpu"), nr::Device::cpu());
  EXPECT_EQ(nr::Device::parse("cuda"), nr::Device::cuda(0));
  EXPECT_EQ(nr::Device::parse("cuda:3"), nr::Device::cuda(3));
  EXPECT_EQ(nr::Device::cuda(1).str(), "cuda:1");
  EXPECT_EQ(nr::Device::cpu().str(), "cpu");
}

TEST(Device, BadNameIsValueError) {
  for (const char* bad : {"tpu", "cuda:", "cuda:-1", "cuda:1x", ""}) {
    NEURONA_EXPECT_THROW_MSG(nr::Device::parse(bad), nr::ValueError, "cuda:N");
  }
}

TEST(Device, DefaultIsFirstGpuWhenPresentElseCpu) {
  EXPECT_EQ(nr::detail::resolve_default_device(nullptr, 0), nr::Device::cpu());
  EXPECT_EQ(nr::detail::resolve_default_device(nullptr, 2), nr::Device::cuda(0));
  EXPECT_EQ(nr::detail::resolve_default_device("", 1), nr::Device::cuda(0));
}

TEST(Device, EnvironmentOverridesDefault) {
  EXPECT_EQ(nr::detail::resolve_default_device("cpu", 4), nr::Device::cpu());
  EXPECT_EQ(nr::detail::resolve_default_device("cuda:1", 2), nr::Device::cuda(1));
}

TEST(Device, EnvironmentAskingForMissingGpuIsClearError) {
  NEURONA_EXPECT_THROW_MSG(nr::detail::resolve_default_device("cuda", 0), nr::ValueError,
                           "NEURONA_DEVICE=cuda", "0 CUDA GPUs");
  NEURONA_EXPECT_THROW_MSG(nr::detail::resolve_default_device("cuda:2", 2), nr::ValueError,
                           "cuda:2", "2 CUDA GPUs");
  NEURONA_EXPECT_THROW_MSG(nr::detail::resolve_default_device("gpu0", 2), nr::ValueError,
                           "NEURONA_DEVICE");
}

TEST(Device, TestsRunOnTheCpuByDefault) {
  // CTest sets NEURONA_DEVICE=cpu for this suite.
  EXPECT_EQ(nr::default_device(), nr::Device::cpu());
}

TEST(Device, AskingForAGpuThatIsNotThereIsClearError) {
  const int n = nr::cuda_device_count();
  NEURONA_EXPECT_THROW_MSG(nr::zeros({2}, {.device = nr::Device::cuda(n)}), nr::ValueError,
                           "cuda:");
  NEURONA_EXPECT_THROW_MSG(nr::set_default_device(nr::Device::cuda(n + 3)), nr::ValueError,
                           "set_default_device", "cuda:");
}

TEST(Device, NameIsTheDriversAndAMissingGpuIsClearError) {
  EXPECT_FALSE(nr::device_name(nr::Device::cpu()).empty());
  const int gpus = nr::cuda_device_count();
  for (int i = 0; i < gpus; ++i) EXPECT_FALSE(nr::device_name(nr::Device::cuda(i)).empty());
  NEURONA_EXPECT_THROW_MSG(nr::device_name(nr::Device::cuda(gpus)), nr::ValueError,
                           "device_name: device cuda:");
}
