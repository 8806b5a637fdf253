// The IDX reader and writer: round trips through plain and gzip files, hand-written files of
// every element type, and each way a file can be broken.
#include "neurona/data/idx.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstring>
#include <filesystem>

#include "data/data_test_util.h"
#include "support/bombs.h"
#include "support/test_util.h"

namespace nr = neurona;
using nr::testing::gzip_member;
using nr::testing::read_bytes;
using nr::testing::ScratchDir;
using nr::testing::write_bytes;
using Bytes = std::vector<std::uint8_t>;

namespace {

/// An IDX header: the magic with `type` and the big-endian dimensions.
Bytes idx_header(std::uint8_t type, const std::vector<std::uint32_t>& dims) {
  Bytes b = {0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<std::uint8_t>(d >> shift));
  }
  return b;
}

Bytes concat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

nr::Tensor read(const Bytes& bytes) {
  return nr::data::read_idx_bytes(bytes, "test.idx");
}

}  // namespace

TEST(Idx, RoundTripsEveryIdxDtypePlainAndGzip) {
  ScratchDir dir("idx_roundtrip");
  const std::vector<nr::Tensor> tensors = {
      nr::testing::make_tensor({0, 1, 127, 128, 254, 255}, {2, 3}, nr::uint8),
      nr::testing::make_tensor({-2147483648.0, -1, 0, 1, 65536, 2147483647}, {6}, nr::int32),
      nr::testing::make_tensor({1.5, -0.0, 3.25e-5, 1e30, -7, 0.1}, {1, 2, 3}, nr::float32),
      nr::testing::make_tensor({1e300, -2.5, 0.1}, {3, 1}, nr::float64),
      nr::testing::make_tensor({}, {0, 28}, nr::uint8),
  };
  for (bool gzip : {false, true}) {
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const nr::Tensor& t = tensors[i];
      // Built in steps: GCC 12 warns falsely (-Wrestrict) on "t" + std::string + ... here.
      std::string name = std::to_string(i);
      name += gzip ? ".gz" : ".idx";
      const std::string path = dir.file(name);
      nr::data::save_idx(path, t, {.gzip = gzip});
      const Bytes bytes = read_bytes(path);
      ASSERT_GE(bytes.size(), 2u);
      EXPECT_EQ(bytes[0] == 0x1f && bytes[1] == 0x8b, gzip) << path;
      const nr::Tensor back = nr::data::read_idx(path);
      EXPECT_EQ(back.dtype(), t.dtype()) << path;
      EXPECT_EQ(back.shape(), t.shape()) << path;
      EXPECT_EQ(back.device(), nr::Device::cpu());
      EXPECT_EQ(back.to_vector<double>(), t.to_vector<double>()) << path;
    }
  }
}

TEST(Idx, WritesTheBigEndianLayoutOfTheFormat) {
  // Checked byte by byte, so that the writer and the reader cannot agree on a wrong layout.
  ScratchDir dir("idx_layout");
  const std::string path = dir.file("x.idx");
  nr::data::save_idx(path, nr::testing::make_tensor({1, -2}, {2, 1}, nr::int32));
  EXPECT_EQ(read_bytes(path), (Bytes{0, 0, 0x0C, 2, 0,    0,    0,    2,   0, 0, 0, 1,  //
                                     0, 0, 0,    1, 0xFF, 0xFF, 0xFF, 0xFE}));
}

