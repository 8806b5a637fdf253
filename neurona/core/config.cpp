#include "neurona/core/config.h"

#include <atomic>
#include <cstdlib>
#include <string_view>

namespace neurona::config {

namespace {
std::atomic<bool> g_tf32{true};
std::atomic<bool> g_determinism{false};
// NEURONA_CUDA_GRAPHS=0 in the environment turns CUDA graphs off from the start (to compare or
// debug a program without changing it).
bool cuda_graphs_default() {
  const char* env = std::getenv("NEURONA_CUDA_GRAPHS");
  return env == nullptr || std::string_view(env) != "0";
}
std::atomic<bool> g_cuda_graphs{cuda_graphs_default()};
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
