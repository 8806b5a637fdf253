// bfloat16 and float16: the conversions against a reference written here (the nearest
// representable value by binary search, ties to even), exhaustively where the domain is small,
// and the dtype's place in Tensor, parsing and .npy files.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "support/test_util.h"

namespace nr = neurona;

namespace {

// Every finite value of a 16-bit type, ascending, with its bits; from_float is checked
// against the nearest of them.
template <typename H>
struct Table {
  std::vector<double> values;
  std::vector<std::uint16_t> bits;
  double max_finite = 0;
  Table() {
    std::vector<std::pair<double, std::uint16_t>> all;
    for (std::uint32_t b = 0; b < 65536; ++b) {
      const float f = static_cast<float>(H::from_bits(static_cast<std::uint16_t>(b)));
      if (std::isfinite(f) && !(f == 0 && std::signbit(f))) all.emplace_back(f, b);
    }
    std::sort(all.begin(), all.end());
    for (auto [v, b] : all) {
      values.push_back(v);
      bits.push_back(b);
    }
    max_finite = values.back();
  }

  // The nearest representable value, ties to the even bit pattern; beyond the largest finite
  // value by half an ulp or more: infinity (IEEE's rounding of an overflow).
  std::uint16_t nearest(float f, std::uint16_t inf_bits) const {
    const double x = std::fabs(static_cast<double>(f));
    const std::uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    const double ulp_top = values.back() - values[values.size() - 2];
    if (x >= max_finite + ulp_top / 2) return static_cast<std::uint16_t>(inf_bits | sign);
    auto it = std::lower_bound(values.begin(), values.end(), x);
    std::size_t hi = static_cast<std::size_t>(it - values.begin());
    if (hi == values.size()) hi = values.size() - 1;
    std::size_t best = hi;
    if (hi > 0) {
      const double dl = x - values[hi - 1], dh = values[hi] - x;
      if (dl < dh || (dl == dh && (bits[hi - 1] & 1) == 0)) best = hi - 1;
    }
    return static_cast<std::uint16_t>(bits[best] | sign);
  }
};

template <typename H>
void check_round_trip() {
  for (std::uint32_t b = 0; b < 65536; ++b) {
    const auto h = H::from_bits(static_cast<std::uint16_t>(b));
    const float f = static_cast<float>(h);
    const H back(f);
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(static_cast<float>(back))) << std::hex << b;
    } else {
      ASSERT_EQ(back.bits, b) << std::hex << b << " -> " << f;
    }
  }
}

template <typename H>
void check_against_nearest(std::uint16_t inf_bits, float lo_exp, float hi_exp) {
  const Table<H> table;
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> exponent(lo_exp, hi_exp);
  std::uniform_int_distribution<int> coin(0, 1);
  std::vector<float> inputs;
  for (int i = 0; i < 20000; ++i) {
    const float f = std::exp2(exponent(gen)) * (coin(gen) ? 1.0f : -1.0f);
    inputs.push_back(f);
  }
  // Every midpoint between neighbours (the ties) and one float either side of it.
  for (std::size_t i = 0; i + 1 < table.values.size(); i += 7) {
    const auto mid = static_cast<float>((table.values[i] + table.values[i + 1]) / 2);
    inputs.push_back(mid);
    inputs.push_back(std::nextafter(mid, 0.0f));
    inputs.push_back(std::nextafter(mid, std::numeric_limits<float>::infinity()));
  }
  inputs.push_back(std::numeric_limits<float>::max());
  inputs.push_back(std::numeric_limits<float>::denorm_min());
  inputs.push_back(0.0f);
  for (float f : inputs) {
    ASSERT_EQ(H(f).bits, table.nearest(f, inf_bits)) << f;
  }
}

TEST(Half, BFloat16EveryValueSurvivesTheRoundTrip) {
  check_round_trip<nr::bfloat16>();
}

TEST(Half, Float16EveryValueSurvivesTheRoundTrip) {
  check_round_trip<nr::float16>();
}

TEST(Half, BFloat16RoundsToTheNearestEven) {
  check_against_nearest<nr::bfloat16>(0x7F80, -140, 128);
  // The two ties next to 1: 1 + 2^-8 rounds down to 1 (even), 1 + 3 * 2^-8 up to 1 + 2^-6.
  EXPECT_EQ(nr::bfloat16(std::bit_cast<float>(0x3F808000u)).bits, 0x3F80);
  EXPECT_EQ(nr::bfloat16(std::bit_cast<float>(0x3F818000u)).bits, 0x3F82);
  EXPECT_EQ(nr::bfloat16(std::bit_cast<float>(0x3F808001u)).bits, 0x3F81);
}