TEST(Idx, ReadsEveryElementTypeFromHandWrittenBigEndianBytes) {
  const nr::Tensor u8 = read(concat(idx_header(0x08, {3}), {0, 200, 255}));
  EXPECT_EQ(u8.dtype(), nr::uint8);
  EXPECT_EQ(u8.to_vector<int>(), (std::vector<int>{0, 200, 255}));

  // Signed byte and short widen to int32, the narrowest signed type neurona has.
  const nr::Tensor i8 = read(concat(idx_header(0x09, {3}), {0x80, 0xFF, 0x7F}));
  EXPECT_EQ(i8.dtype(), nr::int32);
  EXPECT_EQ(i8.to_vector<int>(), (std::vector<int>{-128, -1, 127}));

  const nr::Tensor i16 = read(concat(idx_header(0x0B, {2}), {0xFF, 0xFE, 0x01, 0x02}));
  EXPECT_EQ(i16.dtype(), nr::int32);
  EXPECT_EQ(i16.to_vector<int>(), (std::vector<int>{-2, 258}));

  const nr::Tensor i32 = read(concat(idx_header(0x0C, {1, 1}), {0x80, 0, 0, 1}));
  EXPECT_EQ(i32.dtype(), nr::int32);
  EXPECT_EQ(i32.shape(), (nr::Shape{1, 1}));
  EXPECT_EQ(i32.item<std::int64_t>(), -2147483647);

  const nr::Tensor f32 = read(concat(idx_header(0x0D, {2}), {0x3F, 0xC0, 0, 0, 0xC1, 0x20, 0, 0}));
  EXPECT_EQ(f32.dtype(), nr::float32);
  EXPECT_EQ(f32.to_vector<float>(), (std::vector<float>{1.5f, -10.0f}));

  const nr::Tensor f64 =
      read(concat(idx_header(0x0E, {1}), {0x40, 0x09, 0x21, 0xFB, 0x54, 0x44, 0x2D, 0x18}));
  EXPECT_EQ(f64.dtype(), nr::float64);
  EXPECT_EQ(f64.item<double>(), 3.141592653589793);
}

TEST(Idx, DetectsGzipByContentNotByName) {
  ScratchDir dir("idx_name");
  const std::string path = dir.file("no-suffix");
  nr::data::save_idx(path, nr::testing::make_tensor({4, 5}, {2}, nr::uint8), {.gzip = true});
  EXPECT_EQ(nr::data::read_idx(path).to_vector<int>(), (std::vector<int>{4, 5}));
}

TEST(Idx, ReadsStoredBlocksAndConcatenatedGzipMembers) {
  // `cat a.gz b.gz` is a valid gzip file; gzip -dc reads both members, and so must we.
  const Bytes file = concat(idx_header(0x08, {70000}), Bytes(70000, 7));
  const Bytes first(file.begin(), file.begin() + 10);
  const Bytes rest(file.begin() + 10, file.end());
  const nr::Tensor t = read(concat(gzip_member(first), gzip_member(rest)));
  EXPECT_EQ(t.shape(), (nr::Shape{70000}));
  EXPECT_EQ(t.to_vector<int>(), std::vector<int>(70000, 7));
}

TEST(Idx, MissingFileIsIoErrorNamingThePath) {
  NEURONA_EXPECT_THROW_MSG(nr::data::read_idx("/nonexistent-neurona/x-idx1-ubyte"), nr::IoError,
                           "read_idx", "/nonexistent-neurona/x-idx1-ubyte", "No such file");
  ScratchDir dir("idx_folder");
  NEURONA_EXPECT_THROW_MSG(nr::data::read_idx(dir.path().string()), nr::IoError, "is a folder");
}

TEST(Idx, WrongMagicIsIoError) {
  NEURONA_EXPECT_THROW_MSG(read({1, 0, 8, 1, 0, 0, 0, 1, 5}), nr::IoError, "test.idx",
                           "not an IDX file", "0x01 0x00", "two zero bytes");
  // A .npy file is not IDX either.
  NEURONA_EXPECT_THROW_MSG(read({0x93, 'N', 'U', 'M', 'P', 'Y'}), nr::IoError, "not an IDX file");
}

TEST(Idx, UnknownTypeCodeIsIoError) {
  NEURONA_EXPECT_THROW_MSG(read(concat(idx_header(0x0A, {1}), {0})), nr::IoError, "test.idx",
                           "unknown IDX type code 0x0a");
}

TEST(Idx, RankOutsideOneToEightIsIoError) {
  NEURONA_EXPECT_THROW_MSG(read({0, 0, 8, 0}), nr::IoError, "rank 0");
  NEURONA_EXPECT_THROW_MSG(read(idx_header(0x08, std::vector<std::uint32_t>(9, 1))), nr::IoError,
                           "rank 9");
}

TEST(Idx, TruncatedHeaderIsIoError) {
  NEURONA_EXPECT_THROW_MSG(read({0, 0}), nr::IoError, "test.idx", "ends after 2 bytes",
                           "inside the header");
  NEURONA_EXPECT_THROW_MSG(read({0, 0, 8, 3, 0, 0, 0, 2, 0, 0}), nr::IoError, "ends after 10",
                           "16 bytes needed");
}

