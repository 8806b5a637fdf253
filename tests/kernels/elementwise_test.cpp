// Elementwise ops, activations and casts against float64 references computed here, on shapes
// with size-1 and size-0 dimensions, broadcasting, and lengths that are not multiples of a
// vector width.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "neurona/kernels/elementwise.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_binary_ops;
using nr::testing::all_close;
using nr::testing::make_tensor;
using nr::testing::random_tensor;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// NumPy broadcasting, written independently of the library.
std::vector<std::int64_t> broadcast_dims(const std::vector<nr::Shape>& shapes) {
  int rank = 0;
  for (const auto& s : shapes) rank = std::max(rank, s.rank());
  std::vector<std::int64_t> out(static_cast<std::size_t>(rank), 1);
  for (const auto& s : shapes) {
    for (int d = 0; d < s.rank(); ++d) {
      const std::int64_t n = s.dims()[static_cast<std::size_t>(d)];
      auto& o = out[static_cast<std::size_t>(rank - s.rank() + d)];
      if (n != 1) o = n;
    }
  }
  return out;
}

// Offset into an operand of shape `s` of the output element at multi-index `idx`.
std::int64_t broadcast_offset(const std::vector<std::int64_t>& idx, const nr::Shape& s) {
  const int shift = static_cast<int>(idx.size()) - s.rank();
  std::int64_t off = 0;
  for (int d = 0; d < s.rank(); ++d) {
    const std::int64_t n = s.dims()[static_cast<std::size_t>(d)];
    off = off * n + (n == 1 ? 0 : idx[static_cast<std::size_t>(d + shift)]);
  }
  return off;
}

// f applied in float64 to the broadcast operands; also returns the broadcast shape.
std::vector<double> broadcast_ref(const std::vector<nr::Tensor>& ins,
                                  const std::function<double(const std::vector<double>&)>& f,
                                  nr::Shape* out_shape = nullptr) {
  std::vector<nr::Shape> shapes;
  std::vector<std::vector<double>> vals;
  for (const auto& t : ins) {
    shapes.push_back(t.shape());
    vals.push_back(t.to_vector<double>());
  }
  const std::vector<std::int64_t> dims = broadcast_dims(shapes);
  std::int64_t n = 1;
  for (std::int64_t d : dims) n *= d;
  std::vector<double> out;
  std::vector<std::int64_t> idx(dims.size(), 0);
  std::vector<double> args(ins.size());
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t rem = i;
    for (int d = static_cast<int>(dims.size()) - 1; d >= 0; --d) {
      idx[static_cast<std::size_t>(d)] = rem % dims[static_cast<std::size_t>(d)];
      rem /= dims[static_cast<std::size_t>(d)];
    }
    for (std::size_t k = 0; k < ins.size(); ++k) {
      args[k] = vals[k][static_cast<std::size_t>(broadcast_offset(idx, shapes[k]))];
    }
    out.push_back(f(args));
  }
  if (out_shape) *out_shape = nr::Shape(dims);
  return out;
}

std::vector<double> map_ref(const nr::Tensor& x, const std::function<double(double)>& f) {
  std::vector<double> v = x.to_vector<double>();
  for (double& e : v) e = f(e);
  return v;
}

struct ShapePair {
  nr::Shape a, b;
};

// Same shapes, row against column, rank extension, scalars, size 1 and size 0.
const std::vector<ShapePair>& binary_shape_pairs() {
  static const std::vector<ShapePair> pairs = {
      {{7}, {7}},
      {{3, 13}, {3, 13}},
      {{33}, {33}},
      {{7, 1}, {1, 13}},
      {{2, 1, 33}, {7, 1}},
      {{}, {13}},
      {{33}, {}},
      {{1}, {5, 7}},
      {{}, {}},
      {{2, 3, 1, 5}, {3, 4, 1}},
      {{0, 3}, {1, 3}},
      {{4, 0}, {4, 1}},
      {{0}, {}},
      {{2, 0, 3}, {3}},
  };
  return pairs;
}

const std::vector<nr::Shape>& unary_shapes() {
  static const std::vector<nr::Shape> shapes = {{},      {1},        {7}, {13},  {33},
                                                {3, 13}, {2, 1, 33}, {0}, {4, 0}};
  return shapes;
}

std::string trace(const nr::Shape& a, const nr::Shape& b) {
  return a.str() + " with " + b.str();
}

void check_binary(const char* name, nr::Tensor (*op)(const nr::Tensor&, const nr::Tensor&),
                  double (*ref)(double, double), double lo, double hi, nr::DType dtype, double atol,
                  double rtol) {
  for (const auto& [sa, sb] : binary_shape_pairs()) {
    SCOPED_TRACE(std::string(name) + " " + trace(sa, sb) + " " + std::string(nr::name(dtype)));
    const nr::Tensor a = random_tensor(sa, dtype, lo, hi, 1);
    const nr::Tensor b = random_tensor(sb, dtype, lo, hi, 2);
    nr::Shape expected_shape;
    const auto expected = broadcast_ref(
        {a, b}, [ref](const std::vector<double>& v) { return ref(v[0], v[1]); }, &expected_shape);
    const nr::Tensor out = op(a, b);
    EXPECT_EQ(out.shape(), expected_shape);
    EXPECT_EQ(out.dtype(), dtype);
    EXPECT_TRUE(all_close(out, expected, atol, rtol));
  }
}

double ref_add(double a, double b) {
  return a + b;
}
double ref_sub(double a, double b) {
  return a - b;
}
double ref_mul(double a, double b) {
  return a * b;
}
double ref_div(double a, double b) {
  return a / b;
}
double ref_pow(double a, double b) {
  return std::pow(a, b);
}

}  // namespace

// ---- arithmetic ------------------------------------------------------------------------

TEST(Elementwise, AddSubtractMultiplyMatchReferenceOnAllShapes) {
  for (nr::DType t : {nr::float32, nr::float64}) {
    const double tol = t == nr::float32 ? 1e-6 : 1e-12;
    check_binary("add", nr::add, ref_add, -2, 2, t, tol, tol);
    check_binary("subtract", nr::subtract, ref_sub, -2, 2, t, tol, tol);
    check_binary("multiply", nr::multiply, ref_mul, -2, 2, t, tol, tol);
  }
}

TEST(Elementwise, IntegerAddSubtractMultiplyAreExact) {
  for (nr::DType t : {nr::int32, nr::int64}) {
    check_binary("add", nr::add, ref_add, -1000, 1000, t, 0, 0);
    check_binary("subtract", nr::subtract, ref_sub, -1000, 1000, t, 0, 0);
    check_binary("multiply", nr::multiply, ref_mul, -1000, 1000, t, 0, 0);
  }
  check_binary("add", nr::add, ref_add, 0, 100, nr::uint8, 0, 0);
}

