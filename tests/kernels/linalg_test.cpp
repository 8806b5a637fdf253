// matmul and transpose against float64 references computed here: every transpose flag, batches
// with NumPy broadcasting, 1-D operands, empty dimensions and odd sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::make_tensor;
using nr::testing::random_tensor;

namespace {

struct Reference {
  std::vector<double> values;
  nr::Shape shape;
};

using Dims = std::vector<std::int64_t>;

std::int64_t product(const Dims& d) {
  std::int64_t n = 1;
  for (std::int64_t e : d) n *= e;
  return n;
}

// Flat index into `dims` (a broadcast operand, right-aligned) of output multi-index `idx`.
std::int64_t broadcast_offset(const Dims& idx, const Dims& dims) {
  const std::size_t shift = idx.size() - dims.size();
  std::int64_t off = 0;
  for (std::size_t d = 0; d < dims.size(); ++d)
    off = off * dims[d] + (dims[d] == 1 ? 0 : idx[d + shift]);
  return off;
}

// np.matmul in float64, with the transposes applied to the stored last two axes.
Reference matmul_ref(const nr::Tensor& a, const nr::Tensor& b, bool ta = false, bool tb = false) {
  Dims ad = a.shape().dims(), bd = b.shape().dims();
  if (a.rank() == 1) ad.insert(ad.begin(), 1);
  if (b.rank() == 1) bd.push_back(1);
  const std::int64_t ar = static_cast<std::int64_t>(ad.size()),
                     br = static_cast<std::int64_t>(bd.size());
  const std::int64_t m = ta ? ad[ar - 1] : ad[ar - 2], k = ta ? ad[ar - 2] : ad[ar - 1];
  const std::int64_t n = tb ? bd[br - 2] : bd[br - 1];
  const Dims a_batch(ad.begin(), ad.end() - 2), b_batch(bd.begin(), bd.end() - 2);
  Dims batch(std::max(a_batch.size(), b_batch.size()), 1);
  for (std::size_t i = 0; i < a_batch.size(); ++i) {
    if (a_batch[i] != 1) batch[batch.size() - a_batch.size() + i] = a_batch[i];
  }
  for (std::size_t i = 0; i < b_batch.size(); ++i) {
    if (b_batch[i] != 1) batch[batch.size() - b_batch.size() + i] = b_batch[i];
  }
  const std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
  std::vector<double> out;
  Dims idx(batch.size(), 0);
  for (std::int64_t p = 0; p < product(batch); ++p) {
    std::int64_t rem = p;
    for (std::size_t d = batch.size(); d-- > 0;) {
      idx[d] = rem % batch[d];
      rem /= batch[d];
    }
    const std::int64_t oa = broadcast_offset(idx, a_batch) * m * k;
    const std::int64_t ob = broadcast_offset(idx, b_batch) * k * n;
    for (std::int64_t i = 0; i < m; ++i) {
      for (std::int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (std::int64_t l = 0; l < k; ++l) {
          const double x = av[static_cast<std::size_t>(oa + (ta ? l * m + i : i * k + l))];
          const double y = bv[static_cast<std::size_t>(ob + (tb ? j * k + l : l * n + j))];
          s += x * y;
        }
        out.push_back(s);
      }
    }
  }
  Dims out_dims = batch;
  if (a.rank() > 1) out_dims.push_back(m);
  if (b.rank() > 1) out_dims.push_back(n);
  return {out, nr::Shape(out_dims)};
}

// Stored shape of an operand whose logical last two axes are (r, c).
nr::Shape stored(Dims batch, std::int64_t r, std::int64_t c, bool transposed) {
  batch.push_back(transposed ? c : r);
  batch.push_back(transposed ? r : c);
  return nr::Shape(batch);
}

void check_matmul(const nr::Shape& sa, const nr::Shape& sb, bool ta, bool tb, nr::DType t,
                  std::uint32_t seed) {
  SCOPED_TRACE(sa.str() + " x " + sb.str() + (ta ? " transpose_a" : "") +
               (tb ? " transpose_b" : "") + " " + std::string(nr::name(t)));
  const nr::Tensor a = random_tensor(sa, t, -1, 1, seed);
  const nr::Tensor b = random_tensor(sb, t, -1, 1, seed + 1);
  const Reference ref = matmul_ref(a, b, ta, tb);
  const nr::Tensor out = nr::matmul(a, b, {.transpose_a = ta, .transpose_b = tb});
  EXPECT_EQ(out.shape(), ref.shape);
  EXPECT_EQ(out.dtype(), t);
  const double tol = t == nr::float32 ? 1e-5 : 1e-12;
  EXPECT_TRUE(all_close(out, ref.values, tol, tol));
}

}  // namespace