TEST(Idx, TruncatedDataIsIoErrorWithExpectedAndFoundSizes) {
  ScratchDir dir("idx_truncated");
  const std::string path = dir.file("short-images-idx3-ubyte");
  write_bytes(path, concat(idx_header(0x08, {10, 28, 28}), Bytes(1000, 0)));
  NEURONA_EXPECT_THROW_MSG(nr::data::read_idx(path), nr::IoError, path.c_str(), "truncated",
                           "(10, 28, 28)", "7840 bytes", "only 1000 bytes");
  // The same inside a gzip stream that is itself complete.
  NEURONA_EXPECT_THROW_MSG(read(gzip_member(concat(idx_header(0x0D, {4}), Bytes(15, 0)))),
                           nr::IoError, "truncated", "16 bytes", "only 15 bytes");
}

TEST(Idx, TrailingBytesAreIoError) {
  NEURONA_EXPECT_THROW_MSG(read(concat(idx_header(0x08, {2}), {1, 2, 3, 4})), nr::IoError,
                           "test.idx", "2 unexpected bytes after the end", "found 4");
  NEURONA_EXPECT_THROW_MSG(read(gzip_member(concat(idx_header(0x08, {2}), {1, 2, 3}))), nr::IoError,
                           "1 unexpected bytes", "decompressed gzip stream");
}

TEST(Idx, DimensionProductOverflowingInt64IsIoError) {
  NEURONA_EXPECT_THROW_MSG(read(idx_header(0x08, {0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF})),
                           nr::IoError, "(4294967295, 4294967295, 4294967295)", "overflows int64");
  // A zero dimension makes any product empty, as in NumPy.
  EXPECT_EQ(read(idx_header(0x08, {0, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF})).numel(), 0);
}

TEST(Idx, AbsurdElementCountIsIoErrorBeforeAnyAllocation) {
  // 65536 x 65537 doubles would be 34 GB; the 12-byte input must fail on its header alone.
  NEURONA_EXPECT_THROW_MSG(read(idx_header(0x0E, {65536, 65537})), nr::IoError, "4295032832",
                           "more than the limit of 4294967296", "max_elements");
  // The same inside gzip, where the data size is unknown until it has been inflated.
  NEURONA_EXPECT_THROW_MSG(read(gzip_member(idx_header(0x0E, {65536, 65537}))), nr::IoError,
                           "more than the limit");
  // A lower limit applies to honest files too.
  NEURONA_EXPECT_THROW_MSG(
      nr::data::read_idx_bytes(concat(idx_header(0x08, {3}), {1, 2, 3}), "x", {.max_elements = 2}),
      nr::IoError, "3 elements, more than the limit of 2");
}

TEST(Idx, GzipHeaderWithHugeDimensionsAndLittleDataIsTruncatedNotAnAllocation) {
  // Declares 2^32 bytes but holds 5: the reader must report what it found, not reserve 4 GB
  // (with limits raised to let the header through).
  NEURONA_EXPECT_THROW_MSG(
      nr::data::read_idx_bytes(
          gzip_member(concat(idx_header(0x08, {65536, 65536}), {1, 2, 3, 4, 5})), "test.idx",
          {.max_bytes = std::int64_t{1} << 33}),
      nr::IoError, "truncated", "4294967296 bytes", "only 5 bytes");
}

