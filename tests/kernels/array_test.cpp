// concat, slice, gather and one_hot against references computed here in float64, with size-1
// and size-0 dimensions, odd sizes, every index dtype and Python's bounds for slices.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::make_tensor;
using nr::testing::random_tensor;

namespace {

using Dims = std::vector<std::int64_t>;

std::int64_t product(Dims::const_iterator begin, Dims::const_iterator end) {
  std::int64_t n = 1;
  for (auto it = begin; it != end; ++it) n *= *it;
  return n;
}

// np.concatenate in float64: for every index before the axis, each tensor's block in turn.
std::vector<double> concat_ref(const std::vector<nr::Tensor>& ts, int axis) {
  const Dims& d0 = ts[0].shape().dims();
  const auto a = static_cast<std::size_t>(axis < 0 ? axis + ts[0].rank() : axis);
  const std::int64_t outer = product(d0.begin(), d0.begin() + static_cast<std::ptrdiff_t>(a));
  std::vector<double> out;
  for (std::int64_t o = 0; o < outer; ++o) {
    for (const nr::Tensor& t : ts) {
      const std::vector<double> v = t.to_vector<double>();
      const Dims& d = t.shape().dims();
      const std::int64_t block = product(d.begin() + static_cast<std::ptrdiff_t>(a), d.end());
      for (std::int64_t i = 0; i < block; ++i)
        out.push_back(v[static_cast<std::size_t>(o * block + i)]);
    }
  }
  return out;
}

}  // namespace

// ---- concat ------------------------------------------------------------------------------

TEST(Array, ConcatMatchesReferenceAlongAnyAxis) {
  struct Case {
    std::vector<nr::Shape> shapes;
    int axis;
    nr::Shape expected;
  };
  const std::vector<Case> cases = {
      {{{2, 3}, {4, 3}, {1, 3}}, 0, {7, 3}},
      {{{3, 1}, {3, 7}, {3, 13}}, 1, {3, 21}},
      {{{3, 1}, {3, 7}, {3, 13}}, -1, {3, 21}},
      {{{2, 3, 5}, {2, 3, 1}, {2, 3, 33}}, -1, {2, 3, 39}},
      {{{2, 1, 5}, {2, 7, 5}}, 1, {2, 8, 5}},
      {{{2, 1, 5}, {2, 7, 5}}, -2, {2, 8, 5}},
      {{{7}, {13}, {33}}, 0, {53}},
      {{{3, 0}, {3, 13}, {3, 0}}, 1, {3, 13}},
      {{{0, 4}, {2, 4}}, 0, {2, 4}},
      {{{0, 3}, {0, 3}}, 0, {0, 3}},
      {{{0, 3}, {0, 5}}, 1, {0, 8}},
      {{{5, 7}}, 1, {5, 7}},
  };
  for (nr::DType t : {nr::float32, nr::float64, nr::int64, nr::uint8}) {
    for (const Case& c : cases) {
      std::vector<nr::Tensor> ts;
      std::string trace = std::string(nr::name(t)) + " axis " + std::to_string(c.axis) + ":";
      for (std::size_t i = 0; i < c.shapes.size(); ++i) {
        ts.push_back(random_tensor(c.shapes[i], t, 0, 100, static_cast<std::uint32_t>(700 + i)));
        trace += ' ';
        trace += c.shapes[i].str();
      }
      SCOPED_TRACE(trace);
      const nr::Tensor out = nr::concat(ts, c.axis);
      EXPECT_EQ(out.shape(), c.expected);
      EXPECT_EQ(out.dtype(), t);
      EXPECT_TRUE(all_close(out, concat_ref(ts, c.axis), 0, 0));
    }
  }
}

