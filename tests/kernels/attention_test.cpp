// The fused scaled dot-product attention's CPU kernels (kernels/attention.h) against a naive
// float64 reference that materialises the softmax (support/attention_reference.h): values, the
// log-sum-exp and the three gradients, with masks (broadcast, any dtype, rows entirely masked),
// Keras's causal mask with Tq != Tk, local windows (blocks skipped, and rows left without keys),
// grouped-query heads, a given scale, dropout, shapes that cross the kernels' blocks, 16-bit
// inputs, and the argument errors.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "neurona/kernels/attention.h"
#include "neurona/kernels/cpu/vector_math.h"
#include "neurona/kernels/math/attention_ops.h"
#include "neurona/neurona.h"
#include "support/attention_reference.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::AttentionCase;

namespace {

struct Inputs {
  std::vector<double> q, k, v, dout;
};

Inputs inputs(const AttentionCase& c, std::uint32_t seed) {
  using nr::testing::uniform_values;
  return {uniform_values(c.b * c.tq * c.n * c.h, -1.5, 1.5, seed),
          uniform_values(c.b * c.tk * c.nk * c.h, -1.5, 1.5, seed + 1),
          uniform_values(c.b * c.tk * c.nk * c.hv, -1, 1, seed + 2),
          uniform_values(c.b * c.tq * c.n * c.hv, -1, 1, seed + 3)};
}

// A random 0/1 mask of `shape` (broadcastable to (b, n, tq, tk)), and its broadcast copy.
struct Mask {
  nr::Tensor tensor;
  std::vector<std::uint8_t> full;
};

Mask random_mask(const AttentionCase& c, const nr::Shape& shape, double p_hide,
                 std::uint32_t seed) {
  const std::vector<double> u = nr::testing::uniform_values(shape.numel(), 0, 1, seed);
  std::vector<double> bits(u.size());
  for (std::size_t x = 0; x < u.size(); ++x) bits[x] = u[x] < p_hide ? 0.0 : 1.0;
  Mask m{nr::testing::make_tensor(bits, shape, nr::uint8), {}};
  std::int64_t dims[4] = {1, 1, 1, 1};
  for (int a = 0; a < shape.rank(); ++a) dims[4 - shape.rank() + a] = shape[a];
  const std::int64_t full[4] = {c.b, c.n, c.tq, c.tk};
  m.full.resize(static_cast<std::size_t>(c.b * c.n * c.tq * c.tk));
  for (std::int64_t e = 0; e < static_cast<std::int64_t>(m.full.size()); ++e) {
    std::int64_t rest = e, src = 0, stride = 1;
    std::int64_t idx[4];
    for (int a = 3; a >= 0; --a) {
      idx[a] = rest % full[a];
      rest /= full[a];
    }
    for (int a = 3; a >= 0; --a) {
      if (dims[a] != 1) src += idx[a] * stride;
      stride *= dims[a];
    }
    m.full[static_cast<std::size_t>(e)] =
        static_cast<std::uint8_t>(bits[static_cast<std::size_t>(src)]);
  }
  return m;
}

std::string describe(const AttentionCase& c) {
  return nr::detail::str(
      "B", c.b, " Tq", c.tq, " Tk", c.tk, " N", c.n, " Nk", c.nk, " H", c.h, " Hv", c.hv,
      c.causal ? " causal" : "", c.mask.empty() ? "" : " mask", c.dropout > 0 ? " dropout" : "",
      c.window_left >= 0 ? nr::detail::str(" window (", c.window_left, ", ", c.window_right, ")")
                         : std::string());
}

nr::kernels::AttentionOptions options(const AttentionCase& c, const nr::Tensor& mask) {
  nr::kernels::AttentionOptions o;
  o.mask = mask;
  o.is_causal = c.causal;
  if (c.window_left >= 0 || c.window_right >= 0) {
    o.local_window_size = std::pair{c.window_left, c.window_right};
  }
  if (c.scale != 0) o.scale = c.scale;
  o.dropout_rate = c.dropout;
  o.dropout_key = c.key;
  return o;
}

// Runs the kernels in `dtype` and compares everything with the reference.
void check_case(const AttentionCase& c, const nr::Tensor& mask, nr::DType dtype, double tol,
                std::uint32_t seed = 7) {
  SCOPED_TRACE(describe(c) + " " + nr::detail::str(dtype));
  const Inputs in = inputs(c, seed);
  const nr::testing::AttentionReference ref = attention_reference(c, in.q, in.k, in.v, in.dout);
  using nr::testing::make_tensor;
  const nr::Tensor q = make_tensor(in.q, {c.b, c.tq, c.n, c.h}, dtype);
  const nr::Tensor k = make_tensor(in.k, {c.b, c.tk, c.nk, c.h}, dtype);
  const nr::Tensor v = make_tensor(in.v, {c.b, c.tk, c.nk, c.hv}, dtype);
  const nr::Tensor dout = make_tensor(in.dout, {c.b, c.tq, c.n, c.hv}, dtype);
  const nr::kernels::AttentionOptions o = options(c, mask);
  const nr::kernels::AttentionForward f = nr::kernels::attention_forward(q, k, v, o);
  EXPECT_EQ(f.out.shape(), nr::Shape({c.b, c.tq, c.n, c.hv}));
  EXPECT_EQ(f.out.dtype(), dtype);
  EXPECT_EQ(f.lse.shape(), nr::Shape({c.b, c.n, c.tq}));
  EXPECT_TRUE(all_close(f.out, ref.out, tol, tol)) << "out";
  // The lse: equal, or both -inf (a row entirely masked).
  const std::vector<double> lse = f.lse.to_vector<double>();
  for (std::size_t r = 0; r < lse.size(); ++r) {
    if (std::isinf(ref.lse[r])) {
      EXPECT_TRUE(std::isinf(lse[r]) && lse[r] < 0) << "row " << r << ": " << lse[r];
    } else {
      EXPECT_NEAR(lse[r], ref.lse[r], tol * (1 + std::abs(ref.lse[r]))) << "row " << r;
    }
  }
  const nr::kernels::AttentionGradients g =
      nr::kernels::attention_backward(dout, q, k, v, f.out, f.lse, o);
  EXPECT_TRUE(all_close(g.dquery, ref.dq, tol, tol)) << "dquery";
  EXPECT_TRUE(all_close(g.dkey, ref.dk, tol, tol)) << "dkey";
  EXPECT_TRUE(all_close(g.dvalue, ref.dv, tol, tol)) << "dvalue";
}

void check_both(const AttentionCase& c, const nr::Tensor& mask = {}) {
  check_case(c, mask, nr::float64, 1e-10);
  check_case(c, mask, nr::float32, 2e-5);
}

}  // namespace

