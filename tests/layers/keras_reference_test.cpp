// Outputs and gradients of the layers against Keras 3 itself: the files under
// tests/reference/layers/ hold inputs, weights, an output cotangent g, Keras's output and the
// JAX gradients of sum(y * g) (tests/reference/make_keras_layer_references.py wrote them).
#include <neurona/neurona.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;

namespace {

using Entry = nr::testing::ReferenceEntry;

// Lines `name dim0 dim1 ... : v0 v1 ...` (tests/support/reference_file.h).
std::map<std::string, Entry> load(const std::string& name) {
  return nr::testing::load_reference("layers", name);
}

nr::Tensor tensor(const std::map<std::string, Entry>& ref, const std::string& key) {
  const auto it = ref.find(key);
  if (it == ref.end()) throw std::runtime_error("reference lacks " + key);
  return nr::testing::make_tensor(it->second.values, it->second.shape);
}

::testing::AssertionResult close(const nr::Tensor& actual, const std::map<std::string, Entry>& ref,
                                 const std::string& key) {
  const Entry& e = ref.at(key);
  if (actual.shape() != e.shape) {
    return ::testing::AssertionFailure()
           << key << ": shape " << actual.shape() << ", Keras " << e.shape;
  }
  auto r = nr::testing::all_close(actual, e.values, 1e-5, 1e-5);
  if (!r) return ::testing::AssertionFailure() << key << ": " << r.message();
  return r;
}

// "w3", appended rather than written "w" + std::to_string(3), which GCC 12 flags with a false
// -Wrestrict warning under -O3.
std::string key(const char* prefix, std::size_t i) {
  std::string k(prefix);
  k.append(std::to_string(i));
  return k;
}

// Sets the reference weights, runs the layer, and checks y and the gradients of sum(y * g)
// with respect to x and every trainable weight.
void check(const std::string& name, const nr::layers::AnyLayer& layer, bool training = false) {
  SCOPED_TRACE(name);
  const auto ref = load(name);
  const nr::Tensor x = tensor(ref, "x");
  layer->ensure_built(x.shape());
  std::vector<nr::Tensor> weights;
  for (std::size_t i = 0; ref.count(key("w", i)); ++i) {
    weights.push_back(tensor(ref, key("w", i)));
  }
  layer->set_weights(weights);
  const std::vector<nr::Variable> trainable = layer->trainable_weights();
  nr::GradientTape tape;
  tape.watch(x);
  const nr::Tensor y = layer(x, training);
  EXPECT_TRUE(close(y, ref, "y"));
  std::vector<nr::Tensor> sources{x};
  for (const nr::Variable& v : trainable) sources.push_back(v.value());
  const std::vector<nr::Tensor> grads = tape.gradient(nr::sum(y * tensor(ref, "g")), sources);
  EXPECT_TRUE(close(grads[0], ref, "grad_x"));
  for (std::size_t i = 0; i < trainable.size(); ++i) {
    EXPECT_TRUE(close(grads[i + 1], ref, key("grad_w", i)));
  }
  EXPECT_FALSE(ref.count(key("grad_w", trainable.size()))) << "Keras has more trainable weights";
}

}  // namespace

TEST(KerasReference, Dense) {
  check("dense", nr::layers::Dense(3));
}

TEST(KerasReference, Conv2DSameStrides2) {
  check("conv2d_same_strides2_even", nr::layers::Conv2D(3, 3, {.strides = 2, .padding = "same"}));
  check("conv2d_same_strides2_odd",
        nr::layers::Conv2D(3, {3, 2}, {.strides = 2, .padding = "same"}));
}

TEST(KerasReference, Conv2DDilation) {
  check("conv2d_dilation", nr::layers::Conv2D(2, 3, {.dilation_rate = 2}));
  check("conv2d_dilation_same",
        nr::layers::Conv2D(2, 3, {.padding = "same", .dilation_rate = {2, 1}}));
}

TEST(KerasReference, Conv2DGroups) {
  check("conv2d_groups", nr::layers::Conv2D(4, 2, {.padding = "same", .groups = 2}));
}

TEST(KerasReference, Conv2DChannelsFirst) {
  check(
      "conv2d_channels_first",
      nr::layers::Conv2D(3, 3, {.strides = 2, .padding = "same", .data_format = "channels_first"}));
}

TEST(KerasReference, PoolingSameWithStrides) {
  check("max_pooling2d_same", nr::layers::MaxPooling2D(3, {.strides = 2, .padding = "same"}));
  check("average_pooling2d_same",
        nr::layers::AveragePooling2D(3, {.strides = 2, .padding = "same"}));
  check("average_pooling2d_same_even", nr::layers::AveragePooling2D(2, {.padding = "same"}));
}