TEST(Linalg, Matmul2DMatchesReferenceForAllTransposeFlags) {
  const std::int64_t sizes[][3] = {{7, 13, 5}, {1, 33, 7},  {33, 13, 1},
                                   {7, 1, 13}, {13, 7, 33}, {1, 1, 1}};
  std::uint32_t seed = 100;
  for (nr::DType t : {nr::float32, nr::float64}) {
    for (const auto& s : sizes) {
      for (bool ta : {false, true}) {
        for (bool tb : {false, true}) {
          check_matmul(stored({}, s[0], s[1], ta), stored({}, s[1], s[2], tb), ta, tb, t, seed++);
        }
      }
    }
  }
}

TEST(Linalg, MatmulOfKnownMatrices) {
  const nr::Tensor a = make_tensor({1, 2, 3, 4, 5, 6}, {2, 3});
  const nr::Tensor b = make_tensor({7, 8, 9, 10, 11, 12}, {3, 2});
  EXPECT_TRUE(all_close(nr::matmul(a, b), {58, 64, 139, 154}));
  EXPECT_TRUE(all_close(nr::matmul(a, a, {.transpose_b = true}), {14, 32, 32, 77}));
  EXPECT_TRUE(
      all_close(nr::matmul(a, a, {.transpose_a = true}), {17, 22, 27, 22, 29, 36, 27, 36, 45}));
}

TEST(Linalg, MatmulBatchedMatchesReference) {
  std::uint32_t seed = 200;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      check_matmul(stored({3}, 7, 13, ta), stored({3}, 13, 5, tb), ta, tb, nr::float32, seed++);
      check_matmul(stored({2, 3}, 1, 33, ta), stored({2, 3}, 33, 7, tb), ta, tb, nr::float64,
                   seed++);
    }
  }
}

TEST(Linalg, MatmulBroadcastsRank2AgainstRank3) {
  std::uint32_t seed = 300;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      check_matmul(stored({}, 7, 13, ta), stored({4}, 13, 5, tb), ta, tb, nr::float32, seed++);
      check_matmul(stored({4}, 7, 13, ta), stored({}, 13, 5, tb), ta, tb, nr::float32, seed++);
      check_matmul(stored({1}, 7, 13, ta), stored({4}, 13, 5, tb), ta, tb, nr::float32, seed++);
    }
  }
}

TEST(Linalg, MatmulBroadcastsSizeOneBatchDimensionsBothWays) {
  std::uint32_t seed = 400;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      // (2, 1, ...) with (1, 3, ...) -> (2, 3, ...): neither operand covers the whole batch.
      check_matmul(stored({2, 1}, 7, 13, ta), stored({1, 3}, 13, 5, tb), ta, tb, nr::float32,
                   seed++);
      check_matmul(stored({2, 3}, 7, 13, ta), stored({3}, 13, 5, tb), ta, tb, nr::float64, seed++);
      check_matmul(stored({3, 1, 2}, 1, 7, ta), stored({4, 1}, 7, 33, tb), ta, tb, nr::float32,
                   seed++);
    }
  }
}

TEST(Linalg, MatmulWithOneDimensionalOperandsDropsTheirAxis) {
  const std::vector<std::pair<nr::Shape, nr::Shape>> cases = {
      {{13}, {13, 5}},    {{7, 13}, {13}}, {{13}, {13}},    {{2, 7, 13}, {13}},
      {{13}, {2, 13, 5}}, {{1}, {1, 33}},  {{33}, {33, 1}},
  };
  std::uint32_t seed = 500;
  for (nr::DType t : {nr::float32, nr::float64}) {
    for (const auto& [sa, sb] : cases) check_matmul(sa, sb, false, false, t, seed++);
  }
  // The other operand may still be transposed.
  check_matmul({13}, {5, 13}, false, true, nr::float32, seed++);
  check_matmul({13, 7}, {13}, true, false, nr::float32, seed++);
  EXPECT_EQ(nr::matmul(nr::ones({13}), nr::ones({13})).shape(), nr::Shape({}));
  EXPECT_FLOAT_EQ(nr::matmul(nr::ones({13}), nr::ones({13})).item(), 13.0f);
}

