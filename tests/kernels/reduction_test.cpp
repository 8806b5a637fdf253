// Reductions, argmax/argmin and softmax against float64 references computed here, over all,
// one, several and negative axes, with keepdims, on shapes with size-1 and size-0 dimensions.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::make_tensor;
using nr::testing::random_tensor;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct Reference {
  std::vector<double> values;
  nr::Shape shape;
};

// Which axes of a rank-`rank` tensor `axes` names; std::nullopt means all of them.
std::vector<bool> axis_mask(int rank, const std::optional<std::vector<int>>& axes) {
  std::vector<bool> mask(static_cast<std::size_t>(rank), !axes.has_value());
  if (axes) {
    for (int a : *axes) mask[static_cast<std::size_t>(a < 0 ? a + rank : a)] = true;
  }
  return mask;
}

// Folds x over the axes in float64: acc = fold(acc, v) from `init`, then finish(acc, count).
Reference reduce_ref(const nr::Tensor& x, const std::optional<std::vector<int>>& axes,
                     bool keepdims, double init, const std::function<double(double, double)>& fold,
                     const std::function<double(double, std::int64_t)>& finish) {
  const std::vector<std::int64_t>& dims = x.shape().dims();
  const std::vector<bool> mask = axis_mask(x.rank(), axes);
  std::vector<std::int64_t> out_dims, kept_dims;
  for (std::size_t d = 0; d < dims.size(); ++d) {
    if (!mask[d]) kept_dims.push_back(dims[d]);
    if (!mask[d] || keepdims) out_dims.push_back(mask[d] ? 1 : dims[d]);
  }
  std::int64_t num_out = 1, count = 1;
  for (std::size_t d = 0; d < dims.size(); ++d) (mask[d] ? count : num_out) *= dims[d];
  std::vector<double> acc(static_cast<std::size_t>(num_out), init);
  const std::vector<double> v = x.to_vector<double>();
  std::vector<std::int64_t> idx(dims.size(), 0);
  for (std::size_t i = 0; i < v.size(); ++i) {
    std::int64_t rem = static_cast<std::int64_t>(i);
    for (int d = static_cast<int>(dims.size()) - 1; d >= 0; --d) {
      idx[static_cast<std::size_t>(d)] = rem % dims[static_cast<std::size_t>(d)];
      rem /= dims[static_cast<std::size_t>(d)];
    }
    std::int64_t o = 0;
    for (std::size_t d = 0; d < dims.size(); ++d) {
      if (!mask[d]) o = o * dims[d] + idx[d];
    }
    acc[static_cast<std::size_t>(o)] = fold(acc[static_cast<std::size_t>(o)], v[i]);
  }
  for (double& a : acc) a = finish(a, count);
  return {acc, nr::Shape(out_dims)};
}

double nan_max(double a, double b) {
  return (std::isnan(a) || std::isnan(b)) ? kNaN : std::max(a, b);
}
double nan_min(double a, double b) {
  return (std::isnan(a) || std::isnan(b)) ? kNaN : std::min(a, b);
}
double keep(double a, std::int64_t) {
  return a;
}

using ReduceFn = nr::Tensor (*)(const nr::Tensor&, nr::Axes, bool);

struct ReduceCase {
  const char* name;
  ReduceFn op;
  double init;
  double (*fold)(double, double);
  double (*finish)(double, std::int64_t);
};

const ReduceCase kReductions[] = {
    {"sum", nr::sum, 0.0, [](double a, double b) { return a + b; }, keep},
    {"mean", nr::mean, 0.0, [](double a, double b) { return a + b; },
     [](double a, std::int64_t n) { return a / static_cast<double>(n); }},
    {"max", nr::max, -kInf, nan_max, keep},
    {"min", nr::min, kInf, nan_min, keep},
};

struct AxesCase {
  nr::Shape shape;
  std::optional<std::vector<int>> axes;  // nullopt: all axes
};

