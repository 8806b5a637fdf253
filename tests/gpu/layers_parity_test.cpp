// Every layer on a GPU against the same layer with the same weights on the CPU: outputs and
// gradients with respect to the inputs and every weight. Skipped where no GPU is present.
#include <neurona/neurona.h>

#include <functional>

#include "support/gpu_test.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace L = nr::layers;
using nr::testing::all_close;
using nr::testing::random_tensor;

namespace {

class GpuLayers : public nr::testing::GpuTest {
 protected:
  void TearDown() override { nr::set_default_device(nr::Device::cpu()); }
};

struct Result {
  std::vector<nr::Tensor> values;  // output, d/dx, d/dweights...
};

// Builds the layer with weights on `device` (the default device at build time), copies in
// `weights` when given, and runs forward and backward.
Result run(nr::Device device, const std::function<L::AnyLayer()>& make, const nr::Tensor& x,
           bool training, std::vector<nr::Tensor>* weights) {
  nr::set_default_device(device);
  L::AnyLayer layer = make();
  const nr::Tensor xin = x.to(device);
  layer->ensure_built(xin.shape());
  if (weights->empty()) {
    *weights = layer->get_weights();
  } else {
    layer->set_weights(*weights);
  }
  nr::GradientTape tape;
  tape.watch(xin);
  const nr::Tensor out = layer(xin, training);
  const nr::Tensor w = random_tensor(out.shape(), out.dtype(), 0.5, 1.5, 66).to(device);
  std::vector<nr::Tensor> sources{xin};
  for (const auto& v : layer->trainable_weights()) sources.push_back(v.value());
  std::vector<nr::Tensor> grads = tape.gradient(nr::sum(out * w), sources);
  Result r;
  r.values.push_back(out.to(nr::Device::cpu()));
  for (auto& g : grads) r.values.push_back(g.defined() ? g.to(nr::Device::cpu()) : g);
  nr::set_default_device(nr::Device::cpu());
  return r;
}

::testing::AssertionResult parity(const std::string& name, const std::function<L::AnyLayer()>& make,
                                  const nr::Shape& x_shape, bool training = false) {
  const nr::Tensor x = random_tensor(x_shape, nr::float32, -1, 1, 5);
  std::vector<nr::Tensor> weights;
  nr::set_seed(3);
  const Result c = run(nr::Device::cpu(), make, x, training, &weights);
  nr::set_seed(3);
  const Result g = run(nr::Device::cuda(0), make, x, training, &weights);
  if (c.values.size() != g.values.size()) {
    return ::testing::AssertionFailure() << name << ": different numbers of results";
  }
  for (std::size_t i = 0; i < c.values.size(); ++i) {
    if (c.values[i].defined() != g.values[i].defined()) {
      return ::testing::AssertionFailure() << name << ": result " << i << " defined on one side";
    }
    if (!c.values[i].defined()) continue;
    auto r =
        all_close(g.values[i].to_vector<double>(), c.values[i].to_vector<double>(), 1e-4, 1e-4);
    if (!r) return ::testing::AssertionFailure() << name << ", result " << i << ": " << r.message();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace

TEST_F(GpuLayers, FusedActivationFlattenReshapeDropoutMatchCpu) {
  EXPECT_TRUE(
      parity("Dense", [] { return L::AnyLayer(L::Dense(7, {.activation = "relu"})); }, {5, 4, 6}));
  EXPECT_TRUE(parity("Activation", [] { return L::AnyLayer(L::Activation("softmax")); }, {5, 6}));
  EXPECT_TRUE(parity("Flatten", [] { return L::AnyLayer(L::Flatten()); }, {3, 4, 5}));
  EXPECT_TRUE(parity("Reshape", [] { return L::AnyLayer(L::Reshape({-1, 2})); }, {3, 4, 5}));
  EXPECT_TRUE(parity(
      "Dropout", [] { return L::AnyLayer(L::Dropout(0.5, {.seed = 9})); }, {8, 16},
      /*training=*/true));
}

TEST_F(GpuLayers, ImageLayersMatchCpu) {
  EXPECT_TRUE(parity("Conv2D", [] { return L::AnyLayer(L::Conv2D(8, 3, {.activation = "relu"})); },
                     {2, 9, 9, 3}));
  EXPECT_TRUE(parity("Conv2D same strided",
                     [] {
                       return L::AnyLayer(L::Conv2D(4, {3, 3}, {.strides = 2, .padding = "same"}));
                     },
                     {2, 8, 7, 3}));
  EXPECT_TRUE(parity("Conv2D channels_first",
                     [] { return L::AnyLayer(L::Conv2D(4, 3, {.data_format = "channels_first"})); },
                     {2, 3, 7, 7}));
  EXPECT_TRUE(parity("MaxPooling2D", [] { return L::AnyLayer(L::MaxPooling2D(2)); }, {2, 9, 9, 3}));
  EXPECT_TRUE(
      parity("AveragePooling2D", [] { return L::AnyLayer(L::AveragePooling2D(2)); }, {2, 8, 8, 3}));
  EXPECT_TRUE(parity("GlobalAveragePooling2D",
                     [] { return L::AnyLayer(L::GlobalAveragePooling2D()); }, {2, 5, 5, 3}));
  EXPECT_TRUE(parity("GlobalMaxPooling2D", [] { return L::AnyLayer(L::GlobalMaxPooling2D()); },
                     {2, 5, 5, 3}));
  EXPECT_TRUE(
      parity("ZeroPadding2D", [] { return L::AnyLayer(L::ZeroPadding2D(1)); }, {2, 4, 4, 3}));
  EXPECT_TRUE(parity(
      "BatchNormalization training", [] { return L::AnyLayer(L::BatchNormalization()); },
      {8, 4, 4, 3}, true));
  EXPECT_TRUE(parity(
      "BatchNormalization inference", [] { return L::AnyLayer(L::BatchNormalization()); },
      {8, 4, 4, 3}, false));
}

TEST_F(GpuLayers, ActivationLayerClassesMatchCpu) {
  EXPECT_TRUE(parity("ReLU",
                     [] {
                       return L::AnyLayer(
                           L::ReLU({.max_value = 0.7, .negative_slope = 0.2, .threshold = 0.1}));
                     },
                     {4, 6}));
  EXPECT_TRUE(parity("ReLU6", [] { return L::AnyLayer(L::ReLU({.max_value = 6.0})); }, {4, 6}));
  EXPECT_TRUE(parity("LeakyReLU", [] { return L::AnyLayer(L::LeakyReLU(0.1)); }, {4, 6}));
  EXPECT_TRUE(parity("ELU", [] { return L::AnyLayer(L::ELU(0.6)); }, {4, 6}));
  EXPECT_TRUE(parity("PReLU",
                     [] {
                       return L::AnyLayer(L::PReLU(
                           {.alpha_initializer = nr::initializers::RandomUniform({-1.0, 1.0}),
                            .shared_axes = {1, 2}}));
                     },
                     {2, 5, 5, 3}));
  EXPECT_TRUE(parity("Softmax", [] { return L::AnyLayer(L::Softmax({1, 2})); }, {2, 3, 4}));
}

TEST_F(GpuLayers, NormalizationLayersMatchCpu) {
  EXPECT_TRUE(
      parity("LayerNormalization", [] { return L::AnyLayer(L::LayerNormalization()); }, {6, 5, 7}));
  EXPECT_TRUE(parity("LayerNormalization axes [1, 2]",
                     [] {
                       return L::AnyLayer(L::LayerNormalization({.axis = {1, 2}, .epsilon = 1e-5}));
                     },
                     {4, 3, 5, 2}));
  EXPECT_TRUE(parity("LayerNormalization rms_scaling",
                     [] { return L::AnyLayer(L::LayerNormalization({.rms_scaling = true})); },
                     {6, 9}));
  EXPECT_TRUE(parity("GroupNormalization NHWC",
                     [] { return L::AnyLayer(L::GroupNormalization({.groups = 4})); },
                     {2, 5, 5, 8}));
  EXPECT_TRUE(parity("GroupNormalization axis 1",
                     [] { return L::AnyLayer(L::GroupNormalization({.groups = 2, .axis = 1})); },
                     {2, 6, 4, 3}));
  EXPECT_TRUE(parity("GroupNormalization instance",
                     [] { return L::AnyLayer(L::GroupNormalization({.groups = -1})); },
                     {3, 4, 4, 3}));
  // RMSNormalization: the fused kernels (trailing axes) and the composed ops (a middle axis).
  EXPECT_TRUE(
      parity("RMSNormalization", [] { return L::AnyLayer(L::RMSNormalization()); }, {6, 5, 64}));
  EXPECT_TRUE(parity("RMSNormalization axis 1",
                     [] { return L::AnyLayer(L::RMSNormalization({.axis = 1})); }, {4, 3, 5}));
  EXPECT_TRUE(parity("UnitNormalization axes [1, 2]",
                     [] {
                       return L::AnyLayer(L::UnitNormalization({.axis = {1, 2}}));
                     },
                     {4, 3, 5}));
}

TEST_F(GpuLayers, NormalizationLayersInHalfPrecisionMatchCpu) {
  // 16-bit inputs are normalized in float32 on both devices and rounded once.
  for (const char* policy : {"mixed_float16", "mixed_bfloat16"}) {
    for (int which = 0; which < 3; ++which) {
      auto make = [&]() -> L::AnyLayer {
        if (which == 0) return L::LayerNormalization({.dtype = policy});
        if (which == 1) return L::GroupNormalization({.groups = 2, .dtype = policy});
        return L::RMSNormalization({.dtype = policy});
      };
      const nr::Tensor x = nr::cast(random_tensor({4, 3, 3, 6}, nr::float32, -2, 2, 8),
                                    nr::DTypePolicy(policy).compute_dtype());
      nr::set_seed(3);
      L::AnyLayer cpu = make();
      const nr::Tensor yc = cpu(x);
      nr::set_default_device(nr::Device::cuda(0));
      nr::set_seed(3);
      L::AnyLayer gpu = make();
      const nr::Tensor yg = gpu(x.to(nr::Device::cuda(0))).to(nr::Device::cpu());
      nr::set_default_device(nr::Device::cpu());
      EXPECT_EQ(yg.dtype(), yc.dtype()) << policy;
      // One rounding to 16 bits apart at most.
      EXPECT_TRUE(all_close(yg.to_vector<double>(), yc.to_vector<double>(), 1e-2, 1e-2))
          << policy
          << (which == 0   ? " LayerNormalization"
              : which == 1 ? " GroupNormalization"
                           : " RMSNormalization");
    }
  }
}

TEST_F(GpuLayers, ConvolutionLayersOfIssue18MatchCpu) {
  // cuDNN's grouped convolution (depthwise, separable), backward-data (transposed; 'same' with
  // strides 2 and a 3x3 kernel pads asymmetrically, output_padding leaves rows no window
  // reaches) and the 1-D convolution on a unit-height image, against the CPU.
  EXPECT_TRUE(parity("Conv1D causal dilation",
                     [] {
                       return L::AnyLayer(L::Conv1D(
                           6, 3, {.padding = "causal", .dilation_rate = 2, .activation = "relu"}));
                     },
                     {3, 17, 4}));
  EXPECT_TRUE(parity(
      "Conv1D same strided groups channels_first",
      [] {
        return L::AnyLayer(L::Conv1D(
            4, 3, {.strides = 2, .padding = "same", .data_format = "channels_first", .groups = 2}));
      },
      {3, 4, 16}));
  EXPECT_TRUE(parity(
      "DepthwiseConv2D",
      [] { return L::AnyLayer(L::DepthwiseConv2D(3, {.padding = "same", .depth_multiplier = 2})); },
      {2, 9, 9, 8}));
  EXPECT_TRUE(
      parity("DepthwiseConv2D strided relu channels_first",
             [] {
               return L::AnyLayer(L::DepthwiseConv2D(
                   3, {.strides = 2, .data_format = "channels_first", .activation = "relu"}));
             },
             {2, 6, 9, 8}));
  EXPECT_TRUE(parity("SeparableConv2D",
                     [] {
                       return L::AnyLayer(L::SeparableConv2D(
                           8, 3, {.padding = "same", .depth_multiplier = 2, .activation = "relu"}));
                     },
                     {2, 8, 8, 6}));
  EXPECT_TRUE(parity("Conv2DTranspose valid", [] { return L::AnyLayer(L::Conv2DTranspose(5, 3)); },
                     {2, 6, 5, 4}));
  EXPECT_TRUE(parity(
      "Conv2DTranspose same strides 2",
      [] { return L::AnyLayer(L::Conv2DTranspose(5, 3, {.strides = 2, .padding = "same"})); },
      {2, 6, 5, 4}));
  EXPECT_TRUE(
      parity("Conv2DTranspose output_padding channels_first",
             [] {
               return L::AnyLayer(L::Conv2DTranspose(
                   4, {3, 2},
                   {.strides = {2, 3}, .output_padding = {1, 2}, .data_format = "channels_first"}));
             },
             {2, 3, 5, 4}));
  EXPECT_TRUE(parity("Conv2DTranspose strides over kernel",
                     [] { return L::AnyLayer(L::Conv2DTranspose(3, 2, {.strides = 3})); },
                     {2, 4, 4, 3}));
}

TEST_F(GpuLayers, ConvolutionLayersOfIssue18InHalfPrecisionMatchCpu) {
  // bfloat16 / float16 through cuDNN against the CPU's widened float32 (one rounding of each
  // result apart, relative to the largest value).
  for (const char* policy : {"mixed_float16", "mixed_bfloat16"}) {
    for (int which = 0; which < 4; ++which) {
      auto make = [&]() -> L::AnyLayer {
        if (which == 0) return L::Conv1D(4, 3, {.padding = "causal", .dtype = policy});
        if (which == 1) return L::DepthwiseConv2D(3, {.padding = "same", .dtype = policy});
        if (which == 2) return L::SeparableConv2D(4, 3, {.dtype = policy});
        return L::Conv2DTranspose(4, 3, {.strides = 2, .padding = "same", .dtype = policy});
      };
      const nr::Shape shape = which == 0 ? nr::Shape{2, 9, 8} : nr::Shape{2, 6, 6, 8};
      const nr::Tensor x = nr::cast(random_tensor(shape, nr::float32, -1, 1, 8),
                                    nr::DTypePolicy(policy).compute_dtype());
      nr::set_seed(3);
      L::AnyLayer cpu = make();
      const nr::Tensor yc = cpu(x);
      nr::set_default_device(nr::Device::cuda(0));
      nr::set_seed(3);
      L::AnyLayer gpu = make();
      const nr::Tensor yg = gpu(x.to(nr::Device::cuda(0))).to(nr::Device::cpu());
      nr::set_default_device(nr::Device::cpu());
      EXPECT_EQ(yg.dtype(), yc.dtype()) << policy << " layer " << which;
      EXPECT_TRUE(all_close(yg.to_vector<double>(), yc.to_vector<double>(), 5e-2, 2e-2))
          << policy << " layer " << which;
    }
  }
}

TEST_F(GpuLayers, ReshapingAndPooling1DLayersMatchCpu) {
  for (const char* interpolation : {"nearest", "bilinear", "bicubic", "lanczos3", "lanczos5"}) {
    EXPECT_TRUE(
        parity(std::string("UpSampling2D ") + interpolation,
               [interpolation] {
                 return L::AnyLayer(L::UpSampling2D({2, 3}, {.interpolation = interpolation}));
               },
               {2, 5, 4, 3}));
  }
  EXPECT_TRUE(parity("UpSampling2D bilinear channels_first",
                     [] {
                       return L::AnyLayer(L::UpSampling2D(
                           2, {.data_format = "channels_first", .interpolation = "bilinear"}));
                     },
                     {2, 3, 5, 4}));
  EXPECT_TRUE(parity("UpSampling1D", [] { return L::AnyLayer(L::UpSampling1D(3)); }, {2, 5, 4}));
  EXPECT_TRUE(parity("Cropping1D", [] { return L::AnyLayer(L::Cropping1D({1, 2})); }, {2, 7, 3}));
  EXPECT_TRUE(parity("Cropping2D",
                     [] {
                       return L::AnyLayer(L::Cropping2D({{1, 0}, {2, 1}}));
                     },
                     {2, 6, 5, 3}));
  EXPECT_TRUE(parity("Cropping2D channels_first",
                     [] {
                       return L::AnyLayer(L::Cropping2D({1, 2}, {.data_format = "channels_first"}));
                     },
                     {2, 3, 6, 7}));
  EXPECT_TRUE(parity("ZeroPadding1D",
                     [] {
                       return L::AnyLayer(L::ZeroPadding1D({2, 1}));
                     },
                     {2, 5, 3}));
  EXPECT_TRUE(
      parity("ZeroPadding1D channels_first",
             [] { return L::AnyLayer(L::ZeroPadding1D(2, {.data_format = "channels_first"})); },
             {2, 3, 5}));
  EXPECT_TRUE(parity(
      "ZeroPadding2D channels_first",
      [] {
        return L::AnyLayer(L::ZeroPadding2D({{1, 0}, {2, 1}}, {.data_format = "channels_first"}));
      },
      {2, 3, 4, 5}));
  EXPECT_TRUE(parity("Permute", [] { return L::AnyLayer(L::Permute({3, 1, 2})); }, {2, 3, 4, 5}));
  EXPECT_TRUE(parity("RepeatVector", [] { return L::AnyLayer(L::RepeatVector(4)); }, {3, 5}));
  for (const char* format : {"channels_last", "channels_first"}) {
    const L::Pooling1DOptions o{.strides = 2, .padding = "same", .data_format = format};
    EXPECT_TRUE(parity(std::string("MaxPooling1D ") + format,
                       [o] { return L::AnyLayer(L::MaxPooling1D(3, o)); }, {2, 9, 4}));
    EXPECT_TRUE(parity(std::string("AveragePooling1D ") + format,
                       [o] { return L::AnyLayer(L::AveragePooling1D(3, o)); }, {2, 9, 4}));
    EXPECT_TRUE(
        parity(std::string("GlobalMaxPooling1D ") + format,
               [format] { return L::AnyLayer(L::GlobalMaxPooling1D({.data_format = format})); },
               {2, 9, 4}));
    EXPECT_TRUE(parity(std::string("GlobalAveragePooling1D ") + format,
                       [format] {
                         return L::AnyLayer(
                             L::GlobalAveragePooling1D({.data_format = format, .keepdims = true}));
                       },
                       {2, 9, 4}));
  }
  EXPECT_TRUE(parity("Activation gelu approximate",
                     [] { return L::AnyLayer(L::Activation(nr::activations::gelu(true))); },
                     {4, 6}));
}
