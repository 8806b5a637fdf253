// nr::image_resize on a GPU against the CPU, forward and backward, for every interpolation,
// both data formats and the float dtypes. Skipped where no GPU is present.
#include <neurona/neurona.h>

#include <functional>

#include "support/gpu_test.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::random_tensor;

namespace {

class GpuImage : public nr::testing::GpuTest {};

// The output and the gradient of sum(w * resize(x)) on `device`, back on the CPU.
std::vector<nr::Tensor> run_on(nr::Device device, const nr::Tensor& x,
                               const std::array<std::int64_t, 2>& size,
                               const nr::ResizeOptions& o) {
  const nr::Tensor in = x.to(device);
  nr::GradientTape tape;
  tape.watch(in);
  const nr::Tensor out = nr::image_resize(in, size, o);
  const nr::Tensor w = random_tensor(out.shape(), out.dtype(), 0.5, 1.5, 88).to(device);
  const nr::Tensor g = tape.gradient(nr::sum(out * w), in);
  return {out.to(nr::Device::cpu()), g.to(nr::Device::cpu())};
}

}  // namespace

TEST_F(GpuImage, ResizeForwardAndBackwardMatchCpu) {
  const nr::Interpolation all[] = {nr::Interpolation::Nearest, nr::Interpolation::Bilinear,
                                   nr::Interpolation::Bicubic, nr::Interpolation::Lanczos3,
                                   nr::Interpolation::Lanczos5};
  const std::array<std::int64_t, 2> sizes[] = {{18, 26}, {27, 13}, {5, 7}, {9, 40}};
  for (nr::DType dt : {nr::float32, nr::float64, nr::DType::bfloat16, nr::DType::float16}) {
    const nr::Tensor x = nr::cast(random_tensor({3, 9, 13, 5}, nr::float32, -2, 2, 3), dt);
    const double tol = nr::is_half(dt) ? 2e-2 : 1e-5;
    for (nr::Interpolation m : all) {
      for (const auto& size : sizes) {
        for (nr::DataFormat f : {nr::DataFormat::ChannelsLast, nr::DataFormat::ChannelsFirst}) {
          const nr::ResizeOptions o{.interpolation = m, .data_format = f};
          const auto c = run_on(nr::Device::cpu(), x, size, o);
          const auto g = run_on(nr::Device::cuda(0), x, size, o);
          for (std::size_t i = 0; i < c.size(); ++i) {
            EXPECT_EQ(g[i].dtype(), c[i].dtype());
            EXPECT_TRUE(all_close(g[i].to_vector<double>(), c[i].to_vector<double>(), tol, tol))
                << nr::interpolation_name(m) << " " << nr::name(dt) << " to (" << size[0] << ", "
                << size[1] << ")" << (f == nr::DataFormat::ChannelsFirst ? " channels_first" : "")
                << (i == 0 ? " output" : " gradient");
          }
        }
      }
    }
  }
}