// All axes, one axis, several, negative, none, size 1, size 0, odd sizes.
const std::vector<AxesCase>& axes_cases() {
  static const std::vector<AxesCase> cases = {
      {{7}, std::nullopt},
      {{7}, std::vector<int>{0}},
      {{33}, std::vector<int>{-1}},
      {{3, 13}, std::nullopt},
      {{3, 13}, std::vector<int>{0}},
      {{3, 13}, std::vector<int>{1}},
      {{3, 13}, std::vector<int>{-2}},
      {{3, 13}, std::vector<int>{0, 1}},
      {{3, 13}, std::vector<int>{}},
      {{2, 1, 33}, std::vector<int>{1}},
      {{2, 1, 33}, std::vector<int>{0, 2}},
      {{2, 1, 33}, std::vector<int>{-1, 0}},
      {{2, 3, 5, 7}, std::vector<int>{1, 3}},
      {{2, 3, 5, 7}, std::vector<int>{0, -2, -1}},
      {{2, 3, 5, 7}, std::vector<int>{-3}},
      {{1}, std::vector<int>{0}},
      {{}, std::nullopt},
      {{13, 1}, std::vector<int>{0}},
      {{0}, std::nullopt},
      {{3, 0}, std::vector<int>{1}},
      {{3, 0}, std::vector<int>{0}},
      {{0, 4}, std::vector<int>{0}},
      {{0, 4}, std::vector<int>{1}},
      {{97, 127}, std::nullopt},  // above the parallel grain of the CPU loop
      {{97, 127}, std::vector<int>{0}},
  };
  return cases;
}

std::string axes_str(const std::optional<std::vector<int>>& axes) {
  if (!axes) return "all";
  std::string s = "{";
  for (int a : *axes) s += std::to_string(a) + ",";
  return s + "}";
}

nr::Axes to_axes(const std::optional<std::vector<int>>& axes) {
  return axes ? nr::Axes(*axes) : nr::Axes();
}

}  // namespace

TEST(Reduction, SumMeanMaxMinMatchReferenceOverAnyAxes) {
  for (nr::DType t : {nr::float32, nr::float64}) {
    for (const auto& c : axes_cases()) {
      const nr::Tensor x = random_tensor(c.shape, t, -2, 2, 21);
      // Rounding in a float32 running sum grows with the number of terms.
      const double tol = t == nr::float32 ? 1e-5 + 1e-7 * static_cast<double>(x.numel()) : 1e-11;
      for (const ReduceCase& r : kReductions) {
        for (bool keepdims : {false, true}) {
          SCOPED_TRACE(std::string(r.name) + " " + c.shape.str() + " axes " + axes_str(c.axes) +
                       (keepdims ? " keepdims " : " ") + std::string(nr::name(t)));
          const Reference ref = reduce_ref(x, c.axes, keepdims, r.init, r.fold, r.finish);
          const std::string name = r.name;
          if ((name == "max" || name == "min") && x.numel() == 0 && !ref.values.empty()) {
            // Outputs over zero elements: no identity (MaxAndMinOverZeroElementsAreAValueError).
            EXPECT_THROW(r.op(x, to_axes(c.axes), keepdims), nr::ValueError);
            continue;
          }
          const nr::Tensor out = r.op(x, to_axes(c.axes), keepdims);
          EXPECT_EQ(out.shape(), ref.shape);
          EXPECT_EQ(out.dtype(), t);
          EXPECT_TRUE(all_close(out, ref.values, tol, tol));
        }
      }
    }
  }
}

TEST(Reduction, DefaultReducesAllAxesToAScalar) {
  const nr::Tensor x = make_tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(nr::sum(x).shape(), nr::Shape({}));
  EXPECT_FLOAT_EQ(nr::sum(x).item(), 21.0f);
  EXPECT_FLOAT_EQ(nr::mean(x).item(), 3.5f);
  EXPECT_FLOAT_EQ(nr::max(x).item(), 6.0f);
  EXPECT_FLOAT_EQ(nr::min(x).item(), 1.0f);
  EXPECT_EQ(nr::sum(x, {}, true).shape(), nr::Shape({1, 1}));
  EXPECT_EQ(nr::sum(x, 1, true).shape(), nr::Shape({2, 1}));
  EXPECT_TRUE(all_close(nr::sum(x, -1), {6, 15}));
  EXPECT_TRUE(all_close(nr::sum(x, {0, 1}), {21}));
}

