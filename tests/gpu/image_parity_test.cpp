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

// The preprocessing layers on a GPU give the CPU's images: the random ones draw the same numbers
// on every device from the same seed (the counter-based generator), and reverse() is strided
// device copies. A Dataset prefetching to the GPU hands over the CPU's batches.
TEST_F(GpuImage, PreprocessingLayersAndPrefetchMatchTheCpu) {
  const nr::Tensor x = random_tensor({4, 9, 13, 3}, nr::float32, 0, 1, 5);
  const auto run_on = [&](nr::Device device) {
    nr::layers::RandomFlip flip("horizontal_and_vertical", {.seed = 1});
    nr::layers::RandomBrightness brightness(0.3, {.value_range = {0, 1}, .seed = 2});
    nr::layers::RandomContrast contrast(0.4, {.value_range = {0, 1}, .seed = 3});
    nr::layers::Resizing resize(6, 7);
    nr::layers::CenterCrop crop(5, 5);
    nr::layers::Normalization norm({.mean = std::vector<double>{0.5, 0.4, 0.3},
                                    .variance = std::vector<double>{0.1, 0.2, 0.3}});
    nr::Tensor t = x.to(device);
    t = flip->call(t, true);
    t = brightness->call(t, true);
    t = contrast->call(t, true);
    t = crop(resize(t));
    return norm(t).to(nr::Device::cpu());
  };
  EXPECT_TRUE(all_close(run_on(nr::Device::cuda(0)).to_vector<double>(),
                        run_on(nr::Device::cpu()).to_vector<double>(), 1e-5, 1e-5));
  const auto ds = nr::data::Dataset::from_tensor_slices({x}).batch(3);
  const auto on_gpu = ds.prefetch(2, nr::Device::cuda(0)).elements();
  const auto on_cpu = ds.elements();
  ASSERT_EQ(on_gpu.size(), on_cpu.size());
  for (std::size_t i = 0; i < on_gpu.size(); ++i) {
    EXPECT_TRUE(on_gpu[i][0].device().is_cuda());
    EXPECT_EQ(on_gpu[i][0].to(nr::Device::cpu()).to_vector<float>(),
              on_cpu[i][0].to_vector<float>());
  }
}
