// Tensor: construction, views, copies, element access and TensorFlow-style printing.
#include <neurona/neurona.h>

#include "support/test_util.h"

namespace nr = neurona;

TEST(Tensor, ConstantFromNestedListsAsInTheNotebook) {
  const nr::Tensor t = nr::constant({{1, 2.}}, {1, 2});
  EXPECT_EQ(t.shape(), nr::Shape({1, 2}));
  EXPECT_EQ(t.dtype(), nr::float32);
  EXPECT_EQ(t.device(), nr::Device::cpu());
  EXPECT_EQ(t.to_vector<double>(), (std::vector<double>{1, 2}));
}

TEST(Tensor, ConstantInfersShapeFromNesting) {
  const nr::Tensor t = nr::constant({{{1, 2}, {3, 4}, {5, 6}}});
  EXPECT_EQ(t.shape(), nr::Shape({1, 3, 2}));
  EXPECT_EQ(t.to_vector<int>(), (std::vector<int>{1, 2, 3, 4, 5, 6}));
}

TEST(Tensor, ConstantWithScalarFillsShape) {
  const nr::Tensor t = nr::constant({7}, {2, 2}, {.dtype = nr::int32});
  EXPECT_EQ(t.to_vector<int>(), (std::vector<int>{7, 7, 7, 7}));
}

TEST(Tensor, ConstantRejectsRaggedListsAndWrongCounts) {
  NEURONA_EXPECT_THROW_MSG(nr::constant({{1, 2}, {3}}), nr::ValueError, "constant", "rectangular");
  NEURONA_EXPECT_THROW_MSG(nr::constant({1, 2, 3}, {2, 2}), nr::ShapeError, "constant", "3 values",
                           "(2, 2)");
}

TEST(Tensor, EmptyRejectsNegativeAndOverflowingShapes) {
  NEURONA_EXPECT_THROW_MSG(nr::Tensor::empty({-1, 2}), nr::ShapeError, "Tensor::empty", "(-1, 2)");
  const std::int64_t big = std::int64_t{1} << 62;
  NEURONA_EXPECT_THROW_MSG(nr::Tensor::empty({big, 4}), nr::ShapeError, "overflows");
  NEURONA_EXPECT_THROW_MSG(nr::Tensor::empty({big}, {.dtype = nr::float64}), nr::OutOfMemoryError,
                           "Tensor::empty");
#if !defined(__SANITIZE_ADDRESS__)  // ASan aborts on such a size rather than fail the malloc
  // What the allocator cannot give is named with the tensor's shape (2^61 bytes: within what
  // size_t addresses, beyond any x86-64 or AArch64 process's address space, overcommit or not).
  NEURONA_EXPECT_THROW_MSG(nr::Tensor::empty({std::int64_t{1} << 59}), nr::OutOfMemoryError,
                           "out of memory",
                           "a float32 tensor of shape (576460752303423488,) on cpu");
#endif
}

TEST(Tensor, ReshapeSharesStorageAndInfersMinusOne) {
  const nr::Tensor t = nr::arange(6);
  const nr::Tensor r = t.reshape({2, -1});
  EXPECT_EQ(r.shape(), nr::Shape({2, 3}));
  EXPECT_EQ(r.raw_data(), t.raw_data());
  NEURONA_EXPECT_THROW_MSG(t.reshape({4, -1}), nr::ShapeError, "reshape", "(6,)", "(4, -1)");
  NEURONA_EXPECT_THROW_MSG(t.reshape({5}), nr::ShapeError, "reshape", "(6,)", "(5,)");
  NEURONA_EXPECT_THROW_MSG(t.reshape({-1, -1}), nr::ShapeError, "more than one -1");
}