TEST(Reduction, IntegerSumMaxMinKeepDtypeAndAreExact) {
  for (nr::DType t : {nr::int32, nr::int64}) {
    for (const auto& c : axes_cases()) {
      const nr::Tensor x = random_tensor(c.shape, t, -1000, 1000, 22);
      for (const ReduceCase& r : kReductions) {
        if (std::string(r.name) == "mean") continue;
        if (x.numel() == 0 && std::string(r.name) != "sum") continue;  // no integer infinity
        SCOPED_TRACE(std::string(r.name) + " " + c.shape.str() + " axes " + axes_str(c.axes) + " " +
                     std::string(nr::name(t)));
        const Reference ref = reduce_ref(x, c.axes, false, r.init, r.fold, r.finish);
        const nr::Tensor out = r.op(x, to_axes(c.axes), false);
        EXPECT_EQ(out.dtype(), t);
        EXPECT_EQ(out.shape(), ref.shape);
        EXPECT_TRUE(all_close(out, ref.values, 0, 0));
      }
    }
  }
}

TEST(Reduction, IntegerSumWrapsAround) {
  using I32 = std::numeric_limits<std::int32_t>;
  const nr::Tensor x = nr::constant(std::vector<std::int32_t>{I32::max(), 1, I32::min(), -1},
                                    {2, 2}, nr::Device::cpu());
  EXPECT_EQ(nr::sum(x, 1).to_vector<std::int32_t>(),
            (std::vector<std::int32_t>{I32::min(), I32::max()}));
  const nr::Tensor u = make_tensor({200, 100}, {2}, nr::uint8);
  EXPECT_EQ(nr::sum(u).dtype(), nr::uint8);
  EXPECT_EQ(nr::sum(u).item<int>(), 44);
}

TEST(Reduction, MeanOfIntegersGivesFloat32) {
  for (nr::DType t : {nr::int32, nr::int64, nr::uint8}) {
    SCOPED_TRACE(std::string(nr::name(t)));
    const nr::Tensor x = make_tensor({1, 2, 200, 101, 255, 255}, {3, 2}, t);
    const nr::Tensor out = nr::mean(x, 1);
    EXPECT_EQ(out.dtype(), nr::float32);
    EXPECT_TRUE(all_close(out, {1.5, 150.5, 255}));  // no uint8 wraparound in the sum
    EXPECT_EQ(nr::mean(x).dtype(), nr::float32);
    EXPECT_FLOAT_EQ(nr::mean(x).item(), 814.0f / 6.0f);
  }
}

TEST(Reduction, EmptyReductionsGiveIdentities) {
  const nr::Tensor e = nr::zeros({0});
  EXPECT_FLOAT_EQ(nr::sum(e).item(), 0.0f);
  EXPECT_TRUE(std::isnan(nr::mean(e).item()));
  const nr::Tensor rows = nr::zeros({3, 0}, {.dtype = nr::float64});
  EXPECT_TRUE(all_close(nr::sum(rows, 1), {0, 0, 0}));
  EXPECT_TRUE(all_close(nr::mean(rows, -1), {kNaN, kNaN, kNaN}));
  EXPECT_EQ(nr::sum(rows, 0).shape(), nr::Shape({0}));
  EXPECT_EQ(nr::sum(nr::zeros({0}, {.dtype = nr::int32})).item<int>(), 0);
}

TEST(Reduction, MaxAndMinOverZeroElementsAreAValueError) {
  // No identity: Keras 3 ("Cannot compute the max of an empty tensor") and NumPy raise, where
  // TensorFlow's own op would give -inf / +inf.
  NEURONA_EXPECT_THROW_MSG(nr::max(nr::zeros({0})), nr::ValueError, "max", "zero elements", "(0,)");
  NEURONA_EXPECT_THROW_MSG(nr::min(nr::zeros({0}, {.dtype = nr::int32})), nr::ValueError, "min",
                           "zero elements", "(0,)");
  const nr::Tensor rows = nr::zeros({3, 0}, {.dtype = nr::float64});
  NEURONA_EXPECT_THROW_MSG(nr::max(rows, 1, true), nr::ValueError, "max", "axes [1]", "(3, 0)");
  NEURONA_EXPECT_THROW_MSG(nr::min(rows, {0, 1}), nr::ValueError, "min", "axes [0, 1]", "(3, 0)");
  // No output element reduces an empty set: an empty result, as NumPy gives.
  EXPECT_EQ(nr::max(rows, 0).shape(), nr::Shape({0}));
  EXPECT_EQ(nr::min(rows, 0, true).shape(), nr::Shape({1, 0}));
}