TEST(Elementwise, AddBroadcastsRowAgainstColumn) {
  const nr::Tensor col = make_tensor({1, 2, 3}, {3, 1});
  const nr::Tensor row = make_tensor({10, 20, 30, 40}, {1, 4});
  const nr::Tensor out = nr::add(col, row);
  EXPECT_EQ(out.shape(), nr::Shape({3, 4}));
  EXPECT_TRUE(all_close(out, {11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43}));
}

// The CPU's broadcast loop (kernels/cpu/elementwise.cpp, for_each_run): rows shorter than its
// 4096-element runs go in blocks that step the outer index (a carry across two outer
// dimensions, blocks starting mid-dimension), longer rows in pieces.
TEST(Elementwise, BroadcastRunsCarryAcrossOuterDimensionsAndSplitLongRows) {
  const std::vector<std::pair<nr::Shape, nr::Shape>> shape_pairs = {
      {{5, 7, 3}, {1, 7, 1}},  // rows of 3, a carry from the middle dimension into the first
      {{700, 7, 3}, {7, 1}},   // 4900 rows of 3: blocks of 1365 rows start mid-dimension
      {{3, 1, 4}, {2, 1}},     // the output's shape from both operands
      {{2, 5000}, {2, 1}},     // rows of 5000: two pieces each
      {{2, 3, 4500}, {3, 1}},  // long rows with an outer carry
  };
  for (const auto& [sa, sb] : shape_pairs) {
    SCOPED_TRACE(sa.str() + " " + sb.str());
    // Integers: the differences are exact, so the comparison can be.
    const nr::Tensor a = random_tensor(sa, nr::int64, -9, 9, 1);
    const nr::Tensor b = random_tensor(sb, nr::int64, -9, 9, 2);
    nr::Shape shape;
    const auto expected = broadcast_ref(
        {a, b}, [](const std::vector<double>& v) { return v[0] - v[1]; }, &shape);
    const nr::Tensor out = nr::subtract(a, b);
    EXPECT_EQ(out.shape(), shape);
    EXPECT_TRUE(all_close(out, expected, 0, 0));
    const nr::Tensor mask = random_tensor(sb, nr::uint8, 0, 2, 3);
    const auto picked = broadcast_ref(
        {mask, a, b}, [](const std::vector<double>& v) { return v[0] != 0 ? v[1] : v[2]; });
    EXPECT_TRUE(all_close(nr::where(mask, a, b), picked, 0, 0));
  }
}

TEST(Elementwise, BinaryOpOnEmptyDimensionGivesEmptyResult) {
  const nr::Tensor out = nr::multiply(nr::zeros({0, 3}), nr::ones({1, 3}));
  EXPECT_EQ(out.shape(), nr::Shape({0, 3}));
  EXPECT_EQ(out.numel(), 0);
  EXPECT_EQ(nr::add(nr::zeros({5, 0}), nr::ones({5, 1})).shape(), nr::Shape({5, 0}));
}

TEST(Elementwise, DivideMatchesReferenceForFloats) {
  check_binary("divide", nr::divide, ref_div, 0.5, 3, nr::float32, 1e-6, 1e-6);
  check_binary("divide", nr::divide, ref_div, 0.5, 3, nr::float64, 1e-12, 1e-12);
}

TEST(Elementwise, DivideByZeroGivesInfAndNaN) {
  const nr::Tensor out = nr::divide(make_tensor({1, -1, 0}, {3}), make_tensor({0, 0, 0}, {3}));
  EXPECT_TRUE(all_close(out, {kInf, -kInf, kNaN}));
}

TEST(Elementwise, DividePromotesIntegersToFloat32) {
  for (nr::DType t : {nr::int32, nr::int64, nr::uint8}) {
    SCOPED_TRACE(std::string(nr::name(t)));
    const nr::Tensor x = make_tensor({7, 1, 9, 0, 5, 6, 100}, {7}, t);
    const nr::Tensor y = make_tensor({2, 3, 4}, {3, 1}, t);
    const nr::Tensor out = nr::divide(x, y);
    EXPECT_EQ(out.dtype(), nr::float32);
    EXPECT_EQ(out.shape(), nr::Shape({3, 7}));
    EXPECT_TRUE(all_close(
        out, broadcast_ref({x, y}, [](const std::vector<double>& v) { return v[0] / v[1]; })));
  }
}

TEST(Elementwise, PowMatchesReferenceForFloats) {
  check_binary("pow", nr::pow, ref_pow, 0.1, 3, nr::float32, 1e-6, 1e-5);
  check_binary("pow", nr::pow, ref_pow, 0.1, 3, nr::float64, 1e-12, 1e-12);
  // Negative bases with integral exponents are defined.
  const nr::Tensor out = nr::pow(make_tensor({-2, -2, -3}, {3}), make_tensor({2, 3, 0}, {3}));
  EXPECT_TRUE(all_close(out, {4, -8, 1}));
}

TEST(Elementwise, PowOfIntegersIsExactAndStaysInteger) {
  for (nr::DType t : {nr::int32, nr::int64}) {
    SCOPED_TRACE(std::string(nr::name(t)));
    const nr::Tensor base = make_tensor({3, 2, -2, 7, 0, 0, 1, -1, 5, 10, -3, 2, 13}, {13}, t);
    const nr::Tensor expo = make_tensor({4, 10, 3, 0, 0, 5, 30, 7, 1, 9, 4, 30, 2}, {13}, t);
    const nr::Tensor out = nr::pow(base, expo);
    EXPECT_EQ(out.dtype(), t);
    EXPECT_EQ(out.to_vector<std::int64_t>(),
              (std::vector<std::int64_t>{81, 1024, -8, 1, 1, 0, 1, -1, 5, 1000000000, 81,
                                         1073741824, 169}));
  }
  // Broadcast an exponent row over a column of bases.
  const nr::Tensor out =
      nr::pow(make_tensor({2, 3}, {2, 1}, nr::int32), make_tensor({0, 1, 2}, {3}, nr::int32));
  EXPECT_EQ(out.to_vector<std::int32_t>(), (std::vector<std::int32_t>{1, 2, 4, 1, 3, 9}));
}

TEST(Elementwise, IntegerPowWrapsAroundOnOverflow) {
  // 2^31 and 2^32 in int32 wrap as the two's-complement product does (NumPy, TensorFlow).
  const nr::Tensor out =
      nr::pow(make_tensor({2, 2, 3}, {3}, nr::int32), make_tensor({31, 32, 21}, {3}, nr::int32));
  const auto v = out.to_vector<std::int32_t>();
  EXPECT_EQ(v[0], std::numeric_limits<std::int32_t>::min());
  EXPECT_EQ(v[1], 0);
  EXPECT_EQ(v[2], static_cast<std::int32_t>(static_cast<std::uint32_t>(10460353203ULL)));
}

