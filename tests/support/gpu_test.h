// The GPU suite's fixture: a test that needs a GPU reports itself skipped where there is none
// (it never passes by not running).
#pragma once

#include <gtest/gtest.h>

#include <neurona/neurona.h>

namespace neurona::testing {

class GpuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (cuda_device_count() == 0) GTEST_SKIP() << "no CUDA GPU available";
  }
};

}  // namespace neurona::testing
