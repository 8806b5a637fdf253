// The CUDA, cuBLAS and cuDNN check macros name the failing call and the library's error; these
// run without a GPU because the error-string functions need no device.
#include <gtest/gtest.h>

#include <string>

#include "neurona/core/cuda/check.h"

namespace {

std::string message_of(void (*f)()) {
  try {
    f();
  } catch (const neurona::Error& e) {
    return e.what();
  }
  return "(no exception)";
}

}  // namespace

TEST(CudaCheck, NamesCallAndCudaError) {
  const std::string m = message_of([] {
    const cudaError_t status = cudaErrorMemoryAllocation;
    NEURONA_CUDA_CHECK(status);
  });
  EXPECT_NE(m.find("status failed: cudaErrorMemoryAllocation (out of memory)"), std::string::npos)
      << m;
  EXPECT_NE(m.find("check_test.cpp"), std::string::npos) << m;
}

TEST(CudaCheck, NamesCallAndCublasStatus) {
  const std::string m = message_of([] {
    const cublasStatus_t status = CUBLAS_STATUS_INVALID_VALUE;
    NEURONA_CUBLAS_CHECK(status);
  });
  EXPECT_NE(m.find("status failed: CUBLAS_STATUS_INVALID_VALUE"), std::string::npos) << m;
}

TEST(CudaCheck, NamesCallAndCudnnStatus) {
  const std::string m = message_of([] {
    const cudnnStatus_t status = CUDNN_STATUS_BAD_PARAM;
    NEURONA_CUDNN_CHECK(status);
  });
  EXPECT_NE(m.find("status failed: CUDNN_STATUS_BAD_PARAM"), std::string::npos) << m;
}

TEST(CudaCheck, SuccessDoesNotThrow) {
  EXPECT_NO_THROW(NEURONA_CUDA_CHECK(cudaSuccess));
  EXPECT_NO_THROW(NEURONA_CUBLAS_CHECK(CUBLAS_STATUS_SUCCESS));
  EXPECT_NO_THROW(NEURONA_CUDNN_CHECK(CUDNN_STATUS_SUCCESS));
}