TEST(Elementwise, MaximumMinimumMatchReference) {
  for (nr::DType t : {nr::float32, nr::float64, nr::int32}) {
    check_binary(
        "maximum", nr::maximum, [](double a, double b) { return std::max(a, b); }, -50, 50, t, 0,
        0);
    check_binary(
        "minimum", nr::minimum, [](double a, double b) { return std::min(a, b); }, -50, 50, t, 0,
        0);
  }
}

TEST(Elementwise, MaximumMinimumPropagateNaNFromEitherSide) {
  const nr::Tensor x = make_tensor({kNaN, 1, kNaN, 2, -kInf}, {5});
  const nr::Tensor y = make_tensor({1, kNaN, kNaN, 3, 0}, {5});
  EXPECT_TRUE(all_close(nr::maximum(x, y), {kNaN, kNaN, kNaN, 3, 0}));
  EXPECT_TRUE(all_close(nr::minimum(x, y), {kNaN, kNaN, kNaN, 2, -kInf}));
}

TEST(Elementwise, ReluGradIsGradTimesInputPositiveOnAllShapes) {
  for (nr::DType t : {nr::float32, nr::float64, nr::int32}) {
    check_binary(
        "relu_grad", nr::kernels::relu_grad, [](double g, double x) { return x > 0 ? g : 0.0; },
        -50, 50, t, 0, 0);
  }
}

TEST(Elementwise, GeluGradsAreGradTimesTheDerivativeOnAllShapes) {
  for (nr::DType t : {nr::float32, nr::float64}) {
    // In float32 the derivatives' two terms cancel for negative x (Phi(x) against x phi(x),
    // (1 + t) / 2 against the tanh term), to about 5e-7 per unit of gradient, and grad reaches 5
    // here: the float32 formula evaluated in numpy is as far from the float64 values.
    const double atol = t == nr::float32 ? 3e-6 : 1e-12, rtol = t == nr::float32 ? 1e-5 : 1e-12;
    check_binary(
        "gelu_grad", nr::kernels::gelu_grad,
        [](double g, double x) {
          const double pdf = std::exp(-0.5 * x * x) / std::sqrt(2 * 3.14159265358979323846);
          return g * (0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * pdf);
        },
        -5, 5, t, atol, rtol);
    check_binary(
        "gelu_approximate_grad", nr::kernels::gelu_approximate_grad,
        [](double g, double x) {
          constexpr double kC = 0.79788456080286535587989211986876, kK = 0.044715;
          const double th = std::tanh(kC * (x + kK * x * x * x));
          return g * (0.5 * (1 + th) + 0.5 * x * (1 - th * th) * kC * (1 + 3 * kK * x * x));
        },
        -5, 5, t, atol, rtol);
  }
  NEURONA_EXPECT_THROW_MSG(nr::kernels::gelu_grad(nr::zeros({2}, {.dtype = nr::int32}),
                                                  nr::zeros({2}, {.dtype = nr::int32})),
                           nr::ValueError, "gelu_grad", "int32");
}

TEST(Elementwise, ReluGradGivesTheBitsOfGradTimesTheMask) {
  // The fused kernel replaced multiply(grad, cast(x > 0)); it must not change a bit of a
  // trajectory: -0 where a negative gradient meets x <= 0, NaN for NaN or inf times 0.
  const nr::Tensor g = make_tensor({-2, 3, kNaN, kNaN, kInf, -kInf, 5, -1}, {8});
  const nr::Tensor x = make_tensor({-1, 0, 1, -1, -1, 2, kNaN, 0}, {8});
  const nr::Tensor fused = nr::kernels::relu_grad(g, x);
  const nr::Tensor unfused =
      nr::multiply(g, nr::cast(nr::greater(x, nr::zeros_like(x)), g.dtype()));
  const auto a = fused.to_vector<float>();
  const auto b = unfused.to_vector<float>();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(std::isnan(a[i]), std::isnan(b[i])) << i;
    if (!std::isnan(a[i])) {
      EXPECT_EQ(a[i], b[i]) << i;
      EXPECT_EQ(std::signbit(a[i]), std::signbit(b[i])) << i;
    }
  }
  EXPECT_TRUE(std::signbit(a[0]));  // -2 * 0 = -0
}

TEST(Elementwise, BinaryOpsRejectMismatchedShapesNamingOpAndShapes) {
  const nr::Tensor x = nr::zeros({2, 3});
  const nr::Tensor y = nr::zeros({4});
  for (const auto& [name, op] : all_binary_ops()) {
    SCOPED_TRACE(name);
    NEURONA_EXPECT_THROW_MSG(op(x, y), nr::ShapeError, name, "(2, 3)", "(4,)");
    NEURONA_EXPECT_THROW_MSG(op(nr::zeros({5, 1, 7}), nr::zeros({3, 6})), nr::ShapeError, name,
                             "(5, 1, 7)", "(3, 6)");
  }
  NEURONA_EXPECT_THROW_MSG(x + y, nr::ShapeError, "add", "(2, 3)", "(4,)");
  NEURONA_EXPECT_THROW_MSG(x / y, nr::ShapeError, "divide", "(2, 3)", "(4,)");
  // An empty dimension broadcasts only against 0 or 1.
  NEURONA_EXPECT_THROW_MSG(nr::add(nr::zeros({0}), nr::zeros({2})), nr::ShapeError, "add", "(0,)",
                           "(2,)");
}

TEST(Elementwise, BinaryOpsRejectMixedDtypesNamingOpAndDtypes) {
  const nr::Tensor x = nr::zeros({2, 3});
  const nr::Tensor y = nr::zeros({3}, {.dtype = nr::int32});
  for (const auto& [name, op] : all_binary_ops()) {
    SCOPED_TRACE(name);
    NEURONA_EXPECT_THROW_MSG(op(x, y), nr::ValueError, name, "float32", "int32", "(2, 3)", "(3,)");
    NEURONA_EXPECT_THROW_MSG(op(x, nr::Tensor()), nr::ValueError, name, "undefined");
  }
  // Integer operands of two different types are not promoted either.
  NEURONA_EXPECT_THROW_MSG(nr::divide(nr::zeros({3}, {.dtype = nr::int64}), y), nr::ValueError,
                           "divide", "int64", "int32");
}

