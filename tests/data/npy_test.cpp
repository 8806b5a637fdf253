// The .npy reader and writer: round trips of every dtype, files written by NumPy (see
// tests/reference/make_npy_references.py), and each way a file can be broken.
#include "neurona/data/npy.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "data/data_test_util.h"
#include "support/reference_file.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::read_bytes;
using nr::testing::ScratchDir;
using nr::testing::write_bytes;
using Bytes = std::vector<std::uint8_t>;

namespace {

/// tests/reference/data/<name>.npy (support/reference_file.h's reference_dir()).
std::string reference_file(const std::string& name) {
  return (neurona::testing::reference_dir() / "data" / (name + ".npy")).string();
}

/// A .npy file with the given header dictionary (padded as NumPy pads it) and data bytes.
Bytes npy_bytes(const std::string& dict, const Bytes& data, int major = 1) {
  const std::size_t len_size = major == 1 ? 2 : 4;
  std::string header = dict;
  while ((10 - 2 + len_size + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  Bytes b = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0};
  for (std::size_t i = 0; i < len_size; ++i) {
    b.push_back(static_cast<std::uint8_t>(header.size() >> (8 * i)));
  }
  b.insert(b.end(), header.begin(), header.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

std::string dict(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

nr::Tensor parse(const Bytes& b) {
  return nr::data::parse_npy(b, "test.npy");
}

}  // namespace

TEST(Npy, RoundTripsEveryDtypeAndRank) {
  ScratchDir dir("npy_roundtrip");
  const std::vector<nr::Tensor> tensors = {
      nr::testing::make_tensor({1.5, -0.0, 1e-38, 3.4e38, 0.1, -7}, {2, 3}, nr::float32),
      nr::testing::make_tensor({1e-300, -2.5, 0.1}, {3}, nr::float64),
      nr::testing::make_tensor({-2147483648.0, 0, 2147483647, 5}, {2, 1, 2}, nr::int32),
      nr::testing::make_tensor({-9007199254740992.0, -1, 0, 9007199254740992.0}, {4}, nr::int64),
      nr::testing::make_tensor({0, 1, 128, 255}, {1, 1, 2, 2}, nr::uint8),
      nr::testing::make_tensor({42}, {}, nr::float32),
      nr::testing::make_tensor({}, {0, 3}, nr::float32),
  };
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const nr::Tensor& t = tensors[i];
    std::string name = std::to_string(i);
    name += ".npy";
    const std::string path = dir.file(name);
    nr::data::save_npy(path, t);
    const nr::Tensor back = nr::data::load_npy(path);
    EXPECT_EQ(back.dtype(), t.dtype()) << i;
    EXPECT_EQ(back.shape(), t.shape()) << i;
    EXPECT_EQ(back.device(), nr::Device::cpu());
    EXPECT_EQ(back.to_vector<double>(), t.to_vector<double>()) << i;
    // As NumPy aligns it: the data starts on a 64-byte boundary, the header ends in '\n'.
    const Bytes bytes = read_bytes(path);
    const std::size_t header_end = 10 + (bytes[8] | (bytes[9] << 8));
    EXPECT_EQ(header_end % 64, 0u);
    EXPECT_EQ(bytes[header_end - 1], '\n');
    EXPECT_EQ(bytes.size(), header_end + t.nbytes());
  }
}

TEST(Npy, WritesTheHeaderNumpyWrites) {
  // The dictionary text of np.save(..., np.zeros((3, 4), np.float32)) and friends.
  auto header_of = [](const nr::Tensor& t) {
    const std::string s = nr::data::encode_npy(t);
    EXPECT_EQ(s.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
    return s.substr(10, s.find('}') - 9);
  };
  EXPECT_EQ(header_of(nr::zeros({3, 4})),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }");
  EXPECT_EQ(header_of(nr::zeros({5}, {.dtype = nr::int64})),
            "{'descr': '<i8', 'fortran_order': False, 'shape': (5,), }");
  EXPECT_EQ(header_of(nr::zeros({}, {.dtype = nr::uint8})),
            "{'descr': '|u1', 'fortran_order': False, 'shape': (), }");
  // The NumPy-written reference has the same dictionary (its padding may differ).
  const Bytes ref = read_bytes(reference_file("f32_2d"));
  ASSERT_GT(ref.size(), 64u);
  const std::string ref_text(ref.begin() + 10, ref.end());
  EXPECT_EQ(ref_text.substr(0, ref_text.find('}') + 1),
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }");
}

TEST(NpyReference, ReadsFilesWrittenByNumpy) {
  // Optionally writes each file back, for make_npy_references.py --check (see its docstring).
  const char* out_dir = std::getenv("NEURONA_NPY_WRITE_DIR");
  if (out_dir != nullptr) std::filesystem::create_directories(out_dir);
  auto load = [&](const std::string& name) {
    nr::Tensor t = nr::data::load_npy(reference_file(name));
    if (out_dir != nullptr)
      nr::data::save_npy((std::filesystem::path(out_dir) / (name + ".npy")).string(), t);
    return t;
  };
  auto f32 = [](std::initializer_list<double> v) {
    std::vector<double> out;
    for (double x : v) out.push_back(static_cast<float>(x));  // NumPy's float32 rounding
    return out;
  };

  const nr::Tensor f32_2d = load("f32_2d");
  EXPECT_EQ(f32_2d.dtype(), nr::float32);
  EXPECT_EQ(f32_2d.shape(), (nr::Shape{3, 4}));
  EXPECT_EQ(f32_2d.to_vector<double>(), f32({0.0, -1.5, 1.0 / 3.0, 3.14159265, 1e-30, -0.0, 65504.0,
                                             std::ldexp(1.0, -20), 123456.789, -7.25, 1e30, 0.1}));

  const nr::Tensor i64 = load("i64_1d");
  EXPECT_EQ(i64.dtype(), nr::int64);
  EXPECT_EQ(
      i64.to_vector<std::int64_t>(),
      (std::vector<std::int64_t>{-(std::int64_t{1} << 62), -1, 0, 1, (std::int64_t{1} << 40) + 3}));

  const nr::Tensor u8 = load("u8_3d");
  EXPECT_EQ(u8.dtype(), nr::uint8);
  EXPECT_EQ(u8.shape(), (nr::Shape{2, 3, 4}));
  const std::vector<int> u8_values = u8.to_vector<int>();
  for (int i = 0; i < 24; ++i) EXPECT_EQ(u8_values[static_cast<std::size_t>(i)], i * 11 % 256);

  const nr::Tensor scalar = load("f64_scalar");
  EXPECT_EQ(scalar.dtype(), nr::float64);
  EXPECT_EQ(scalar.rank(), 0);
  EXPECT_EQ(scalar.item<double>(), 2.5);

  // Stored column-major; read into row-major with the same value at each index.
  const nr::Tensor fortran = load("f32_fortran");
  EXPECT_EQ(fortran.shape(), (nr::Shape{2, 3, 4}));
  const std::vector<float> fv = fortran.to_vector<float>();
  for (int i = 0; i < 24; ++i) EXPECT_EQ(fv[static_cast<std::size_t>(i)], static_cast<float>(i));
  const Bytes raw = read_bytes(reference_file("f32_fortran"));
  ASSERT_NE(std::string(raw.begin(), raw.end()).find("'fortran_order': True"), std::string::npos)
      << "the reference file is meant to be Fortran-ordered";

  const nr::Tensor i32 = load("i32_2d");
  EXPECT_EQ(i32.dtype(), nr::int32);
  EXPECT_EQ(i32.to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{-2147483648LL, 2147483647, 0, 5, -5, 12345}));

  const nr::Tensor b = load("bool_1d");
  EXPECT_EQ(b.dtype(), nr::uint8);
  EXPECT_EQ(b.to_vector<int>(), (std::vector<int>{1, 0, 1, 1}));

  const nr::Tensor i16 = load("i16_be");  // '>i2': swapped and widened
  EXPECT_EQ(i16.dtype(), nr::int32);
  EXPECT_EQ(i16.to_vector<int>(), (std::vector<int>{-300, 0, 300, 32767}));

  const nr::Tensor f64_be = load("f64_be");
  EXPECT_EQ(f64_be.dtype(), nr::float64);
  EXPECT_EQ(f64_be.to_vector<double>(), (std::vector<double>{1.5, -2.25, 1e300, -1e-300}));

  const nr::Tensor empty = load("f32_empty");
  EXPECT_EQ(empty.shape(), (nr::Shape{0, 3}));

  EXPECT_EQ(load("f32_v2").to_vector<float>(),
            (std::vector<float>{0.0f, 0.25f, 0.5f, 0.75f, 1.0f, 1.25f}));
  const nr::Tensor v3 = load("f32_v3");
  EXPECT_EQ(v3.shape(), (nr::Shape{3, 2}));
  EXPECT_EQ(v3.to_vector<float>(), (std::vector<float>{0.0f, 0.125f, 0.25f, 0.375f, 0.5f, 0.625f}));
}

TEST(Npy, AcceptsTheHeaderVariantsNumpyAccepts) {
  const Bytes four = {1, 0, 0, 0, 2, 0, 0, 0};
  // Double quotes, any key order, no trailing comma, Python 2's long suffix, version 2.0.
  EXPECT_EQ(
      parse(npy_bytes("{\"shape\": (2L,), \"fortran_order\": False, \"descr\": \"<i4\"}", four))
          .to_vector<int>(),
      (std::vector<int>{1, 2}));
  EXPECT_EQ(parse(npy_bytes(dict("<i4", "(2,)"), four, 2)).to_vector<int>(),
            (std::vector<int>{1, 2}));
  // '<u1', '<u2' and '<u4' are valid too; uint32 widens to int64.
  EXPECT_EQ(parse(npy_bytes(dict("<u4", "(2,)"), {0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0}))
                .to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{4294967295LL, 0}));
  EXPECT_EQ(parse(npy_bytes(dict("<u2", "(1,)"), {0xFF, 0xFF})).dtype(), nr::int32);
  EXPECT_EQ(parse(npy_bytes(dict("|i1", "(1,)"), {0xFF})).item<int>(), -1);
}

TEST(Npy, MissingFileIsIoErrorNamingThePath) {
  NEURONA_EXPECT_THROW_MSG(nr::data::load_npy("/nonexistent-neurona/a.npy"), nr::IoError,
                           "load_npy", "/nonexistent-neurona/a.npy");
  NEURONA_EXPECT_THROW_MSG(nr::data::save_npy("/nonexistent-neurona/a.npy", nr::zeros({2})),
                           nr::IoError, "/nonexistent-neurona/a.npy");
}

TEST(Npy, OnlyRegularFilesAreRead) {
  // /dev/zero never ends: refused before it is opened, as a FIFO would be.
  NEURONA_EXPECT_THROW_MSG(nr::data::load_npy("/dev/zero"), nr::IoError, "load_npy", "/dev/zero",
                           "not a regular file");
}

TEST(Npy, WrongMagicOrVersionIsIoError) {
  NEURONA_EXPECT_THROW_MSG(parse({'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0}), nr::IoError, "test.npy",
                           "not a .npy file");
  NEURONA_EXPECT_THROW_MSG(parse({0x93, 'N', 'U', 'M'}), nr::IoError, "too short");
  Bytes v4 = npy_bytes(dict("<f4", "(1,)"), {0, 0, 0, 0});
  v4[6] = 4;
  NEURONA_EXPECT_THROW_MSG(parse(v4), nr::IoError, "version 4.0");
}

TEST(Npy, HeaderLongerThanTheFileIsIoError) {
  NEURONA_EXPECT_THROW_MSG(parse({0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xFF}), nr::IoError,
                           "inside the header length");
  // Version 2.0's four-byte length can claim 4 GB: checked against the bytes present.
  NEURONA_EXPECT_THROW_MSG(
      parse({0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xFF, 0xFF, 0xFF, 0xFF, '{'}), nr::IoError,
      "header is 4294967295 bytes long", "only 1 bytes follow");
}

TEST(Npy, MalformedHeaderDictIsIoError) {
  const Bytes four = {0, 0, 0, 0};
  auto expect_malformed = [&](const std::string& d, const char* what) {
    NEURONA_EXPECT_THROW_MSG(parse(npy_bytes(d, four)), nr::IoError, "test.npy",
                             "malformed .npy header", what);
  };
  expect_malformed("['descr', '<f4']", "expected '{'");
  expect_malformed("{'descr': '<f4', 'shape': (1,), }", "missing key(s): 'fortran_order'");
  expect_malformed("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
                   "unexpected key 'x'");
  expect_malformed("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
                   "'descr' appears twice");
  expect_malformed("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}",
                   "structured array");
  expect_malformed("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", "not True or False");
  expect_malformed("{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}",
                   "expected ',' or '}' after a value");
  expect_malformed("{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}", "expected ':'");
  expect_malformed("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)",
                   "expected ',' or '}' after a value");
  expect_malformed(dict("<f4", "(1,)") + " x", "after the closing '}'");
  expect_malformed("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (1,)}", "escape");
}

TEST(Npy, BadShapeTupleIsIoError) {
  auto expect_bad = [](const std::string& shape, const char* what) {
    NEURONA_EXPECT_THROW_MSG(parse(npy_bytes(dict("<f4", shape), {0, 0, 0, 0})), nr::IoError,
                             "test.npy", what);
  };
  expect_bad("(1)", "not a tuple");
  expect_bad("(-1,)", "not a non-negative integer");
  expect_bad("('a',)", "not a non-negative integer");
  expect_bad("(1.0,)", "expected ',' or ')'");
  expect_bad("[1]", "expected '('");
  expect_bad("(99999999999999999999,)", "does not fit in int64");
  expect_bad("(4611686018427387904, 4)", "overflows int64");
  // Huge but representable: refused by the size check, without allocating.
  expect_bad("(1000000000000,)", "truncated .npy data");
}

TEST(Npy, UnsupportedDtypeIsIoErrorSayingWhy) {
  auto expect_unsupported = [](const std::string& descr, const char* why) {
    // Named: the macro keeps only the char pointers, past the life of a temporary.
    const std::string what = "unsupported .npy dtype '" + descr + "'";
    NEURONA_EXPECT_THROW_MSG(parse(npy_bytes(dict(descr, "(1,)"), Bytes(8, 0))), nr::IoError,
                             "test.npy", what.c_str(), why);
  };
  expect_unsupported("<u8", "astype(np.int64)");
  expect_unsupported("<c8", "not complex");
  expect_unsupported("<U1", "strings");
  expect_unsupported("|O", "type string");
  expect_unsupported("|f4", "only valid for one-byte");
  expect_unsupported("<i16", "1, 2, 4 or 8 bytes");
  expect_unsupported("!f4", "byte order");
}

TEST(Npy, TruncatedOrTrailingDataIsIoErrorWithSizes) {
  NEURONA_EXPECT_THROW_MSG(parse(npy_bytes(dict("<f4", "(2, 3)"), Bytes(20, 0))), nr::IoError,
                           "test.npy", "truncated .npy data", "(2, 3)", "6 elements of 4 bytes",
                           "only 20 bytes");
  NEURONA_EXPECT_THROW_MSG(parse(npy_bytes(dict("<f4", "(2,)"), Bytes(9, 0))), nr::IoError,
                           "1 unexpected bytes after the .npy data", "needs 8 bytes", "found 9");
}
