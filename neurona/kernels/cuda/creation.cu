// CUDA kernels that create tensors: fill, arange and the Philox random distributions (the
// same counter-based stream as the CPU, so set_seed gives the same numbers on both).
#include "neurona/kernels/creation_stubs.h"
#include "neurona/kernels/cuda/launch.cuh"
#include "neurona/kernels/math/impl.h"

namespace neurona::kernels::cuda {

namespace {
void fill(double value, Tensor& out) {
  fill_impl(Launch(out.device()), value, out);
}
void arange(double start, double step, Tensor& out) {
  arange_impl(Launch(out.device()), start, step, out);
}
void random(RandomDist dist, double a, double b, RandomKey key, const Tensor& key_state,
            std::int64_t offset, Tensor& out) {
  random_impl(Launch(out.device()), dist, a, b, key, key_state, offset, out);
}
void take_key(const Tensor& key_state, Tensor& out) {
  take_key_impl(Launch(out.device()), key_state, out);
}
}  // namespace

void register_creation() {
  fill_stub.cuda = fill;
  arange_stub.cuda = arange;
  random_stub.cuda = random;
  take_key_stub.cuda = take_key;
}

}  // namespace neurona::kernels::cuda