TEST(Elementwise, IntegerAddAndMultiplyWrapAround) {
  using I32 = std::numeric_limits<std::int32_t>;
  using I64 = std::numeric_limits<std::int64_t>;
  const nr::Tensor a32 = nr::constant(std::vector<std::int32_t>{I32::max(), I32::min(), 65536}, {3},
                                      nr::Device::cpu());
  const nr::Tensor b32 =
      nr::constant(std::vector<std::int32_t>{1, -1, 65536}, {3}, nr::Device::cpu());
  EXPECT_EQ(nr::add(a32, b32).to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{I32::min(), I32::max(), 131072}));
  EXPECT_EQ(nr::multiply(a32, b32).to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{I32::max(), I32::min(), 0}));
  EXPECT_EQ(nr::subtract(a32, b32).to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{I32::max() - 1, I32::min() + 1, 0}));
  EXPECT_EQ(nr::neg(a32).to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{-I32::max(), I32::min(), -65536}));

  const nr::Tensor a64 =
      nr::constant(std::vector<std::int64_t>{I64::max(), 1LL << 32}, {2}, nr::Device::cpu());
  const nr::Tensor b64 =
      nr::constant(std::vector<std::int64_t>{1, 1LL << 32}, {2}, nr::Device::cpu());
  EXPECT_EQ(nr::add(a64, b64).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{I64::min(), (1LL << 33)}));
  EXPECT_EQ(nr::multiply(a64, b64).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{I64::max(), 0}));

  const nr::Tensor a8 = make_tensor({200, 16, 255}, {3}, nr::uint8);
  const nr::Tensor b8 = make_tensor({100, 16, 1}, {3}, nr::uint8);
  EXPECT_EQ(nr::add(a8, b8).to_vector<std::int32_t>(), (std::vector<std::int32_t>{44, 32, 0}));
  EXPECT_EQ(nr::multiply(a8, b8).to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{32, 0, 255}));
  EXPECT_EQ(nr::subtract(b8, a8).to_vector<std::int32_t>(), (std::vector<std::int32_t>{156, 0, 2}));
}

// ---- comparisons and where ---------------------------------------------------------------

TEST(Elementwise, ComparisonsReturnUint8MasksMatchingReference) {
  using Cmp = nr::Tensor (*)(const nr::Tensor&, const nr::Tensor&);
  struct Case {
    const char* name;
    Cmp op;
    bool (*ref)(double, double);
  };
  const Case cases[] = {
      {"equal", nr::equal, [](double a, double b) { return a == b; }},
      {"not_equal", nr::not_equal, [](double a, double b) { return a != b; }},
      {"less", nr::less, [](double a, double b) { return a < b; }},
      {"less_equal", nr::less_equal, [](double a, double b) { return a <= b; }},
      {"greater", nr::greater, [](double a, double b) { return a > b; }},
      {"greater_equal", nr::greater_equal, [](double a, double b) { return a >= b; }},
  };
  for (nr::DType t : {nr::float32, nr::float64, nr::int32, nr::int64, nr::uint8}) {
    for (const auto& [sa, sb] : binary_shape_pairs()) {
      // Few distinct values, so that ties occur.
      const nr::Tensor a = random_tensor(sa, nr::int32, 0, 4, 3);
      const nr::Tensor b = random_tensor(sb, nr::int32, 0, 4, 4);
      const nr::Tensor at = nr::cast(a, t), bt = nr::cast(b, t);
      for (const Case& c : cases) {
        SCOPED_TRACE(std::string(c.name) + " " + trace(sa, sb) + " " + std::string(nr::name(t)));
        nr::Shape shape;
        const auto expected = broadcast_ref(
            {a, b}, [&c](const std::vector<double>& v) { return c.ref(v[0], v[1]) ? 1.0 : 0.0; },
            &shape);
        const nr::Tensor out = c.op(at, bt);
        EXPECT_EQ(out.dtype(), nr::uint8);
        EXPECT_EQ(out.shape(), shape);
        EXPECT_TRUE(all_close(out, expected, 0, 0));
      }
    }
  }
}

TEST(Elementwise, ComparisonsWithNaNAreFalseExceptNotEqual) {
  const nr::Tensor x = make_tensor({kNaN, kNaN, 1}, {3});
  const nr::Tensor y = make_tensor({kNaN, 1, kNaN}, {3});
  EXPECT_TRUE(all_close(nr::equal(x, y), {0, 0, 0}, 0, 0));
  EXPECT_TRUE(all_close(nr::not_equal(x, y), {1, 1, 1}, 0, 0));
  EXPECT_TRUE(all_close(nr::less(x, y), {0, 0, 0}, 0, 0));
  EXPECT_TRUE(all_close(nr::less_equal(x, y), {0, 0, 0}, 0, 0));
  EXPECT_TRUE(all_close(nr::greater(x, y), {0, 0, 0}, 0, 0));
  EXPECT_TRUE(all_close(nr::greater_equal(x, y), {0, 0, 0}, 0, 0));
}

TEST(Elementwise, WhereSelectsWithThreeWayBroadcasting) {
  const std::vector<std::vector<nr::Shape>> shape_sets = {
      {{7}, {7}, {7}},   {{3, 1}, {1, 13}, {}},    {{33}, {2, 1}, {1, 33}},
      {{}, {3, 7}, {7}}, {{2, 1, 5}, {4, 1}, {5}}, {{0, 3}, {3}, {1}},
  };
  for (nr::DType t : {nr::float32, nr::int64}) {
    for (const auto& s : shape_sets) {
      SCOPED_TRACE(s[0].str() + " " + s[1].str() + " " + s[2].str());
      const nr::Tensor c = random_tensor(s[0], nr::uint8, 0, 2, 5);
      const nr::Tensor x = random_tensor(s[1], t, -9, 9, 6);
      const nr::Tensor y = random_tensor(s[2], t, -9, 9, 7);
      nr::Shape shape;
      const auto expected = broadcast_ref(
          {c, x, y}, [](const std::vector<double>& v) { return v[0] != 0 ? v[1] : v[2]; }, &shape);
      const nr::Tensor out = nr::where(c, x, y);
      EXPECT_EQ(out.shape(), shape);
      EXPECT_EQ(out.dtype(), t);
      EXPECT_TRUE(all_close(out, expected, 0, 0));
    }
  }
}

TEST(Elementwise, WhereTakesAComparisonMask) {
  const nr::Tensor x = make_tensor({-1, 2, -3, 4}, {4});
  const nr::Tensor out = nr::where(nr::greater(x, nr::zeros({})), x, nr::zeros({}));
  EXPECT_TRUE(all_close(out, {0, 2, 0, 4}));
}