TEST(KerasReference, ZeroPadding2D) {
  check("zero_padding2d", nr::layers::ZeroPadding2D({{1, 2}, {0, 3}}));
}

TEST(KerasReference, BatchNormalizationTrainingAndInference) {
  auto bn = nr::layers::BatchNormalization({.momentum = 0.9});
  check("batch_normalization", bn, /*training=*/true);
  const auto ref = load("batch_normalization");
  EXPECT_TRUE(close(bn->moving_mean().value(), ref, "moving_mean"));
  EXPECT_TRUE(close(bn->moving_variance().value(), ref, "moving_variance"));
  // Inference with the initial weights.
  std::vector<nr::Tensor> weights;
  for (std::size_t i = 0; i < 4; ++i) weights.push_back(tensor(ref, key("w", i)));
  bn->set_weights(weights);
  EXPECT_TRUE(close(bn(tensor(ref, "x")), ref, "y_inference"));
}

// Batch renormalization: r and d clipped on both sides (rmin, rmax, dmax) or, without gamma,
// not at all; every statistic after the training call, and inference with the initial weights.
TEST(KerasReference, BatchNormalizationRenorm) {
  namespace L = nr::layers;
  const std::vector<std::pair<std::string, L::BatchNormalizationOptions>> cases{
      {"batch_normalization_renorm",
       {.momentum = 0.8,
        .renorm = true,
        .renorm_clipping = {.rmax = 0.7, .rmin = 0.6, .dmax = 0.5},
        .renorm_momentum = 0.7}},
      {"batch_normalization_renorm_no_scale", {.axis = 1, .scale = false, .renorm = true}},
  };
  for (const auto& [name, options] : cases) {
    SCOPED_TRACE(name);
    auto bn = L::BatchNormalization(options);
    check(name, bn, /*training=*/true);
    const auto ref = load(name);
    EXPECT_TRUE(close(bn->moving_mean().value(), ref, "moving_mean"));
    EXPECT_TRUE(close(bn->moving_variance().value(), ref, "moving_variance"));
    EXPECT_TRUE(close(bn->moving_stddev().value(), ref, "moving_stddev"));
    EXPECT_TRUE(close(bn->renorm_mean().value(), ref, "renorm_mean"));
    EXPECT_TRUE(close(bn->renorm_stddev().value(), ref, "renorm_stddev"));
    std::vector<nr::Tensor> weights;
    for (std::size_t i = 0; ref.count(key("w", i)); ++i)
      weights.push_back(tensor(ref, key("w", i)));
    bn->set_weights(weights);
    EXPECT_TRUE(close(bn(tensor(ref, "x")), ref, "y_inference"));
  }
}

TEST(KerasReference, ReLUWithMaxValueSlopeAndThreshold) {
  namespace L = nr::layers;
  check("relu_max_slope_threshold",
        L::ReLU({.max_value = 0.8, .negative_slope = 0.3, .threshold = 0.2}));
  check("relu_max", L::ReLU({.max_value = 0.5}));
  check("relu6_slope", L::ReLU({.max_value = 6.0, .negative_slope = 0.1, .threshold = 0.1}));
  check("relu_slope", L::ReLU({.negative_slope = 0.25}));
}

TEST(KerasReference, LeakyReLUAndELU) {
  check("leaky_relu", nr::layers::LeakyReLU(0.2));
  check("elu", nr::layers::ELU(0.7));
}

TEST(KerasReference, PReLU) {
  check("prelu", nr::layers::PReLU());
  check("prelu_shared_axes", nr::layers::PReLU({.shared_axes = {1, 2}}));
}

TEST(KerasReference, Softmax) {
  check("softmax", nr::layers::Softmax());
  check("softmax_axes", nr::layers::Softmax({1, 2}));
}

TEST(KerasReference, SoftmaxWithAMask) {
  const auto ref = load("softmax_masked");
  const nr::Tensor x = tensor(ref, "x");
  auto softmax = nr::layers::Softmax();
  nr::GradientTape tape;
  tape.watch(x);
  const nr::Tensor y = softmax(x, tensor(ref, "mask"));
  EXPECT_TRUE(close(y, ref, "y"));
  EXPECT_TRUE(close(tape.gradient(nr::sum(y * tensor(ref, "g")), x), ref, "grad_x"));
  // A uint8 mask (what comparisons return) gives the same.
  const nr::Tensor mask8 = nr::greater(tensor(ref, "mask"), nr::constant({0.5f}));
  EXPECT_TRUE(close(softmax(x, mask8), ref, "y"));
}

