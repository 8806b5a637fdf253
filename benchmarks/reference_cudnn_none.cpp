// The cuDNN and copy-bandwidth reference in a build without CUDA.
#include "reference.h"

namespace neurona::bench {
std::string cuda_unavailable_reason() {
  return "CUDA not built";
}
ConvResult cudnn_conv2d(const ConvProblem&, const std::vector<float>&, const std::vector<float>&,
                        const std::vector<float>&, bool, int, int) {
  return {};
}
double memcpy_d2d_seconds(std::size_t, int, int) {
  return -1.0;
}
std::string cudnn_description() {
  return "CUDA not built";
}
}  // namespace neurona::bench