TEST(Elementwise, WhereRejectsBadConditionDtypeShapesAndMixedDtypes) {
  const nr::Tensor x = nr::zeros({2, 3});
  NEURONA_EXPECT_THROW_MSG(nr::where(nr::zeros({2, 3}), x, x), nr::ValueError, "where", "condition",
                           "uint8", "float32", "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::where(nr::zeros({4}, {.dtype = nr::uint8}), x, x), nr::ShapeError,
                           "where", "(4,)", "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::where(nr::zeros({3}, {.dtype = nr::uint8}), x, nr::zeros({2})),
                           nr::ShapeError, "where", "(2, 3)", "(2,)");
  NEURONA_EXPECT_THROW_MSG(
      nr::where(nr::zeros({3}, {.dtype = nr::uint8}), x, nr::zeros({3}, {.dtype = nr::int32})),
      nr::ValueError, "where", "float32", "int32");
}

// ---- unary math --------------------------------------------------------------------------

namespace {

void check_unary(const char* name, nr::Tensor (*op)(const nr::Tensor&), double (*ref)(double),
                 double lo, double hi, double atol = 1e-6, double rtol = 1e-5) {
  for (nr::DType t : {nr::float32, nr::float64}) {
    const double a = t == nr::float32 ? atol : 1e-12, r = t == nr::float32 ? rtol : 1e-12;
    for (const nr::Shape& s : unary_shapes()) {
      SCOPED_TRACE(std::string(name) + " " + s.str() + " " + std::string(nr::name(t)));
      const nr::Tensor x = random_tensor(s, t, lo, hi, 8);
      const nr::Tensor out = op(x);
      EXPECT_EQ(out.shape(), s);
      EXPECT_EQ(out.dtype(), t);
      EXPECT_TRUE(all_close(out, map_ref(x, ref), a, r));
    }
  }
}

}  // namespace

TEST(Elementwise, UnaryMathMatchesReference) {
  check_unary(
      "neg", nr::neg, [](double x) { return -x; }, -3, 3);
  check_unary(
      "abs", nr::abs, [](double x) { return std::abs(x); }, -3, 3);
  check_unary(
      "square", nr::square, [](double x) { return x * x; }, -3, 3);
  check_unary(
      "exp", nr::exp, [](double x) { return std::exp(x); }, -10, 10);
  check_unary(
      "log", nr::log, [](double x) { return std::log(x); }, 1e-3, 100);
  check_unary(
      "sqrt", nr::sqrt, [](double x) { return std::sqrt(x); }, 0, 100);
  check_unary(
      "sin", nr::sin, [](double x) { return std::sin(x); }, -7, 7);
  check_unary(
      "cos", nr::cos, [](double x) { return std::cos(x); }, -7, 7);
  check_unary(
      "floor", nr::floor, [](double x) { return std::floor(x); }, -5, 5, 0, 0);
  EXPECT_TRUE(all_close(nr::floor(make_tensor({-2.5, -0.0, 0.999, 3, kInf, kNaN}, {6})),
                        {-3, -0.0, 0, 3, kInf, kNaN}, 0, 0));
}

TEST(Elementwise, ReluKeepsNaNAsTensorFlowDoes) {
  // tf.nn.relu(nan) and torch.relu(nan) are nan: a clamp to 0 would hide a diverged step.
  for (nr::DType t : {nr::float32, nr::float64, nr::DType::bfloat16, nr::DType::float16}) {
    SCOPED_TRACE(std::string(nr::name(t)));
    const nr::Tensor x = make_tensor({kNaN, -kNaN, -kInf, -1, -0.0, 0, 2, kInf}, {8}, t);
    EXPECT_TRUE(all_close(nr::relu(x), {kNaN, kNaN, 0, 0, 0, 0, 2, kInf}, 0, 0));
  }
}

TEST(Elementwise, UnaryMathHandlesDomainEdges) {
  EXPECT_TRUE(all_close(nr::log(make_tensor({0, -1, kInf}, {3})), {-kInf, kNaN, kInf}));
  EXPECT_TRUE(all_close(nr::sqrt(make_tensor({-1, 0, kInf}, {3})), {kNaN, 0, kInf}));
  EXPECT_TRUE(all_close(nr::exp(make_tensor({-kInf, 1000, kNaN}, {3})), {0, kInf, kNaN}));
  EXPECT_TRUE(all_close(nr::abs(make_tensor({-kInf, -0.0, kNaN}, {3})), {kInf, 0, kNaN}));
}

TEST(Elementwise, NegAbsSquareAndReluAcceptIntegers) {
  for (nr::DType t : {nr::int32, nr::int64}) {
    SCOPED_TRACE(std::string(nr::name(t)));
    const nr::Tensor x = random_tensor({3, 13}, t, -100, 100, 9);
    EXPECT_TRUE(all_close(nr::neg(x), map_ref(x, [](double v) { return -v; }), 0, 0));
    EXPECT_TRUE(all_close(nr::abs(x), map_ref(x, [](double v) { return std::abs(v); }), 0, 0));
    EXPECT_TRUE(all_close(nr::square(x), map_ref(x, [](double v) { return v * v; }), 0, 0));
    EXPECT_TRUE(
        all_close(nr::relu(x), map_ref(x, [](double v) { return std::max(v, 0.0); }), 0, 0));
    EXPECT_EQ(nr::relu(x).dtype(), t);
  }
  const nr::Tensor u = make_tensor({0, 7, 255}, {3}, nr::uint8);
  EXPECT_TRUE(all_close(nr::abs(u), {0, 7, 255}, 0, 0));
  EXPECT_TRUE(all_close(nr::neg(u), {0, 249, 1}, 0, 0));  // wraps modulo 256
}

TEST(Elementwise, FloatOnlyOpsRejectIntegersNamingOpAndShape) {
  const nr::Tensor x = nr::zeros({3}, {.dtype = nr::int32});
  using Unary = nr::Tensor (*)(const nr::Tensor&);
  const std::pair<const char*, Unary> ops[] = {
      {"exp", nr::exp},
      {"log", nr::log},
      {"sqrt", nr::sqrt},
      {"sigmoid", nr::sigmoid},
      {"tanh", nr::tanh},
      {"selu", nr::selu},
      {"gelu", nr::gelu},
      {"silu", nr::silu},
      {"softplus", nr::softplus},
      {"softsign", nr::softsign},
      {"hard_sigmoid", nr::hard_sigmoid},
      {"gelu_approximate", nr::gelu_approximate},
      {"sin", nr::sin},
      {"cos", nr::cos},
      {"floor", nr::floor},
  };
  for (const auto& [name, op] : ops) {
    SCOPED_TRACE(name);
    NEURONA_EXPECT_THROW_MSG(op(x), nr::ValueError, name, "int32", "(3,)");
  }
  NEURONA_EXPECT_THROW_MSG(nr::elu(x), nr::ValueError, "elu", "int32", "(3,)");
  NEURONA_EXPECT_THROW_MSG(nr::leaky_relu(x), nr::ValueError, "leaky_relu", "int32", "(3,)");
  NEURONA_EXPECT_THROW_MSG(nr::exp(nr::Tensor()), nr::ValueError, "exp", "undefined");
}