TEST(KerasReference, LayerNormalization) {
  namespace L = nr::layers;
  check("layer_normalization", L::LayerNormalization());
  check("layer_normalization_axes", L::LayerNormalization({.axis = {2, 1}, .epsilon = 1e-5}));
  check("layer_normalization_rms", L::LayerNormalization({.rms_scaling = true}));
  // Keras sorts [1, -1] as given ([-1, 1]): gamma and beta are (4, 3), reshaped onto (3, 4).
  check("layer_normalization_mixed_axes", L::LayerNormalization({.axis = {1, -1}}));
}

TEST(KerasReference, RMSNormalization) {
  namespace L = nr::layers;
  check("rms_normalization", L::RMSNormalization());
  // Keras sorts [2, 1]: the scale is (3, 4).
  check("rms_normalization_axes", L::RMSNormalization({.axis = {2, 1}, .epsilon = 1e-3}));
}

TEST(KerasReference, UnitNormalization) {
  namespace L = nr::layers;
  check("unit_normalization", L::UnitNormalization());
  check("unit_normalization_axes", L::UnitNormalization({.axis = {2, 1}}));
  check("unit_normalization_axis1", L::UnitNormalization({.axis = 1}));
}

TEST(KerasReference, GroupNormalization) {
  namespace L = nr::layers;
  check("group_normalization", L::GroupNormalization({.groups = 2}));
  check("group_normalization_groups_eq_channels", L::GroupNormalization({.groups = -1}));
  check("group_normalization_axis1",
        L::GroupNormalization({.groups = 3, .axis = 1, .epsilon = 1e-4}));
}

TEST(KerasReference, Conv1D) {
  namespace L = nr::layers;
  check("conv1d_relu", L::Conv1D(3, 3, {.activation = "relu"}));
  check("conv1d_same_strides2", L::Conv1D(4, 3, {.strides = 2, .padding = "same"}));
  check("conv1d_causal_dilation", L::Conv1D(2, 3, {.padding = "causal", .dilation_rate = 2}));
  check("conv1d_groups_channels_first",
        L::Conv1D(4, 2, {.data_format = "channels_first", .groups = 2}));
}

TEST(KerasReference, DepthwiseConv2D) {
  namespace L = nr::layers;
  check("depthwise_conv2d_multiplier", L::DepthwiseConv2D(3, {.depth_multiplier = 2}));
  check("depthwise_conv2d_same_strides2",
        L::DepthwiseConv2D({3, 2}, {.strides = 2, .padding = "same"}));
  check("depthwise_conv2d_dilation_channels_first",
        L::DepthwiseConv2D(3, {.padding = "same",
                               .depth_multiplier = 2,
                               .data_format = "channels_first",
                               .dilation_rate = 2}));
}

TEST(KerasReference, SeparableConv2D) {
  namespace L = nr::layers;
  check("separable_conv2d_multiplier", L::SeparableConv2D(4, 3, {.depth_multiplier = 2}));
  check("separable_conv2d_same_strides2",
        L::SeparableConv2D(3, 3, {.strides = 2, .padding = "same"}));
  check("separable_conv2d_dilation_channels_first",
        L::SeparableConv2D(3, {3, 2}, {.data_format = "channels_first", .dilation_rate = 2}));
}

TEST(KerasReference, Conv2DTranspose) {
  namespace L = nr::layers;
  check("conv2d_transpose_valid", L::Conv2DTranspose(3, 3));
  check("conv2d_transpose_same_strides2",
        L::Conv2DTranspose(3, 3, {.strides = 2, .padding = "same"}));
  check("conv2d_transpose_same_strides2_even",
        L::Conv2DTranspose(2, 4, {.strides = 2, .padding = "same"}));
  check("conv2d_transpose_output_padding",
        L::Conv2DTranspose(2, 3, {.strides = {2, 3}, .output_padding = {1, 2}}));
  check("conv2d_transpose_same_output_padding",
        L::Conv2DTranspose(2, {3, 4}, {.strides = 2, .padding = "same", .output_padding = {1, 0}}));
  check("conv2d_transpose_strides_over_kernel", L::Conv2DTranspose(2, 2, {.strides = 3}));
  check("conv2d_transpose_dilation",
        L::Conv2DTranspose(2, 3, {.padding = "same", .dilation_rate = 2}));
  check("conv2d_transpose_channels_first",
        L::Conv2DTranspose(3, 3, {.strides = 2, .data_format = "channels_first"}));
}

