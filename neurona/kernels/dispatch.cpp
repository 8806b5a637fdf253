// The stub tables and their one-time registration.
#include "neurona/kernels/dispatch.h"

#include <mutex>

#include "neurona/config.h"

namespace neurona::kernels {

void register_cpu_kernels();  // kernels/cpu/register.cpp
#if NEURONA_WITH_CUDA
void register_cuda_kernels();  // kernels/cuda/register.cpp
#endif

DispatchStub<Conv2DKernel> conv2d_stub{"conv2d"};
DispatchStub<Conv2DBackwardInputKernel> conv2d_backward_input_stub{"conv2d_backward_input"};
DispatchStub<Conv2DBackwardKernelKernel> conv2d_backward_kernel_stub{"conv2d_backward_kernel"};
DispatchStub<Conv2DBiasActivationKernel> conv2d_bias_activation_stub{"conv2d_bias_activation"};
DispatchStub<Conv2DBackwardKernelBiasKernel> conv2d_backward_kernel_bias_stub{
    "conv2d_backward_kernel_bias"};
DispatchStub<Pool2DKernel> pool2d_stub{"pool2d"};
DispatchStub<Pool2DBackwardKernel> pool2d_backward_stub{"pool2d_backward"};
DispatchStub<Pad2dKernel> pad2d_stub{"pad2d"};
DispatchStub<BinaryKernel> binary_stub{"binary elementwise ops"};
DispatchStub<UnaryKernel> unary_stub{"unary elementwise ops"};
DispatchStub<WhereKernel> where_stub{"where"};
DispatchStub<CastKernel> cast_stub{"cast"};
DispatchStub<ReduceKernel> reduce_stub{"reductions"};
DispatchStub<SoftmaxKernel> softmax_stub{"softmax"};
DispatchStub<MatmulKernel> matmul_stub{"matmul"};
DispatchStub<DenseKernel> dense_stub{"dense"};
DispatchStub<DenseBackwardKernelBiasKernel> dense_backward_kernel_bias_stub{
    "dense_backward_kernel_bias"};
DispatchStub<StridedCopyKernel> strided_copy_stub{"transpose"};
DispatchStub<Copy2dKernel> copy2d_stub{"concat"};
DispatchStub<GatherKernel> gather_stub{"gather"};
DispatchStub<ScatterAddKernel> scatter_add_stub{"scatter_add_rows"};
DispatchStub<OneHotKernel> one_hot_stub{"one_hot"};
DispatchStub<FillKernel> fill_stub{"fill"};
DispatchStub<ArangeKernel> arange_stub{"arange"};
DispatchStub<RandomKernel> random_stub{"random"};

void ensure_kernels_registered() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_cpu_kernels();
#if NEURONA_WITH_CUDA
    register_cuda_kernels();
#endif
  });
}

}  // namespace neurona::kernels