TEST(Linalg, MatmulWithEmptyInnerDimensionGivesZeros) {
  for (nr::DType t : {nr::float32, nr::float64}) {
    const nr::Tensor out =
        nr::matmul(nr::ones({3, 0}, {.dtype = t}), nr::ones({0, 4}, {.dtype = t}));
    EXPECT_EQ(out.shape(), nr::Shape({3, 4}));
    EXPECT_TRUE(all_close(out, std::vector<double>(12, 0.0), 0, 0));
    const nr::Tensor batched = nr::matmul(nr::ones({2, 0, 3}, {.dtype = t}),
                                          nr::ones({2, 0, 5}, {.dtype = t}), {.transpose_a = true});
    EXPECT_EQ(batched.shape(), nr::Shape({2, 3, 5}));
    EXPECT_TRUE(all_close(batched, std::vector<double>(30, 0.0), 0, 0));
    EXPECT_TRUE(
        all_close(nr::matmul(nr::ones({0}, {.dtype = t}), nr::ones({0}, {.dtype = t})), {0}, 0, 0));
  }
}

TEST(Linalg, MatmulWithEmptyOuterOrBatchDimensionIsEmpty) {
  EXPECT_EQ(nr::matmul(nr::ones({0, 5}), nr::ones({5, 3})).shape(), nr::Shape({0, 3}));
  EXPECT_EQ(nr::matmul(nr::ones({4, 5}), nr::ones({5, 0})).shape(), nr::Shape({4, 0}));
  EXPECT_EQ(nr::matmul(nr::ones({0, 3, 4}), nr::ones({4, 2})).shape(), nr::Shape({0, 3, 2}));
  EXPECT_EQ(nr::matmul(nr::ones({2, 0, 3, 4}), nr::ones({1, 4, 2})).shape(),
            nr::Shape({2, 0, 3, 2}));
}

TEST(Linalg, MatmulRejectsMismatchedInnerDimensionsNamingShapes) {
  NEURONA_EXPECT_THROW_MSG(nr::matmul(nr::ones({2, 3}), nr::ones({4, 5})), nr::ShapeError, "matmul",
                           "(2, 3)", "(4, 5)", "3 vs 4");
  NEURONA_EXPECT_THROW_MSG(nr::matmul(nr::ones({2, 3}), nr::ones({2, 3}), {.transpose_b = false}),
                           nr::ShapeError, "matmul", "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::matmul(nr::ones({3, 2}), nr::ones({2, 3}), {.transpose_b = true}),
                           nr::ShapeError, "matmul", "(3, 2)", "(2, 3)", "transposed");
  NEURONA_EXPECT_THROW_MSG(nr::matmul(nr::ones({3}), nr::ones({4})), nr::ShapeError, "matmul",
                           "(3,)", "(4,)");
}

TEST(Linalg, MatmulRejectsBatchesThatDoNotBroadcastNamingShapes) {
  NEURONA_EXPECT_THROW_MSG(nr::matmul(nr::ones({2, 3, 4}), nr::ones({3, 4, 5})), nr::ShapeError,
                           "matmul", "(2, 3, 4)", "(3, 4, 5)");
  NEURONA_EXPECT_THROW_MSG(nr::matmul(nr::ones({2, 2, 3, 4}), nr::ones({3, 4, 5})), nr::ShapeError,
                           "matmul", "(2, 2, 3, 4)", "(3, 4, 5)");
}

TEST(Linalg, MatmulRejectsBadDtypesAndRanks) {
  NEURONA_EXPECT_THROW_MSG(
      nr::matmul(nr::ones({2, 3}, {.dtype = nr::int32}), nr::ones({3, 2}, {.dtype = nr::int32})),
      nr::ValueError, "matmul", "int32", "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::matmul(nr::ones({2, 3}), nr::ones({3, 2}, {.dtype = nr::float64})),
                           nr::ValueError, "matmul", "float32", "float64", "(2, 3)", "(3, 2)");
  NEURONA_EXPECT_THROW_MSG(nr::matmul(nr::constant(2.0), nr::ones({3})), nr::ShapeError, "matmul",
                           "()", "(3,)");
  NEURONA_EXPECT_THROW_MSG(nr::matmul(nr::ones({3}), nr::ones({3, 2}), {.transpose_a = true}),
                           nr::ValueError, "matmul", "transpose", "(3,)");
  NEURONA_EXPECT_THROW_MSG(nr::matmul(nr::ones({3}), nr::Tensor()), nr::ValueError, "matmul",
                           "undefined");
}

// ---- transpose ---------------------------------------------------------------------------