TEST(Reduction, MaxAndMinPropagateNaN) {
  const nr::Tensor x = make_tensor({1, kNaN, 3, 4, 5, 6}, {2, 3});
  EXPECT_TRUE(std::isnan(nr::max(x).item()));
  EXPECT_TRUE(std::isnan(nr::min(x).item()));
  EXPECT_TRUE(all_close(nr::max(x, 1), {kNaN, 6}));
  EXPECT_TRUE(all_close(nr::min(x, 0), {1, kNaN, 3}));
  EXPECT_TRUE(all_close(nr::sum(x, 1), {kNaN, 15}));
}

TEST(Reduction, RejectsBadAxesNamingOpAndShape) {
  const nr::Tensor x = nr::zeros({3, 4});
  NEURONA_EXPECT_THROW_MSG(nr::sum(x, 2), nr::ShapeError, "sum", "axis 2", "(3, 4)");
  NEURONA_EXPECT_THROW_MSG(nr::mean(x, -3), nr::ShapeError, "mean", "axis -3", "(3, 4)");
  NEURONA_EXPECT_THROW_MSG(nr::max(x, {0, 5}), nr::ShapeError, "max", "axis 5", "(3, 4)");
  NEURONA_EXPECT_THROW_MSG(nr::min(nr::constant(1.0), 0), nr::ShapeError, "min", "axis 0", "()");
  NEURONA_EXPECT_THROW_MSG(nr::sum(x, {0, -2}), nr::ValueError, "sum", "twice", "(3, 4)");
  NEURONA_EXPECT_THROW_MSG(nr::sum(nr::Tensor()), nr::ValueError, "sum", "undefined");
}

// ---- argmax / argmin ---------------------------------------------------------------------

namespace {

// Index of the largest (smallest) element along `axis` (all elements when nullopt): ties give
// the first index and the first NaN wins, as NumPy.
Reference arg_ref(const nr::Tensor& x, std::optional<int> axis, bool largest) {
  const std::vector<double> v = x.to_vector<double>();
  std::int64_t outer = 1, n = x.numel(), inner = 1;
  std::vector<std::int64_t> out_dims;
  if (axis) {
    const int a = *axis < 0 ? *axis + x.rank() : *axis;
    n = x.shape().dims()[static_cast<std::size_t>(a)];
    for (int d = 0; d < x.rank(); ++d) {
      const std::int64_t s = x.shape().dims()[static_cast<std::size_t>(d)];
      if (d < a) outer *= s;
      if (d > a) inner *= s;
      if (d != a) out_dims.push_back(s);
    }
  }
  std::vector<double> out;
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t j = 0; j < inner; ++j) {
      std::int64_t best = 0;
      for (std::int64_t k = 1; k < n; ++k) {
        const double b = v[static_cast<std::size_t>((o * n + best) * inner + j)];
        const double c = v[static_cast<std::size_t>((o * n + k) * inner + j)];
        if (std::isnan(b)) break;
        if (std::isnan(c) || (largest ? c > b : c < b)) best = k;
      }
      out.push_back(static_cast<double>(best));
    }
  }
  return {out, nr::Shape(out_dims)};
}

}  // namespace

