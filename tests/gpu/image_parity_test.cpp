// nr::image_resize and nr::affine_transform on a GPU against the CPU, forward and backward, for
// every interpolation (and fill mode), both data formats and the float dtypes; the
// preprocessing layers and prefetching to the GPU. Skipped where no GPU is present.
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
          // antialias: the weight-matrix path where an axis shrinks (5 x 7, 27 x 13, 9 x 40).
          for (bool antialias : {false, true}) {
            const nr::ResizeOptions o{.interpolation = m, .data_format = f, .antialias = antialias};
            const auto c = run_on(nr::Device::cpu(), x, size, o);
            const auto g = run_on(nr::Device::cuda(0), x, size, o);
            for (std::size_t i = 0; i < c.size(); ++i) {
              EXPECT_EQ(g[i].dtype(), c[i].dtype());
              EXPECT_TRUE(all_close(g[i].to_vector<double>(), c[i].to_vector<double>(), tol, tol))
                  << nr::interpolation_name(m) << " " << nr::name(dt) << " to (" << size[0] << ", "
                  << size[1] << ")" << (f == nr::DataFormat::ChannelsFirst ? " channels_first" : "")
                  << (antialias ? " antialias" : "") << (i == 0 ? " output" : " gradient");
            }
          }
        }
      }
    }
  }
}

TEST_F(GpuImage, AffineTransformForwardAndBackwardMatchCpu) {
  const nr::Tensor t = nr::constant(std::vector<float>{0.93, -0.41, 2.3, 0.38, 1.07, -1.6, 0, 0,
                                                       1.23, 0.31, -3.71, -0.2, 0.85, 0.9, 0.01, 0},
                                    {2, 8});
  const nr::FillMode modes[] = {nr::FillMode::Constant, nr::FillMode::Nearest, nr::FillMode::Wrap,
                                nr::FillMode::Mirror, nr::FillMode::Reflect};
  for (nr::DType dt : {nr::float32, nr::float64, nr::DType::bfloat16, nr::DType::float16}) {
    const nr::Tensor x = nr::cast(random_tensor({2, 9, 13, 5}, nr::float32, -2, 2, 3), dt);
    const double tol = nr::is_half(dt) ? 2e-2 : 1e-5;
    for (nr::Interpolation m : {nr::Interpolation::Nearest, nr::Interpolation::Bilinear}) {
      for (nr::FillMode mode : modes) {
        for (nr::DataFormat f : {nr::DataFormat::ChannelsLast, nr::DataFormat::ChannelsFirst}) {
          const nr::AffineTransformOptions o{.interpolation = m,
                                             .fill_mode = mode,
                                             .fill_value = 0.25,
                                             .data_format = f,
                                             .output_size = {{11, 7}}};
          const auto on = [&](nr::Device device) {
            const nr::Tensor in = x.to(device);
            nr::GradientTape tape;
            tape.watch(in);
            const nr::Tensor out = nr::affine_transform(in, t.to(device), o);
            const nr::Tensor w = random_tensor(out.shape(), out.dtype(), 0.5, 1.5, 88).to(device);
            const nr::Tensor g = tape.gradient(nr::sum(out * w), in);
            return std::vector<nr::Tensor>{out.to(nr::Device::cpu()), g.to(nr::Device::cpu())};
          };
          const auto c = on(nr::Device::cpu());
          const auto g = on(nr::Device::cuda(0));
          for (std::size_t i = 0; i < c.size(); ++i) {
            EXPECT_EQ(g[i].dtype(), c[i].dtype());
            EXPECT_TRUE(all_close(g[i].to_vector<double>(), c[i].to_vector<double>(), tol, tol))
                << nr::interpolation_name(m) << " " << nr::fill_mode_name(mode) << " "
                << nr::name(dt) << (f == nr::DataFormat::ChannelsFirst ? " channels_first" : "")
                << (i == 0 ? " output" : " gradient");
          }
        }
      }
    }
  }
}

// The preprocessing layers on a GPU give the CPU's images: the random ones draw the same numbers
// on every device from the same seed (the counter-based generator), reverse() is strided
// device copies, and the geometric ones run affine_transform's shared functor. A Dataset
// prefetching to the GPU hands over the CPU's batches.
TEST_F(GpuImage, PreprocessingLayersAndPrefetchMatchTheCpu) {
  const nr::Tensor x = random_tensor({4, 9, 13, 3}, nr::float32, 0, 1, 5);
  const auto run_on = [&](nr::Device device) {
    nr::layers::RandomFlip flip("horizontal_and_vertical", {.seed = 1});
    nr::layers::RandomBrightness brightness(0.3, {.value_range = {0, 1}, .seed = 2});
    nr::layers::RandomContrast contrast(0.4, {.value_range = {0, 1}, .seed = 3});
    nr::layers::RandomTranslation translation(0.2, {-0.1, 0.3}, {.seed = 4});
    nr::layers::RandomRotation rotation(0.1, {.fill_mode = "wrap", .seed = 5});
    nr::layers::RandomZoom zoom({-0.3, 0.2}, {.width_factor = 0.1, .seed = 6});
    nr::layers::RandomCrop random_crop(8, 11, {.seed = 7});
    nr::layers::Resizing resize(6, 7);
    nr::layers::CenterCrop crop(5, 5);
    nr::layers::Normalization norm({.mean = std::vector<double>{0.5, 0.4, 0.3},
                                    .variance = std::vector<double>{0.1, 0.2, 0.3}});
    nr::Tensor t = x.to(device);
    t = flip->call(t, true);
    t = brightness->call(t, true);
    t = contrast->call(t, true);
    t = zoom->call(rotation->call(translation->call(t, true), true), true);
    t = random_crop->call(t, true);
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
