// conv2d_transpose: hand-computed outputs (Keras's output sizes and where output_padding puts
// its zeros), the adjoint identity with conv2d for 'valid' and 'same', im2col against oneDNN in
// all three directions (oneDNN gets negative end padding from output_padding), numerical
// gradients in float64 through nr::conv2d_transpose (both data formats), and bad arguments.
#include <neurona/neurona.h>

#include <sstream>

#include "neurona/kernels/conv.h"
#include "support/gradcheck.h"
#include "support/test_util.h"

namespace nr = neurona;
namespace nk = neurona::kernels;
using nr::testing::all_close;
using nr::testing::make_tensor;
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

// A (1, 1, 2, 1) row [1, 2] through a (1, 3, 1, 1) kernel [1, 10, 100] with strides (1, 2).
std::vector<double> row_through(nr::Padding padding, std::optional<std::int64_t> output_padding) {
  const nr::Tensor x = make_tensor({1, 2}, {1, 1, 2, 1}, nr::float64);
  const nr::Tensor k = make_tensor({1, 10, 100}, {1, 3, 1, 1}, nr::float64);
  nr::ConvTransposeOptions o{.strides = {1, 2}, .padding = padding};
  if (output_padding) o.output_padding = std::array<std::int64_t, 2>{0, *output_padding};
  return nk::conv2d_transpose(x, k, o).to_vector<double>();
}

std::string describe(const nr::Shape& x, const nr::Shape& k, const nr::ConvTransposeOptions& o) {
  std::ostringstream s;
  s << "x " << x << " kernel " << k << " strides (" << o.strides[0] << ", " << o.strides[1] << ") "
    << (o.padding == nr::Padding::Same ? "same" : "valid") << " dilation (" << o.dilation_rate[0]
    << ", " << o.dilation_rate[1] << ")";
  if (o.output_padding) {
    s << " output_padding (" << (*o.output_padding)[0] << ", " << (*o.output_padding)[1] << ")";
  }
  return s.str();
}

// Kernel sizes 1-4, strides 1-3 (and dilation 2 at stride 1), both paddings, and every
// output_padding below the strides as well as None.
std::vector<std::pair<nr::Shape, nr::ConvTransposeOptions>> grid() {
  std::vector<std::pair<nr::Shape, nr::ConvTransposeOptions>> cases;
  for (std::int64_t kh : {1, 2, 3, 4}) {
    for (std::int64_t s : {1, 2, 3}) {
      for (std::int64_t d : {1, 2}) {
        if (s > 1 && d > 1) continue;
        for (auto padding : {nr::Padding::Valid, nr::Padding::Same}) {
          for (std::int64_t op = -1; op < s; ++op) {
            nr::ConvTransposeOptions o{
                .strides = {s, 1}, .padding = padding, .dilation_rate = {d, 1}};
            if (op >= 0) o.output_padding = std::array<std::int64_t, 2>{op, 0};
            cases.push_back({{kh, 3, 4, 3}, o});
          }
        }
      }
    }
  }
  return cases;
}

}  // namespace

TEST(ConvTranspose, ScattersEachPixelThroughTheKernelAsKerasSizesIt) {
  // valid: (2 - 1) * 2 + 3 = 5 columns; pixel i lands at 2 i .. 2 i + 2.
  EXPECT_TRUE(all_close(row_through(nr::Padding::Valid, std::nullopt), {1, 10, 102, 20, 200}));
  // output_padding adds zero columns at the end.
  EXPECT_TRUE(all_close(row_through(nr::Padding::Valid, 1), {1, 10, 102, 20, 200, 0}));
  // same: 2 * 2 = 4 columns, the extra one cut at the end.
  EXPECT_TRUE(all_close(row_through(nr::Padding::Same, std::nullopt), {1, 10, 102, 20}));
  // same with output_padding: (2 - 1) * 2 + 3 % 2 + p columns, the first one cut for p = 0.
  EXPECT_TRUE(all_close(row_through(nr::Padding::Same, 0), {10, 102, 20}));
  EXPECT_TRUE(all_close(row_through(nr::Padding::Same, 1), {1, 10, 102, 20}));
}

TEST(ConvTranspose, IsTheAdjointOfConv2DForValidAndSame) {
  // <conv2d_transpose(x, k), r> = <x, conv2d(r, k)> with the same strides, padding and
  // dilation (no output_padding): Keras's transposed convolution is the convolution's input
  // gradient.
  for (const auto& [k_shape, o] : grid()) {
    if (o.output_padding) continue;
    const nr::Shape k{k_shape[0], 2, 3, 2};  // 3 filters out, 2 channels in
    const nr::Tensor x = random_tensor({2, 4, 3, 2}, nr::float64, -1, 1, 1);
    const nr::Tensor kernel = random_tensor(k, nr::float64, -1, 1, 2);
    const nr::Tensor y = nk::conv2d_transpose(x, kernel, o);
    const nr::Tensor r = random_tensor(y.shape(), nr::float64, -1, 1, 3);
    const nr::Tensor back = nk::conv2d(
        r, kernel, {.strides = o.strides, .padding = o.padding, .dilation_rate = o.dilation_rate});
    ASSERT_EQ(back.shape(), x.shape()) << describe(x.shape(), k, o);
    const double lhs = nr::sum(nr::multiply(y, r)).item<double>();
    const double rhs = nr::sum(nr::multiply(x, back)).item<double>();
    EXPECT_NEAR(lhs, rhs, 1e-10 * (1 + std::abs(lhs))) << describe(x.shape(), k, o);
  }
}

