// The kernel tables (kernels/dispatch.h): a stub hands out its kernel for the dtypes that kernel
// takes and refuses the others with a ValueError naming the op, the device, the dtype and the
// ones it takes; a stub
// whose kernel takes only some dtypes cannot be fetched without saying which.
#include "neurona/kernels/dispatch.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "support/test_util.h"

namespace nr = neurona;

namespace {

using TestFn = void (*)(int&);

void add_one(int& v) {
  v += 1;
}

}  // namespace

TEST(DispatchStub, HandsOutTheKernelForTheDtypesItTakes) {
  nr::kernels::DispatchStub<TestFn> stub{"test_op"};
  stub.cpu = add_one;
  stub.cpu_dtypes = {nr::DType::float32};
  int v = 0;
  stub.get(nr::Device::cpu(), nr::DType::float32)(v);
  EXPECT_EQ(v, 1);
  EXPECT_TRUE(stub.takes(nr::Device::cpu(), nr::DType::float32));
  EXPECT_FALSE(stub.takes(nr::Device::cpu(), nr::DType::float64));
  EXPECT_TRUE(stub.widens(nr::Device::cpu(), nr::DType::bfloat16));
}

TEST(DispatchStub, RefusesADtypeItsKernelDoesNotTake) {
  nr::kernels::DispatchStub<TestFn> stub{"test_op"};
  stub.cpu = add_one;
  stub.cpu_dtypes = {nr::DType::float32};
  NEURONA_EXPECT_THROW_MSG(stub.get(nr::Device::cpu(), nr::DType::float64), nr::ValueError,
                           "test_op", "CPU kernel", "float64", "(float32 do)");
  NEURONA_EXPECT_THROW_MSG(stub.get(nr::Device::cpu(), nr::DType::int32), nr::ValueError, "test_op",
                           "int32");
  nr::kernels::DispatchStub<TestFn> three{"three_op"};
  three.cpu = add_one;
  three.cpu_dtypes = {nr::DType::float32, nr::DType::bfloat16, nr::DType::float16};
  NEURONA_EXPECT_THROW_MSG(three.get(nr::Device::cpu(), nr::DType::float64), nr::ValueError,
                           "three_op: float64 data have no CPU kernel (float32, bfloat16 and "
                           "float16 do)");
}

TEST(DispatchStub, AKernelOfSomeDtypesCannotBeFetchedWithoutADtype) {
  nr::kernels::DispatchStub<TestFn> stub{"test_op"};
  stub.cpu = add_one;
  stub.cpu_dtypes = nr::kernels::kFloat32And64;
  NEURONA_EXPECT_THROW_MSG(stub.get(nr::Device::cpu()), std::logic_error, "test_op",
                           "get(device, dtype)");
  // A kernel of every dtype is fetched either way.
  nr::kernels::DispatchStub<TestFn> any{"any_op"};
  any.cpu = add_one;
  int v = 0;
  any.get(nr::Device::cpu())(v);
  any.get(nr::Device::cpu(), nr::DType::uint8)(v);
  EXPECT_EQ(v, 2);
}

TEST(DispatchStub, ADeviceWithoutTheKernelSaysSo) {
  nr::kernels::DispatchStub<TestFn> stub{"test_op"};
  stub.cpu = add_one;
  NEURONA_EXPECT_THROW_MSG(stub.get(nr::Device::cuda(0)), nr::NotImplementedError,
                           "no CUDA kernel for test_op");
  NEURONA_EXPECT_THROW_MSG(stub.get(nr::Device::cuda(0), nr::DType::float32),
                           nr::NotImplementedError, "no CUDA kernel for test_op");
}