TEST(AttentionKernels, MatchesMaterialisedSoftmax) {
  check_both({2, 5, 7, 2, 2, 3, 4});
  check_both({1, 1, 1, 1, 1, 1, 1});
}

TEST(AttentionKernels, CrossesQueryAndKeyBlocks) {
  // 70 query rows and 130 keys: three query blocks and three key blocks, the last ones partial.
  check_both({1, 70, 130, 2, 1, 16, 8});
}

TEST(AttentionKernels, CausalIsKerasLowerTriangleAlignedTopLeft) {
  for (const auto& [tq, tk] : {std::pair{9, 9}, {5, 9}, {9, 5}, {70, 70}, {100, 40}}) {
    AttentionCase c{2, tq, tk, 2, 2, 8, 8};
    c.causal = true;
    check_both(c);
  }
}

TEST(AttentionKernels, CausalRowZeroAttendsOnlyKeyZero) {
  AttentionCase c{1, 3, 6, 1, 1, 2, 1};
  const std::vector<double> v{1, 2, 3, 4, 5, 6};
  const nr::Tensor q = nr::testing::random_tensor({1, 3, 1, 2}, nr::float64);
  const nr::Tensor k = nr::testing::random_tensor({1, 6, 1, 2}, nr::float64, -2, 2, 3);
  const nr::Tensor out =
      nr::kernels::attention_forward(q, k, nr::testing::make_tensor(v, {1, 6, 1, 1}, nr::float64),
                                     {.is_causal = true})
          .out;
  EXPECT_DOUBLE_EQ(out.to_vector<double>()[0], 1.0);
  (void)c;
}