// ---- activations -------------------------------------------------------------------------

namespace {
double ref_sigmoid(double x) {
  return 1.0 / (1.0 + std::exp(-x));
}
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
}  // namespace

TEST(Elementwise, ActivationsMatchKerasDefinitions) {
  check_unary(
      "relu", nr::relu, [](double x) { return std::max(x, 0.0); }, -3, 3);
  check_unary("sigmoid", nr::sigmoid, ref_sigmoid, -8, 8);
  check_unary(
      "tanh", nr::tanh, [](double x) { return std::tanh(x); }, -4, 4);
  check_unary(
      "elu", [](const nr::Tensor& x) { return nr::elu(x); },
      [](double x) { return x > 0 ? x : std::exp(x) - 1; }, -4, 4);
  check_unary(
      "selu", nr::selu,
      [](double x) { return kSeluScale * (x > 0 ? x : kSeluAlpha * (std::exp(x) - 1)); }, -4, 4);
  check_unary(
      "gelu", nr::gelu, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, -4,
      4);
  check_unary(
      "erf", nr::erf, [](double x) { return std::erf(x); }, -4, 4, 2e-7, 2e-7);
  check_unary(
      "silu", nr::silu, [](double x) { return x * ref_sigmoid(x); }, -6, 6);
  check_unary(
      "swish", nr::swish, [](double x) { return x / (1 + std::exp(-x)); }, -6, 6);
  check_unary(
      "softplus", nr::softplus, [](double x) { return std::log(1 + std::exp(x)); }, -8, 8);
  check_unary(
      "softsign", nr::softsign, [](double x) { return x / (1 + std::abs(x)); }, -5, 5);
  check_unary(
      "leaky_relu", [](const nr::Tensor& x) { return nr::leaky_relu(x); },
      [](double x) { return std::max(x, 0.2 * x); }, -3, 3);
  check_unary(
      "hard_sigmoid", nr::hard_sigmoid,
      [](double x) { return std::min(std::max(x + 3, 0.0), 6.0) / 6; }, -5, 5);
}

TEST(Elementwise, EluAndLeakyReluTakeTheirParameter) {
  const nr::Tensor x = random_tensor({33}, nr::float64, -4, 4, 10);
  EXPECT_TRUE(all_close(nr::elu(x, 0.5),
                        map_ref(x, [](double v) { return v > 0 ? v : 0.5 * (std::exp(v) - 1); }),
                        1e-12, 1e-12));
  EXPECT_TRUE(all_close(nr::leaky_relu(x, 0.01),
                        map_ref(x, [](double v) { return v > 0 ? v : 0.01 * v; }), 1e-12, 1e-12));
}

TEST(Elementwise, GeluIsTheExactErfFormNotTheTanhApproximation) {
  // At x = 1 the exact form gives 0.841345, the tanh approximation 0.841192.
  const nr::Tensor out = nr::gelu(make_tensor({1.0, -1.0, 2.0}, {3}, nr::float64));
  EXPECT_TRUE(
      all_close(out, {0.8413447460685429, -0.15865525393145707, 1.9544997361036416}, 1e-12, 1e-12));
}

// The CPU computes float32 erf, the exact gelu and gelu's gradient with glibc's SIMD erff and
// expf in padded blocks: every element goes through the same functions, so a value does not
// depend on the number of threads or on where it sits in the tensor, and the results stay
// within a few ulp of the float64 ones.
TEST(Elementwise, Float32ErfAndGeluAreTheSameWhateverTheThreadsAndThePlace) {
  const std::int64_t n = 300007;  // above the parallel grain, not a multiple of any vector
  const nr::Tensor x = random_tensor({n}, nr::float32, -5, 5, 3);
  const nr::Tensor g = random_tensor({n}, nr::float32, -2, 2, 4);
  using Op = std::function<nr::Tensor(const nr::Tensor&, const nr::Tensor&)>;
  const std::vector<Op> ops = {
      [](const nr::Tensor& v, const nr::Tensor&) { return nr::erf(v); },
      [](const nr::Tensor& v, const nr::Tensor&) { return nr::tanh(v); },
      [](const nr::Tensor& v, const nr::Tensor&) { return nr::gelu(v); },
      [](const nr::Tensor& v, const nr::Tensor&) { return nr::gelu_approximate(v); },
      [](const nr::Tensor& v, const nr::Tensor& gv) { return nr::kernels::gelu_grad(gv, v); },
      [](const nr::Tensor& v, const nr::Tensor& gv) {
        return nr::kernels::gelu_approximate_grad(gv, v);
      }};
  for (const Op& op : ops) {
    const std::vector<float> two = op(x, g).to_vector<float>();
    const int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    const std::vector<float> one = op(x, g).to_vector<float>();
    omp_set_num_threads(threads);
    EXPECT_EQ(one, two);
    // The first and the last 37 values alone: another place in their blocks (the first ones
    // in a whole block of the long run, a padded one alone).
    const std::vector<float> head =
        op(x.slice(0, 37).clone(), g.slice(0, 37).clone()).to_vector<float>();
    EXPECT_EQ(head, std::vector<float>(two.begin(), two.begin() + 37));
    const std::vector<float> tail =
        op(x.slice(n - 37, n).clone(), g.slice(n - 37, n).clone()).to_vector<float>();
    EXPECT_EQ(tail, std::vector<float>(two.end() - 37, two.end()));
  }
  EXPECT_TRUE(all_close(nr::erf(x), map_ref(x, [](double v) { return std::erf(v); }), 2e-7, 2e-7));
  const auto cdf = [](double v) { return 0.5 * (1 + std::erf(v / std::sqrt(2.0))); };
  EXPECT_TRUE(all_close(nr::gelu(x), map_ref(x, [&](double v) { return v * cdf(v); }), 5e-7, 1e-6));
  const std::vector<double> xv = x.to_vector<double>(), gv = g.to_vector<double>();
  std::vector<double> want(xv.size());
  for (std::size_t i = 0; i < xv.size(); ++i) {
    const double pdf = std::exp(-0.5 * xv[i] * xv[i]) / std::sqrt(2 * 3.14159265358979323846);
    want[i] = gv[i] * (cdf(xv[i]) + xv[i] * pdf);
  }
  // The gradients' float32 cancellation (GeluGradsAreGradTimesTheDerivativeOnAllShapes): about
  // 5e-7 per unit of gradient, which reaches 2 here.
  EXPECT_TRUE(all_close(nr::kernels::gelu_grad(g, x), want, 1.2e-6, 1e-6));
  EXPECT_TRUE(
      all_close(nr::tanh(x), map_ref(x, [](double v) { return std::tanh(v); }), 1.2e-7, 1.2e-7));
  constexpr double kC = 0.79788456080286535587989211986876, kK = 0.044715;
  EXPECT_TRUE(all_close(
      nr::gelu_approximate(x),
      map_ref(x, [&](double v) { return 0.5 * v * (1 + std::tanh(kC * (v + kK * v * v * v))); }),
      5e-7, 1e-6));
  for (std::size_t i = 0; i < xv.size(); ++i) {
    const double v = xv[i], t = std::tanh(kC * (v + kK * v * v * v));
    want[i] = gv[i] * (0.5 * (1 + t) + 0.5 * v * (1 - t * t) * kC * (1 + 3 * kK * v * v));
  }
  EXPECT_TRUE(all_close(nr::kernels::gelu_approximate_grad(g, x), want, 1.2e-6, 1e-6));
  const nr::Tensor special = make_tensor({kNaN, kInf, -kInf, -0.0, 1e-30, 3.9}, {6});
  const std::vector<float> e = nr::erf(special).to_vector<float>();
  EXPECT_TRUE(std::isnan(e[0]));
  EXPECT_EQ(e[1], 1.0f);
  EXPECT_EQ(e[2], -1.0f);
  EXPECT_TRUE(e[3] == 0.0f && std::signbit(e[3]));
  EXPECT_NEAR(e[4], 1.1283791670955126e-30, 1e-36);
  EXPECT_NEAR(e[5], 0.9999999652, 1.2e-7);
}