TEST(ConvTranspose, Im2colAndOneDnnAgreeInAllThreeDirections) {
  std::vector<nk::CpuConvImpl> impls = {nk::CpuConvImpl::Im2col};
  if (nk::cpu_conv_onednn_available()) impls.push_back(nk::CpuConvImpl::OneDnn);
  for (const auto& [k_shape, o] : grid()) {
    const nr::Shape x_shape{2, 5, 4, 3};
    // float64 (always im2col) is the reference.
    const nr::Tensor x64 = random_tensor(x_shape, nr::float64, -1, 1, 4);
    const nr::Tensor k64 = random_tensor(k_shape, nr::float64, -1, 1, 5);
    const nr::Tensor y64 = nk::conv2d_transpose(x64, k64, o);
    const nr::Tensor g64 = random_tensor(y64.shape(), nr::float64, -1, 1, 6);
    const std::vector<nr::Tensor> reference = {
        y64, nk::conv2d_transpose_backward_input(g64, k64, x_shape, o),
        nk::conv2d_transpose_backward_filter(x64, g64, k_shape, o)};
    for (const nk::CpuConvImpl impl : impls) {
      const ImplScope scope(impl);
      const nr::Tensor x = nr::cast(x64, nr::float32), k = nr::cast(k64, nr::float32);
      const nr::Tensor g = nr::cast(g64, nr::float32);
      const std::vector<nr::Tensor> got = {nk::conv2d_transpose(x, k, o),
                                           nk::conv2d_transpose_backward_input(g, k, x_shape, o),
                                           nk::conv2d_transpose_backward_filter(x, g, k_shape, o)};
      for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_TRUE(all_close(got[i], reference[i].to_vector<double>(), 1e-5, 1e-5))
            << describe(x_shape, k_shape, o) << " direction " << i
            << (impl == nk::CpuConvImpl::OneDnn ? " onednn" : " im2col");
      }
    }
  }
}

TEST(ConvTranspose, GradientsMatchNumericalInFloat64) {
  struct Case {
    nr::Shape x, k;
    nr::ConvTransposeOptions o;
  };
  const std::vector<Case> cases = {
      {{2, 3, 2, 2}, {3, 3, 2, 2}, {}},
      {{1, 3, 3, 2}, {3, 2, 3, 2}, {.strides = {2, 2}, .padding = nr::Padding::Same}},
      {{1, 2, 3, 1},
       {2, 3, 2, 1},
       {.strides = {3, 2}, .output_padding = std::array<std::int64_t, 2>{2, 1}}},
      {{1, 3, 2, 2}, {3, 3, 1, 2}, {.padding = nr::Padding::Same, .dilation_rate = {2, 1}}},
      {{2, 2, 3, 3},
       {2, 2, 2, 2},
       {.strides = {2, 2},
        .padding = nr::Padding::Same,
        .data_format = nr::DataFormat::ChannelsFirst}},
  };
  for (const Case& c : cases) {
    EXPECT_TRUE(nr::testing::check_gradients(
        describe(c.x, c.k, c.o),
        [o = c.o](const auto& in) { return nr::conv2d_transpose(in[0], in[1], o); },
        {random_tensor(c.x, nr::float64, -1, 1, 7), random_tensor(c.k, nr::float64, -1, 1, 8)}));
  }
}

TEST(ConvTranspose, BadArgumentsAreValueErrorsNamingThem) {
  const nr::Tensor x = nr::zeros({1, 3, 3, 2});
  NEURONA_EXPECT_THROW_MSG(nk::conv2d_transpose(x, nr::zeros({3, 3, 4, 5})), nr::ValueError,
                           "conv2d_transpose", "must match the kernel's input channels",
                           "input channels=2, kernel input channels=5");
  NEURONA_EXPECT_THROW_MSG(
      nk::conv2d_transpose(
          x, nr::zeros({3, 3, 4, 2}),
          {.strides = {2, 2}, .output_padding = std::array<std::int64_t, 2>{0, 2}}),
      nr::ValueError, "conv2d_transpose", "`output_padding`", "At dimension 1",
      "`output_padding` is 2 but `strides` is 2");
  NEURONA_EXPECT_THROW_MSG(nk::conv2d_transpose(nr::zeros({3, 3, 2}), nr::zeros({3, 3, 4, 2})),
                           nr::ShapeError, "conv2d_transpose", "4-D input", "(3, 3, 2)");
  NEURONA_EXPECT_THROW_MSG(nk::conv2d_transpose(x, nr::zeros({3, 4, 2})), nr::ShapeError,
                           "conv2d_transpose", "4-D kernel", "(3, 4, 2)");
  NEURONA_EXPECT_THROW_MSG(nk::conv2d_transpose_backward_input(nr::zeros({1, 3, 3, 4}),
                                                               nr::zeros({3, 3, 4, 2}), x.shape()),
                           nr::ShapeError, "conv2d_transpose_backward_input", "(1, 3, 3, 4)",
                           "(1, 5, 5, 4)");
  // A 1x1 input through an even kernel, 'same' and output_padding 0: (1 - 1) * 2 + 0 rows.
  NEURONA_EXPECT_THROW_MSG(
      nk::conv2d_transpose(nr::zeros({1, 1, 1, 2}), nr::zeros({2, 2, 4, 2}),
                           {.strides = {2, 2},
                            .padding = nr::Padding::Same,
                            .output_padding = std::array<std::int64_t, 2>{0, 0}}),
      nr::ShapeError, "conv2d_transpose", "non-positive output size 0");
}
