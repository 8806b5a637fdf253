// The HDF5 side of `.weights.h5` files (internal to models/saving*.cpp): writing groups of
// weights into an HDF5 file image in memory, and reading them back from an untrusted image
// with every check done before a byte reaches the model. No HDF5 header leaks from here.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "neurona/core/tensor.h"

namespace neurona::models::detail {

/// One `<path>/vars` group of a `.weights.h5`: Keras's layout for one layer or model.
struct WeightGroup {
  /// "" for the root (the model itself), "layers/dense_1", "dense", ...
  std::string path;
  /// The layer's name, written as the `name` attribute of the vars group as Keras does.
  std::string name;
  /// Written as datasets vars/0, vars/1, ... (any device; copied to the host) in their own
  /// dtype as Keras 3 writes it: float32, float64, float16 (IEEE half), bfloat16 (2-byte opaque
  /// data with the attribute dtype="bfloat16"); int64 for an optimizer's iteration count.
  std::vector<Tensor> vars;
};

/// An HDF5 file image with the groups, in Keras 3's layout. Throws IoError.
std::string write_weights_image(const std::vector<WeightGroup>& groups);

/// What a group of the file must hold to fit the model.
struct ExpectedGroup {
  std::string path;
  /// The layer as messages name it: "Dense 'dense_1'".
  std::string layer;
  bool layer_built = true;
  /// Per weight: its name ("kernel"), shape and dtype.
  std::vector<std::string> names;
  std::vector<Shape> shapes;
  /// int64 entries read any integer dataset (Keras's JAX backend saves `iterations` as int32).
  std::vector<DType> dtypes;
  /// A group the file may lack or hold a different number of entries for: an optimizer's
  /// state, which Keras's Optimizer.load_own_variables skips (with a warning) rather than
  /// fails on. Its list in the result is then empty. Entries that are there in the right
  /// number are checked like any other.
  bool optional = false;
};

/// Reads every expected group from an HDF5 file image (`what` names the file in messages),
/// checking the magic, the groups, the counts, the dtypes, shapes and storage layouts first;
/// returns the values as host tensors of the expected dtypes (converted from the file's float
/// type, rounded once to a 16-bit dtype), one list per group. `closed_containers` are groups
/// (a Sequential's "layers") whose children must all be expected. An optional group whose
/// entry count differs gets an empty list and a line in `skipped` (when given) saying why.
/// Throws IoError for a file HDF5 cannot read and ValueError for one that does not fit the
/// model.
std::vector<std::vector<Tensor>> read_weights_image(
    std::string_view image, const std::vector<ExpectedGroup>& expected,
    const std::vector<std::string>& closed_containers, const std::string& what,
    std::vector<std::string>* skipped = nullptr);

}  // namespace neurona::models::detail