TEST(Reduction, ArgmaxArgminAlongAnAxisMatchReference) {
  const std::vector<std::pair<nr::Shape, int>> cases = {
      {{33}, 0},       {{7}, -1},        {{3, 13}, 0}, {{3, 13}, 1}, {{3, 13}, -2}, {{2, 7, 13}, 0},
      {{2, 7, 13}, 1}, {{2, 7, 13}, -1}, {{1, 5}, 0},  {{5, 1}, 1},  {{0, 3}, 1},   {{97, 127}, 0},
  };
  for (nr::DType t : {nr::float32, nr::float64, nr::int32}) {
    for (const auto& [shape, axis] : cases) {
      // Few distinct values, so that ties occur.
      const nr::Tensor x = nr::cast(random_tensor(shape, nr::int32, -3, 3, 23), t);
      for (bool largest : {true, false}) {
        SCOPED_TRACE(std::string(largest ? "argmax " : "argmin ") + shape.str() + " axis " +
                     std::to_string(axis) + " " + std::string(nr::name(t)));
        const Reference ref = arg_ref(x, axis, largest);
        const nr::Tensor out = largest ? nr::argmax(x, axis) : nr::argmin(x, axis);
        EXPECT_EQ(out.dtype(), nr::int64);
        EXPECT_EQ(out.shape(), ref.shape);
        EXPECT_TRUE(all_close(out, ref.values, 0, 0));
      }
    }
  }
}

TEST(Reduction, ArgmaxWithoutAxisIndexesTheFlattenedTensor) {
  const nr::Tensor x = random_tensor({3, 7, 13}, nr::float32, -2, 2, 24);
  const Reference max_ref = arg_ref(x, std::nullopt, true);
  const Reference min_ref = arg_ref(x, std::nullopt, false);
  EXPECT_EQ(nr::argmax(x).shape(), nr::Shape({}));
  EXPECT_EQ(nr::argmax(x).item<std::int64_t>(), static_cast<std::int64_t>(max_ref.values[0]));
  EXPECT_EQ(nr::argmin(x).item<std::int64_t>(), static_cast<std::int64_t>(min_ref.values[0]));
  EXPECT_EQ(nr::argmax(x, std::nullopt, true).shape(), nr::Shape({1, 1, 1}));
  EXPECT_EQ(nr::argmax(nr::constant(5.0)).item<std::int64_t>(), 0);
}

TEST(Reduction, ArgmaxKeepdimsLeavesTheAxisWithSizeOne) {
  const nr::Tensor x = make_tensor({1, 9, 3, 8, 2, 7}, {2, 3});
  const nr::Tensor out = nr::argmax(x, 1, true);
  EXPECT_EQ(out.shape(), nr::Shape({2, 1}));
  EXPECT_EQ(out.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 0}));
  EXPECT_EQ(nr::argmin(x, 0, true).shape(), nr::Shape({1, 3}));
}

TEST(Reduction, ArgmaxArgminTiesGiveFirstIndex) {
  const nr::Tensor x = make_tensor({3, 1, 3, 1, 3}, {5});
  EXPECT_EQ(nr::argmax(x).item<std::int64_t>(), 0);
  EXPECT_EQ(nr::argmin(x).item<std::int64_t>(), 1);
  const nr::Tensor cols = make_tensor({2, 2, 2, 2, 2, 2}, {3, 2});
  EXPECT_EQ(nr::argmax(cols, 0).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 0}));
  EXPECT_EQ(nr::argmin(cols, 1).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 0, 0}));
  // Above the parallel grain, ties still resolve to the first index.
  EXPECT_EQ(nr::argmax(nr::ones({40000})).item<std::int64_t>(), 0);
}

TEST(Reduction, ArgmaxArgminReturnFirstNaNAsNumPy) {
  const nr::Tensor x = make_tensor({1, kNaN, 5, kNaN}, {4});
  EXPECT_EQ(nr::argmax(x).item<std::int64_t>(), 1);
  EXPECT_EQ(nr::argmin(x).item<std::int64_t>(), 1);
  const nr::Tensor y = make_tensor({1, 2, kNaN, 0, 9, 4}, {2, 3});
  EXPECT_EQ(nr::argmax(y, 1).to_vector<std::int64_t>(), (std::vector<std::int64_t>{2, 1}));
  EXPECT_EQ(nr::argmin(y, 1).to_vector<std::int64_t>(), (std::vector<std::int64_t>{2, 0}));
  EXPECT_EQ(nr::argmax(y, 0).to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 0}));
}

