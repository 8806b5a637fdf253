// CPU kernels that create tensors: fill, arange and the Philox random distributions.
#include "neurona/kernels/cpu/launch.h"
#include "neurona/kernels/creation_stubs.h"
#include "neurona/kernels/math/impl.h"

namespace neurona::kernels::cpu {

namespace {
void fill(double value, Tensor& out) {
  fill_impl(Launch{}, value, out);
}
void arange(double start, double step, Tensor& out) {
  arange_impl(Launch{}, start, step, out);
}
void random(RandomDist dist, double a, double b, RandomKey key, const Tensor& key_state,
            std::int64_t offset, Tensor& out) {
  random_impl(Launch{}, dist, a, b, key, key_state, offset, out);
}
void take_key(const Tensor& key_state, Tensor& out) {
  take_key_impl(Launch{}, key_state, out);
}
}  // namespace

void register_creation() {
  fill_stub.cpu = fill;
  arange_stub.cpu = arange;
  random_stub.cpu = random;
  take_key_stub.cpu = take_key;
}

}  // namespace neurona::kernels::cpu