TEST(AttentionKernels, GroupedQueryHeadsShareKeyHeads) {
  check_both({2, 6, 9, 4, 2, 5, 3});
  check_both({1, 6, 9, 3, 1, 5, 3});  // multi-query
  AttentionCase c{1, 40, 70, 4, 2, 8, 8};
  c.causal = true;
  check_both(c);
}

TEST(AttentionKernels, GivenScale) {
  AttentionCase c{1, 4, 6, 2, 2, 3, 3};
  c.scale = 0.9;
  check_both(c);
}

TEST(AttentionKernels, MasksBroadcastFromAnyRankAndDtype) {
  const AttentionCase base{2, 6, 9, 2, 2, 4, 3};
  for (const nr::Shape& shape : {nr::Shape{2, 2, 6, 9}, nr::Shape{2, 1, 1, 9}, nr::Shape{6, 9},
                                 nr::Shape{9}, nr::Shape{2, 1, 6, 1}}) {
    AttentionCase c = base;
    Mask m = random_mask(c, shape, 0.3, 5);
    c.mask = m.full;
    SCOPED_TRACE(nr::detail::str("mask shape ", shape));
    check_both(c, m.tensor);
    // Any dtype, nonzero = attend.
    check_case(c, nr::cast(m.tensor, nr::float32) * 2.5, nr::float64, 1e-10);
  }
}

TEST(AttentionKernels, EntirelyMaskedRowsAttendEveryKeyUniformlyAsKeras) {
  // Batch 1's keys all masked (a padding mask over keys): its rows average every value.
  AttentionCase c{2, 5, 7, 2, 2, 3, 4};
  std::vector<double> bits(14, 1.0);
  for (int j = 7; j < 14; ++j) bits[static_cast<std::size_t>(j)] = 0.0;
  bits[2] = 0.0;
  const nr::Tensor mask = nr::testing::make_tensor(bits, {2, 1, 1, 7}, nr::uint8);
  c.mask.assign(static_cast<std::size_t>(2 * 2 * 5 * 7), 1);
  for (std::size_t e = 0; e < c.mask.size(); ++e) {
    const std::size_t b = e / (2 * 5 * 7), j = e % 7;
    c.mask[e] = static_cast<std::uint8_t>(bits[b * 7 + j]);
  }
  check_both(c, mask);
  // With the causal mask too, the uniform rows still count the causally hidden keys.
  c.causal = true;
  for (std::size_t e = 0; e < c.mask.size(); ++e) {
    const std::size_t b = e / (2 * 5 * 7), i = (e / 7) % 5, j = e % 7;
    c.mask[e] = static_cast<std::uint8_t>(bits[b * 7 + j]);
    (void)i;
  }
  check_both(c, mask);
  // The uniform average itself.
  const Inputs in = inputs(c, 7);
  const nr::Tensor v = nr::testing::make_tensor(in.v, {2, 7, 2, 4}, nr::float64);
  const nr::Tensor out =
      nr::kernels::attention_forward(nr::testing::make_tensor(in.q, {2, 5, 2, 3}, nr::float64),
                                     nr::testing::make_tensor(in.k, {2, 7, 2, 3}, nr::float64), v,
                                     {.mask = mask})
          .out;
  double mean = 0;
  for (int j = 0; j < 7; ++j) mean += in.v[static_cast<std::size_t>(((1 * 7 + j) * 2 + 0) * 4)];
  EXPECT_NEAR(out.to_vector<double>()[static_cast<std::size_t>(((1 * 5 + 3) * 2 + 0) * 4)],
              mean / 7, 1e-12);
}

TEST(AttentionKernels, MaskAndCausalTogether) {
  AttentionCase c{2, 70, 70, 2, 1, 8, 8};
  c.causal = true;
  Mask m = random_mask(c, {2, 1, 1, 70}, 0.2, 9);
  c.mask = m.full;
  check_both(c, m.tensor);
}

