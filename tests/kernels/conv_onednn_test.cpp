// The CPU's two float32 convolutions (im2col + OpenBLAS, oneDNN) against each other and against
// float64 im2col (which the gradient checks cover) over a grid of shapes, strides, padding,
// dilation and groups, for all three directions; and oneDNN's run-to-run determinism.
#include <neurona/neurona.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "neurona/kernels/conv.h"
#include "neurona/kernels/elementwise.h"
#include "neurona/kernels/reduction.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace nk = neurona::kernels;
using nr::testing::random_tensor;

namespace {

// Selects a CPU convolution for one scope, then puts back the one before.
class ImplScope {
 public:
  explicit ImplScope(nk::CpuConvImpl impl) : before_(nk::cpu_conv_impl()) {
    nk::set_cpu_conv_impl(impl);
  }
  ~ImplScope() { nk::set_cpu_conv_impl(before_); }
  ImplScope(const ImplScope&) = delete;
  ImplScope& operator=(const ImplScope&) = delete;

 private:
  nk::CpuConvImpl before_;
};

struct Case {
  nr::Shape x, k;
  nr::ConvOptions o;
};

std::string describe(const Case& c) {
  std::ostringstream s;
  s << "x " << c.x << " kernel " << c.k << " strides (" << c.o.strides[0] << ", " << c.o.strides[1]
    << ") " << (c.o.padding == nr::Padding::Same ? "same" : "valid") << " dilation ("
    << c.o.dilation_rate[0] << ", " << c.o.dilation_rate[1] << ") groups " << c.o.groups;
  return s.str();
}

std::vector<Case> grid() {
  std::vector<Case> cases;
  const std::int64_t filters = 4;
  for (std::int64_t cin : {1, 3, 8}) {
    for (auto [kh, kw] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {3, 3}, {2, 3}}) {
      for (auto strides : {std::array<std::int64_t, 2>{1, 1}, {2, 2}, {1, 3}}) {
        for (auto padding : {nr::Padding::Valid, nr::Padding::Same}) {
          for (auto dilation : {std::array<std::int64_t, 2>{1, 1}, {2, 1}}) {
            for (std::int64_t groups : {1, 2}) {
              if (cin % groups != 0) continue;
              cases.push_back({{2, 9, 8, cin},
                               {kh, kw, cin / groups, filters},
                               {.strides = strides,
                                .padding = padding,
                                .dilation_rate = dilation,
                                .groups = groups}});
            }
          }
        }
      }
    }
  }
  // Sizes where oneDNN takes its vectorised kernels: the cnn's two layers (fewer images), wide
  // channels with 'same' padding and strides, and depthwise-like groups.
  using P = nr::Padding;
  cases.push_back({{4, 28, 28, 1}, {3, 3, 1, 32}, {}});
  cases.push_back({{4, 13, 13, 32}, {3, 3, 32, 64}, {}});
  cases.push_back({{3, 14, 15, 32}, {3, 3, 32, 48}, {.strides = {2, 2}, .padding = P::Same}});
  cases.push_back({{2, 12, 12, 64}, {3, 3, 16, 64}, {.padding = P::Same, .groups = 4}});
  cases.push_back({{2, 10, 10, 16}, {1, 1, 1, 16}, {.groups = 16}});
  cases.push_back({{2, 16, 16, 16}, {5, 5, 16, 32}, {.padding = P::Same, .dilation_rate = {2, 2}}});
  return cases;
}

// |actual - expected| <= 1e-5 * (|expected| + max |expected|): float32 sums in another order
// differ from the float64 ones in their last bits, relative to the size of the terms summed.
::testing::AssertionResult close(const nr::Tensor& actual, const nr::Tensor& expected) {
  const auto a = actual.to_vector<double>(), e = expected.to_vector<double>();
  double scale = 0;
  for (double v : e) scale = std::max(scale, std::abs(v));
  return nr::testing::all_close(a, e, 1e-5 * scale, 1e-5);
}

// The three directions of `c` for one dtype: y, dx, dk (from fixed random inputs).
std::array<nr::Tensor, 3> run_all(const Case& c, nr::DType dt) {
  const nr::Tensor x = random_tensor(c.x, dt, -1, 1, 11);
  const nr::Tensor k = random_tensor(c.k, dt, -1, 1, 12);
  const nr::Tensor y = nk::conv2d(x, k, c.o);
  const nr::Tensor dy = random_tensor(y.shape(), dt, -1, 1, 13);
  return {y, nk::conv2d_backward_input(dy, k, x.shape(), c.o),
          nk::conv2d_backward_filter(x, dy, k.shape(), c.o)};
}

}  // namespace

