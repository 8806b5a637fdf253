#include "neurona/core/config.h"

#include <atomic>

namespace neurona::config {

namespace {
std::atomic<bool> g_tf32{true};
std::atomic<bool> g_determinism{false};
std::atomic<bool> g_cuda_graphs{true};
}  // namespace

void enable_tensor_float_32_execution(bool enabled) {
  g_tf32.store(enabled);
}
bool tensor_float_32_execution_enabled() {
  return g_tf32.load();
}
void enable_op_determinism(bool enabled) {
  g_determinism.store(enabled);
}
bool op_determinism_enabled() {
  return g_determinism.load();
}
void enable_cuda_graphs(bool enabled) {
  g_cuda_graphs.store(enabled);
}
bool cuda_graphs_enabled() {
  return g_cuda_graphs.load();
}

}  // namespace neurona::config