TEST(AttentionKernels, LocalWindowIsABandOfKeys) {
  // Self-attention over many blocks (kQ 32, kK 64): a symmetric band (MultiHeadAttention's
  // sliding_window 21), an asymmetric one, causal with a left window, a band of one key, and
  // bands whose edges fall next to the blocks' (33 and 1: an off-by-one in the band's block
  // range skips a block that holds a visible key).
  for (const auto& [left, right, causal] : {std::tuple{20, 20, false},
                                            {3, 90, false},
                                            {40, 0, true},
                                            {0, 0, false},
                                            {33, 33, false},
                                            {1, 1, false},
                                            {33, 0, true},
                                            {64, 31, false}}) {
    AttentionCase c{2, 200, 200, 2, 1, 8, 8};
    c.window_left = left;
    c.window_right = right;
    c.causal = causal;
    check_both(c);
  }
  // Tq != Tk both ways, with grouped heads and dropout.
  AttentionCase wide{1, 70, 300, 4, 2, 8, 4};
  wide.window_left = 10;
  wide.window_right = 100;
  wide.dropout = 0.2;
  wide.key = {7, 1};
  check_both(wide);
  // Rows past tk + window_left see no key: nothing is skipped, and they attend every key
  // uniformly, as under Keras's dense band mask.
  AttentionCase empty_rows{1, 150, 40, 2, 2, 8, 8};
  empty_rows.window_left = 30;
  empty_rows.window_right = 2;
  check_both(empty_rows);
  // With a mask: both apply.
  AttentionCase masked{2, 100, 100, 2, 2, 8, 8};
  masked.window_left = 15;
  masked.window_right = 15;
  masked.causal = true;
  Mask m = random_mask(masked, {2, 1, 1, 100}, 0.2, 11);
  masked.mask = m.full;
  check_both(masked, m.tensor);
}

// attention_unhidden_keys is attention_visible's causal and window rules (no explicit mask) as
// a range: for every query and every block of keys, the keys in the range are exactly the
// visible ones, with Tq above, equal to and below Tk, windows on either side or both, and rows
// the window leaves no key.
TEST(AttentionKernels, UnhiddenKeysAreTheVisibleOnes) {
  for (const bool causal : {false, true}) {
    for (const auto& [left, right] : std::vector<std::pair<std::int64_t, std::int64_t>>{
             {-1, -1}, {3, -1}, {-1, 2}, {2, 0}, {0, 4}, {5, 5}}) {
      for (const auto& [tq, tk] :
           std::vector<std::pair<std::int64_t, std::int64_t>>{{9, 9}, {12, 7}, {5, 11}}) {
        nr::kernels::AttentionGeometry g;
        g.tq = tq;
        g.tk = tk;
        g.causal = causal;
        g.window_left = left;
        g.window_right = right;
        SCOPED_TRACE(nr::detail::str(causal ? "causal" : "", " window (", left, ", ", right, ") Tq",
                                     tq, " Tk", tk));
        for (std::int64_t i = 0; i < tq; ++i) {
          for (std::int64_t j0 = 0; j0 <= tk; ++j0) {
            for (std::int64_t j1 = j0; j1 <= tk; ++j1) {
              const nr::kernels::AttentionKeyRange r =
                  nr::kernels::attention_unhidden_keys(g, i, j0, j1);
              ASSERT_LE(j0, r.begin);
              ASSERT_LE(r.begin, r.end);
              ASSERT_LE(r.end, j1);
              for (std::int64_t j = j0; j < j1; ++j) {
                ASSERT_EQ(j >= r.begin && j < r.end,
                          nr::kernels::attention_visible(g, nullptr, 0, 0, i, j))
                    << "query " << i << ", key " << j << " of [" << j0 << ", " << j1 << ")";
              }
            }
          }
        }
      }
    }
  }
}