TEST(Conv2DCpu, OneDnnMatchesIm2colOverShapesStridesPaddingDilationAndGroups) {
  if (!nk::cpu_conv_onednn_available()) GTEST_SKIP() << "this build has no oneDNN";
  const char* directions[] = {"forward", "input gradient", "kernel gradient"};
  const auto cases = grid();
  for (const Case& c : cases) {
    std::array<nr::Tensor, 3> im2col, onednn, reference;
    {
      const ImplScope scope(nk::CpuConvImpl::Im2col);
      im2col = run_all(c, nr::float32);
      reference = run_all(c, nr::float64);  // float64 is always im2col
    }
    {
      const ImplScope scope(nk::CpuConvImpl::OneDnn);
      onednn = run_all(c, nr::float32);
    }
    for (int d = 0; d < 3; ++d) {
      ASSERT_EQ(onednn[d].shape(), im2col[d].shape()) << describe(c) << " " << directions[d];
      EXPECT_TRUE(close(onednn[d], im2col[d])) << describe(c) << " " << directions[d];
      EXPECT_TRUE(close(onednn[d], reference[d])) << describe(c) << " " << directions[d];
    }
  }
  EXPECT_GT(cases.size(), 100u);
}

TEST(Conv2DCpu, OneDnnIsRunToRunDeterministic) {
  if (!nk::cpu_conv_onednn_available()) GTEST_SKIP() << "this build has no oneDNN";
  const ImplScope scope(nk::CpuConvImpl::OneDnn);
  const Case c{{16, 13, 13, 32}, {3, 3, 32, 64}, {}};
  const auto first = run_all(c, nr::float32);
  for (int rep = 0; rep < 3; ++rep) {
    const auto again = run_all(c, nr::float32);
    for (int d = 0; d < 3; ++d) {
      EXPECT_EQ(again[d].to_vector<float>(), first[d].to_vector<float>()) << "direction " << d;
    }
  }
}

TEST(Conv2DCpu, FusedBiasAndReluMatchTheSeparateOpsInBothImplementations) {
  // conv2d_bias_activation against conv2d + bias + relu, and conv2d_backward_filter_bias
  // against conv2d_backward_filter and the sum of the output gradient, in float32 through each
  // implementation (oneDNN: bias and relu inside the primitive) and in float64.
  const auto cases = grid();
  std::vector<nk::CpuConvImpl> impls = {nk::CpuConvImpl::Im2col};
  if (nk::cpu_conv_onednn_available()) impls.push_back(nk::CpuConvImpl::OneDnn);
  for (const nk::CpuConvImpl impl : impls) {
    const ImplScope scope(impl);
    for (std::size_t i = 0; i < cases.size(); i += 5) {
      const Case& c = cases[i];
      for (const nr::DType dt : {nr::float32, nr::float64}) {
        const std::string what = describe(c) + " " + std::string(nr::name(dt)) +
                                 (impl == nk::CpuConvImpl::OneDnn ? " onednn" : " im2col");
        const nr::Tensor x = random_tensor(c.x, dt, -1, 1, 21);
        const nr::Tensor k = random_tensor(c.k, dt, -1, 1, 22);
        const nr::Tensor b = random_tensor({c.k[3]}, dt, -1, 1, 23);
        const nr::Tensor conv = nk::conv2d(x, k, c.o);
        const nr::Tensor relu = nk::conv2d_bias_activation(x, k, b, nr::FusedActivation::relu, c.o);
        EXPECT_TRUE(close(relu, nk::relu(nk::add(conv, b)))) << what;
        const nr::Tensor linear =
            nk::conv2d_bias_activation(x, k, b, nr::FusedActivation::linear, c.o);
        EXPECT_TRUE(close(linear, nk::add(conv, b))) << what;
        const nr::Tensor relu_only =
            nk::conv2d_bias_activation(x, k, nr::Tensor(), nr::FusedActivation::relu, c.o);
        EXPECT_TRUE(close(relu_only, nk::relu(conv))) << what;

        const nr::Tensor dy = random_tensor(conv.shape(), dt, -1, 1, 24);
        const auto [dk, db] = nk::conv2d_backward_filter_bias(x, dy, k.shape(), c.o);
        EXPECT_TRUE(close(dk, nk::conv2d_backward_filter(x, dy, k.shape(), c.o))) << what;
        EXPECT_TRUE(close(db, nk::sum(dy, {0, 1, 2}))) << what;
      }
    }
  }
}