TEST(Half, Float16RoundsToTheNearestEvenWithGradualUnderflow) {
  check_against_nearest<nr::float16>(0x7C00, -30, 17);
  EXPECT_EQ(nr::float16(65504.0f).bits, 0x7BFF);
  EXPECT_EQ(nr::float16(65519.0f).bits, 0x7BFF);
  EXPECT_EQ(nr::float16(65520.0f).bits, 0x7C00);  // the tie with 65536 overflows
  EXPECT_EQ(nr::float16(std::ldexp(1.0f, -24)).bits, 0x0001);
  EXPECT_EQ(nr::float16(std::ldexp(1.0f, -25)).bits, 0x0000);  // a tie: to even, zero
  EXPECT_EQ(nr::float16(std::ldexp(1.5f, -25)).bits, 0x0001);
  EXPECT_EQ(nr::float16(-0.0f).bits, 0x8000);
}

TEST(Half, NaNAndInfinityAreKept) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(std::isnan(static_cast<float>(nr::bfloat16(nan))));
  EXPECT_TRUE(std::isnan(static_cast<float>(nr::float16(nan))));
  // A NaN whose payload sits in the low bits only must not round to infinity.
  EXPECT_TRUE(std::isnan(static_cast<float>(nr::bfloat16(std::bit_cast<float>(0x7F800001u)))));
  EXPECT_EQ(static_cast<float>(nr::bfloat16(-inf)), -inf);
  EXPECT_EQ(static_cast<float>(nr::float16(inf)), inf);
  EXPECT_EQ(static_cast<float>(std::numeric_limits<nr::bfloat16>::max()), 0x1.FEp127f);
  EXPECT_EQ(static_cast<float>(std::numeric_limits<nr::float16>::max()), 65504.0f);
  EXPECT_EQ(static_cast<float>(std::numeric_limits<nr::float16>::lowest()), -65504.0f);
}

TEST(Half, DTypesHaveNamesSizesAndParse) {
  EXPECT_EQ(nr::size_of(nr::DType::bfloat16), 2u);
  EXPECT_EQ(nr::size_of(nr::DType::float16), 2u);
  EXPECT_EQ(nr::name(nr::DType::bfloat16), "bfloat16");
  EXPECT_EQ(nr::dtype_from_string("float16"), nr::DType::float16);
  EXPECT_EQ(nr::dtype_from_string("bfloat16"), nr::DType::bfloat16);
  EXPECT_TRUE(nr::is_floating(nr::DType::bfloat16));
  EXPECT_TRUE(nr::is_half(nr::DType::float16));
  EXPECT_FALSE(nr::is_half(nr::DType::float32));
}

TEST(Half, TensorCastsRoundOnceAndReadBack) {
  // 1 + 2^-9 is below bfloat16's half ulp at 1: it rounds to 1; 3 + 2^-7 is a tie that goes
  // to the even neighbour 3; float16 keeps both.
  const std::vector<double> values = {1.0 + std::ldexp(1.0, -9), 3.0 + std::ldexp(1.0, -7), -2.5,
                                      70000.0};
  const nr::Tensor x = nr::testing::make_tensor(values, {4});
  const nr::Tensor b = nr::cast(x, nr::DType::bfloat16);
  EXPECT_EQ(b.dtype(), nr::DType::bfloat16);
  EXPECT_EQ(b.to_vector<double>(), (std::vector<double>{1.0, 3.0, -2.5, 70144.0}));
  const nr::Tensor h = nr::cast(x, nr::DType::float16);
  const std::vector<double> hv = h.to_vector<double>();
  EXPECT_EQ(hv[0], 1.0 + std::ldexp(1.0, -9));  // float16's ulp at 1 is 2^-10
  EXPECT_EQ(hv[1], 3.0 + std::ldexp(1.0, -7));
  EXPECT_TRUE(std::isinf(hv[3]));
  // Back to float32 exactly.
  EXPECT_EQ(nr::cast(b, nr::DType::float32).to_vector<float>(),
            (std::vector<float>{1.0f, 3.0f, -2.5f, 70144.0f}));
  // Integers through float32, as PyTorch: 257 is not a bfloat16 (8 bits of precision).
  const nr::Tensor ints = nr::testing::make_tensor({257, -3}, {2}, nr::DType::int32);
  EXPECT_EQ(nr::cast(ints, nr::DType::bfloat16).to_vector<double>(),
            (std::vector<double>{256.0, -3.0}));
  EXPECT_EQ(nr::cast(nr::cast(ints, nr::DType::bfloat16), nr::DType::int64).to_vector<double>(),
            (std::vector<double>{256.0, -3.0}));
}

TEST(Half, NpyReadsAndWritesFloat16ButNotBFloat16) {
  const nr::Tensor h =
      nr::cast(nr::testing::make_tensor({0.5, -1.25, 65504}, {3}), nr::DType::float16);
  const std::string bytes = nr::data::encode_npy(h);
  const nr::Tensor back = nr::data::parse_npy(
      std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()), "memory");
  EXPECT_EQ(back.dtype(), nr::DType::float16);
  EXPECT_EQ(back.to_vector<double>(), (std::vector<double>{0.5, -1.25, 65504}));
  NEURONA_EXPECT_THROW_MSG(nr::data::encode_npy(nr::cast(h, nr::DType::bfloat16)), nr::ValueError,
                           "bfloat16", "float32");
}

}  // namespace