TEST(AttentionKernels, LocalWindowEqualsItsDenseBandMask) {
  // The window in the kernels (blocks skipped) gives what its band as an explicit mask gives.
  const nr::Tensor q = nr::testing::random_tensor({1, 260, 2, 8}, nr::float32, -2, 2, 1);
  const nr::Tensor k = nr::testing::random_tensor({1, 260, 2, 8}, nr::float32, -2, 2, 2);
  const nr::Tensor v = nr::testing::random_tensor({1, 260, 2, 8}, nr::float32, -1, 1, 3);
  const nr::Tensor dout = nr::testing::random_tensor({1, 260, 2, 8}, nr::float32, -1, 1, 4);
  std::vector<double> band(260 * 260);
  for (int i = 0; i < 260; ++i) {
    for (int j = 0; j < 260; ++j)
      band[static_cast<std::size_t>(i * 260 + j)] = i - j < 33 && j <= i;
  }
  const nr::kernels::AttentionOptions windowed{.is_causal = true,
                                               .local_window_size = std::pair{32, 0}};
  const nr::kernels::AttentionOptions dense{
      .mask = nr::testing::make_tensor(band, {260, 260}, nr::uint8)};
  const auto fw = nr::kernels::attention_forward(q, k, v, windowed);
  const auto fd = nr::kernels::attention_forward(q, k, v, dense);
  EXPECT_TRUE(all_close(fw.out, fd.out.to_vector<double>(), 1e-6, 1e-5));
  const auto gw = nr::kernels::attention_backward(dout, q, k, v, fw.out, fw.lse, windowed);
  const auto gd = nr::kernels::attention_backward(dout, q, k, v, fd.out, fd.lse, dense);
  EXPECT_TRUE(all_close(gw.dquery, gd.dquery.to_vector<double>(), 1e-6, 1e-5));
  EXPECT_TRUE(all_close(gw.dkey, gd.dkey.to_vector<double>(), 1e-6, 1e-5));
  EXPECT_TRUE(all_close(gw.dvalue, gd.dvalue.to_vector<double>(), 1e-6, 1e-5));
}

TEST(AttentionKernels, DropoutDropsThePhiloxElementsAndScalesTheRest) {
  AttentionCase c{2, 33, 70, 2, 1, 8, 4};
  c.dropout = 0.3;
  c.key = {1234, 5};
  check_both(c);
  c.causal = true;
  check_both(c);
  // About 30% dropped: the reference's own count.
  std::int64_t dropped = 0;
  const std::int64_t total = c.b * c.n * c.tq * c.tk;
  for (std::int64_t e = 0; e < total; ++e) {
    dropped += nr::testing::reference_dropout(c, static_cast<std::uint64_t>(e)) == 0.0;
  }
  EXPECT_NEAR(static_cast<double>(dropped) / static_cast<double>(total), 0.3, 0.03);
}

