// The GPU suite compares every op with the CPU at float32 tolerances, so it runs with
// TensorFloat-32 off (as PyTorch's own tests do); config_gpu_test.cpp turns it on where it
// checks TF32 itself.
#include <gtest/gtest.h>

#include <neurona/neurona.h>

namespace {

class StrictFp32 : public ::testing::Environment {
 public:
  void SetUp() override { neurona::config::enable_tensor_float_32_execution(false); }
};

const auto* const kStrictFp32 = ::testing::AddGlobalTestEnvironment(new StrictFp32);

}  // namespace