TEST(Tensor, SliceSharesStorageWithPythonBounds) {
  const nr::Tensor t = nr::arange(12).reshape({4, 3});
  const nr::Tensor s = t.slice(1, 3);
  EXPECT_EQ(s.shape(), nr::Shape({2, 3}));
  EXPECT_EQ(s.to_vector<int>(), (std::vector<int>{3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(static_cast<float*>(s.raw_data()), t.data<float>() + 3);
  EXPECT_EQ(t.slice(-1, 100).to_vector<int>(), (std::vector<int>{9, 10, 11}));
  EXPECT_EQ(t.slice(3, 1).shape(), nr::Shape({0, 3}));
  NEURONA_EXPECT_THROW_MSG(nr::constant(1.0).slice(0, 1), nr::ShapeError, "slice", "()");
}

TEST(Tensor, ItemConvertsAndRequiresOneElement) {
  EXPECT_FLOAT_EQ(nr::constant(2.5).item(), 2.5f);
  EXPECT_EQ(nr::constant({3.9}, {.dtype = nr::float64}).item<int>(), 3);
  NEURONA_EXPECT_THROW_MSG(nr::zeros({2}).item(), nr::ValueError, "item", "(2,)");
}

TEST(Tensor, ToSameDeviceReturnsSameHandle) {
  const nr::Tensor t = nr::ones({3});
  EXPECT_TRUE(t.to(nr::Device::cpu()).is_same(t));
}

TEST(Tensor, DataChecksElementType) {
  const nr::Tensor t = nr::ones({3});
  NEURONA_EXPECT_THROW_MSG(t.data<double>(), nr::ValueError, "float32", "float64");
}

TEST(Tensor, UndefinedTensorGivesClearErrors) {
  const nr::Tensor t;
  EXPECT_FALSE(t.defined());
  NEURONA_EXPECT_THROW_MSG(t.device(), nr::ValueError, "undefined");
  NEURONA_EXPECT_THROW_MSG(nr::add(t, t), nr::ValueError, "add", "undefined");
  EXPECT_EQ(t.str(), "nr.Tensor(<undefined>)");
}

TEST(TensorPrinting, MatchesTensorFlowForARow) {
  EXPECT_EQ(nr::constant({{0.5, 0.7, 0.2}}).str(),
            "nr.Tensor([[0.5 0.7 0.2]], shape=(1, 3), dtype=float32)");
}

TEST(TensorPrinting, IntegralFloatsPrintWithTrailingPoint) {
  EXPECT_EQ(nr::constant({1, 2, 3}).str(), "nr.Tensor([1. 2. 3.], shape=(3,), dtype=float32)");
}

TEST(TensorPrinting, ScalarsPrintAsNumpyScalars) {
  EXPECT_EQ(nr::constant(3.0).str(), "nr.Tensor(3.0, shape=(), dtype=float32)");
  EXPECT_EQ(nr::constant(6, {.dtype = nr::int32}).str(), "nr.Tensor(6, shape=(), dtype=int32)");
}

TEST(TensorPrinting, MatrixIsMultiLineWithAlignedColumns) {
  EXPECT_EQ(nr::constant({{1, 20}, {300, 4}}, {.dtype = nr::int32}).str(),
            "nr.Tensor(\n[[  1  20]\n [300   4]], shape=(2, 2), dtype=int32)");
  EXPECT_EQ(nr::constant({1.5, 10.25}).values_str(), "[ 1.5  10.25]");
}

TEST(TensorPrinting, ThreeDimensionsSeparateBlocksWithBlankLine) {
  EXPECT_EQ(nr::arange(8, {.dtype = nr::int64}).reshape({2, 2, 2}).values_str(),
            "[[[0 1]\n  [2 3]]\n\n [[4 5]\n  [6 7]]]");
}

TEST(TensorPrinting, LargeTensorsAreAbbreviated) {
  const std::string s = nr::arange(2000, {.dtype = nr::int32}).str();
  EXPECT_EQ(s, "nr.Tensor([   0    1    2 ... 1997 1998 1999], shape=(2000,), dtype=int32)");
  const std::string m = nr::zeros({100, 100}).values_str();
  EXPECT_NE(m.find("..."), std::string::npos);
  EXPECT_LT(m.size(), 300u);
}

TEST(TensorPrinting, AtMostEightDecimalsAsNumpy) {
  EXPECT_EQ(nr::constant({0.112172544, 0.5}).values_str(), "[0.11217254 0.5       ]");
}

TEST(TensorPrinting, SmallAndNonFiniteValues) {
  EXPECT_EQ(nr::constant({1e-5, 1.0}).values_str(), "[1.e-05 1.e+00]");
  const nr::Tensor nan = nr::divide(nr::zeros({1}), nr::zeros({1}));
  EXPECT_EQ(nan.values_str(), "[nan]");
  EXPECT_EQ(nr::zeros({0}).str(), "nr.Tensor([], shape=(0,), dtype=float32)");
}

TEST(Philox, MatchesRandom123KnownAnswers) {
  // Known-answer vectors of Philox4x32-10 from the Random123 distribution (kat_vectors).
  auto r = nr::philox4x32_10({{0, 0, 0, 0}}, 0, 0);
  EXPECT_EQ(r.v[0], 0x6627e8d5u);
  EXPECT_EQ(r.v[1], 0xe169c58du);
  EXPECT_EQ(r.v[2], 0xbc57ac4cu);
  EXPECT_EQ(r.v[3], 0x9b00dbd8u);
  r = nr::philox4x32_10({{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}}, 0xffffffffu,
                        0xffffffffu);
  EXPECT_EQ(r.v[0], 0x408f276du);
  EXPECT_EQ(r.v[1], 0x41c83b0eu);
  EXPECT_EQ(r.v[2], 0xa20bc7c6u);
  EXPECT_EQ(r.v[3], 0x6d5451fdu);
  r = nr::philox4x32_10({{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}}, 0xa4093822u,
                        0x299f31d0u);
  EXPECT_EQ(r.v[0], 0xd16cfe09u);
  EXPECT_EQ(r.v[1], 0x94fdccebu);
  EXPECT_EQ(r.v[2], 0x5001e420u);
  EXPECT_EQ(r.v[3], 0x24126ea1u);
}
