// IDX files (the format of MNIST and Fashion-MNIST, http://yann.lecun.com/exdb/mnist/): read,
// plain or gzip-compressed, into a CPU Tensor, and written back. The reader treats its input
// as untrusted: every size in the header is checked against the bytes that are really there
// before anything of that size is allocated.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "neurona/core/tensor.h"

namespace neurona::data {

/// Limits on what read_idx takes from a file, so that a corrupt or hostile one cannot exhaust
/// memory: a gzip stream of 33 MB can inflate to 33 GB. Both are checked on the header,
/// before the data is read or inflated.
struct IdxOptions {
  /// The most elements a header may declare.
  std::int64_t max_elements = std::int64_t{1} << 32;
  /// The most bytes of data (elements times their size, after decompression) a header may
  /// declare; the file itself may be at most this, plus the header and gzip's overhead. 1 GiB
  /// is 20 times Fashion-MNIST's largest file (47 MB).
  std::int64_t max_bytes = std::int64_t{1} << 30;
};

/// Reads the IDX file at `path`, gzip-compressed (detected by its magic bytes, whatever the
/// name) or plain, into a CPU tensor of the shape in its header. Element types: unsigned byte
/// (0x08) gives uint8, signed byte (0x09), short (0x0B) and int (0x0C) give int32 (neurona has
/// no 8- or 16-bit integers), float (0x0D) float32 and double (0x0E) float64; big-endian values
/// become native ones.
///
///   Tensor images = nr::data::read_idx("train-images-idx3-ubyte.gz");  // (60000, 28, 28) uint8
///
/// Throws IoError naming the path when the file is missing, unreadable or not a regular file,
/// the magic number, type code or rank (1 to 8) is wrong, the dimensions overflow or exceed
/// options.max_elements or options.max_bytes, the data is shorter or longer than the header
/// says (with both sizes), or the gzip stream is corrupt or truncated; OutOfMemoryError when
/// memory runs out all the same.
Tensor read_idx(const std::string& path, IdxOptions options = {});

/// read_idx on bytes already in memory (a whole file, gzip-compressed or plain); `source`
/// names them in error messages. read_idx is this function on the file's contents.
Tensor read_idx_bytes(std::span<const std::uint8_t> bytes, const std::string& source = "<memory>",
                      IdxOptions options = {});

struct SaveIdxOptions {
  /// Compress the file with gzip, as the MNIST files are distributed.
  bool gzip = false;
};

/// Writes `t` (uint8, int32, float32 or float64, rank >= 1, each dimension below 2^32) as an
/// IDX file, atomically; GPU tensors are copied to the host first.
///
///   nr::data::save_idx("labels-idx1-ubyte.gz", labels, {.gzip = true});
///
/// Throws ValueError for an int64 tensor (IDX has no 64-bit integers: cast to int32), a scalar
/// or a dimension too large for the header, and IoError when the file cannot be written.
void save_idx(const std::string& path, const Tensor& t, SaveIdxOptions options = {});

}  // namespace neurona::data