// The float32 kernels give the same bits with one thread as with two (the tasks are shared out
// differently; nothing a task computes may depend on that), and the float64 reference's values
// within float32's tolerance (check_both above). With one (batch, key head) pair and work above
// the parallel grain, two threads take the backward pass's two passes and one thread its one
// pass (kernels/cpu/attention.cpp's one_pass_pays), which must agree too: causal with dropout
// (the general loop), causal without (the range loop), windows whose edges fall inside and
// across the blocks (the two paths visit different pairs of blocks there), Tq != Tk, grouped
// heads. Compared bit for bit (a -0 for a +0 would count).
TEST(AttentionKernels, Float32GivesTheSameBitsWithOneOrTwoThreads) {
  struct Variant {
    AttentionCase c;
    bool causal;
    double dropout;
    std::int64_t left, right;
  };
  const std::vector<Variant> variants{
      {{2, 200, 190, 4, 2, 32, 16}, true, 0.2, -1, -1},  // two pairs: the one pass both times
      {{1, 200, 190, 2, 1, 32, 16}, true, 0.2, -1, -1},
      {{1, 200, 190, 2, 1, 32, 16}, true, 0, -1, -1},
      {{1, 230, 230, 2, 1, 32, 16}, true, 0, 40, 0},
      {{1, 230, 230, 1, 1, 48, 24}, false, 0, 3, 90},
      {{1, 150, 260, 4, 1, 32, 32}, false, 0.1, 70, 33},
      {{1, 260, 150, 2, 1, 32, 16}, true, 0, 100, 0},
  };
  for (const Variant& variant : variants) {
    AttentionCase c = variant.c;
    c.causal = variant.causal;
    c.dropout = variant.dropout;
    c.key = {77, 3};
    c.window_left = variant.left;
    c.window_right = variant.right;
    SCOPED_TRACE(describe(c));
    const Inputs in = inputs(c, 11);
    using nr::testing::make_tensor;
    const nr::Tensor q = make_tensor(in.q, {c.b, c.tq, c.n, c.h}, nr::float32);
    const nr::Tensor k = make_tensor(in.k, {c.b, c.tk, c.nk, c.h}, nr::float32);
    const nr::Tensor v = make_tensor(in.v, {c.b, c.tk, c.nk, c.hv}, nr::float32);
    const nr::Tensor dout = make_tensor(in.dout, {c.b, c.tq, c.n, c.hv}, nr::float32);
    const nr::kernels::AttentionOptions o = options(c, {});
    // Each result's bits.
    const auto run = [&](int threads) {
      const int before = omp_get_max_threads();
      omp_set_num_threads(threads);
      const nr::kernels::AttentionForward f = nr::kernels::attention_forward(q, k, v, o);
      const nr::kernels::AttentionGradients g =
          nr::kernels::attention_backward(dout, q, k, v, f.out, f.lse, o);
      omp_set_num_threads(before);
      std::vector<std::vector<std::uint32_t>> bits;
      for (const nr::Tensor* t : {&f.out, &f.lse, &g.dquery, &g.dkey, &g.dvalue}) {
        const std::vector<float> values = t->to_vector<float>();
        bits.emplace_back(values.size());
        std::memcpy(bits.back().data(), values.data(), values.size() * sizeof(float));
      }
      return bits;
    };
    EXPECT_EQ(run(1), run(2));
  }
}

// The CPU kernels' float32 exp of a row (glibc's SIMD expf in padded blocks): a logit's value
// does not depend on its place in the row or on the row's length (a scalar remainder would give
// some of them the scalar expf's rounding), hidden keys give +0 exactly, NaN stays NaN, a row
// whose maximum is the hidden logit gives 1 for its hidden keys (exp(0)), as attention_exp.
TEST(AttentionKernels, RowExpIsTheSameWhateverThePlace) {
  const std::vector<double> u = nr::testing::uniform_values(130, -30, 0, 21);
  std::vector<float> row(u.begin(), u.end());
  const float hidden = nr::kernels::attention_hidden_logit<float>();
  row[7] = hidden;
  row[129] = hidden;
  row[40] = std::numeric_limits<float>::quiet_NaN();
  const float shift = -0.25f;
  std::vector<float> whole(row.size());
  nr::kernels::cpu::vector_attention_exp(row.data(), shift, whole.data(), 130);
  std::vector<float> shifted(row.size() + 5, 0.0f);
  std::copy(row.begin(), row.end(), shifted.begin() + 5);
  nr::kernels::cpu::vector_attention_exp(shifted.data(), shift, shifted.data(), 135);
  for (std::size_t j = 0; j < row.size(); ++j) {
    float alone = 0;
    nr::kernels::cpu::vector_attention_exp(&row[j], shift, &alone, 1);
    if (j == 40) {
      EXPECT_TRUE(std::isnan(whole[j]) && std::isnan(alone) && std::isnan(shifted[j + 5]));
      continue;
    }
    EXPECT_EQ(whole[j], alone) << j;
    EXPECT_EQ(whole[j], shifted[j + 5]) << j;
    EXPECT_NEAR(whole[j], nr::kernels::attention_exp(row[j] - shift), 4e-7 * whole[j]) << j;
  }
  EXPECT_EQ(whole[7], 0.0f);
  EXPECT_FALSE(std::signbit(whole[7]));
  EXPECT_EQ(whole[129], 0.0f);
  float one = 0;
  nr::kernels::cpu::vector_attention_exp(&hidden, hidden, &one, 1);
  EXPECT_EQ(one, 1.0f);
}