namespace {

// out[i] = x[the input element that output multi-index i comes from under perm].
std::vector<double> transpose_ref(const nr::Tensor& x, const std::vector<int>& perm) {
  const Dims& in = x.shape().dims();
  Dims out_dims;
  for (int p : perm) out_dims.push_back(in[static_cast<std::size_t>(p)]);
  const std::vector<double> v = x.to_vector<double>();
  std::vector<double> out;
  Dims idx(perm.size());
  for (std::int64_t i = 0; i < product(out_dims); ++i) {
    std::int64_t rem = i;
    for (std::size_t d = perm.size(); d-- > 0;) {
      idx[d] = rem % out_dims[d];
      rem /= out_dims[d];
    }
    Dims in_idx(in.size());
    for (std::size_t d = 0; d < perm.size(); ++d)
      in_idx[static_cast<std::size_t>(perm[d])] = idx[d];
    std::int64_t off = 0;
    for (std::size_t d = 0; d < in.size(); ++d) off = off * in[d] + in_idx[d];
    out.push_back(v[static_cast<std::size_t>(off)]);
  }
  return out;
}

nr::Shape permuted(const nr::Shape& s, const std::vector<int>& perm) {
  Dims d;
  for (int p : perm) d.push_back(s.dims()[static_cast<std::size_t>(p)]);
  return nr::Shape(d);
}

}  // namespace

TEST(Linalg, TransposeDefaultReversesAxes) {
  const std::vector<nr::Shape> shapes = {{},         {7},          {7, 13}, {1, 33},
                                         {2, 7, 13}, {2, 3, 5, 7}, {3, 0},  {1, 7, 0}};
  for (nr::DType t : {nr::float32, nr::int64, nr::uint8}) {
    for (const nr::Shape& s : shapes) {
      SCOPED_TRACE(s.str() + " " + std::string(nr::name(t)));
      const nr::Tensor x = random_tensor(s, t, 0, 100, 600);
      std::vector<int> perm;
      for (int d = s.rank() - 1; d >= 0; --d) perm.push_back(d);
      const nr::Tensor out = nr::transpose(x);
      EXPECT_EQ(out.shape(), permuted(s, perm));
      EXPECT_EQ(out.dtype(), t);
      EXPECT_TRUE(all_close(out, transpose_ref(x, perm), 0, 0));
    }
  }
}

TEST(Linalg, TransposeWithExplicitPermMatchesReference) {
  const std::vector<std::pair<nr::Shape, std::vector<int>>> cases = {
      {{2, 7, 13}, {1, 0, 2}},      {{2, 7, 13}, {2, 0, 1}},
      {{2, 7, 13}, {0, 2, 1}},      {{2, 7, 13}, {0, 1, 2}},
      {{1, 7, 33}, {2, 1, 0}},      {{2, 3, 5, 7}, {0, 2, 1, 3}},
      {{2, 3, 5, 7}, {3, 1, 0, 2}}, {{2, 3, 5, 7}, {1, 3, 2, 0}},
      {{2, 1, 5, 1}, {3, 2, 1, 0}}, {{7, 13}, {0, 1}},
      {{0, 3, 2}, {2, 0, 1}},
  };
  for (nr::DType t : {nr::float32, nr::float64}) {
    for (const auto& [s, perm] : cases) {
      SCOPED_TRACE(s.str() + " " + std::string(nr::name(t)));
      const nr::Tensor x = random_tensor(s, t, -1, 1, 601);
      const nr::Tensor out = nr::transpose(x, perm);
      EXPECT_EQ(out.shape(), permuted(s, perm));
      EXPECT_TRUE(all_close(out, transpose_ref(x, perm), 0, 0));
    }
  }
}

TEST(Linalg, TransposeAcceptsNegativeAxesInPerm) {
  const nr::Tensor x = random_tensor({2, 7, 13}, nr::float32, -1, 1, 602);
  const nr::Tensor out = nr::transpose(x, {-1, 0, -2});
  EXPECT_EQ(out.shape(), nr::Shape({13, 2, 7}));
  EXPECT_TRUE(all_close(out, transpose_ref(x, {2, 0, 1}), 0, 0));
}

TEST(Linalg, TransposeCopiesRatherThanAliases) {
  const nr::Tensor x = make_tensor({1, 2, 3, 4}, {2, 2});
  const nr::Tensor out = nr::transpose(x);
  x.data<float>()[1] = 42;
  EXPECT_TRUE(all_close(out, {1, 3, 2, 4}));
}

TEST(Linalg, TransposeRejectsBadPermsNamingShape) {
  const nr::Tensor x = nr::zeros({2, 3});
  NEURONA_EXPECT_THROW_MSG(nr::transpose(x, {0}), nr::ShapeError, "transpose", "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::transpose(x, {0, 1, 2}), nr::ShapeError, "transpose", "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::transpose(x, {1, 1}), nr::ValueError, "transpose", "twice",
                           "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::transpose(x, {0, -2}), nr::ValueError, "transpose", "twice",
                           "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::transpose(x, {0, 2}), nr::ShapeError, "transpose", "axis 2",
                           "(2, 3)");
  NEURONA_EXPECT_THROW_MSG(nr::transpose(nr::Tensor()), nr::ValueError, "transpose", "undefined");
}