TEST(Elementwise, GeluApproximateIsKerasTanhForm) {
  check_unary(
      "gelu_approximate", nr::gelu_approximate,
      [](double x) {
        return 0.5 * x *
               (1 + std::tanh(std::sqrt(2 / 3.14159265358979323846) * (x + 0.044715 * x * x * x)));
      },
      -6, 6);
  // keras.activations.gelu([1, -1, 2], approximate=True) on the JAX backend (float32).
  const nr::Tensor out = nr::gelu_approximate(make_tensor({1.0, -1.0, 2.0}, {3}, nr::float64));
  EXPECT_TRUE(all_close(out, {0.84119199, -0.15880801, 1.95459769}, 1e-7, 1e-7));
  EXPECT_TRUE(all_close(nr::gelu_approximate(make_tensor({-1000, -100, 100, 1000}, {4})),
                        {0, 0, 100, 1000}));
}

TEST(Elementwise, HardSigmoidIsRelu6OfXPlus3Over6) {
  const nr::Tensor out = nr::hard_sigmoid(make_tensor({-4, -3, -1.5, 0, 1.5, 3, 4}, {7}));
  EXPECT_TRUE(all_close(out, {0, 0, 0.25, 0.5, 0.75, 1, 1}));
}

TEST(Elementwise, LeakyReluDefaultSlopeIsKeras0Point2) {
  EXPECT_TRUE(all_close(nr::leaky_relu(make_tensor({-10, -1, 0, 2}, {4})), {-2, -0.2, 0, 2}));
}

TEST(Elementwise, ActivationsStayFiniteAtLargeMagnitudes) {
  const nr::Tensor x = make_tensor({-1000, -100, 100, 1000}, {4});
  EXPECT_TRUE(all_close(nr::sigmoid(x), {0, ref_sigmoid(-100), 1, 1}, 1e-30, 1e-5));
  EXPECT_TRUE(
      all_close(nr::softplus(x), {0, std::log1p(std::exp(-100.0)), 100, 1000}, 1e-30, 1e-6));
  EXPECT_TRUE(all_close(nr::silu(x), {0, -100 * ref_sigmoid(-100), 100, 1000}, 1e-30, 1e-5));
  EXPECT_TRUE(all_close(nr::tanh(x), {-1, -1, 1, 1}));
  EXPECT_TRUE(all_close(nr::elu(x), {-1, -1, 100, 1000}));
  EXPECT_TRUE(
      all_close(nr::softsign(x), {-1000.0 / 1001, -100.0 / 101, 100.0 / 101, 1000.0 / 1001}));
  EXPECT_TRUE(all_close(nr::gelu(x), {0, 0, 100, 1000}));
}

// ---- cast --------------------------------------------------------------------------------

TEST(Elementwise, CastBetweenAllDtypesMatchesReference) {
  const nr::DType all[] = {nr::float32, nr::float64, nr::int32, nr::int64, nr::uint8};
  for (nr::DType from : all) {
    for (nr::DType to : all) {
      for (const nr::Shape& s : unary_shapes()) {
        SCOPED_TRACE(std::string(nr::name(from)) + " -> " + std::string(nr::name(to)) + " " +
                     s.str());
        // Integral values in [0, 100): representable in every dtype.
        const nr::Tensor x = nr::cast(random_tensor(s, nr::int32, 0, 100, 11), from);
        const nr::Tensor out = nr::cast(x, to);
        EXPECT_EQ(out.dtype(), to);
        EXPECT_EQ(out.shape(), s);
        EXPECT_TRUE(all_close(out, x.to_vector<double>(), 0, 0));
      }
    }
  }
}

TEST(Elementwise, CastToSameDtypeReturnsTheSameTensor) {
  const nr::Tensor x = nr::ones({3});
  EXPECT_TRUE(nr::cast(x, nr::float32).is_same(x));
}

TEST(Elementwise, CastFloatToIntTruncatesTowardZero) {
  const nr::Tensor x = make_tensor({2.7, -2.7, 0.5, -0.5, 7.0, -7.99, 1e6 + 0.5}, {7}, nr::float64);
  EXPECT_EQ(nr::cast(x, nr::int32).to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{2, -2, 0, 0, 7, -7, 1000000}));
  EXPECT_EQ(nr::cast(x, nr::int64).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{2, -2, 0, 0, 7, -7, 1000000}));
}

TEST(Elementwise, CastFloatToIntSaturatesAndMapsNaNToZero) {
  using I32 = std::numeric_limits<std::int32_t>;
  using I64 = std::numeric_limits<std::int64_t>;
  for (nr::DType from : {nr::float32, nr::float64}) {
    SCOPED_TRACE(std::string(nr::name(from)));
    const nr::Tensor x = make_tensor({1e10, -1e10, kInf, -kInf, kNaN, 300, -5, 1e30}, {8}, from);
    EXPECT_EQ(nr::cast(x, nr::int32).to_vector<std::int32_t>(),
              (std::vector<std::int32_t>{I32::max(), I32::min(), I32::max(), I32::min(), 0, 300, -5,
                                         I32::max()}));
    EXPECT_EQ(nr::cast(x, nr::int64).to_vector<std::int64_t>(),
              (std::vector<std::int64_t>{10000000000LL, -10000000000LL, I64::max(), I64::min(), 0,
                                         300, -5, I64::max()}));
    EXPECT_EQ(nr::cast(x, nr::uint8).to_vector<std::int32_t>(),
              (std::vector<std::int32_t>{255, 0, 255, 0, 0, 255, 0, 255}));
  }
}