TEST(Array, ConcatOfKnownRowsAndColumns) {
  const nr::Tensor a = make_tensor({1, 2, 3, 4}, {2, 2});
  const nr::Tensor b = make_tensor({5, 6}, {1, 2});
  const nr::Tensor c = make_tensor({7, 8}, {2, 1});
  EXPECT_TRUE(all_close(nr::concat({a, b}), {1, 2, 3, 4, 5, 6}));
  EXPECT_TRUE(all_close(nr::concat({a, c}, 1), {1, 2, 7, 3, 4, 8}));
  EXPECT_TRUE(all_close(nr::concat({c, a}, -1), {7, 1, 2, 8, 3, 4}));
}

TEST(Array, ConcatRejectsMismatchedShapesNamingThem) {
  const nr::Tensor a = nr::zeros({2, 3});
  NEURONA_EXPECT_THROW_MSG(nr::concat({a, nr::zeros({2, 4})}, 0), nr::ShapeError, "concat",
                           "tensors[1]", "(2, 4)", "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::concat({a, a, nr::zeros({3})}, 0), nr::ShapeError, "concat",
                           "tensors[2]", "(3,)", "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::concat({a, nr::zeros({2, 3, 1})}, 1), nr::ShapeError, "concat",
                           "(2, 3, 1)", "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::concat({a, a}, 2), nr::ShapeError, "concat", "axis 2", "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::concat({a, a}, -3), nr::ShapeError, "concat", "axis -3", "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::concat({nr::constant(1.0), nr::constant(2.0)}), nr::ShapeError,
                           "concat", "()");
}

TEST(Array, ConcatRejectsMixedDtypesAndEmptyLists) {
  NEURONA_EXPECT_THROW_MSG(nr::concat({nr::zeros({2, 3}), nr::zeros({2, 3}, {.dtype = nr::int32})}),
                           nr::ValueError, "concat", "float32", "int32");
  NEURONA_EXPECT_THROW_MSG(nr::concat({}), nr::ValueError, "concat");
  NEURONA_EXPECT_THROW_MSG(nr::concat({nr::zeros({2}), nr::Tensor()}), nr::ValueError, "concat",
                           "undefined");
}

// ---- slice -------------------------------------------------------------------------------

TEST(Array, SliceMatchesPythonBounds) {
  const nr::Tensor x = random_tensor({7, 3}, nr::float32, -1, 1, 710);
  const std::vector<double> v = x.to_vector<double>();
  const std::int64_t n = 7;
  // Python's x[start:stop] on the first axis, clipping as list slicing does.
  auto py = [n](std::int64_t i) { return std::clamp<std::int64_t>(i < 0 ? i + n : i, 0, n); };
  const std::pair<std::int64_t, std::int64_t> bounds[] = {
      {0, 7},  {1, 4}, {-3, -1}, {-100, 100}, {5, 2},   {7, 10},    {2, -100},
      {-1, 7}, {0, 1}, {6, 7},   {3, 3},      {-7, -6}, {100, 200}, {-8, 2},
  };
  for (const auto& [start, stop] : bounds) {
    SCOPED_TRACE("x[" + std::to_string(start) + ":" + std::to_string(stop) + "]");
    const std::int64_t b = py(start), e = std::max(py(stop), b);
    const nr::Tensor s = nr::slice(x, start, stop);
    EXPECT_EQ(s.shape(), nr::Shape({e - b, 3}));
    EXPECT_TRUE(all_close(s, std::vector<double>(v.begin() + b * 3, v.begin() + e * 3), 0, 0));
  }
}

TEST(Array, SliceOfKnownValues) {
  const nr::Tensor x = make_tensor({0, 1, 2, 3, 4, 5, 6}, {7}, nr::int32);
  EXPECT_EQ(nr::slice(x, 1, 4).to_vector<std::int32_t>(), (std::vector<std::int32_t>{1, 2, 3}));
  EXPECT_EQ(nr::slice(x, -3, -1).to_vector<std::int32_t>(), (std::vector<std::int32_t>{4, 5}));
  EXPECT_EQ(nr::slice(x, -100, 2).to_vector<std::int32_t>(), (std::vector<std::int32_t>{0, 1}));
  EXPECT_EQ(nr::slice(x, 5, 100).to_vector<std::int32_t>(), (std::vector<std::int32_t>{5, 6}));
  EXPECT_EQ(nr::slice(x, 4, 2).numel(), 0);
}

