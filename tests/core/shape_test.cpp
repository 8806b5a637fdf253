// Shape: element counts, overflow, axes, printing and broadcasting.
#include <neurona/neurona.h>

#include "support/test_util.h"

namespace nr = neurona;

TEST(Shape, PrintsAsKeras) {
  EXPECT_EQ(nr::Shape({4, 5}).str(), "(4, 5)");
  EXPECT_EQ(nr::Shape({3}).str(), "(3,)");
  EXPECT_EQ(nr::Shape().str(), "()");
}

TEST(Shape, NumelOfScalarIsOneAndOfEmptyIsZero) {
  EXPECT_EQ(nr::Shape().numel(), 1);
  EXPECT_EQ(nr::Shape({2, 0, 3}).numel(), 0);
  EXPECT_EQ(nr::Shape({2, 3, 4}).numel(), 24);
}

TEST(Shape, NegativeDimensionIsShapeError) {
  NEURONA_EXPECT_THROW_MSG(nr::Shape({2, -3}).numel(), nr::ShapeError, "negative", "(2, -3)");
}

TEST(Shape, OverflowingElementCountIsShapeError) {
  const std::int64_t big = std::int64_t{1} << 40;
  NEURONA_EXPECT_THROW_MSG(nr::Shape({big, big}).numel(), nr::ShapeError, "overflows");
  // A zero anywhere makes the product well defined.
  EXPECT_EQ(nr::Shape({big, big, 0}).numel(), 0);
}

TEST(Shape, NegativeIndexCountsFromTheEnd) {
  const nr::Shape s{2, 3, 4};
  EXPECT_EQ(s[-1], 4);
  EXPECT_EQ(s[0], 2);
  NEURONA_EXPECT_THROW_MSG(s[3], nr::ShapeError, "out of range", "(2, 3, 4)");
}

TEST(Shape, NormalizeAxisNamesOpAndShape) {
  const nr::Shape s{2, 3};
  EXPECT_EQ(s.normalize_axis(-1, "sum"), 1);
  NEURONA_EXPECT_THROW_MSG(s.normalize_axis(2, "sum"), nr::ShapeError, "sum", "axis 2", "(2, 3)");
}

TEST(Shape, BroadcastFollowsNumpyRules) {
  EXPECT_EQ(nr::broadcast_shapes({4, 1, 3}, {5, 1}, "add"), nr::Shape({4, 5, 3}));
  EXPECT_EQ(nr::broadcast_shapes({}, {2, 2}, "add"), nr::Shape({2, 2}));
  EXPECT_EQ(nr::broadcast_shapes({0, 1}, {1, 3}, "add"), nr::Shape({0, 3}));
  NEURONA_EXPECT_THROW_MSG(nr::broadcast_shapes({2, 3}, {4}, "add"), nr::ShapeError, "add",
                           "(2, 3)", "(4,)");
}

TEST(DType, NamesAndSizes) {
  EXPECT_EQ(nr::name(nr::float32), "float32");
  EXPECT_EQ(nr::size_of(nr::float64), 8u);
  EXPECT_EQ(nr::size_of(nr::uint8), 1u);
  EXPECT_EQ(nr::dtype_from_string("int64"), nr::int64);
  NEURONA_EXPECT_THROW_MSG(nr::dtype_from_string("float8"), nr::ValueError, "float8",
                           "float32, float64, bfloat16, float16, int32, int64, uint8");
}