TEST(Conv2DCpu, FusedReluKeepsNaNInBothImplementations) {
  // A NaN pixel gives NaN outputs where the kernel covers it, through bias and relu, as the
  // unfused relu (and TensorFlow's) gives; the other outputs are negative before the relu.
  // 8 channels and 16 filters: oneDNN 2.6 runs its jit:avx2 kernel here, whose relu post-op
  // (vmaxps(x, 0)) turned NaN into 0. The zeros are +0, as relu's (the post-ops that replace it
  // give -0 before their last step).
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<nk::CpuConvImpl> impls = {nk::CpuConvImpl::Im2col};
  if (nk::cpu_conv_onednn_available()) impls.push_back(nk::CpuConvImpl::OneDnn);
  std::vector<double> pixels(4 * 4 * 8, 1.0);
  pixels[0] = nan;  // channel 0 of the top-left pixel: only the first 3x3 window covers it
  std::vector<double> expected(2 * 2 * 16, 0.0);
  std::fill(expected.begin(), expected.begin() + 16, nan);
  for (const nk::CpuConvImpl impl : impls) {
    const ImplScope scope(impl);
    for (const nr::DType dt : {nr::float32, nr::float64}) {
      const std::string what =
          std::string(nr::name(dt)) + (impl == nk::CpuConvImpl::OneDnn ? " onednn" : " im2col");
      const nr::Tensor x = nr::testing::make_tensor(pixels, {1, 4, 4, 8}, dt);
      const nr::Tensor k = nr::fill({3, 3, 8, 16}, -1.0, {.dtype = dt});
      const nr::Tensor b = nr::fill({16}, 0.5, {.dtype = dt});
      const nr::Tensor y = nk::conv2d_bias_activation(x, k, b, nr::FusedActivation::relu);
      EXPECT_TRUE(nr::testing::all_close(y, expected, 0)) << what;
      for (const double v : y.to_vector<double>()) {
        EXPECT_TRUE(std::isnan(v) || !std::signbit(v)) << what;
      }
      EXPECT_TRUE(nr::testing::all_close(
          nk::conv2d_bias_activation(x, k, nr::Tensor(), nr::FusedActivation::relu), expected, 0))
          << what;
    }
  }
}

TEST(Conv2DCpu, BadArgumentsFailBeforeEitherImplementation) {
  for (auto impl : {nk::CpuConvImpl::Im2col, nk::CpuConvImpl::OneDnn}) {
    if (impl == nk::CpuConvImpl::OneDnn && !nk::cpu_conv_onednn_available()) continue;
    const ImplScope scope(impl);
    const nr::Tensor x = nr::zeros({1, 5, 5, 3});
    NEURONA_EXPECT_THROW_MSG(nk::conv2d(x, nr::zeros({3, 3, 2, 4})), nr::ShapeError, "conv2d",
                             "(3, 3, 2, 4)", "(1, 5, 5, 3)");
    NEURONA_EXPECT_THROW_MSG(
        nk::conv2d_backward_input(nr::zeros({1, 3, 3, 5}), nr::zeros({3, 3, 3, 4}), x.shape()),
        nr::ShapeError, "conv2d_backward_input", "(1, 3, 3, 5)", "(1, 3, 3, 4)");
    NEURONA_EXPECT_THROW_MSG(nk::conv2d_bias_activation(x, nr::zeros({3, 3, 3, 4}), nr::zeros({5}),
                                                        nr::FusedActivation::relu),
                             nr::ShapeError, "conv2d_bias_activation", "bias", "(4,)", "(5,)",
                             "(3, 3, 3, 4)");
    NEURONA_EXPECT_THROW_MSG(
        nk::conv2d_backward_filter_bias(x, nr::zeros({1, 3, 3, 5}), nr::Shape({3, 3, 3, 4})),
        nr::ShapeError, "conv2d_backward_filter_bias", "(1, 3, 3, 5)", "(1, 3, 3, 4)");
    NEURONA_EXPECT_THROW_MSG(nk::conv2d_backward_filter(x, nr::zeros({1, 3, 3, 4}),
                                                        nr::Shape({3, 3, 3, 4}), {.groups = 2}),
                             nr::ValueError, "conv2d_backward_filter", "divisible by groups");
  }
}

TEST(Conv2DCpu, OneDnnUnavailableIsAClearError) {
  if (nk::cpu_conv_onednn_available()) GTEST_SKIP() << "this build has oneDNN";
  NEURONA_EXPECT_THROW_MSG(nk::set_cpu_conv_impl(nk::CpuConvImpl::OneDnn), nr::ValueError,
                           "set_cpu_conv_impl", "no oneDNN");
}