TEST(AttentionKernels, HalfInputsComputeInFloat32) {
  const AttentionCase c{1, 20, 30, 2, 1, 16, 16};
  check_case(c, {}, nr::DType::bfloat16, 3e-2);
  check_case(c, {}, nr::DType::float16, 5e-3);
}

TEST(AttentionKernels, EmptyKeysGiveZeros) {
  const nr::Tensor q = nr::zeros({1, 3, 1, 4});
  const nr::Tensor k = nr::zeros({1, 0, 1, 4});
  const nr::Tensor v = nr::zeros({1, 0, 1, 2});
  const nr::kernels::AttentionForward f = nr::kernels::attention_forward(q, k, v);
  EXPECT_EQ(f.out.shape(), nr::Shape({1, 3, 1, 2}));
  EXPECT_TRUE(all_close(f.out, std::vector<double>(6, 0.0)));
}

TEST(AttentionKernels, ErrorsNameTheOpTheArgumentAndTheShapes) {
  const nr::Tensor q = nr::zeros({2, 5, 4, 8});
  const nr::Tensor k = nr::zeros({2, 7, 2, 8});
  const nr::Tensor v = nr::zeros({2, 7, 2, 3});
  using nr::kernels::attention_forward;
  NEURONA_EXPECT_THROW_MSG(attention_forward(nr::zeros({5, 4, 8}), k, v), nr::ShapeError,
                           "dot_product_attention", "query", "(5, 4, 8)");
  NEURONA_EXPECT_THROW_MSG(attention_forward(q, nr::zeros({2, 7, 2, 6}), v), nr::ShapeError,
                           "dot_product_attention", "head_dim", "(2, 7, 2, 6)");
  NEURONA_EXPECT_THROW_MSG(attention_forward(q, nr::zeros({2, 7, 3, 8}), nr::zeros({2, 7, 3, 3})),
                           nr::ShapeError, "multiple", "(2, 5, 4, 8)", "(2, 7, 3, 8)");
  NEURONA_EXPECT_THROW_MSG(attention_forward(q, k, nr::zeros({2, 6, 2, 3})), nr::ShapeError,
                           "key and value", "(2, 6, 2, 3)");
  NEURONA_EXPECT_THROW_MSG(attention_forward(nr::zeros({2, 5, 4, 0}), nr::zeros({2, 7, 2, 0}), v),
                           nr::ShapeError, "dot_product_attention", "head_dim", "above 0",
                           "(2, 5, 4, 0)");
  NEURONA_EXPECT_THROW_MSG(attention_forward(q, k, v, {.mask = nr::ones({5, 6})}), nr::ShapeError,
                           "mask", "(5, 6)", "(2, 4, 5, 7)");
  NEURONA_EXPECT_THROW_MSG(attention_forward(q, k, v, {.dropout_rate = 1.0}), nr::ValueError,
                           "dropout", "[0, 1)");
  NEURONA_EXPECT_THROW_MSG(attention_forward(q, nr::cast(k, nr::float64), v), nr::Error, "key",
                           "float64");
  NEURONA_EXPECT_THROW_MSG(attention_forward(q, k, v, {.local_window_size = std::pair{-1, 3}}),
                           nr::ValueError, "dot_product_attention", "local_window_size", "(-1, 3)");
  NEURONA_EXPECT_THROW_MSG(
      attention_forward(nr::cast(q, nr::int32), nr::cast(k, nr::int32), nr::cast(v, nr::int32)),
      nr::ValueError, "dot_product_attention", "query", "int32");
  const nr::kernels::AttentionForward f = attention_forward(q, k, v);
  NEURONA_EXPECT_THROW_MSG(
      nr::kernels::attention_backward(f.out, q, k, v, f.out, nr::zeros({2, 4, 6})), nr::ShapeError,
      "dot_product_attention_backward", "lse", "(2, 4, 6)", "(2, 4, 5)");
  NEURONA_EXPECT_THROW_MSG(
      nr::kernels::attention_backward(nr::zeros({2, 5, 4, 2}), q, k, v, f.out, f.lse),
      nr::ShapeError, "grad_out", "(2, 5, 4, 2)", "(2, 5, 4, 3)");
}