TEST(Elementwise, CastIntegerNarrowingWrapsAround) {
  const nr::Tensor x = nr::constant(
      std::vector<std::int64_t>{(1LL << 32) + 5, -1, 256 + 7, 1LL << 31}, {4}, nr::Device::cpu());
  EXPECT_EQ(nr::cast(x, nr::int32).to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{5, -1, 263, std::numeric_limits<std::int32_t>::min()}));
  EXPECT_EQ(nr::cast(x, nr::uint8).to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{5, 255, 7, 0}));
}

TEST(Elementwise, CastFloat64ToFloat32Rounds) {
  const nr::Tensor x = make_tensor({0.1, 1e300, -1e300, kNaN, 1.0 + 1e-12}, {5}, nr::float64);
  const auto v = nr::cast(x, nr::float32).to_vector<float>();
  EXPECT_EQ(v[0], 0.1f);
  EXPECT_EQ(v[1], std::numeric_limits<float>::infinity());
  EXPECT_EQ(v[2], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(v[3]));
  EXPECT_EQ(v[4], 1.0f);
}

TEST(Elementwise, CastRejectsUndefinedTensor) {
  NEURONA_EXPECT_THROW_MSG(nr::cast(nr::Tensor(), nr::int32), nr::ValueError, "cast", "undefined");
}

// ---- operators ---------------------------------------------------------------------------

TEST(Elementwise, OperatorsMatchNamedOps) {
  const nr::Tensor x = random_tensor({7, 1}, nr::float64, -2, 2, 12);
  const nr::Tensor y = random_tensor({13}, nr::float64, 0.5, 2, 13);
  auto ref = [&](double (*f)(double, double)) {
    return broadcast_ref({x, y}, [f](const std::vector<double>& v) { return f(v[0], v[1]); });
  };
  EXPECT_TRUE(all_close(x + y, ref(ref_add), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(x - y, ref(ref_sub), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(x * y, ref(ref_mul), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(x / y, ref(ref_div), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(-x, map_ref(x, [](double v) { return -v; }), 0, 0));
  EXPECT_EQ((x + y).shape(), nr::Shape({7, 13}));
}

TEST(Elementwise, ScalarOperatorsKeepTheTensorDtype) {
  const nr::Tensor x = random_tensor({33}, nr::float64, -2, 2, 14);
  EXPECT_TRUE(all_close(x + 1.5, map_ref(x, [](double v) { return v + 1.5; }), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(x - 1.5, map_ref(x, [](double v) { return v - 1.5; }), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(x * 1.5, map_ref(x, [](double v) { return v * 1.5; }), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(x / 1.5, map_ref(x, [](double v) { return v / 1.5; }), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(1.5 + x, map_ref(x, [](double v) { return 1.5 + v; }), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(1.5 - x, map_ref(x, [](double v) { return 1.5 - v; }), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(1.5 * x, map_ref(x, [](double v) { return 1.5 * v; }), 1e-12, 1e-12));
  EXPECT_TRUE(all_close(1.5 / x, map_ref(x, [](double v) { return 1.5 / v; }), 1e-12, 1e-12));
  EXPECT_EQ((x * 2.0).dtype(), nr::float64);
  EXPECT_EQ((x * 2.0).shape(), nr::Shape({33}));

  const nr::Tensor i = make_tensor({1, 2, 7}, {3}, nr::int32);
  EXPECT_EQ((i * 3.0).dtype(), nr::int32);
  EXPECT_EQ((i * 3.0).to_vector<std::int32_t>(), (std::vector<std::int32_t>{3, 6, 21}));
  EXPECT_EQ((10.0 - i).to_vector<std::int32_t>(), (std::vector<std::int32_t>{9, 8, 3}));
  // Division of integers is true division into float32, also with a scalar.
  EXPECT_EQ((i / 2.0).dtype(), nr::float32);
  EXPECT_TRUE(all_close(i / 2.0, {0.5, 1, 3.5}));
  EXPECT_TRUE(all_close(7.0 / i, {7, 3.5, 1}));
  EXPECT_TRUE(all_close(i / 2.5, {0.4, 0.8, 2.8}));
  EXPECT_TRUE(all_close(2.5 / i, {2.5, 1.25, 2.5 / 7}));
  // Other numbers an integer tensor cannot hold are refused, not truncated or wrapped (int32 *
  // 0.5 gave int32 zeros): cast the tensor to a float dtype first.
  NEURONA_EXPECT_THROW_MSG((void)(i * 0.5), nr::ValueError, "multiply", "0.5", "int32", "(3,)");
  NEURONA_EXPECT_THROW_MSG((void)(0.5 * i), nr::ValueError, "multiply", "0.5");
  NEURONA_EXPECT_THROW_MSG((void)(i + 1e10), nr::ValueError, "add", "int32");
  NEURONA_EXPECT_THROW_MSG((void)(i - std::nan("")), nr::ValueError, "subtract");
  const nr::Tensor bytes = make_tensor({1, 200}, {2}, nr::uint8);
  NEURONA_EXPECT_THROW_MSG((void)(bytes + 300.0), nr::ValueError, "add", "300", "uint8");
  NEURONA_EXPECT_THROW_MSG((void)(bytes - (-1.0) * 1.5), nr::ValueError, "subtract", "uint8");
  EXPECT_EQ((bytes + 55.0).to_vector<std::uint8_t>(), (std::vector<std::uint8_t>{56, 255}));
  const nr::Tensor longs = make_tensor({1, 2}, {2}, nr::int64);
  EXPECT_EQ((longs * 4e9).to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{4000000000, 8000000000}));
}

TEST(Elementwise, ScalarOperatorsOnEmptyAndScalarTensors) {
  EXPECT_EQ((nr::zeros({0, 7}) + 1.0).shape(), nr::Shape({0, 7}));
  const nr::Tensor s = nr::constant(4.0);
  EXPECT_EQ((s * 2.0).shape(), nr::Shape({}));
  EXPECT_FLOAT_EQ((s * 2.0).item(), 8.0f);
  NEURONA_EXPECT_THROW_MSG(nr::Tensor() + 1.0, nr::ValueError, "scalar_like", "undefined");
}
