// The fused dense op (GEMM + bias + activation) against the separate ops.
#include <neurona/neurona.h>

#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::all_close;
using nr::testing::random_tensor;

TEST(DenseOp, FusedOpMatchesMatmulPlusBiasPlusActivation) {
  for (nr::DType dt : {nr::float32, nr::float64}) {
    for (auto [m, k, n] :
         {std::tuple<int, int, int>{7, 13, 5}, {1, 1, 1}, {64, 33, 17}, {0, 3, 2}}) {
      const nr::Tensor x = random_tensor({m, k}, dt, -1, 1, 1);
      const nr::Tensor w = random_tensor({k, n}, dt, -1, 1, 2);
      const nr::Tensor b = random_tensor({n}, dt, -1, 1, 3);
      const nr::Tensor z = nr::matmul(x, w) + b;
      EXPECT_TRUE(all_close(nr::dense(x, w, b), z.to_vector<double>(), 1e-6, 1e-6));
      EXPECT_TRUE(all_close(nr::dense(x, w, b, nr::FusedActivation::relu),
                            nr::relu(z).to_vector<double>(), 1e-6, 1e-6));
      EXPECT_TRUE(all_close(nr::dense(x, w, nr::Tensor(), nr::FusedActivation::relu),
                            nr::relu(nr::matmul(x, w)).to_vector<double>(), 1e-6, 1e-6));
    }
  }
}

TEST(DenseOp, BadShapesNameTheOpAndShapes) {
  NEURONA_EXPECT_THROW_MSG(nr::dense(nr::zeros({2, 3}), nr::zeros({4, 5}), nr::Tensor()),
                           nr::ShapeError, "dense", "(2, 3)", "(4, 5)");
  NEURONA_EXPECT_THROW_MSG(nr::dense(nr::zeros({2, 3}), nr::zeros({3, 5}), nr::zeros({4})),
                           nr::ShapeError, "dense", "bias", "(5,)", "(4,)");
  NEURONA_EXPECT_THROW_MSG(nr::dense(nr::zeros({2, 3, 1}), nr::zeros({3, 5}), nr::Tensor()),
                           nr::ShapeError, "dense", "(2, 3, 1)");
}

// The weight gradients in one call against a float64 loop, and the second derivative that a
// recording outer tape still gets (the one-call path is used only when no tape records).
TEST(DenseOp, KernelAndBiasGradientsInOneCall) {
  const nr::Tensor x = random_tensor({9, 4}, nr::float64, -1, 1, 5);
  const nr::Tensor g = random_tensor({9, 3}, nr::float64, -1, 1, 6);
  const auto [dk, db] = nr::kernels::dense_backward_weights_bias(x, g);
  const std::vector<double> xv = x.to_vector<double>(), gv = g.to_vector<double>();
  std::vector<double> want_dk(12, 0.0), want_db(3, 0.0);
  for (int i = 0; i < 9; ++i) {
    for (int c = 0; c < 3; ++c) {
      want_db[c] += gv[i * 3 + c];
      for (int r = 0; r < 4; ++r) want_dk[r * 3 + c] += xv[i * 4 + r] * gv[i * 3 + c];
    }
  }
  EXPECT_EQ(dk.shape(), nr::Shape({4, 3}));
  EXPECT_TRUE(all_close(dk.to_vector<double>(), want_dk, 1e-12, 1e-12));
  EXPECT_TRUE(all_close(db.to_vector<double>(), want_db, 1e-12, 1e-12));
  NEURONA_EXPECT_THROW_MSG(
      nr::kernels::dense_backward_weights_bias(nr::zeros({2, 3}), nr::zeros({4, 5})),
      nr::ShapeError, "dense_backward_weights_bias", "(2, 3)", "(4, 5)");

  // d/dw of (d loss / d b) through nested tapes: loss = sum(relu-free dense(x, w, b)^2).
  const nr::Tensor w = random_tensor({4, 3}, nr::float64, -1, 1, 7);
  const nr::Tensor b = random_tensor({3}, nr::float64, -1, 1, 8);
  nr::GradientTape outer;
  outer.watch(w);
  nr::Tensor db_sum;
  {
    nr::GradientTape inner;
    inner.watch(w);
    inner.watch(b);
    const nr::Tensor y = nr::dense(x, w, b);
    const auto grads = inner.gradient(nr::sum(y * y), {w, b});
    db_sum = nr::sum(grads[1]);
  }
  // d(sum_c sum_i 2 y_ic)/dw = 2 * sum_i x_i (per column): every column gets the same.
  const nr::Tensor second = outer.gradient(db_sum, w);
  std::vector<double> want(12, 0.0);
  for (int i = 0; i < 9; ++i) {
    for (int r = 0; r < 4; ++r) {
      for (int c = 0; c < 3; ++c) want[r * 3 + c] += 2 * xv[i * 4 + r];
    }
  }
  EXPECT_TRUE(all_close(second.to_vector<double>(), want, 1e-10, 1e-10));
}

TEST(DenseOp, FusedReluKeepsNaN) {
  // The fused epilogue applies the unfused relu's formula: a NaN row stays NaN.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (nr::DType dt : {nr::float32, nr::float64}) {
    SCOPED_TRACE(std::string(nr::name(dt)));
    const nr::Tensor x = nr::testing::make_tensor({nan, 1, 1, 1}, {2, 2}, dt);
    const nr::Tensor w = nr::testing::make_tensor({1, -1, 1, -1}, {2, 2}, dt);
    const nr::Tensor b = nr::testing::make_tensor({0.5, 0.5}, {2}, dt);
    EXPECT_TRUE(all_close(nr::dense(x, w, b, nr::FusedActivation::relu), {nan, nan, 2.5, 0}, 0));
    EXPECT_TRUE(
        all_close(nr::dense(x, w, nr::Tensor(), nr::FusedActivation::relu), {nan, nan, 2, 0}, 0));
  }
}
