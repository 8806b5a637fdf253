// NumPy's .npy format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html),
// so that arrays move between neurona and Python without a converter. The reader treats its
// input as untrusted: the header is parsed strictly and every size is checked against the
// bytes that are really there.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "neurona/core/tensor.h"

namespace neurona::data {

/// Reads the .npy file at `path` (format version 1.0, 2.0 or 3.0) into a CPU tensor.
///
///   Tensor x = nr::data::load_npy("x_train.npy");   // np.save("x_train.npy", x) in Python
///
/// Element types: '<f4' gives float32, '<f8' float64, '<i4' int32, '<i8' int64, '|u1'
/// uint8; the types neurona lacks are widened where every value fits: bool ('|b1') gives
/// uint8 (0 or 1), int8, int16 and uint16 give int32, uint32 gives int64. Big-endian data
/// ('>') is byte-swapped. A fortran_order array is reordered into C (row-major) order, so
/// the result has the same shape and the same values at the same indices as in NumPy.
///
/// Throws IoError naming the path and what is wrong when the file is missing or unreadable,
/// the magic string or version is wrong, the header dictionary is malformed, the shape tuple
/// is invalid or its element count overflows, the data is shorter or longer than the shape
/// needs (with both sizes), or the dtype is one neurona cannot hold (uint64, float16,
/// complex, strings, objects, structured or datetime arrays).
Tensor load_npy(const std::string& path);

/// load_npy on the bytes of a whole .npy file already in memory; `source` names them in
/// error messages. load_npy is this function on the file's contents.
Tensor parse_npy(std::span<const std::uint8_t> bytes, const std::string& source = "<memory>");

/// The bytes of a .npy file (version 1.0, or 2.0 for a header over 64 KiB) holding `t`, as
/// numpy.save writes it: C order, the host's byte order, header padded to 64 bytes. GPU
/// tensors are copied to the host first. Throws ValueError for an undefined tensor.
std::string encode_npy(const Tensor& t);

/// Writes `t` to `path` as a .npy file that numpy.load reads, atomically (a crash leaves
/// the old file or the new one, never half of one); GPU tensors are copied to the host
/// first. Throws IoError naming the path when it cannot be written.
///
///   nr::data::save_npy("predictions.npy", model.predict(x));
void save_npy(const std::string& path, const Tensor& t);

}  // namespace neurona::data