// ---- issue 18: reshaping and 1-D pooling layers, gelu's tanh form --------------------------

TEST(KerasReference, UpSampling2DEveryInterpolation) {
  namespace L = nr::layers;
  check("up_sampling2d_nearest", L::UpSampling2D({2, 3}));
  check("up_sampling2d_nearest_channels_first",
        L::UpSampling2D(2, {.data_format = "channels_first"}));
  check("up_sampling2d_bilinear", L::UpSampling2D(2, {.interpolation = "bilinear"}));
  check("up_sampling2d_bilinear_channels_first",
        L::UpSampling2D({3, 2}, {.data_format = "channels_first", .interpolation = "bilinear"}));
  check("up_sampling2d_bilinear_unit_height",
        L::UpSampling2D({1, 3}, {.interpolation = "bilinear"}));
  check("up_sampling2d_bicubic", L::UpSampling2D(2, {.interpolation = "bicubic"}));
  check("up_sampling2d_lanczos3", L::UpSampling2D({2, 3}, {.interpolation = "lanczos3"}));
  check("up_sampling2d_lanczos5", L::UpSampling2D(3, {.interpolation = "lanczos5"}));
}

TEST(KerasReference, UpSampling1DCroppingPaddingPermuteRepeatVector) {
  namespace L = nr::layers;
  check("up_sampling1d", L::UpSampling1D(3));
  check("cropping1d", L::Cropping1D({1, 2}));
  check("cropping2d", L::Cropping2D({{1, 0}, {2, 1}}));
  check("cropping2d_channels_first", L::Cropping2D({1, 2}, {.data_format = "channels_first"}));
  check("zero_padding1d", L::ZeroPadding1D({2, 1}));
  check("zero_padding1d_channels_first", L::ZeroPadding1D(2, {.data_format = "channels_first"}));
  check("zero_padding2d_channels_first",
        L::ZeroPadding2D({{1, 0}, {2, 1}}, {.data_format = "channels_first"}));
  check("permute", L::Permute({3, 1, 2}));
  check("repeat_vector", L::RepeatVector(3));
}

TEST(KerasReference, Pooling1D) {
  namespace L = nr::layers;
  check("max_pooling1d_same", L::MaxPooling1D(3, {.strides = 2, .padding = "same"}));
  check("max_pooling1d_channels_first", L::MaxPooling1D(2, {.data_format = "channels_first"}));
  check("average_pooling1d_same", L::AveragePooling1D(3, {.strides = 2, .padding = "same"}));
  check("average_pooling1d_channels_first",
        L::AveragePooling1D(2, {.strides = 1, .padding = "same", .data_format = "channels_first"}));
  check("global_max_pooling1d", L::GlobalMaxPooling1D());
  check("global_max_pooling1d_channels_first_keepdims",
        L::GlobalMaxPooling1D({.data_format = "channels_first", .keepdims = true}));
  check("global_average_pooling1d_keepdims", L::GlobalAveragePooling1D({.keepdims = true}));
  check("global_average_pooling1d_channels_first",
        L::GlobalAveragePooling1D({.data_format = "channels_first"}));
}

TEST(KerasReference, GlobalAveragePooling1DWithAMask) {
  for (const char* format : {"channels_last", "channels_first"}) {
    const std::string name = std::string("global_average_pooling1d_masked") +
                             (std::string(format) == "channels_first" ? "_channels_first" : "");
    SCOPED_TRACE(name);
    const auto ref = load(name);
    const nr::Tensor x = tensor(ref, "x");
    auto gap = nr::layers::GlobalAveragePooling1D({.data_format = format});
    nr::GradientTape tape;
    tape.watch(x);
    const nr::Tensor y = gap(x, tensor(ref, "mask"));
    EXPECT_TRUE(close(y, ref, "y"));
    EXPECT_TRUE(close(tape.gradient(nr::sum(y * tensor(ref, "g")), x), ref, "grad_x"));
    // A uint8 mask (what comparisons return) gives the same.
    const nr::Tensor mask8 = nr::greater(tensor(ref, "mask"), nr::constant({0.5f}));
    EXPECT_TRUE(close(gap(x, mask8), ref, "y"));
  }
}

TEST(KerasReference, GeluApproximateIsKerasTanhForm) {
  check("gelu_approximate", nr::layers::Activation(nr::activations::gelu(/*approximate=*/true)));
}