TEST(Reduction, ArgmaxRejectsEmptySequencesAndBadAxes) {
  NEURONA_EXPECT_THROW_MSG(nr::argmax(nr::zeros({0})), nr::ValueError, "argmax", "empty", "(0,)");
  NEURONA_EXPECT_THROW_MSG(nr::argmin(nr::zeros({3, 0}), 1), nr::ValueError, "argmin", "empty",
                           "(3, 0)");
  NEURONA_EXPECT_THROW_MSG(nr::argmax(nr::zeros({3, 4}), 2), nr::ShapeError, "argmax", "axis 2",
                           "(3, 4)");
  NEURONA_EXPECT_THROW_MSG(nr::argmin(nr::constant(1.0), 0), nr::ShapeError, "argmin", "()");
}

// ---- softmax -----------------------------------------------------------------------------

namespace {

// softmax or log_softmax along `axis`, in float64 with the maximum subtracted.
std::vector<double> softmax_ref(const nr::Tensor& x, int axis, bool log) {
  const int a = axis < 0 ? axis + x.rank() : axis;
  std::int64_t outer = 1, inner = 1;
  const std::int64_t n = x.shape().dims()[static_cast<std::size_t>(a)];
  for (int d = 0; d < x.rank(); ++d) {
    if (d < a) outer *= x.shape().dims()[static_cast<std::size_t>(d)];
    if (d > a) inner *= x.shape().dims()[static_cast<std::size_t>(d)];
  }
  const std::vector<double> v = x.to_vector<double>();
  std::vector<double> out(v.size());
  auto at = [&](std::int64_t o, std::int64_t k, std::int64_t j) {
    return static_cast<std::size_t>((o * n + k) * inner + j);
  };
  for (std::int64_t o = 0; o < outer; ++o) {
    for (std::int64_t j = 0; j < inner; ++j) {
      double m = -kInf;
      for (std::int64_t k = 0; k < n; ++k) m = std::max(m, v[at(o, k, j)]);
      double s = 0;
      for (std::int64_t k = 0; k < n; ++k) s += std::exp(v[at(o, k, j)] - m);
      for (std::int64_t k = 0; k < n; ++k) {
        const double z = v[at(o, k, j)] - m;
        out[at(o, k, j)] = log ? z - std::log(s) : std::exp(z) / s;
      }
    }
  }
  return out;
}

}  // namespace

TEST(Reduction, SoftmaxAndLogSoftmaxMatchReferenceAlongAnyAxis) {
  const std::vector<std::pair<nr::Shape, int>> cases = {
      {{33}, 0},        {{7}, -1},     {{1}, 0},        {{3, 13}, 0},
      {{3, 13}, 1},     {{3, 13}, -2}, {{2, 7, 13}, 0}, {{2, 7, 13}, 1},
      {{2, 7, 13}, -1}, {{5, 1}, -1},  {{1, 5, 1}, 1},
  };
  for (nr::DType t : {nr::float32, nr::float64}) {
    const double tol = t == nr::float32 ? 1e-6 : 1e-12;
    for (const auto& [shape, axis] : cases) {
      const nr::Tensor x = random_tensor(shape, t, -5, 5, 25);
      SCOPED_TRACE(shape.str() + " axis " + std::to_string(axis) + " " + std::string(nr::name(t)));
      const nr::Tensor s = nr::softmax(x, axis);
      EXPECT_EQ(s.shape(), shape);
      EXPECT_EQ(s.dtype(), t);
      EXPECT_TRUE(all_close(s, softmax_ref(x, axis, false), tol, 1e-5));
      const nr::Tensor l = nr::log_softmax(x, axis);
      EXPECT_EQ(l.shape(), shape);
      EXPECT_TRUE(all_close(l, softmax_ref(x, axis, true), tol * 10, 1e-5));
    }
  }
}

