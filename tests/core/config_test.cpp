// The process-wide GPU switches (neurona/core/config.h): their defaults, as TensorFlow's, and
// that the CPU's results do not depend on them.
#include <gtest/gtest.h>

#include <neurona/neurona.h>

#include "support/test_util.h"

namespace nr = neurona;

namespace {

// Puts both switches back as they were when the scope ends.
class ConfigScope {
 public:
  ConfigScope()
      : tf32_(nr::config::tensor_float_32_execution_enabled()),
        determinism_(nr::config::op_determinism_enabled()) {}
  ~ConfigScope() {
    nr::config::enable_tensor_float_32_execution(tf32_);
    nr::config::enable_op_determinism(determinism_);
  }
  ConfigScope(const ConfigScope&) = delete;
  ConfigScope& operator=(const ConfigScope&) = delete;

 private:
  bool tf32_, determinism_;
};

}  // namespace

TEST(Config, DefaultsAreTensorFlowsTf32OnDeterminismOff) {
  EXPECT_TRUE(nr::config::tensor_float_32_execution_enabled());
  EXPECT_FALSE(nr::config::op_determinism_enabled());
}

TEST(Config, SwitchesTurnOnAndOff) {
  const ConfigScope scope;
  nr::config::enable_tensor_float_32_execution(false);
  EXPECT_FALSE(nr::config::tensor_float_32_execution_enabled());
  nr::config::enable_tensor_float_32_execution(true);
  EXPECT_TRUE(nr::config::tensor_float_32_execution_enabled());
  nr::config::enable_op_determinism();
  EXPECT_TRUE(nr::config::op_determinism_enabled());
  nr::config::enable_op_determinism(false);
  EXPECT_FALSE(nr::config::op_determinism_enabled());
}

TEST(Config, CpuResultsDoNotDependOnTheSwitches) {
  const ConfigScope scope;
  const nr::Tensor a = nr::testing::random_tensor({33, 47}, nr::float32, -1, 1, 1);
  const nr::Tensor b = nr::testing::random_tensor({47, 29}, nr::float32, -1, 1, 2);
  const nr::Tensor x = nr::testing::random_tensor({2, 9, 9, 3}, nr::float32, -1, 1, 3);
  const nr::Tensor k = nr::testing::random_tensor({3, 3, 3, 4}, nr::float32, -1, 1, 4);
  nr::config::enable_tensor_float_32_execution(false);
  nr::config::enable_op_determinism(true);
  const auto product = nr::matmul(a, b).to_vector<float>();
  const auto conv = nr::conv2d(x, k).to_vector<float>();
  nr::config::enable_tensor_float_32_execution(true);
  nr::config::enable_op_determinism(false);
  EXPECT_EQ(nr::matmul(a, b).to_vector<float>(), product);
  EXPECT_EQ(nr::conv2d(x, k).to_vector<float>(), conv);
}