TEST(Idx, GzipBombIsRefusedOnItsHeader) {
  // 1.3 MB of gzip members that inflate to 1.25 GiB of zeros, as the header declares: over the
  // default limit of 1 GiB of data, refused before a byte of data is inflated.
  constexpr std::uint32_t kMiB = 1u << 20;
  const std::string zeros = nr::testing::gzip_repeated(0, kMiB);
  Bytes bomb = gzip_member(idx_header(0x08, {1280 * kMiB}));
  for (int i = 0; i < 1280; ++i) bomb.insert(bomb.end(), zeros.begin(), zeros.end());
  ASSERT_LT(bomb.size(), 2u * kMiB);
  ScratchDir dir("idx_bomb");
  write_bytes(dir.file("bomb.gz"), bomb);
  const nr::testing::PeakMemory memory;
  NEURONA_EXPECT_THROW_MSG(nr::data::read_idx(dir.file("bomb.gz")), nr::IoError, "bomb.gz",
                           "(1342177280,) of unsigned byte declare 1342177280 bytes of data",
                           "more than the limit of 1073741824 (IdxOptions::max_bytes");
  EXPECT_LT(memory.peak_growth(), std::int64_t{32} * kMiB);
  // The caller's limit: an honest 2000-byte file over a limit of 1000 bytes, then under 2000.
  const Bytes honest = gzip_member(concat(idx_header(0x0B, {1000}), Bytes(2000, 7)));
  NEURONA_EXPECT_THROW_MSG(nr::data::read_idx_bytes(honest, "x", {.max_bytes = 1000}), nr::IoError,
                           "(1000,) of short declare 2000 bytes of data",
                           "more than the limit of 1000");
  EXPECT_EQ(nr::data::read_idx_bytes(honest, "x", {.max_bytes = 2000}).numel(), 1000);
}

TEST(Idx, OnlyRegularFilesAreRead) {
  // /dev/zero never ends and a FIFO blocks its reader: both are refused before they are opened.
  ScratchDir dir("idx_special");
  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  for (const std::string& path : {std::string("/dev/zero"), dir.file("fifo")}) {
    NEURONA_EXPECT_THROW_MSG(nr::data::read_idx(path), nr::IoError, "read_idx", path.c_str(),
                             "not a regular file");
  }
}

TEST(Idx, FileLargerThanTheLimitIsRefusedOnItsSize) {
  // A sparse file of 2 GiB takes no disk; it is refused on its size before it is read.
  ScratchDir dir("idx_sparse");
  const std::string path = dir.file("sparse.idx");
  write_bytes(path, idx_header(0x08, {4}));
  std::filesystem::resize_file(path, std::uintmax_t{2} << 30);
  const nr::testing::PeakMemory memory;
  NEURONA_EXPECT_THROW_MSG(nr::data::read_idx(path), nr::IoError, "sparse.idx",
                           "is 2147483648 bytes, more than the", "IdxOptions::max_bytes");
  EXPECT_LT(memory.peak_growth(), std::int64_t{32} << 20);
}

TEST(Idx, CorruptGzipStreamIsIoError) {
  ScratchDir dir("idx_corrupt");
  const std::string path = dir.file("x.gz");
  std::vector<double> values(5000);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i * 7 % 251);
  nr::data::save_idx(path, nr::testing::make_tensor(values, {5000}, nr::uint8), {.gzip = true});
  const Bytes good = read_bytes(path);
  ASSERT_GT(good.size(), 40u);

  Bytes flipped = good;
  for (std::size_t i = 12; i < 20; ++i) flipped[i] ^= 0x5A;  // inside the deflate data
  NEURONA_EXPECT_THROW_MSG(read(flipped), nr::IoError, "test.idx", "corrupt gzip stream");

  Bytes bad_crc = gzip_member(concat(idx_header(0x08, {2}), {1, 2}));
  bad_crc[bad_crc.size() - 8] ^= 1;
  NEURONA_EXPECT_THROW_MSG(read(bad_crc), nr::IoError, "corrupt gzip stream", "check");

  const Bytes cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(good.size() / 2));
  NEURONA_EXPECT_THROW_MSG(read(cut), nr::IoError, "gzip stream is truncated");

  NEURONA_EXPECT_THROW_MSG(read(concat(good, {0, 0, 0})), nr::IoError,
                           "3 bytes that are not gzip data follow the end of the gzip stream");
}

TEST(Idx, SaveRejectsWhatIdxCannotHold) {
  ScratchDir dir("idx_save");
  NEURONA_EXPECT_THROW_MSG(
      nr::data::save_idx(dir.file("x"), nr::testing::make_tensor({1}, {1}, nr::int64)),
      nr::ValueError, "IDX has no type for int64");
  NEURONA_EXPECT_THROW_MSG(nr::data::save_idx(dir.file("x"), nr::constant(1.0)), nr::ValueError,
                           "ranks 1 to 8", "shape ()");
  EXPECT_FALSE(std::filesystem::exists(dir.file("x")));
}