TEST(Array, SliceKeepsTrailingDimensions) {
  const nr::Tensor x = random_tensor({5, 2, 13}, nr::float64, -1, 1, 711);
  const nr::Tensor s = nr::slice(x, 1, 3);
  EXPECT_EQ(s.shape(), nr::Shape({2, 2, 13}));
  const std::vector<double> v = x.to_vector<double>();
  EXPECT_TRUE(all_close(s, std::vector<double>(v.begin() + 26, v.begin() + 78), 0, 0));
  EXPECT_EQ(nr::slice(nr::zeros({0, 4}), 0, 3).shape(), nr::Shape({0, 4}));
  EXPECT_EQ(nr::slice(nr::zeros({3, 0}), 1, 3).shape(), nr::Shape({2, 0}));
}

TEST(Array, SliceSharesStorageWithItsSource) {
  const nr::Tensor x = make_tensor({0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {5, 2});
  const nr::Tensor s = nr::slice(x, 2, 4);
  EXPECT_EQ(s.raw_data(), static_cast<void*>(x.data<float>() + 4));
  x.data<float>()[4] = 42;  // visible through the slice
  s.data<float>()[3] = -1;  // and back through the source
  EXPECT_TRUE(all_close(s, {42, 5, 6, -1}));
  EXPECT_TRUE(all_close(x, {0, 1, 2, 3, 42, 5, 6, -1, 8, 9}));
}

TEST(Array, SliceRejectsScalarsAndUndefinedTensors) {
  NEURONA_EXPECT_THROW_MSG(nr::slice(nr::constant(1.0), 0, 1), nr::ShapeError, "slice", "()");
  NEURONA_EXPECT_THROW_MSG(nr::slice(nr::Tensor(), 0, 1), nr::ValueError, "slice", "undefined");
}

// ---- gather ------------------------------------------------------------------------------

namespace {

// Rows of x picked by the indices, in float64: shape indices.shape + x.shape[1:].
std::vector<double> gather_ref(const nr::Tensor& x, const nr::Tensor& indices) {
  const std::vector<double> v = x.to_vector<double>();
  const std::int64_t rows = x.shape().dims()[0];
  const std::int64_t row = rows == 0 ? 0 : x.numel() / rows;
  std::vector<double> out;
  for (std::int64_t i : indices.to_vector<std::int64_t>()) {
    for (std::int64_t c = 0; c < row; ++c) out.push_back(v[static_cast<std::size_t>(i * row + c)]);
  }
  return out;
}

}  // namespace

TEST(Array, GatherMatchesReferenceForIndicesOfRank0To2) {
  struct Case {
    nr::Shape x, indices;
  };
  const std::vector<Case> cases = {
      {{7, 3}, {4}}, {{7, 3}, {}},        {{13, 2, 5}, {2, 3}}, {{33}, {5}},
      {{33}, {}},    {{1, 7}, {6}},       {{7, 3}, {0}},        {{7, 3}, {2, 0}},
      {{4, 0}, {2}}, {{5, 1, 1}, {3, 1}}, {{7, 13}, {33}},
  };
  for (nr::DType it : {nr::int32, nr::int64}) {
    for (nr::DType t : {nr::float32, nr::int64, nr::uint8}) {
      for (const Case& c : cases) {
        SCOPED_TRACE(c.x.str() + " indices " + c.indices.str() + " " + std::string(nr::name(t)) +
                     "/" + std::string(nr::name(it)));
        const nr::Tensor x = random_tensor(c.x, t, 0, 100, 720);
        const nr::Tensor indices =
            random_tensor(c.indices, it, 0, static_cast<double>(c.x.dims()[0]), 721);
        const nr::Tensor out = nr::gather(x, indices);
        Dims dims = c.indices.dims();
        dims.insert(dims.end(), c.x.dims().begin() + 1, c.x.dims().end());
        EXPECT_EQ(out.shape(), nr::Shape(dims));
        EXPECT_EQ(out.dtype(), t);
        EXPECT_TRUE(all_close(out, gather_ref(x, indices), 0, 0));
      }
    }
  }
}

TEST(Array, GatherRepeatsAndReordersRows) {
  const nr::Tensor x = make_tensor({0, 1, 10, 11, 20, 21}, {3, 2});
  const nr::Tensor idx = make_tensor({2, 0, 2, 1}, {2, 2}, nr::int64);
  const nr::Tensor out = nr::gather(x, idx);
  EXPECT_EQ(out.shape(), nr::Shape({2, 2, 2}));
  EXPECT_TRUE(all_close(out, {20, 21, 0, 1, 20, 21, 10, 11}));
  const nr::Tensor one = nr::gather(x, make_tensor({1}, {}, nr::int32));
  EXPECT_EQ(one.shape(), nr::Shape({2}));
  EXPECT_TRUE(all_close(one, {10, 11}));
}

TEST(Array, GatherRejectsOutOfRangeIndicesOnCpu) {
  const nr::Tensor x = nr::zeros({7, 3});
  NEURONA_EXPECT_THROW_MSG(nr::gather(x, make_tensor({0, 7}, {2}, nr::int32)), nr::ValueError,
                           "gather", "7", "(7, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::gather(x, make_tensor({-1}, {1}, nr::int64)), nr::ValueError,
                           "gather", "-1", "(7, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::gather(nr::zeros({0, 3}), make_tensor({0}, {1}, nr::int64)),
                           nr::ValueError, "gather", "(0, 3)");
}

TEST(Array, GatherRejectsBadDtypesAndScalarParams) {
  NEURONA_EXPECT_THROW_MSG(nr::gather(nr::zeros({7, 3}), nr::zeros({2})), nr::ValueError, "gather",
                           "indices", "float32", "(2,)");
  NEURONA_EXPECT_THROW_MSG(nr::gather(nr::zeros({7, 3}), nr::zeros({2}, {.dtype = nr::uint8})),
                           nr::ValueError, "gather", "indices", "uint8", "(2,)");
  NEURONA_EXPECT_THROW_MSG(nr::gather(nr::constant(1.0), nr::zeros({1}, {.dtype = nr::int32})),
                           nr::ShapeError, "gather", "()");
}

// ---- one_hot -----------------------------------------------------------------------------

namespace {

std::vector<double> one_hot_ref(const nr::Tensor& indices, std::int64_t depth, double on,
                                double off) {
  std::vector<double> out;
  for (std::int64_t i : indices.to_vector<std::int64_t>()) {
    for (std::int64_t k = 0; k < depth; ++k) out.push_back(i == k ? on : off);
  }
  return out;
}

}  // namespace

TEST(Array, OneHotMatchesReferenceForAllIndexDtypesAndRanks) {
  const std::vector<std::pair<nr::Shape, std::int64_t>> cases = {
      {{4}, 5}, {{}, 7}, {{2, 3}, 7}, {{33}, 13}, {{1}, 1}, {{0}, 5}, {{3}, 0}, {{2, 0}, 4},
  };
  for (nr::DType it : {nr::int32, nr::int64, nr::uint8}) {
    for (const auto& [shape, depth] : cases) {
      SCOPED_TRACE(shape.str() + " depth " + std::to_string(depth) + " " +
                   std::string(nr::name(it)));
      const nr::Tensor idx =
          random_tensor(shape, it, 0, static_cast<double>(std::max<std::int64_t>(depth, 1)), 730);
      const nr::Tensor out = nr::one_hot(idx, depth);
      Dims dims = shape.dims();
      dims.push_back(depth);
      EXPECT_EQ(out.shape(), nr::Shape(dims));
      EXPECT_EQ(out.dtype(), nr::float32);
      EXPECT_TRUE(all_close(out, one_hot_ref(idx, depth, 1, 0), 0, 0));
    }
  }
}

TEST(Array, OneHotGivesOffRowsForOutOfRangeIndices) {
  const nr::Tensor idx = make_tensor({-1, 0, 3, 100, 2}, {5}, nr::int64);
  const nr::Tensor out = nr::one_hot(idx, 3);
  EXPECT_EQ(out.shape(), nr::Shape({5, 3}));
  EXPECT_TRUE(all_close(out, {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 0, 0));
  const nr::Tensor big =
      nr::constant(std::vector<std::int64_t>{(1LL << 32) + 1}, {1}, nr::Device::cpu());
  EXPECT_TRUE(all_close(nr::one_hot(big, 3), {0, 0, 0}, 0, 0));
}

TEST(Array, OneHotTakesCustomOnOffValuesAndDtype) {
  const nr::Tensor idx = make_tensor({1, -1, 0}, {3}, nr::int32);
  const nr::Tensor out = nr::one_hot(idx, 2, {.on_value = 5, .off_value = -1, .dtype = nr::int32});
  EXPECT_EQ(out.dtype(), nr::int32);
  EXPECT_EQ(out.to_vector<std::int32_t>(), (std::vector<std::int32_t>{-1, 5, -1, -1, 5, -1}));
  const nr::Tensor f =
      nr::one_hot(idx, 2, {.on_value = 0.9, .off_value = 0.05, .dtype = nr::float64});
  EXPECT_EQ(f.dtype(), nr::float64);
  EXPECT_TRUE(all_close(f, one_hot_ref(idx, 2, 0.9, 0.05), 0, 0));
  const nr::Tensor u = nr::one_hot(idx, 2, {.dtype = nr::uint8});
  EXPECT_EQ(u.to_vector<std::int32_t>(), (std::vector<std::int32_t>{0, 1, 0, 0, 1, 0}));
}

TEST(Array, OneHotRejectsFloatIndicesAndNegativeDepth) {
  NEURONA_EXPECT_THROW_MSG(nr::one_hot(nr::zeros({3}), 4), nr::ValueError, "one_hot", "indices",
                           "float32", "(3,)");
  NEURONA_EXPECT_THROW_MSG(nr::one_hot(nr::zeros({3}, {.dtype = nr::int32}), -1), nr::ValueError,
                           "one_hot", "depth", "-1");
  NEURONA_EXPECT_THROW_MSG(nr::one_hot(nr::Tensor(), 3), nr::ValueError, "one_hot", "undefined");
}

TEST(Array, ReverseFlipsOneAxisAndItsGradientFlipsBack) {
  // x[i][j][k] = 100 i + 10 j + k, shape (2, 3, 2).
  std::vector<double> v;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 2; ++k) v.push_back(100 * i + 10 * j + k);
  const nr::Tensor x = make_tensor(v, {2, 3, 2});
  const auto at = [](const nr::Tensor& t, int i, int j, int k) {
    return t.to_vector<double>()[static_cast<std::size_t>(i * 6 + j * 2 + k)];
  };
  const nr::Tensor r1 = nr::reverse(x, 1);
  EXPECT_EQ(at(r1, 1, 0, 1), 121);
  EXPECT_EQ(at(r1, 0, 2, 0), 0);
  const nr::Tensor r2 = nr::reverse(x, -1);
  EXPECT_EQ(at(r2, 1, 2, 0), 121);
  EXPECT_EQ(nr::reverse(r1, 1).to_vector<double>(), x.to_vector<double>());
  const nr::Tensor r0 = nr::reverse(x, 0);
  EXPECT_EQ(at(r0, 0, 1, 1), 111);
  EXPECT_THROW((void)nr::reverse(nr::constant(1.0), 0), nr::ShapeError);
  // d/dx sum(reverse(x) * w) = reverse(w).
  nr::Variable xv(x);
  const nr::Tensor w = random_tensor({2, 3, 2}, nr::float32, -1, 1, 3);
  nr::GradientTape tape;
  const nr::Tensor y = nr::sum(nr::reverse(xv, 1) * w);
  const nr::Tensor g = tape.gradient(y, xv);
  EXPECT_EQ(g.to_vector<float>(), nr::reverse(w, 1).to_vector<float>());
}
