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