// float32 rows along the last axis take the CPU's row kernel (SIMD exp, sums in lanes; the
// log-softmax in chunks of 256): rows wider than its chunks and lanes, with a winner far above
// the rest in the second chunk, match the float64 reference.
TEST(Reduction, SoftmaxOfWideFloat32RowsMatchesReference) {
  for (const std::int64_t n : {300, 1000}) {
    SCOPED_TRACE(n);
    nr::Tensor x = random_tensor({3, n}, nr::float32, -30, 30, 27);
    std::vector<double> v = x.to_vector<double>();
    v[static_cast<std::size_t>(n + 261)] = 200;  // row 1: one winner, the rest underflow
    x = make_tensor(v, {3, n}, nr::float32);
    EXPECT_TRUE(all_close(nr::softmax(x), softmax_ref(x, -1, false), 1e-6, 1e-7));
    EXPECT_TRUE(all_close(nr::log_softmax(x), softmax_ref(x, -1, true), 1e-6, 1e-5));
  }
}

TEST(Reduction, SoftmaxRowsSumToOne) {
  const nr::Tensor x = random_tensor({5, 33}, nr::float32, -10, 10, 26);
  EXPECT_TRUE(all_close(nr::sum(nr::softmax(x), -1), std::vector<double>(5, 1.0), 1e-6, 0));
  EXPECT_TRUE(all_close(nr::sum(nr::softmax(x, 0), 0), std::vector<double>(33, 1.0), 1e-6, 0));
  EXPECT_TRUE(
      all_close(nr::sum(nr::exp(nr::log_softmax(x)), 1), std::vector<double>(5, 1.0), 1e-6, 0));
}

TEST(Reduction, SoftmaxIsStableForLargeMagnitudes) {
  for (nr::DType t : {nr::float32, nr::float64}) {
    SCOPED_TRACE(std::string(nr::name(t)));
    const nr::Tensor x =
        make_tensor({1000, 1001, 1002, -1000, -1001, -1002, 1e4, 0, -1e4}, {3, 3}, t);
    const nr::Tensor s = nr::softmax(x);
    const nr::Tensor l = nr::log_softmax(x);
    EXPECT_TRUE(all_close(s, softmax_ref(x, -1, false), 1e-7, 1e-5));
    EXPECT_TRUE(all_close(l, softmax_ref(x, -1, true), 1e-5, 1e-6));
    for (double v : s.to_vector<double>()) EXPECT_TRUE(std::isfinite(v));
    for (double v : l.to_vector<double>()) EXPECT_TRUE(std::isfinite(v));
    EXPECT_NEAR(l.to_vector<double>()[8], -2e4, 1e-2);
  }
}

TEST(Reduction, SoftmaxGivesZeroWeightToMinusInfinity) {
  const nr::Tensor x = make_tensor({-kInf, 0, 0, -kInf, 3, -kInf}, {2, 3});
  EXPECT_TRUE(all_close(nr::softmax(x), {0, 0.5, 0.5, 0, 1, 0}));
  EXPECT_TRUE(
      all_close(nr::log_softmax(x), {-kInf, std::log(0.5), std::log(0.5), -kInf, 0, -kInf}));
}

TEST(Reduction, SoftmaxOfEmptyTensorIsEmpty) {
  EXPECT_EQ(nr::softmax(nr::zeros({0, 5})).shape(), nr::Shape({0, 5}));
  EXPECT_EQ(nr::softmax(nr::zeros({5, 0})).shape(), nr::Shape({5, 0}));
  EXPECT_EQ(nr::log_softmax(nr::zeros({5, 0}), 0).shape(), nr::Shape({5, 0}));
}

TEST(Reduction, SoftmaxRejectsIntegersScalarsAndBadAxes) {
  NEURONA_EXPECT_THROW_MSG(nr::softmax(nr::zeros({2, 3}, {.dtype = nr::int32})), nr::ValueError,
                           "softmax", "int32", "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::log_softmax(nr::constant(1.0)), nr::ShapeError, "log_softmax", "()");
  NEURONA_EXPECT_THROW_MSG(nr::softmax(nr::zeros({3, 4}), 2), nr::ShapeError, "softmax", "axis 2",
                           "(3, 4)");
  NEURONA_EXPECT_THROW_MSG(nr::log_softmax(nr::zeros({3, 4}), -3), nr::ShapeError, "log_softmax",
                           "axis -3", "(3, 4)");
}
