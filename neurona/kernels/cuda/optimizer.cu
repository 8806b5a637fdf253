// CUDA kernels of the fused optimizer update and of the sum of squares. The update runs the
// shared functor (kernels/math/optimizer_ops.h) over up to kMaxTensorsPerLaunch variables in
// one launch: each variable gets its own range of blocks, its pointers travel in the launch
// arguments, and the step's coefficients are read from a buffer on the device (so that a
// captured graph replays with the coefficients of each new step).
#include "neurona/kernels/cuda/launch.cuh"
#include "neurona/kernels/math/optimizer_ops.h"
#include "neurona/kernels/optimizer_stubs.h"

namespace neurona::kernels::cuda {

namespace {

constexpr int kMaxTensors = static_cast<int>(kMaxTensorsPerLaunch);

// The variables of one launch. first_block[k] is the first block of variable k; the blocks of
// variable k are first_block[k] .. first_block[k + 1] - 1.
template <typename T>
struct TensorList {
  T* var[kMaxTensors];
  const T* grad[kMaxTensors];
  T* s0[kMaxTensors];
  T* s1[kMaxTensors];
  T* s2[kMaxTensors];
  const double* sum_squares[kMaxTensors];
  std::int64_t numel[kMaxTensors];
  int first_block[kMaxTensors + 1];
  bool decay[kMaxTensors];
  int count;
};
// Launch arguments are limited to 4 KiB on every CUDA version neurona supports.
static_assert(sizeof(TensorList<double>) + sizeof(void*) <= 4096);

template <OptimizerRule Rule, typename T, bool Plain>
__global__ void __launch_bounds__(kThreads)
    multi_tensor_update_kernel(const TensorList<T> list, const OptimizerCoefficients<T>* c) {
  int t = 0;
  while (t + 1 < list.count && static_cast<int>(blockIdx.x) >= list.first_block[t + 1]) ++t;
  OptimizerUpdateFunctor<Rule, T, Plain> f{list.var[t], list.grad[t],        list.s0[t], list.s1[t],
                                           list.s2[t],  list.sum_squares[t], *c};
  f.c.decay = f.c.decay && list.decay[t];
  const std::int64_t blocks = list.first_block[t + 1] - list.first_block[t];
  const std::int64_t stride = blocks * blockDim.x;
  for (std::int64_t i =
           (static_cast<std::int64_t>(blockIdx.x) - list.first_block[t]) * blockDim.x + threadIdx.x;
       i < list.numel[t]; i += stride) {
    f(i);
  }
}

void optimizer_update(OptimizerRule rule, bool plain, const Tensor& coefficients,
                      const std::vector<OptimizerTensors>& items) {
  const Launch launch(items.front().variable.device());
  with_optimizer_variant(
      items.front().variable.dtype(), rule, plain,
      [&](auto type_tag, auto rule_tag, auto plain_tag) {
        using T = decltype(type_tag);
        const auto ptr = [](const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; };
        const auto* c = static_cast<const OptimizerCoefficients<T>*>(coefficients.raw_data());
        for (std::size_t begin = 0; begin < items.size(); begin += kMaxTensorsPerLaunch) {
          TensorList<T> list{};
          int blocks = 0;
          for (std::size_t k = begin; k < items.size() && list.count < kMaxTensors; ++k) {
            const OptimizerTensors& item = items[k];
            const int j = list.count++;
            list.var[j] = item.variable.data<T>();
            list.grad[j] = item.grad.data<T>();
            list.s0[j] = ptr(item.slots[0]);
            list.s1[j] = ptr(item.slots[1]);
            list.s2[j] = ptr(item.slots[2]);
            list.sum_squares[j] =
                item.sum_squares.defined() ? item.sum_squares.data<double>() : nullptr;
            list.numel[j] = item.variable.numel();
            list.decay[j] = item.decay;
            list.first_block[j] = blocks;
            blocks += list.numel[j] > 0 ? static_cast<int>(launch.grid_for(list.numel[j])) : 0;
          }
          list.first_block[list.count] = blocks;
          if (blocks == 0) continue;
          neurona::cuda::DeviceGuard guard(launch.device);
          multi_tensor_update_kernel<decltype(rule_tag)::value, T, decltype(plain_tag)::value>
              <<<static_cast<unsigned>(blocks), kThreads, 0, launch.stream>>>(list, c);
          NEURONA_CUDA_CHECK_LAUNCH("multi_tensor_update_kernel");
        }
      });
}

void sum_squares(const Tensor& x, bool square, std::int64_t chunk, const Tensor& out) {
  sum_squares_impl(Launch(x.device()), x, square, chunk, out);
}

}  // namespace

void register_optimizer() {
  optimizer_update_stub.cuda = optimizer_update;
  sum_squares_stub.cuda = sum_squares;
}

}  // namespace neurona::kernels::cuda
